"""Recording a trial's evaluation (a draft until every answer is given), reading it back with
the measured evidence, and the comparable report (one row per completely evaluated trial)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from orchestrator import evaluation, metrics, rules
from orchestrator.access import Role, check_may_evaluate
from orchestrator.crud.common import Actor, audit, pk, trial_event
from orchestrator.crud.locks import lock_trial
from orchestrator.crud.members import assessor_counts
from orchestrator.crud.trials import events_of, trial_events
from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.models import Evaluation, SandboxTemplate, Supplier, TemplateVersion, Trial, User
from orchestrator.settings import RateCard


@dataclass(frozen=True)
class EvaluationInput:
    scores: dict[str, dict[str, Any]]  # dimension -> {"score": 1-5, "evidence": text}
    decision: str
    lessons_learned: str = ""
    private_notes: str = ""
    hypothesis_held: str = ""  # yes | partly | no ("" not answered yet)
    hypothesis_evidence: str = ""
    # One per success criterion, named as the trial names it: {"criterion", "met", "evidence"}.
    criteria_results: list[dict[str, Any]] = field(default_factory=list)
    publish_evidence: bool = True
    # False: saved as a draft whatever it holds (the owner said so); True: complete once
    # every answer is given.
    final: bool = True


def input_of(row: Evaluation) -> EvaluationInput:
    """A recorded evaluation as the input that would record it again: so that one part of it
    can be changed and the rest kept."""
    return EvaluationInput(
        scores={d: dict(s) for d, s in row.scores.items() if s},
        decision=row.decision,
        lessons_learned=row.lessons_learned,
        private_notes=row.private_notes,
        hypothesis_held=row.hypothesis_held,
        hypothesis_evidence=row.hypothesis_evidence,
        criteria_results=[dict(r) for r in row.criteria_results],
        publish_evidence=row.publish_evidence,
    )


def find_evaluation(session: Session, *, trial: Trial) -> Evaluation | None:
    return session.get(Evaluation, trial.id)


@dataclass(frozen=True)
class ReportFilter:
    problem_area: str | None = None
    supplier: str | None = None
    decision: str | None = None
    template: str | None = None


def put_evaluation(
    session: Session,
    *,
    actor: Actor,
    trial: Trial,
    data: EvaluationInput,
    now: datetime,
    check: Collection[str] = evaluation.PARTS,
    required: Collection[str] = evaluation.PARTS,
) -> Evaluation:
    """Record (or replace) the trial's evaluation. Every answer of the parts in `check`
    (`evaluation.PARTS`) must be given, or nothing is saved; it is `complete` once every
    answer of every part in `required` is, unless `data.final` is False, and a `draft` until
    then."""
    check_may_evaluate(actor.user, trial)
    # Two saves at once of a trial's first evaluation would both insert it: the second waits.
    trial = lock_trial(session, trial)
    rules.check_evaluable(trial)
    criteria = list(trial.success_criteria)
    wrong = evaluation.unknown_criteria(criteria, data.criteria_results)
    results = evaluation.in_trial_order(criteria, data.criteria_results)
    lacking = evaluation.missing(
        criteria=criteria,
        hypothesis_held=data.hypothesis_held,
        hypothesis_evidence=data.hypothesis_evidence,
        criteria_results=results,
        scores=data.scores,
        decision=data.decision,
    )
    refused = wrong + [p for p in lacking if evaluation.part_of(p.field) in check]
    if refused:
        raise ValidationFailed(refused)
    unanswered = [p for p in lacking if evaluation.part_of(p.field) in required]
    status = "complete" if data.final and not unanswered else "draft"
    row = session.get(Evaluation, trial.id) or Evaluation(
        trial_id=trial.id, recorded_by=pk(actor.user), recorded_at=now
    )
    row.status, row.scores, row.decision = status, data.scores, data.decision
    row.hypothesis_held, row.hypothesis_evidence = data.hypothesis_held, data.hypothesis_evidence
    row.criteria_results, row.publish_evidence = results, data.publish_evidence
    row.lessons_learned, row.private_notes = data.lessons_learned, data.private_notes
    row.recorded_by, row.recorded_at = pk(actor.user), now
    session.add(row)
    said = data.decision if status == "complete" else "draft saved"
    trial_event(
        session,
        trial,
        now=now,
        kind="Intent",
        message=f"Evaluation recorded by {actor.name}: {said}",
    )
    audit(
        session,
        actor=actor,
        action="trial.evaluate",
        obj=("trial", trial.id),
        now=now,
        detail={"decision": data.decision, "status": status},
    )
    if status == "complete":
        metrics.EVALUATIONS.labels(decision=data.decision).inc()
    return row


def get_evaluation(
    session: Session, *, trial: Trial, now: datetime, rate_card: RateCard | None = None
) -> tuple[Evaluation, str, evaluation.Measured]:
    """The evaluation, who recorded it, and what the orchestrator measured."""
    row = session.get(Evaluation, trial.id)
    if row is None:
        raise NotFound(f"trial {trial.id} has not been evaluated yet", reason="NotEvaluated")
    author = session.get(User, row.recorded_by)
    measured = evaluation.measure(
        trial, trial_events(session, trial_id=trial.id), now=now, rate_card=rate_card
    )
    return row, author.name if author else "", measured


def report(
    session: Session,
    *,
    user: User,
    selectors: ReportFilter,
    now: datetime,
    rate_card: RateCard | None = None,
) -> list[dict[str, Any]]:
    """Rows of the comparable report, numbered from 1 in this export: complete evaluations
    only, never drafts. Everyone but suppliers
    sees every evaluated trial, since the report holds no private notes, owners nor trial ids;
    a supplier sees its own templates' trials only, without the civil servant's words."""
    query = (
        select(Trial, Evaluation, TemplateVersion, Supplier)
        .join(Evaluation, col(Evaluation.trial_id) == Trial.id)
        .where(Evaluation.status == "complete")
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
    assessed = assessor_counts(session, [trial.id for trial, *_ in rows])
    found = [
        evaluation.report_row(
            evaluation.ReportInput(
                row=number,
                trial=trial,
                evaluation=scored,
                supplier=supplier,
                problem_areas=_areas(version),
                measured=evaluation.measure(trial, timelines[trial.id], now=now, rate_card=rate_card),
                assessor_count=assessed.get(trial.id, 0),
            )
        )
        for number, (trial, scored, version, supplier) in enumerate(rows, start=1)
    ]
    return [evaluation.for_supplier(row) for row in found] if user.role == Role.SUPPLIER else found


def _areas(version: TemplateVersion) -> list[str]:
    return list(version.manifest.get("metadata", {}).get("problemAreas", []))
