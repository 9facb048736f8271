"""Challenge documents, kubectl style: what `denctl get ch ID -o yaml` prints and `denctl apply
-f` takes back. Pure.

    apiVersion: innovation-den.io/v1
    kind: Challenge
    metadata: {name: missed-appointments}      # the owner's own name: apply finds it again
    spec: {title: ..., problem: ..., budget: {min: 20000, max: 80000}, closesAt: ..., publish: true}
    status: {...}                              # printed by get, ignored by apply

The spec's keys are camelCase; the API's fields are snake_case. A key the API does not know is
refused here, naming it, so that a typo never turns into a field silently left empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cli.documents import API_VERSION
from cli.parsing import UsageError

#: spec key -> the API's field (`budget` is a mapping of `min` and `max`; `publish` is an action).
SPEC_FIELDS = {
    "title": "title",
    "problem": "problem",
    "usersAndNeed": "users_and_need",
    "tried": "tried",
    "constraints": "constraints",
    "timeline": "timeline",
    "problemAreas": "problem_areas",
    "closesAt": "closes_at",
    "questionsCloseAt": "questions_close_at",
}
SPEC_KEYS = (*SPEC_FIELDS, "budget", "publish")
BUDGET_FIELDS = {"min": "budget_min", "max": "budget_max"}
#: What the API stores when a draft leaves a field out: a `PUT` of the file writes these.
DEFAULTS: dict[str, Any] = {
    "users_and_need": "",
    "tried": "",
    "constraints": "",
    "timeline": "",
    "problem_areas": [],
    "budget_min": None,
    "budget_max": None,
    "questions_close_at": None,
}
_TIMES = ("closes_at", "questions_close_at")
_STATUS_FIELDS = {
    "stage": "stage",
    "questionsOpen": "questions_open",
    "publishedAt": "published_at",
    "closedAt": "closed_at",
    "decidedAt": "decided_at",
    "decision": "decision",
}


@dataclass(frozen=True)
class ChallengeRequest:
    """What a Challenge document asks for: its name, the body of `POST`/`PUT
    /api/v1/challenges` (without `publish`), and whether to publish it."""

    name: str | None
    known_id: str | None
    body: dict[str, Any]
    publish: bool


def _time(value: Any, where: str) -> str:
    """YAML reads an unquoted `2027-01-15T17:00:00Z` as a datetime; JSON needs the text."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise UsageError(f"{where}: give the time zone, e.g. 2027-01-15T17:00:00Z")
        return value.isoformat()
    if isinstance(value, date) or not isinstance(value, str):
        raise UsageError(f"{where}: give a date and time with its zone, e.g. 2027-01-15T17:00:00Z")
    return value


def _budget(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UsageError("spec.budget: give whole pounds as a mapping, e.g. budget: {min: 20000, max: 80000}")
    unknown = [str(k) for k in value if k not in BUDGET_FIELDS]
    if unknown:
        raise UsageError(f"spec.budget.{unknown[0]} is not a budget field: use min and max (whole pounds)")
    return {BUDGET_FIELDS[str(k)]: v for k, v in value.items()}


def challenge_request(document: Mapping[str, Any]) -> ChallengeRequest:
    """A Challenge document -> what to send. Unknown spec keys are a `UsageError` naming the key
    and the keys there are; the API checks the values (and names each problem)."""
    metadata = document.get("metadata") or {}
    spec = document.get("spec") or {}
    if not isinstance(metadata, Mapping) or not isinstance(spec, Mapping):
        raise UsageError("a Challenge's metadata and spec are mappings (key: value)")
    unknown = [str(k) for k in spec if k not in SPEC_KEYS]
    if unknown:
        raise UsageError(
            f"spec.{unknown[0]} is not a Challenge field: use {', '.join(SPEC_KEYS)} "
            "(see `denctl explain challenges.spec`)"
        )
    publish = spec.get("publish", False)
    if not isinstance(publish, bool):
        raise UsageError("spec.publish: give true (publish it) or false (keep a draft)")
    body: dict[str, Any] = {}
    for key, value in spec.items():
        if key in SPEC_FIELDS:
            field = SPEC_FIELDS[key]
            body[field] = _time(value, f"spec.{key}") if field in _TIMES and value is not None else value
    body.update(_budget(spec.get("budget")))
    name = metadata.get("name")
    if name is not None:
        body["name"] = str(name)
    known_id = metadata.get("id")
    return ChallengeRequest(
        name=str(name) if name is not None else None,
        known_id=str(known_id) if known_id else None,
        body=body,
        publish=publish,
    )


def _same_time(wanted: Any, now: Any) -> bool:
    try:
        return datetime.fromisoformat(str(wanted)) == datetime.fromisoformat(str(now))
    except ValueError:
        return False


def _spec_key(field: str) -> str:
    budget = {f: k for k, f in BUDGET_FIELDS.items()}
    if field in budget:
        return f"spec.budget.{budget[field]}"
    return "spec." + next(k for k, f in SPEC_FIELDS.items() if f == field)


def differences(body: Mapping[str, Any], challenge: Mapping[str, Any]) -> list[str]:
    """The spec fields where a file differs from the challenge, each named as the file writes
    it. A field the file leaves out is compared with what the API would store for it (a `PUT`
    writes every field), and `questionsCloseAt` left out means the closing time."""
    changed = []
    for field in (*SPEC_FIELDS.values(), *BUDGET_FIELDS.values()):
        wanted = body.get(field, DEFAULTS.get(field))
        now = challenge.get(field)
        if field == "questions_close_at" and wanted is None:
            wanted = body.get("closes_at")
        if field in _TIMES:
            same = _same_time(wanted, now)
        elif field == "title" and isinstance(wanted, str):
            same = wanted.strip() == now
        elif field == "problem_areas" and isinstance(wanted, list):
            same = [str(a).strip() for a in wanted] == now
        else:
            same = wanted == now
        if not same:
            changed.append(_spec_key(field))
    return changed


def challenge_document(challenge: Mapping[str, Any]) -> dict[str, Any]:
    """A challenge as the API answers it -> its document (what apply takes back)."""
    metadata: dict[str, Any] = {"name": challenge["name"]} if challenge.get("name") else {}
    metadata.update(id=challenge["id"], owner=challenge["owner"], createdAt=challenge["created_at"])
    spec: dict[str, Any] = {key: challenge.get(field) for key, field in SPEC_FIELDS.items()}
    spec["budget"] = {key: challenge.get(field) for key, field in BUDGET_FIELDS.items()}
    spec["publish"] = challenge.get("stage") != "Draft"
    return {
        "apiVersion": API_VERSION,
        "kind": "Challenge",
        "metadata": metadata,
        "spec": spec,
        "status": {key: challenge.get(field) for key, field in _STATUS_FIELDS.items()},
    }
