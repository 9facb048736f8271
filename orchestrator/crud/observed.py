"""Observed trial state: the reconciler's writes and the queries that drive it."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, literal, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from orchestrator.cost import Totals
from orchestrator.crud.common import audit, trial_event
from orchestrator.lifecycle import LIVE_PHASES, Phase, check_transition
from orchestrator.models import TemplateVersion, Trial, TrialEvent, UTCDateTime


def record_transition(
    session: Session,
    *,
    trial: Trial,
    to: Phase,
    reason: str,
    message: str,
    now: datetime,
    **observed: Any,
) -> None:
    check_transition(Phase(trial.phase), to)
    if trial.phase == Phase.SLEEPING:  # the sleep ends: it counts in the trial's sleeping time
        trial.slept_seconds += max(0, int((now - trial.phase_changed_at).total_seconds()))
    trial.phase, trial.reason, trial.message, trial.phase_changed_at = to, reason, message, now
    for name, value in observed.items():
        setattr(trial, name, value)
    trial_event(session, trial, now=now, kind="Transition", message=message)


def commit_phase_before_runtime(
    session: Session,
    *,
    trial: Trial,
    to: Phase,
    reason: str,
    message: str,
    now: datetime,
    **observed: Any,
) -> None:
    """Record a transition and commit it at once: the phase is durable before the runtime call
    it leads to, so a crash between the two is finished by the next pass, never lost."""
    record_transition(session, trial=trial, to=to, reason=reason, message=message, now=now, **observed)
    session.commit()


def record_progress(session: Session, *, trial: Trial, message: str, now: datetime) -> None:
    trial_event(session, trial, now=now, kind="Progress", message=message)


def record_new_progress(session: Session, *, trial: Trial, steps: Sequence[str], now: datetime) -> None:
    """Record each step the runtime reports once, however often it is reported."""
    if not steps:
        return
    seen = set(
        session.exec(
            select(TrialEvent.message).where(
                TrialEvent.trial_id == trial.id, col(TrialEvent.kind) == "Progress"
            )
        ).all()
    )
    for step in steps:
        if step not in seen:
            record_progress(session, trial=trial, message=step, now=now)
            seen.add(step)


def last_failure_message(session: Session, trial: Trial) -> str:
    """Why the trial failed, for its final message once the teardown is done."""
    return (
        session.exec(
            select(TrialEvent.message)
            .where(TrialEvent.trial_id == trial.id, TrialEvent.phase == Phase.FAILED)
            .order_by(col(TrialEvent.id).desc())
        ).first()
        or trial.message
    )


def version_quarantined(session: Session, trial: Trial) -> bool:
    """Whether the trial's template version is quarantined (asked only of ending trials)."""
    version = session.get(TemplateVersion, trial.template_version_id)
    return version is not None and version.status == "Quarantined"


def record_orphan_removed(session: Session, *, trial_id: str, now: datetime) -> None:
    audit(
        session, actor=None, action="orphan.remove", obj=("runtime", trial_id), now=now, source="reconciler"
    )


def trials_needing_work(session: Session, *, now: datetime) -> Sequence[Trial]:
    """Trials the reconciler must act on now: cost follows changes, not the number of trials.

    Ready trials that have not expired, were not asked to end and are not due to sleep are not
    loaded, nor are sleeping ones nobody asked to wake, nor requests still waiting for an
    approver's decision."""
    return session.exec(_needing_work(), params={"now": now}).all()


# The reconciler runs the two queries below on every turn, and a turn follows every change of
# intent (each trial request): they are built once, `now` and `after` bound on each run.


@functools.cache
def _needing_work() -> SelectOfScalar[Trial]:
    now = bindparam("now", type_=UTCDateTime())
    busy = _one_of(Phase.REQUESTED, Phase.PROVISIONING, Phase.STOPPING, Phase.FAILED)
    ending = (col(Trial.expires_at) <= now) | col(Trial.end_requested_at).is_not(None)
    ready_due = (col(Trial.phase) == Phase.READY) & (ending | (col(Trial.sleeps_at) <= now))
    sleeping_due = (col(Trial.phase) == Phase.SLEEPING) & (ending | col(Trial.wake_requested_at).is_not(None))
    decided = (col(Trial.phase) == Phase.PENDING_APPROVAL) & (
        col(Trial.approved_at).is_not(None)
        | col(Trial.rejected_at).is_not(None)
        | col(Trial.end_requested_at).is_not(None)
    )
    return select(Trial).where(busy | ready_due | sleeping_due | decided).order_by(col(Trial.created_at))


