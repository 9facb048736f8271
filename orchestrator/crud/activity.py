"""Visits to sandboxes, and sleeping sandboxes woken by them (idle sleep).

Every admitted request through a sandbox's address is a visit (api/sandbox_origin.py). A
write per request would put a database write behind every file a sandbox serves, so a
process writes a trial's visit at most once per `visit_interval` (a tenth of its idle timeout,
at most `VISIT_WRITE_EVERY` seconds): one conditional UPDATE of `last_activity_at` that also
moves `sleeps_at` on. It is a plain UPDATE, not an ORM write, so it wakes nobody: the
reconciler, woken at the old `sleeps_at`, finds the trial no longer due and sleeps until the
new one.

A visit to a sleeping sandbox asks for it to wake (`request_wake`: intent, written on the
trial's locked row, which wakes the reconciler); the reconciler wakes it when the caps have
room for it again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, col

from orchestrator.crud.common import trial_event
from orchestrator.crud.locks import lock_trial
from orchestrator.crud.memo import Memo
from orchestrator.lifecycle import Phase, Reason
from orchestrator.models import Trial

VISIT_WRITE_EVERY = 30.0  # seconds: the most a trial's recorded visit lags behind the last one


def visit_interval(idle_timeout: int) -> timedelta:
    """Pure: how often a trial's visits are written. Short enough that a sandbox never sleeps
    more than a tenth of its timeout early; a trial that never sleeps still has its latest
    visit recorded, every `VISIT_WRITE_EVERY` seconds."""
    if idle_timeout <= 0:
        return timedelta(seconds=VISIT_WRITE_EVERY)
    return timedelta(seconds=min(VISIT_WRITE_EVERY, max(0.5, idle_timeout / 10)))


def sleeps_at(*, now: datetime, idle_timeout: int, pooled: bool = False) -> datetime | None:
    """Pure: when a Ready sandbox last visited at `now` goes to sleep; None: never (no idle
    timeout, or waiting in a warm pool, where nobody visits)."""
    if idle_timeout <= 0 or pooled:
        return None
    return now + timedelta(seconds=idle_timeout)


#: When this process last wrote each trial's visit: most visits write nothing.
_WRITTEN: Memo[datetime] = Memo(ttl=VISIT_WRITE_EVERY)


def record_visit(session: Session, *, trial: Trial, now: datetime) -> bool:
    """Note a visit to `trial`'s sandbox (Ready); True when it was written. The caller
    commits."""
    interval = visit_interval(trial.idle_timeout_seconds)
    written = _WRITTEN.get(trial.id)
    if written is not None and now - written < interval:
        return False
    _WRITTEN.put(trial.id, now)
    found = session.connection().execute(
        update(Trial)
        .where(
            col(Trial.id) == trial.id,
            col(Trial.phase) == Phase.READY,
            col(Trial.pooled).is_(False),
            or_(col(Trial.last_activity_at).is_(None), col(Trial.last_activity_at) <= now - interval),
        )
        .values(
            last_activity_at=now,
            sleeps_at=sleeps_at(now=now, idle_timeout=trial.idle_timeout_seconds),
        )
    )
    return bool(found.rowcount)


def request_wake(session: Session, *, trial: Trial, now: datetime, by: str) -> Trial:
    """A visit to a sleeping sandbox: ask the reconciler to wake it (once; asking again while
    it wakes changes nothing). `by` says whose visit, for the timeline. The caller commits."""
    found = session.get(Trial, trial.id)  # `trial` may come from another session
    assert found is not None  # trials are never deleted
    trial = lock_trial(session, found)
    if trial.phase == Phase.SLEEPING and trial.wake_requested_at is None:
        trial.wake_requested_at = now
        trial.last_activity_at = now
        trial.updated_at = now
        trial_event(session, trial, now=now, kind="Intent", message=f"Visited by {by}: waking the sandbox")
    return trial


def is_waking(trial: Trial) -> bool:
    """Asleep and asked to wake, or waking: a visitor is told to wait a moment."""
    return (trial.phase == Phase.SLEEPING and trial.wake_requested_at is not None) or (
        trial.phase == Phase.PROVISIONING and trial.reason == Reason.WAKING
    )
