"""`denctl apply -f` and `denctl create -f`: each document of a file, sent as its kind says.

`apply` is idempotent: a trial is found again by its `metadata.name` (or `metadata.id`), and a
file that matches it changes nothing ("unchanged"); a trial's spec cannot change, so a file
that differs is refused, naming the fields. `create` asks for a new trial every time. A
Challenge is found again the same way, and changed while it is a draft
(cli/applying_challenges.py).
`dry_run` sends nothing that writes: it checks what it can and says what would happen.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from cli import applying_challenges, documents, plumbing
from cli.client import EXIT_ERROR, EXIT_USAGE, ApiError, Client
from cli.parsing import UsageError
from orchestrator import catalogue

_ID_IN_DETAIL = re.compile(r"\b(t[0-9a-f]{12})\b")


def load(text: bytes) -> list[Any]:
    """The file's documents. No aliases: a Trial document is re-encoded as JSON, which would
    expand a bomb; a file that is not YAML goes to the server, which names the problem."""
    try:
        return [d for d in yaml.load_all(text, Loader=catalogue.StrictSafeLoader) if d is not None]
    except yaml.YAMLError:
        return [None]


def one(made: Client, document: Any, raw: bytes, *, create: bool, dry_run: bool) -> str:
    """The line to print for one document (`KIND/NAME what-happened`)."""
    kind = document.get("kind") if isinstance(document, dict) else None
    suffix = " (dry run)" if dry_run else ""
    if kind == "Trial":
        return _trial(made, document, create=create, dry_run=dry_run) + suffix
    if kind == "Challenge":
        return applying_challenges.apply(made, document, create=create, dry_run=dry_run)
    if kind == "Supplier":
        body = {k: v for k, v in document.items() if k not in ("kind", "apiVersion")}
        if dry_run:
            return f"suppliers/{body.get('slug', '<no slug>')} created{suffix}"
        created = plumbing.call(made, "POST", "/api/v1/suppliers", json=body)
        return f"suppliers/{created['slug']} created"
    if dry_run:
        metadata = document.get("metadata") if isinstance(document, dict) else None
        name = metadata if isinstance(metadata, dict) else {}
        return f"templates/{name.get('name', '<no name>')}@{name.get('version', '<no version>')} sent{suffix}"
    answer = plumbing.answer(
        made, "POST", "/api/v1/templates", content=raw, headers={"Content-Type": "application/yaml"}
    )
    stored = answer.body
    verb = (
        "unchanged"
        if answer.status != 201
        else "sent for review"
        if stored.get("status") == "PendingReview"
        else "published"
    )
    return f"templates/{stored['name']}@{stored['version']} {verb}"


def _trial(made: Client, document: dict[str, Any], *, create: bool, dry_run: bool) -> str:
    try:
        name, body = documents.trial_request(document)
    except UsageError as exc:
        raise plumbing.usage(exc) from exc
    metadata = document.get("metadata")
    known_id = metadata.get("id") if isinstance(metadata, dict) and not create else None
    if not create and name is None and not known_id:
        raise plumbing.fail(
            "this Trial has no metadata.name, so apply could not find it again: add one "
            "(metadata: {name: air-quality-pilot}), or use `denctl create -f FILE` to ask for a new "
            "trial each time",
            EXIT_USAGE,
        )
    if not create and name is None and known_id:
        return _compare(made, str(known_id), body)
    if dry_run:
        return _trial_dry_run(made, name, body, create=create)
    try:
        created = made.request("POST", "/api/v1/trials", json=body)
    except ApiError as exc:
        existing = _ID_IN_DETAIL.search(exc.detail)
        if create or exc.reason != "AlreadyExists" or existing is None:
            raise plumbing.report(exc) from exc
        return _compare(made, existing.group(1), body)
    return f"trials/{created['id']} created ({created['phase']})"


def _compare(made: Client, trial_id: str, body: dict[str, Any]) -> str:
    trial = plumbing.call(made, "GET", f"/api/v1/trials/{trial_id}")
    changed = documents.differences(body, trial)
    if changed:
        raise plumbing.fail(
            f"trials/{trial_id} exists and the file differs in {', '.join(changed)}: a trial's "
            f"spec cannot change once asked for. For more time use `denctl extend trials/{trial_id} "
            "--by 30m`; for another trial, give the file another metadata.name (or use create)",
            EXIT_ERROR,
        )
    return f"trials/{trial_id} unchanged"


def _trial_dry_run(made: Client, name: str | None, body: dict[str, Any], *, create: bool) -> str:
    template = str(body.get("template", "")).partition("@")[0]
    if not template:
        raise plumbing.fail("the Trial names no template (spec.template)", EXIT_USAGE)
    plumbing.call(made, "GET", f"/api/v1/templates/{template}")
    if name is not None:
        found = plumbing.items(made, "/api/v1/trials", {"name": name})
        if found and create:
            raise plumbing.fail(f"AlreadyExists: a trial named {name!r} exists: {found[0]['id']}", EXIT_ERROR)
        if found:
            return _compare(made, str(found[0]["id"]), body)
    return f"trials/{name or '<new>'} created"
