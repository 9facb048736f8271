"""What `denctl` reads and does for challenges: found by id or by their owner's name for them,
listed with the API's own filters, described with what hangs below them, published and
closed."""

from __future__ import annotations

import re
from typing import Any

from cli import plumbing
from cli.client import EXIT_ERROR, EXIT_NOT_FOUND, ApiError, Client
from cli.describing_challenges import Below

CHALLENGE_ID = re.compile(r"^c[0-9a-f]{12}$")
PATH = "/api/v1/challenges"
#: `-l` keys: the API's own filters of the list.
SELECTOR_KEYS = ("stage", "owner", "name")


def challenge_id(made: Client, ref: str) -> str:
    """A challenge's id, or the id of the one challenge you may see that has this name."""
    if CHALLENGE_ID.match(ref):
        return ref
    found = plumbing.call(made, "GET", PATH, params={"name": ref})["items"]
    if not found:
        raise plumbing.fail(f"NotFound: no challenge with the id or name {ref!r}", EXIT_NOT_FOUND)
    if len(found) > 1:
        ids = ", ".join(f"{c['id']} (owner {c['owner']})" for c in found)
        raise plumbing.fail(f"several challenges are named {ref!r}: {ids}; use the id", EXIT_ERROR)
    return str(found[0]["id"])


def fetch(
    made: Client, refs: list[str], params: dict[str, str], *, chunk_size: int = plumbing.CHUNK_SIZE
) -> tuple[list[dict[str, Any]], bool]:
    """The named challenges (each by id or name), or the list the filters keep, page after
    page (`--chunk-size`)."""
    if refs:
        found = [plumbing.call(made, "GET", f"{PATH}/{challenge_id(made, r)}") for r in refs]
        return found, len(found) == 1
    return list(plumbing.items(made, PATH, params, chunk_size=chunk_size)), False


def _visible(made: Client, path: str) -> list[dict[str, Any]] | None:
    """A list below a challenge, or None when the caller may not read it (403): describe shows
    that section as not visible instead of failing."""
    try:
        return list(made.request("GET", path)["items"])
    except ApiError as exc:
        if exc.status == 403:
            return None
        raise plumbing.report(exc) from exc


def describe(made: Client, ref: str) -> tuple[dict[str, Any], Below]:
    found = challenge_id(made, ref)
    challenge = plumbing.call(made, "GET", f"{PATH}/{found}")
    below = Below(
        questions=_visible(made, f"{PATH}/{found}/questions"),
        sessions=_visible(made, f"{PATH}/{found}/sessions"),
        responses=_visible(made, f"{PATH}/{found}/responses"),
        trials=_visible(made, f"{PATH}/{found}/trials"),
    )
    return challenge, below


def act(made: Client, ref: str, *, action: str) -> dict[str, Any]:
    """`POST .../{id}/publish` or `.../{id}/close`: the challenge as it is afterwards."""
    return dict(plumbing.call(made, "POST", f"{PATH}/{challenge_id(made, ref)}/{action}"))
