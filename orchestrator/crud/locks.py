"""Locks that make a check and the write it allows one step, under concurrent requests.

A trial request counts the active trials and then inserts one; an extension or a decision
reads the trial and then writes it. Two requests doing so at once would both pass the check
(two trials where the cap leaves room for one, two extensions where `maxExtensions` allows
one, a request both approved and rejected). So each first takes a lock held until its
transaction ends, and only then reads what it checks.

The lock is an UPDATE, which both databases serialise without anything dialect-specific:

- **SQLite** has one writer at a time. Python's sqlite3 opens a transaction only before the
  first write, so the reads before it ran outside any transaction; the UPDATE begins one, waits
  (`busy_timeout`) for the write lock, and reads the newest data from then on: nobody else can
  commit until this transaction does. Being the transaction's first statement, it never fails
  with a stale snapshot (SQLite retries it), unlike a write after a read in one transaction.
- **PostgreSQL** locks the updated row until commit, so a second request waits at its UPDATE
  until the first commits. At READ COMMITTED (the default, and what this relies on) each later
  statement sees every row committed before it started, the first request's trial included; a
  database set to a stricter level refuses the waiting UPDATE instead (a serialisation
  error), which refuses the request but never lets it pass a cap.

Whatever was read before the lock may be stale: the trial is read again under its lock.

On SQLite the requests of one process also queue for the write lock in memory (`_WRITER`)
before they take it in the database. SQLite's own wait is a sleep of 1, 2, 5, 10, ... up to 100
ms between attempts, so under a steady stream of writes a request slept far longer than the
writes before it took; a lock in memory hands over the moment the previous transaction ends.
The wait in the database remains for other processes (the reconciler, other workers).
"""

from __future__ import annotations

import threading

from sqlalchemy import event, text
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from orchestrator.models import Challenge, Trial

#: The one row of `cap_lock` (migration 0007). One for all caps: the den-wide ones count
#: every trial, so every request must wait for every other anyway.
CAPS = "trials"
#: One SQLite writer at a time in this process (see above); a session holding it notes so.
_WRITER = threading.Lock()
_HOLDS = "den.holds_writer"
#: Past this, a request stops queueing in memory and waits in the database as before: a
#: transaction left open (by a bug) must slow the others, never stop them.
WRITER_WAIT = 30.0


def hold_caps(session: Session) -> None:
    """Hold the cap lock until the session's transaction ends (commit or rollback)."""
    _queue_for_writing(session)
    found = session.connection().execute(
        text("UPDATE cap_lock SET name = name WHERE name = :name"), {"name": CAPS}
    )
    # No row would lock nothing on PostgreSQL: refuse rather than count without the lock.
    if found.rowcount != 1:
        raise RuntimeError("the cap_lock row is missing: run `den db upgrade`")


def lock_trial(session: Session, trial: Trial) -> Trial:
    """Hold the trial's row until the transaction ends, and read it again as it is now."""
    _queue_for_writing(session)
    session.connection().execute(
        text("UPDATE trial SET extension_count = extension_count WHERE id = :id"), {"id": trial.id}
    )
    session.refresh(trial)
    return trial


def lock_challenge(session: Session, challenge: Challenge) -> Challenge:
    """Hold the challenge's row until the transaction ends, and read it again as it is now:
    every engagement write (a response, a registration, closing) takes it first."""
    _queue_for_writing(session)
    session.connection().execute(
        text("UPDATE challenge SET updated_at = updated_at WHERE id = :id"), {"id": challenge.id}
    )
    session.refresh(challenge)
    return challenge


def _queue_for_writing(session: Session) -> None:
    """On SQLite, wait for this process's other writers before taking the database's lock."""
    if session.info.get(_HOLDS) or session.get_bind().dialect.name != "sqlite":
        return
    if _WRITER.acquire(timeout=WRITER_WAIT):
        session.info[_HOLDS] = True


@event.listens_for(Session, "after_transaction_end")
def _done_writing(session: Session, transaction: SessionTransaction) -> None:
    """The outermost transaction ended (committed, rolled back or closed): let the next in."""
    if transaction.parent is None and session.info.pop(_HOLDS, False):
        _WRITER.release()
