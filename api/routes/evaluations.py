"""The standard evaluation of a trial, and the comparable report of every evaluated trial."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from api import errors, presenters, schemas
from api.deps import ActorDep, Now, RateCardDep, SessionDep, StrictQuery, TrialId
from orchestrator import crud, evaluation
from orchestrator.access import sees_private_notes
from orchestrator.evaluation import COLUMNS, REPORT_SCHEMA, to_csv
from orchestrator.models import Trial
from orchestrator.settings import RateCard

router = APIRouter(
    prefix="/api/v1", tags=["evaluations"], responses=errors.RESPONSES, dependencies=[StrictQuery]
)


@router.put("/trials/{trial_id}/evaluation")
def put_evaluation(
    trial_id: TrialId,
    body: schemas.EvaluationPut,
    session: SessionDep,
    actor: ActorDep,
    now: Now,
    rate_card: RateCardDep,
) -> schemas.EvaluationPublic:
    """Record (or replace) the trial's evaluation: whether the hypothesis held and each
    success criterion was met, with evidence; the eight dimensions scored 1-5 with evidence;
    the decision, lessons learned and private notes. A complete one needs every answer (422
    lists each one missing); `"status": "draft"` saves what is given, and drafts are never in
    the report. A body written before the trial's question was asked (none of
    `hypothesis_held`, `hypothesis_evidence`, `criteria_results`) is still taken as complete
    when its scores and decision are: the report then says the question was not answered."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    draft = body.status == "draft"
    parts = evaluation.PARTS if _asks_the_question(body) else ("scores", "decision")
    crud.put_evaluation(
        session,
        actor=actor,
        trial=trial,
        now=now,
        check=() if draft else parts,
        required=parts,
        data=crud.EvaluationInput(
            scores={d: s.model_dump() for d, s in body.scores if s is not None},
            decision=body.decision,
            lessons_learned=body.lessons_learned,
            private_notes=body.private_notes,
            hypothesis_held=body.hypothesis_held,
            hypothesis_evidence=body.hypothesis_evidence,
            criteria_results=[r.model_dump() for r in body.criteria_results],
            publish_evidence=body.publish_evidence,
            final=not draft,
        ),
    )
    session.commit()
    return _present(session, actor, trial, now, rate_card)  # as locked and written: no need to read it again


def _asks_the_question(body: schemas.EvaluationPut) -> bool:
    return bool({"hypothesis_held", "hypothesis_evidence", "criteria_results"} & body.model_fields_set)


@router.get("/trials/{trial_id}/evaluation")
def get_evaluation(
    trial_id: TrialId, session: SessionDep, actor: ActorDep, now: Now, rate_card: RateCardDep
) -> schemas.EvaluationPublic:
    """The evaluation with what the orchestrator measured; `private_notes` is null unless the
    caller is the owner, of their department (when shared) or a platform engineer."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    return _present(session, actor, trial, now, rate_card)


def _present(
    session: Session, actor: crud.Actor, trial: Trial, now: datetime, rate_card: RateCard | None
) -> schemas.EvaluationPublic:
    row, author, measured = crud.get_evaluation(session, trial=trial, now=now, rate_card=rate_card)
    return presenters.evaluation(
        row, author=author, measured=measured, show_private=sees_private_notes(actor.user, trial)
    )


@router.get(
    "/reports/trials",
    response_model=schemas.TrialReport,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def report(
    session: SessionDep,
    actor: ActorDep,
    now: Now,
    rate_card: RateCardDep,
    format_: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
    problem_area: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    supplier: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    decision: Annotated[Literal["adopt", "iterate", "stop"] | None, Query()] = None,
) -> Response:
    """One row per completely evaluated trial (never a draft), the same columns in JSON and CSV, schema
    `innovation-den.io/trial-report/v4` (docs/report-schema.md). No private notes, no owners,
    no trial ids (rows are numbered); suppliers get their templates' rows without the civil
    servant's words."""
    rows = crud.report(
        session,
        user=actor.user,
        now=now,
        selectors=crud.ReportFilter(problem_area=problem_area, supplier=supplier, decision=decision),
        rate_card=rate_card,
    )
    headers = {"X-Report-Schema": REPORT_SCHEMA}
    if format_ == "csv":
        headers["Content-Disposition"] = 'attachment; filename="trial-report.csv"'
        return Response(to_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)
    body = schemas.TrialReport.model_validate(
        {"schema": REPORT_SCHEMA, "generated_at": now, "columns": list(COLUMNS), "items": rows}
    )
    return JSONResponse(body.model_dump(mode="json", by_alias=True), headers=headers)
