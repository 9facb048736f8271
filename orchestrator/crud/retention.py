"""Retention: the reconciler removes the free text of trials that ended long ago
(`orchestrator.retention` says which, and what is kept), a bounded batch at a time."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from orchestrator import retention
from orchestrator.crud.common import audit, trial_event
from orchestrator.models import Evaluation, Trial, TrialAssessment


def remove_old_text(session: Session, *, now: datetime, days: int, limit: int = retention.BATCH) -> list[str]:
    """Remove the free text of up to `limit` trials that ended more than `days` ago (oldest
    first), keeping their scores and answers; each gets `text_removed_at`, a timeline entry
    and an audit record. Returns their ids; the caller commits."""
    before = retention.cutoff(now=now, days=days)
    if before is None:
        return []
    due = session.exec(
        select(Trial)
        .where(
            col(Trial.text_removed_at).is_(None),
            col(Trial.ended_at).is_not(None),
            col(Trial.ended_at) < before,
        )
        .order_by(col(Trial.ended_at))
        .limit(limit)
    ).all()
    for trial in due:
        for name, empty in retention.TRIAL_TEXT.items():
            setattr(trial, name, type(empty)())
        trial.text_removed_at = now
        evaluation = session.get(Evaluation, trial.id)
        if evaluation is not None:
            for name, empty in retention.EVALUATION_TEXT.items():
                setattr(evaluation, name, type(empty)())
            evaluation.scores = retention.scores_without_text(dict(evaluation.scores))
            evaluation.criteria_results = retention.criteria_without_text(list(evaluation.criteria_results))
            session.add(evaluation)
        for assessment in session.exec(select(TrialAssessment).where(TrialAssessment.trial_id == trial.id)):
            assessment.scores = retention.scores_without_text(dict(assessment.scores))
            session.add(assessment)
        session.add(trial)
        trial_event(
            session,
            trial,
            now=now,
            kind="Intent",
            message="What people wrote about this trial was removed: the den keeps it "
            f"{retention.in_words(days)}. Its scores and decision are kept",
        )
        audit(
            session,
            actor=None,
            action="trial.text_removed",
            obj=("trial", trial.id),
            now=now,
            detail={"retention_days": days},
            source="reconciler",
        )
    return [trial.id for trial in due]
