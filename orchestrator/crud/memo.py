"""What a process keeps in memory for a second, and forgets when a commit changes it.

The process-wide caches (API tokens, the catalogue's pages, people's names) keep what they read
for `TTL` seconds, which is how long another process's change may take to show. A change made
by *this* process shows at once: `forget_on_commit` empties a cache after any commit whose
flush wrote a row of the given kinds, and leaves it alone when that commit is rolled back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from itertools import chain
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

TTL = 1.0
MAX_ENTRIES = 10_000
_V = TypeVar("_V")


class Memo(Generic[_V]):
    """key -> value, each kept for `ttl` seconds of `clock`."""

    def __init__(self, *, ttl: float = TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.clock = ttl, clock
        self._entries: dict[Hashable, tuple[float, _V]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> _V | None:
        found = self._entries.get(key)
        if found is None or self.clock() - found[0] >= self.ttl:
            return None
        return found[1]

    def put(self, key: Hashable, value: _V) -> None:
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()  # rare: as many keys read within a second
            self._entries[key] = (self.clock(), value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


#: Every cache's `forget`, for `forget_everything`.
_FORGETS: list[Callable[[], None]] = []


def forget_everything() -> None:
    """Empty every cache of the process: when it starts serving a database (the caches know
    nothing of which database they read, and a test process serves many one after another)."""
    for forget in _FORGETS:
        forget()


def forget_on_commit(kinds: tuple[type, ...], forget: Callable[[], None], *, name: str) -> None:
    """After a commit that wrote any row of `kinds`, call `forget` (once per commit); also on
    `forget_everything`. `name` keeps one cache's note on a session apart from another's."""
    key = f"den.wrote.{name}"
    _FORGETS.append(forget)

    @event.listens_for(Session, "after_flush")
    def _note(session: Session, _context: Any) -> None:
        if any(isinstance(row, kinds) for row in chain(session.new, session.dirty, session.deleted)):
            session.info[key] = True

    @event.listens_for(Session, "after_commit")
    def _forget(session: Session) -> None:
        if session.info.pop(key, False):
            forget()

    @event.listens_for(Session, "after_rollback")
    def _unwritten(session: Session) -> None:
        session.info.pop(key, None)
