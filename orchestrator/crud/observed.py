"""Observed trial state: the reconciler's writes and the queries that drive it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from orchestrator.crud.common import trial_event
from orchestrator.lifecycle import LIVE_PHASES, Phase, check_transition
from orchestrator.models import Trial


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
    trial.phase, trial.reason, trial.message, trial.phase_changed_at = to, reason, message, now
    for name, value in observed.items():
        setattr(trial, name, value)
    trial_event(session, trial, now=now, kind="Transition", message=message)


def record_progress(session: Session, *, trial: Trial, message: str, now: datetime) -> None:
    trial_event(session, trial, now=now, kind="Progress", message=message)


def trials_needing_work(session: Session, *, now: datetime) -> Sequence[Trial]:
    """Trials the reconciler must act on now: cost follows changes, not the number of trials.

    Ready trials that have not expired and were not asked to end are not loaded, nor are
    requests still waiting for an approver's decision."""
    busy = col(Trial.phase).in_([Phase.REQUESTED, Phase.PROVISIONING, Phase.STOPPING, Phase.FAILED])
    ready_due = (col(Trial.phase) == Phase.READY) & (
        (col(Trial.expires_at) <= now) | col(Trial.end_requested_at).is_not(None)
    )
    decided = (col(Trial.phase) == Phase.PENDING_APPROVAL) & (
        col(Trial.approved_at).is_not(None)
        | col(Trial.rejected_at).is_not(None)
        | col(Trial.end_requested_at).is_not(None)
    )
    return session.exec(select(Trial).where(busy | ready_due | decided).order_by(col(Trial.created_at))).all()


def next_expiry(session: Session) -> datetime | None:
    return session.exec(select(func.min(Trial.expires_at)).where(Trial.phase == Phase.READY)).one()


def live_trial_ids(session: Session) -> set[str]:
    rows = session.exec(select(Trial.id).where(col(Trial.phase).in_(list(LIVE_PHASES)))).all()
    return set(rows)


def count_by_phase(session: Session) -> dict[str, int]:
    """Trials per phase, for the `den_trials` gauge: one grouped query."""
    rows = session.exec(select(Trial.phase, func.count()).group_by(col(Trial.phase))).all()
    return dict(rows)
