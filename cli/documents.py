"""Trial documents, kubectl style: what `denctl get tr ID -o yaml` prints and `denctl apply -f`
takes back. Pure.

    apiVersion: innovation-den.io/v1
    kind: Trial
    metadata: {name: air-quality-pilot}        # the owner's own name: apply finds it again
    spec: {template: ..., title: ..., hypothesis: ..., duration: 30m, ...}
    status: {...}                              # printed by get, ignored by apply

The flat form of earlier releases (`kind: Trial` with the API's fields beside it, e.g.
`duration_seconds: 900`) is still read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cli.parsing import UsageError, format_duration, parse_duration

API_VERSION = "innovation-den.io/v1"

#: spec key -> the API's field (`duration` is written with a unit: 30m, 1h30m).
SPEC_FIELDS = {
    "template": "template",
    "title": "title",
    "hypothesis": "hypothesis",
    "problemStatement": "problem_statement",
    "successCriteria": "success_criteria",
    "parameters": "parameters",
    "sharedWithDepartment": "shared_with_department",
    "duration": "duration_seconds",
}
_STATUS_FIELDS = {
    "phase": "phase",
    "reason": "reason",
    "message": "message",
    "readyAt": "ready_at",
    "expiresAt": "expires_at",
    "endedAt": "ended_at",
    "extensionCount": "extension_count",
    "endpoints": "endpoints",
}


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def trial_document(trial: Mapping[str, Any]) -> dict[str, Any]:
    """A trial as the API answers it -> its document."""
    metadata: dict[str, Any] = {"name": trial["name"]} if trial.get("name") else {}
    metadata.update(id=trial["id"], owner=trial["owner"], createdAt=trial["created_at"])
    spec: dict[str, Any] = {}
    for key, field in SPEC_FIELDS.items():
        value = trial.get(field)
        spec[key] = format_duration(int(value)) if key == "duration" and value else value
    return {
        "apiVersion": API_VERSION,
        "kind": "Trial",
        "metadata": metadata,
        "spec": spec,
        "status": {key: trial.get(field) for key, field in _STATUS_FIELDS.items()},
    }


def _duration(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UsageError(f"{where}: give a duration with a unit, e.g. 30m or 1h30m")
    if isinstance(value, int):
        return value
    try:
        return parse_duration(value)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from exc


def trial_request(document: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """A Trial document (either form) -> (its name, the body for POST /api/v1/trials)."""
    if "spec" in document or "metadata" in document:
        metadata = document.get("metadata") or {}
        spec = document.get("spec") or {}
        if not isinstance(metadata, Mapping) or not isinstance(spec, Mapping):
            raise UsageError("a Trial's metadata and spec are mappings (key: value)")
        body = {SPEC_FIELDS.get(key, _snake(str(key))): value for key, value in spec.items()}
        if "duration" in spec:
            body["duration_seconds"] = _duration(spec["duration"], "spec.duration")
        name = metadata.get("name")
    else:
        body = {k: v for k, v in document.items() if k not in ("kind", "apiVersion")}
        if "duration" in body:
            body["duration_seconds"] = _duration(body.pop("duration"), "duration")
        name = body.pop("name", None)
    if name is not None:
        body["name"] = str(name)
    return (str(name) if name is not None else None), body


def differences(body: Mapping[str, Any], trial: Mapping[str, Any]) -> list[str]:
    """The spec fields where a file differs from the trial that has its name (each named as
    the file writes it); fields the file leaves out are not compared."""
    spec_name = {field: key for key, field in SPEC_FIELDS.items()}
    changed = []
    order = list(spec_name)
    for field, wanted in sorted(body.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99):
        if field == "name":
            continue
        now = trial.get(field)
        if field == "template" and isinstance(wanted, str) and "@" not in wanted:
            now = str(now).partition("@")[0]
        if wanted != now:
            changed.append(f"spec.{spec_name.get(field, field)}")
    return changed
