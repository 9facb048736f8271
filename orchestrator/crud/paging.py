"""Lists page by page, the Kubernetes way: a page holds at most `limit` items, and when more
follow it carries a `continue` token that asks for the next page.

Pages are cut by keyset, never by OFFSET: a token holds the sort key of the last item it
followed (a trial's `created_at` and `id`, a template's or a person's `name`, an event's
`id`), and the next page is the rows after that key, which an index finds at once. So page 100
costs what page 1 costs, and rows written between pages never shift a page: a trial created
meanwhile sorts before the key (newest first) and is not repeated, and none is skipped.

A token is url-safe base64 of a small JSON: the format's version, the list it is for, a hash
of the selectors it was issued with, the key, and a check over them. It is no secret and is
not signed: whatever key it holds, each page still shows only what the caller may see. It is
checked strictly all the same, so that a mistake is named rather than answered with a page
from somewhere else: a token that is not one of ours, was edited, belongs to another list or
was issued for other selectors is refused (`ValidationFailed` naming `continue`, 422). A
token does not expire (Kubernetes answers 410 for its own expired tokens): the key stays
meaningful as long as the list's order does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from orchestrator.errors import Problem, ValidationFailed

MAX_LIMIT = 1000
MAX_TOKEN_LENGTH = 1000
TOKEN_VERSION = 1
START_AGAIN = "start again without continue"

Row = TypeVar("Row")
#: A key's parts: strings, integers, or aware datetimes (carried as ISO 8601).
KeyPart = str | int | datetime


@dataclass(frozen=True)
class PageAsk:
    """One page asked for: at most `limit` rows after `after` (from the start when None)."""

    list_name: str
    selectors: str  # a hash of the selectors, as in the token
    limit: int
    after: tuple[KeyPart, ...] | None = None


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: list[Row]
    continue_token: str | None  # None on the last page


def ask(
    list_name: str,
    *,
    limit: int,
    token: str | None,
    selectors: Mapping[str, Any] | None = None,
    key: Sequence[type] = (str,),
) -> PageAsk:
    """The page a request asks for; `key` gives the type of each part of the list's sort key.
    A token that is not a valid one for this list and these selectors is refused."""
    fingerprint = _fingerprint(selectors or {})
    if token is None:
        return PageAsk(list_name=list_name, selectors=fingerprint, limit=limit)
    fields = _decoded(token)
    if fields.get("l") != list_name:
        raise _refused(f"this token continues another list ({_name(fields.get('l'))}), not {list_name}")
    if fields.get("s") != fingerprint:
        raise _refused("this token was issued for other selectors (phase, template, owner, name, ...)")
    return PageAsk(list_name=list_name, selectors=fingerprint, limit=limit, after=_key(fields.get("a"), key))


def page(rows: Sequence[Row], asked: PageAsk, *, key: Callable[[Row], tuple[KeyPart, ...]]) -> Page[Row]:
    """Cut the rows of a query that fetched `limit + 1`: the extra row only says more follow."""
    shown = list(rows[: asked.limit])
    if len(rows) <= asked.limit or not shown:
        return Page(rows=shown, continue_token=None)
    return Page(rows=shown, continue_token=token_for(asked, key(shown[-1])))


def token_for(asked: PageAsk, after: tuple[KeyPart, ...]) -> str:
    fields = {
        "v": TOKEN_VERSION,
        "l": asked.list_name,
        "s": asked.selectors,
        "a": [p.isoformat() if isinstance(p, datetime) else p for p in after],
    }
    fields["c"] = _check(fields)
    raw = json.dumps(fields, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decoded(token: str) -> dict[str, Any]:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise _refused("this is not a continue token of this server")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        fields = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise _refused("this is not a continue token of this server") from exc
    if not isinstance(fields, dict) or set(fields) != {"v", "l", "s", "a", "c"}:
        raise _refused("this is not a continue token of this server")
    if fields["v"] != TOKEN_VERSION:
        raise _refused("this token is from another version of the server")
    check = fields.pop("c")
    if check != _check(fields):
        raise _refused("this token was changed after the server issued it")
    return fields


def _key(value: Any, types: Sequence[type]) -> tuple[KeyPart, ...]:
    if not isinstance(value, list) or len(value) != len(types):
        raise _refused("this token's position does not fit this list")
    return tuple(_part(part, kind) for part, kind in zip(value, types, strict=True))


def _part(value: Any, kind: type) -> KeyPart:
    if kind is datetime and isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError as exc:
            raise _refused("this token's position does not fit this list") from exc
        if when.tzinfo is not None:
            return when
    elif (kind is int and type(value) is int) or (kind is str and isinstance(value, str)):
        return value
    raise _refused("this token's position does not fit this list")


def _check(fields: Mapping[str, Any]) -> str:
    raw = json.dumps(fields, separators=(",", ":"), sort_keys=True).encode()
    return hashlib.sha256(b"den-continue:" + raw).hexdigest()[:16]


def _fingerprint(selectors: Mapping[str, Any]) -> str:
    given = {k: v for k, v in selectors.items() if v is not None}
    raw = json.dumps(given, separators=(",", ":"), sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _name(value: Any) -> str:
    return value if isinstance(value, str) and value.isidentifier() else "unknown"


def _refused(what: str) -> ValidationFailed:
    return ValidationFailed([Problem("continue", what, START_AGAIN)])