def _one_of(*phases: Phase) -> ColumnElement[bool]:
    """Each phase a bound value of its own: a list given to `in_` is expanded into the SQL
    again on every run."""
    return col(Trial.phase).in_([literal(str(phase)) for phase in phases])


def next_expiry(session: Session, *, after: datetime | None = None) -> datetime | None:
    """The soonest time a running sandbox is due to change by itself: the `expires_at` of a
    Ready or sleeping trial, or the `sleeps_at` of a Ready one (after `after`, when given: the
    due ones are already being worked on)."""
    expiry, sleep = _soonest(after is not None)
    params = {"after": after} if after is not None else None
    found = (session.exec(expiry, params=params).one(), session.exec(sleep, params=params).one())
    times = [t for t in found if t is not None]
    return min(times) if times else None


@functools.cache
def _soonest(after: bool) -> tuple[SelectOfScalar[datetime | None], SelectOfScalar[datetime | None]]:
    expiry = select(func.min(Trial.expires_at)).where(_one_of(Phase.READY, Phase.SLEEPING))
    sleep = select(func.min(Trial.sleeps_at)).where(Trial.phase == Phase.READY)
    if after:
        since = bindparam("after", type_=UTCDateTime())
        expiry = expiry.where(col(Trial.expires_at) > since)
        sleep = sleep.where(col(Trial.sleeps_at) > since)
    return expiry, sleep


def ready_trials(session: Session) -> Sequence[Trial]:
    """Every Ready trial, for the liveness check (one query, whatever their number)."""
    return session.exec(select(Trial).where(Trial.phase == Phase.READY)).all()


def running_trial_ids(session: Session) -> list[str]:
    """Trials whose sandbox may be running (starting, waking or Ready), for the usage
    sampler: one query, whatever their number. A warm pool's sandboxes are no one's trial
    yet: what one uses is counted from its hand-out (`pools.claim`)."""
    query = select(Trial.id).where(
        col(Trial.phase).in_([Phase.PROVISIONING, Phase.READY]), col(Trial.pooled).is_(False)
    )
    return sorted(session.exec(query).all())


def record_usage(session: Session, *, trial_id: str, before: Totals, after: Totals, now: datetime) -> bool:
    """Write a reading's totals, only if the trial is still running and nobody wrote a reading
    since `before` was read (the reconciler's last one before a sleep or a teardown, in
    another transaction): one conditional UPDATE, so a reading taken just before the trial
    slept or ended never overwrites what that wrote. False when it was not written."""
    sampled = col(Trial.usage_sampled_at)
    query = (
        update(Trial)
        .where(
            col(Trial.id) == trial_id,
            col(Trial.phase).in_([Phase.PROVISIONING, Phase.READY]),
            col(Trial.usage_counter_seconds) == before.last_counter,
            sampled.is_(None) if before.sampled_at is None else sampled == before.sampled_at,
        )
        .values(
            cpu_seconds=after.cpu_seconds,
            peak_memory_bytes=after.peak_memory_bytes,
            running_seconds=after.running_seconds,
            usage_counter_seconds=after.last_counter,
            usage_sampled_at=after.sampled_at,
            updated_at=now,  # watchers see the new figures
        )
    )
    return bool(session.execute(query).rowcount)  # type: ignore[attr-defined]


def sleeping_trials(session: Session) -> Sequence[Trial]:
    """Every sleeping trial, for the liveness check: none of them should be running."""
    return session.exec(select(Trial).where(Trial.phase == Phase.SLEEPING)).all()


def live_trial_ids(session: Session) -> set[str]:
    rows = session.exec(select(Trial.id).where(col(Trial.phase).in_(list(LIVE_PHASES)))).all()
    return set(rows)


def count_by_phase(session: Session) -> dict[str, int]:
    """Trials per phase, for the `den_trials` gauge: one grouped query."""
    rows = session.exec(select(Trial.phase, func.count()).group_by(col(Trial.phase))).all()
    return dict(rows)
