"""Wake the reconciler whenever intent changes: one mechanism, on every commit, so that no
route has to remember to.

A session hook notes, at each flush, whether the unit of work wrote a trial or a template
version (what people write: requests, decisions, extensions, requests to end, a version's
status). When that transaction commits:

- in this process, every registered waker runs (the reconciler thread of `den serve`);
- on PostgreSQL, `NOTIFY den_intent` was issued inside the transaction, so the server delivers
  it on commit, and never for a rollback, to every reconciler process listening
  (`listen_for_intent`: the chart's `den reconcile` beside the API replicas);
- with `DEN_WAKE_SOCKET` (set by `den serve --workers N`), a datagram to the reconciler
  process on the same machine (`socket_waker`, `listen_on_socket`).

The reconciler's own sessions are marked quiet (`quiet(session)`): its writes are observations,
and its work items wake its loop themselves when they finish.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable
from itertools import chain
from typing import Any, TypeVar

import structlog
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from orchestrator.models import TemplateVersion, Trial

log = structlog.get_logger("wakeups")
CHANNEL = "den_intent"
_QUIET, _PENDING = "den.quiet", "den.intent_pending"
_wakers: set[Callable[[], None]] = set()
_lock = threading.Lock()
_S = TypeVar("_S", bound=Session)


def on_intent_change(waker: Callable[[], None]) -> Callable[[], None]:
    """Call `waker` after every commit in this process that changed intent; returns the
    function that unregisters it."""
    with _lock:
        _wakers.add(waker)

    def unregister() -> None:
        with _lock:
            _wakers.discard(waker)

    return unregister


def quiet(session: _S) -> _S:
    """Mark a session whose commits wake nobody (the reconciler's own)."""
    session.info[_QUIET] = True
    return session


@event.listens_for(Session, "after_flush")
def _note_intent(session: Session, _context: Any) -> None:
    if session.info.get(_QUIET) or session.info.get(_PENDING):
        return
    written = chain(session.new, session.dirty)
    if not any(isinstance(row, Trial | TemplateVersion) for row in written):
        return
    session.info[_PENDING] = True
    if session.get_bind().dialect.name == "postgresql":
        session.connection().execute(text(f"NOTIFY {CHANNEL}"))


@event.listens_for(Session, "after_commit")
def _wake(session: Session) -> None:
    if not session.info.pop(_PENDING, False):
        return
    with _lock:
        wakers = list(_wakers)
    for waker in wakers:
        waker()


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


def listen_for_intent(
    engine: Engine, waker: Callable[[], None], stop: threading.Event
) -> threading.Thread | None:
    """On PostgreSQL, a thread that LISTENs for commits made by other processes and calls
    `waker` for each; it reconnects after losing its connection (and wakes once then, since a
    notification may have been missed). None on SQLite: there the API and the reconciler share
    one process, or the reconciler's idle wake-up (`DEN_IDLE_WAKEUP`) finds new work."""
    if engine.dialect.name != "postgresql":
        return None
    thread = threading.Thread(target=_listen, args=(engine, waker, stop), daemon=True, name="intent-listener")
    thread.start()
    return thread


def _listen(engine: Engine, waker: Callable[[], None], stop: threading.Event) -> None:
    while not stop.is_set():
        raw = None
        try:
            raw = engine.raw_connection()
            connection: Any = raw.driver_connection  # psycopg's own connection
            connection.autocommit = True
            connection.execute(f"LISTEN {CHANNEL}")
            waker()
            while not stop.is_set():
                for _ in connection.notifies(timeout=1.0):
                    waker()
        except Exception as exc:  # the database is away: try again shortly
            log.warning("intent_listener_lost", error=str(exc))
            stop.wait(1.0)
        finally:
            if raw is not None:
                raw.invalidate()  # never hand a LISTENing connection back to the pool


# --- other processes on the same machine (`den serve --workers N`) ----------------------------
#
# SQLite has no NOTIFY, so API processes beside one reconciler process send it a datagram on a
# Unix socket (`DEN_WAKE_SOCKET`) after each commit that changed intent. A datagram carries no
# data that matters: it only says "look again". Sending never blocks and never fails a request:
# a reconciler that is away (restarting) finds the change at its next turn anyway.


def socket_waker(path: str) -> Callable[[], None]:
    """A waker that sends one datagram to the reconciler's socket at `path`."""
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sender.setblocking(False)

    def wake() -> None:
        with contextlib.suppress(OSError):  # nobody listening, or its queue full: it will look
            sender.sendto(b"w", path)

    return wake


def listen_on_socket(path: str, waker: Callable[[], None], stop: threading.Event) -> threading.Thread:
    """A thread that binds the Unix datagram socket at `path` (replacing a stale one) and calls
    `waker` for every datagram, until `stop` is set."""
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    receiver.bind(path)
    receiver.settimeout(0.5)

    def listen() -> None:
        try:
            while not stop.is_set():
                try:
                    receiver.recv(64)
                except TimeoutError:
                    continue
                waker()
        finally:
            receiver.close()
            with contextlib.suppress(OSError):
                os.unlink(path)

    thread = threading.Thread(target=listen, daemon=True, name="wake-socket")
    thread.start()
    return thread
