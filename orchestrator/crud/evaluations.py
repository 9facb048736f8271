"""Recording a trial's evaluation, reading it back with the measured evidence, and the
comparable report (one row per evaluated trial)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from orchestrator import evaluation, metrics, rules
from orchestrator.access import Role, check_may_evaluate
from orchestrator.crud.common import Actor, audit, pk, trial_event
from orchestrator.crud.trials import events_of, trial_events
from orchestrator.errors import NotFound
from orchestrator.models import Evaluation, SandboxTemplate, Supplier, TemplateVersion, Trial, User


@dataclass(frozen=True)
class EvaluationInput:
    scores: dict[str, dict[str, Any]]  # dimension -> {"score": 1-5, "evidence": text}
    decision: str
    lessons_learned: str = ""
    private_notes: str = ""


@dataclass(frozen=True)
class ReportFilter:
    problem_area: str | None = None
    supplier: str | None = None
    decision: str | None = None
    template: str | None = None


def put_evaluation(
    session: Session, *, actor: Actor, trial: Trial, data: EvaluationInput, now: datetime
) -> Evaluation:
    """Record (or replace) the trial's evaluation."""
    check_may_evaluate(actor.user, trial)
    rules.check_evaluable(trial)
    row = session.get(Evaluation, trial.id) or Evaluation(
        trial_id=trial.id, decision=data.decision, recorded_by=pk(actor.user), recorded_at=now
    )
    row.scores, row.decision = data.scores, data.decision
    row.lessons_learned, row.private_notes = data.lessons_learned, data.private_notes
    row.recorded_by, row.recorded_at = pk(actor.user), now
    session.add(row)
    trial_event(
        session,
        trial,
        now=now,
        kind="Intent",
        message=f"Evaluation recorded by {actor.name}: {data.decision}",
    )
    audit(
        session,
        actor=actor,
        action="trial.evaluate",
        obj=("trial", trial.id),
        now=now,
        detail={"decision": data.decision},
    )
    metrics.EVALUATIONS.labels(decision=data.decision).inc()
    return row


def get_evaluation(
    session: Session, *, trial: Trial, now: datetime
) -> tuple[Evaluation, str, evaluation.Measured]:
    """The evaluation, who recorded it, and what the orchestrator measured."""
    row = session.get(Evaluation, trial.id)
    if row is None:
        raise NotFound(f"trial {trial.id} has not been evaluated yet", reason="NotEvaluated")
    author = session.get(User, row.recorded_by)
    measured = evaluation.measure(trial, trial_events(session, trial_id=trial.id), now=now)
    return row, author.name if author else "", measured


def report(session: Session, *, user: User, selectors: ReportFilter, now: datetime) -> list[dict[str, Any]]:
    """Rows of the comparable report, numbered from 1 in this export. Everyone but suppliers
    sees every evaluated trial, since the report holds no private notes, owners nor trial ids;
    a supplier sees its own templates' trials only, without the civil servant's words."""
    query = (
        select(Trial, Evaluation, TemplateVersion, Supplier)
        .join(Evaluation, col(Evaluation.trial_id) == Trial.id)
        .join(TemplateVersion, col(TemplateVersion.id) == Trial.template_version_id)
        .join(SandboxTemplate, col(SandboxTemplate.id) == TemplateVersion.template_id)
        .join(Supplier, col(Supplier.id) == SandboxTemplate.supplier_id)
        .order_by(col(Trial.created_at), col(Trial.id))
    )
    if user.role == Role.SUPPLIER:
        query = query.where(SandboxTemplate.supplier_id == user.supplier_id)
    if selectors.supplier:
        query = query.where(Supplier.slug == selectors.supplier)
    if selectors.decision:
        query = query.where(Evaluation.decision == selectors.decision)
    if selectors.template:
        query = query.where(Trial.template_name == selectors.template)
    rows = [
        row
        for row in session.exec(query).all()
        if not selectors.problem_area or selectors.problem_area in _areas(row[2])
    ]
    timelines = events_of(session, [trial.id for trial, *_ in rows])
    found = [
        evaluation.report_row(
            evaluation.ReportInput(
                row=number,
                trial=trial,
                evaluation=scored,
                supplier=supplier,
                problem_areas=_areas(version),
                measured=evaluation.measure(trial, timelines[trial.id], now=now),
            )
        )
        for number, (trial, scored, version, supplier) in enumerate(rows, start=1)
    ]
    return [evaluation.for_supplier(row) for row in found] if user.role == Role.SUPPLIER else found


def _areas(version: TemplateVersion) -> list[str]:
    return list(version.manifest.get("metadata", {}).get("problemAreas", []))
