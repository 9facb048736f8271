"""Conditional answers (HTTP's `ETag` and `If-None-Match`), for what pages and clients poll:
`GET /api/v1/trials/{id}`, `GET /api/v1/trials`, `GET /api/v1/templates` and the trial page's
twin `/trials/{id}.json`. One decision here; the API (api/conditional.py) and the pages
(web/routes/trials.py) only turn it into their response.

The tag is a hash of the answer's JSON as sent (no second rendering), so it changes exactly
when the answer does, with no version column to keep. It is a weak tag (`W/"..."`): two answers
with the same tag may differ in `time_left_seconds` alone, which the clock changes every second
and which follows from `expires_at`; a poller is told "nothing happened" rather than "a second
passed". A match is answered 304 with no body, the same tag and `Cache-Control: private, no-
cache`: a browser keeps the answer for its visitor only and asks again every time, with the
tag.

No framework here: the callers pass the request's `If-None-Match` header and get back the
status, body and headers to send.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Fields the clock changes on its own: left out of the tag (see above).
VOLATILE = frozenset({"time_left_seconds"})
# Inside a JSON string every quote is escaped (`\"`), so `"<key>":` is found where a key
# stands and nowhere else.
_VOLATILE = re.compile(
    rb'"(?:' + b"|".join(re.escape(k.encode()) for k in sorted(VOLATILE)) + rb')":(?:-?[0-9]+|null),?'
)
CACHE_CONTROL = "private, no-cache"


@dataclass(frozen=True)
class Answer:
    status: int  # 200, or 304 when the client already holds this answer
    body: bytes  # empty for a 304
    headers: dict[str, str] = field(default_factory=dict)


def answer(body: bytes, *, if_none_match: str | None) -> Answer:
    """`body` (the answer's JSON, as sent) with its tag, or 304 when the client's
    `If-None-Match` names that tag."""
    tag = etag(body)
    headers = {"etag": tag, "cache-control": CACHE_CONTROL}
    if matches(if_none_match, tag):
        return Answer(status=304, body=b"", headers=headers)
    return Answer(status=200, body=body, headers=headers)


def etag(body: bytes) -> str:
    """A hash of the JSON `body` with every volatile field taken out."""
    return f'W/"{hashlib.sha256(_VOLATILE.sub(b"", body)).hexdigest()[:32]}"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """RFC 9110 13.1.2: `*`, or any listed tag equal to ours by the weak comparison."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return _opaque(tag) in {_opaque(t) for t in _tags(if_none_match)}


def _tags(header: str) -> Iterable[str]:
    return (t.strip() for t in header.split(",") if t.strip())


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag
