"""API tokens looked up at most once a second in each process.

Every API request names its caller by a bearer token, and looking the token and its person up
costs two queries: more than the rest of a small read. So each process keeps what it found for
`TTL` seconds, as plain values (each hit gets a `User` of its own, so no request can change
another's). A token revoked or expired, or a person disabled or given another role, takes
effect within `TTL` in every process, and at once in the process that made the change: any
commit that wrote a token or a person empties that process's cache. A token's own expiry is
checked against `now` on every hit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.crud.memo import MAX_ENTRIES, TTL, forget_on_commit
from orchestrator.models import ApiToken, User


@dataclass(frozen=True)
class _Entry:
    user: dict[str, Any]  # the person's columns
    expires_at: datetime | None  # the token's
    cached_at: float


class TokenCache:
    """Token hash -> (person, token expiry), each kept for `ttl` seconds of `clock`."""

    def __init__(self, *, ttl: float = TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.clock = ttl, clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str, *, now: datetime) -> tuple[User, datetime | None] | None:
        entry = self._entries.get(token_hash)
        if entry is None or self.clock() - entry.cached_at >= self.ttl:
            return None
        if entry.expires_at is not None and entry.expires_at <= now:
            return None
        return User(**entry.user), entry.expires_at

    def put(self, token_hash: str, user: User, token: ApiToken) -> None:
        entry = _Entry(user=_columns(user), expires_at=token.expires_at, cached_at=self.clock())
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()  # rare: as many live callers within a second
            self._entries[token_hash] = entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _columns(user: User) -> dict[str, Any]:
    return {column.key: getattr(user, column.key) for column in User.__table__.columns}  # type: ignore[attr-defined]


#: The process's cache, emptied by every commit that writes a token or a person.
TOKENS = TokenCache()


forget_on_commit((ApiToken, User), TOKENS.clear, name="identity")
