"""`denctl apply -f` of a Challenge document: create it, or find it again by its
`metadata.name` and change it while it is a draft.

The den tells nobody who they are, so a challenge is found again as a trial is: the file is
sent as a new challenge, and the API's 409 `AlreadyExists` names the caller's own challenge of
that name (names are unique per owner, and another person's never stands in the way). A draft
whose fields differ is changed (`configured`); one that matches is `unchanged`; `publish: true`
publishes a draft. A published challenge stays as suppliers read it: a file that differs is
sent, and the API refuses it (`ChallengeNotDraft`, exit 1).
"""

from __future__ import annotations

import re
from typing import Any

from cli import challenge_documents, plumbing
from cli.challenge_documents import ChallengeRequest
from cli.client import EXIT_ERROR, EXIT_USAGE, ApiError, Client
from cli.parsing import UsageError

_ID_IN_DETAIL = re.compile(r"\((c[0-9a-f]{12})\)")
PATH = "/api/v1/challenges"


def apply(made: Client, document: dict[str, Any], *, create: bool, dry_run: bool) -> str:
    """The line to print for one Challenge document (`challenges/ID what-happened`)."""
    try:
        asked = challenge_documents.challenge_request(document)
    except UsageError as exc:
        raise plumbing.usage(exc) from exc
    if not create and asked.name is None and asked.known_id is None:
        raise plumbing.fail(
            "this Challenge has no metadata.name, so apply could not find it again: add one "
            "(metadata: {name: missed-appointments}), or use `denctl create -f FILE` to write a new "
            "challenge each time",
            EXIT_USAGE,
        )
    if not create and asked.known_id is not None:
        return _reconcile(made, asked.known_id, asked, dry_run=dry_run)
    if dry_run:
        return _dry_run(made, asked, create=create)
    try:
        created = made.request("POST", PATH, json={**asked.body, "publish": asked.publish})
    except ApiError as exc:
        existing = _ID_IN_DETAIL.search(exc.detail)
        if create or exc.reason != "AlreadyExists" or existing is None:
            raise plumbing.report(exc) from exc
        return _reconcile(made, existing.group(1), asked, dry_run=False)
    return f"challenges/{created['id']} created ({created['stage']})"


def _reconcile(made: Client, challenge_id: str, asked: ChallengeRequest, *, dry_run: bool) -> str:
    """Bring an existing challenge to what the file says, as far as its stage allows."""
    current = plumbing.call(made, "GET", f"{PATH}/{challenge_id}")
    changed = challenge_documents.differences(asked.body, current)
    draft = current["stage"] == "Draft"
    suffix = " (dry run)" if dry_run else ""
    if changed and not draft and dry_run:
        raise plumbing.fail(
            f"ChallengeNotDraft: challenges/{challenge_id} is {current['stage'].lower()} and the file "
            f"differs in {', '.join(changed)}: only a draft can be changed",
            EXIT_ERROR,
        )
    if changed and not dry_run:
        plumbing.call(made, "PUT", f"{PATH}/{challenge_id}", json=asked.body)
    publish = asked.publish and draft
    if publish and not dry_run:
        plumbing.call(made, "POST", f"{PATH}/{challenge_id}/publish")
    verb = (
        "configured and published"
        if changed and publish
        else "configured"
        if changed
        else "published"
        if publish
        else "unchanged"
    )
    return f"challenges/{challenge_id} {verb}{suffix}"


def _dry_run(made: Client, asked: ChallengeRequest, *, create: bool) -> str:
    """What apply would do, read without writing: the challenge of that name the caller sees
    (a draft first: drafts are their owners' own)."""
    found = plumbing.call(made, "GET", PATH, params={"name": asked.name})["items"] if asked.name else []
    drafts = [c for c in found if c["stage"] == "Draft"]
    candidates = drafts or found
    if candidates and create:
        raise plumbing.fail(
            f"AlreadyExists: a challenge named {asked.name!r} exists: {candidates[0]['id']}", EXIT_ERROR
        )
    if len(candidates) > 1:
        ids = ", ".join(f"{c['id']} (owner {c['owner']})" for c in candidates)
        raise plumbing.fail(
            f"several challenges are named {asked.name!r}: {ids}; put the id in metadata.id", EXIT_ERROR
        )
    if candidates:
        return _reconcile(made, str(candidates[0]["id"]), asked, dry_run=True)
    return f"challenges/{asked.name or '<new>'} created (dry run)"
