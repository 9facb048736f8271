"""The standard evaluation of a trial, and the comparable report of every evaluated trial."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from api import errors, presenters, schemas
from api.deps import ActorDep, Now, SessionDep, StrictQuery, TrialId
from orchestrator import crud
from orchestrator.access import sees_private_notes
from orchestrator.evaluation import COLUMNS, REPORT_SCHEMA, to_csv

router = APIRouter(
    prefix="/api/v1", tags=["evaluations"], responses=errors.RESPONSES, dependencies=[StrictQuery]
)


@router.put("/trials/{trial_id}/evaluation")
def put_evaluation(
    trial_id: TrialId, body: schemas.EvaluationPut, session: SessionDep, actor: ActorDep, now: Now
) -> schemas.EvaluationPublic:
    """Record (or replace) the trial's evaluation: the eight dimensions scored 1-5 with
    evidence, the decision, lessons learned and private notes."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    crud.put_evaluation(
        session,
        actor=actor,
        trial=trial,
        now=now,
        data=crud.EvaluationInput(
            scores=body.scores.model_dump(),
            decision=body.decision,
            lessons_learned=body.lessons_learned,
            private_notes=body.private_notes,
        ),
    )
    session.commit()
    return _present(session, actor, trial_id, now)


@router.get("/trials/{trial_id}/evaluation")
def get_evaluation(
    trial_id: TrialId, session: SessionDep, actor: ActorDep, now: Now
) -> schemas.EvaluationPublic:
    """The evaluation with what the orchestrator measured; `private_notes` is null unless the
    caller is the owner, of their department (when shared) or a platform engineer."""
    return _present(session, actor, trial_id, now)


def _present(session: Session, actor: crud.Actor, trial_id: str, now: datetime) -> schemas.EvaluationPublic:
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    row, author, measured = crud.get_evaluation(session, trial=trial, now=now)
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
    format_: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
    problem_area: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    supplier: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    decision: Annotated[Literal["adopt", "iterate", "stop"] | None, Query()] = None,
) -> Response:
    """One row per evaluated trial, the same columns in JSON and CSV, schema
    `innovation-den.io/trial-report/v2` (docs/report-schema.md). No private notes, no owners,
    no trial ids (rows are numbered); suppliers get their templates' rows without the civil
    servant's words."""
    rows = crud.report(
        session,
        user=actor.user,
        now=now,
        selectors=crud.ReportFilter(problem_area=problem_area, supplier=supplier, decision=decision),
    )
    headers = {"X-Report-Schema": REPORT_SCHEMA}
    if format_ == "csv":
        headers["Content-Disposition"] = 'attachment; filename="trial-report.csv"'
        return Response(to_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)
    body = schemas.TrialReport.model_validate(
        {"schema": REPORT_SCHEMA, "generated_at": now, "columns": list(COLUMNS), "items": rows}
    )
    return JSONResponse(body.model_dump(mode="json", by_alias=True), headers=headers)
