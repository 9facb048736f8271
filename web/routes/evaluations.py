"""Record a trial's evaluation (the standard scheme, PRODUCT.md 6), compare evaluated trials
side by side by problem area or supplier, and download the comparable report.

Twins: `PUT`/`GET /api/v1/trials/{id}/evaluation` call `crud.put_evaluation` and
`crud.get_evaluation` as the form does (`/trials/{id}/evaluation.json` is the form's data);
`/reports.json` is the comparison's data, and the downloads are `GET /api/v1/reports/trials`'s
format exactly (`crud.report`, `evaluation.to_csv`), for a signed-in browser.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic_core import to_jsonable_python
from sqlmodel import Session

from orchestrator import access, crud, evaluation
from orchestrator.errors import NotFound
from orchestrator.models import Trial, User
from orchestrator.sandbox_hosts import SandboxAddress
from web import views
from web.deps import Now, Sandboxes, SessionDep, SignedIn
from web.forms import CheckedForm, Checks, FormPage, shown_again_on_error, text
from web.pages import page
from web.rendering import NO_STORE, render

router = APIRouter()
TrialId = Annotated[str, Path(pattern=r"^[a-z0-9]{1,20}$")]
Filter = Annotated[str, Query(max_length=40, pattern=r"^[a-z0-9-]*$")]
DecisionFilter = Annotated[Literal["", "adopt", "iterate", "stop"], Query()]
Grouping = Annotated[Literal["problem_area", "supplier"], Query()]
SIDE_BY_SIDE = 8


def _form_data(
    session: Session, user: User, trial: Trial, now: datetime, sandboxes: SandboxAddress
) -> dict[str, Any]:
    owner = crud.owner_names(session, [trial]).get(trial.owner_id, "")
    found, measured = recorded(session, user=user, trial=trial, now=now)
    return {
        "trial": views.trial(trial, owner=owner, now=now, sandboxes=sandboxes),
        "evaluation": found,
        "measured": vars(measured),
        "dimensions": views.DIMENSION_NAMES,
        "decisions": views.DECISIONS,
    }


def recorded(
    session: Session, *, user: User, trial: Trial, now: datetime
) -> tuple[dict[str, Any] | None, evaluation.Measured]:
    """The trial's evaluation as the pages show it (None until one is recorded), and what the
    orchestrator measured of the trial."""
    try:
        row, author, measured = crud.get_evaluation(session, trial=trial, now=now)
    except NotFound:
        events = crud.trial_events(session, trial_id=trial.id)
        return None, evaluation.measure(trial, events, now=now)
    return views.evaluation(
        row, author=author, measured=measured, show_private=access.sees_private_notes(user, trial)
    ), measured


def _prefill(recorded: dict[str, Any] | None) -> dict[str, str]:
    if recorded is None:
        return {}
    values = {f"score-{d}": str(s.get("score", "")) for d, s in recorded["scores"].items()}
    values |= {f"evidence-{d}": s.get("evidence", "") for d, s in recorded["scores"].items()}
    return values | {
        "decision": recorded["decision"],
        "lessons": recorded["lessons_learned"],
        "notes": recorded["private_notes"] or "",
    }


@page(router, "/trials/{trial_id}/evaluation")
def evaluation_form(
    request: Request,
    trial_id: TrialId,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    sandboxes: Sandboxes,
) -> Response:
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    access.check_may_evaluate(visitor.actor.user, trial)
    data = _form_data(session, visitor.actor.user, trial, now, sandboxes)
    return render(request, visitor, "evaluation.html", data, values=_prefill(data["evaluation"]))


@router.post("/trials/{trial_id}/evaluation")
def record_evaluation(
    request: Request,
    trial_id: TrialId,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    sandboxes: Sandboxes,
) -> Response:
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    shown = FormPage(
        "evaluation.html",
        _form_data(session, visitor.actor.user, trial, now, sandboxes),
        values={k: v for k, v in form.items() if isinstance(v, str)},
        fields={"(form)": "score-user_need"},
    )
    with shown_again_on_error(request, shown):
        data = _read(form)
        crud.put_evaluation(session, actor=visitor.actor, trial=trial, now=now, data=data)
    session.commit()
    return RedirectResponse(f"/trials/{trial_id}?done=evaluated", status_code=status.HTTP_303_SEE_OTHER)


def _read(form: Any) -> crud.EvaluationInput:
    """Every dimension scored 1-5 with evidence, and a decision: as the API's `EvaluationPut`."""
    checks, scores = Checks(), {}
    for dimension, name in views.DIMENSION_NAMES.items():
        score = text(form, f"score-{dimension}")
        if score not in ("1", "2", "3", "4", "5"):
            checks.add(f"score-{dimension}", f"Select a score from 1 to 5 for {name.lower()}")
        evidence = checks.required(
            text(form, f"evidence-{dimension}"),
            field_id=f"evidence-{dimension}",
            longest=5000,
            what="The evidence",
            message=f"Enter the evidence for {name.lower()}",
        )
        scores[dimension] = {"score": int(score) if score.isdigit() else 0, "evidence": evidence}
    decision = text(form, "decision")
    if decision not in views.DECISIONS:
        checks.add("decision", "Select adopt, iterate or stop")
    lessons = checks.optional(
        text(form, "lessons"), field_id="lessons", longest=10000, what="Lessons learned"
    )
    notes = checks.optional(text(form, "notes"), field_id="notes", longest=10000, what="Private notes")
    checks.raise_any()
    return crud.EvaluationInput(
        scores=scores, decision=decision, lessons_learned=lessons, private_notes=notes
    )


# --- comparing ------------------------------------------------------------------------------


@page(router, "/reports")
def reports(
    request: Request,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    by: Grouping = "problem_area",
    problem_area: Filter = "",
    supplier: Filter = "",
    decision: DecisionFilter = "",
) -> Response:
    """Evaluated trials summed up per problem area or supplier, and side by side."""
    selectors = crud.ReportFilter(
        problem_area=problem_area or None, supplier=supplier or None, decision=decision or None
    )
    rows = crud.report(session, user=visitor.actor.user, selectors=selectors, now=now)
    areas = sorted(
        {
            a
            for _t, v, _s in crud.latest_versions(session)
            for a in v.manifest.get("metadata", {}).get("problemAreas", [])
        }
    )
    query = {"problem_area": problem_area, "supplier": supplier, "decision": decision}
    return render(
        request,
        visitor,
        "reports.html",
        {
            "by": by,
            "query": query,
            "count": len(rows),
            "summaries": [views.summary(s) for s in evaluation.summarise(rows, by=by)],
            "side_by_side": rows[-SIDE_BY_SIDE:],
            "schema": evaluation.REPORT_SCHEMA,
            "areas": areas,
            "suppliers": [{"slug": s.slug, "name": s.name} for s in crud.list_suppliers(session)],
            "export_query": "&".join(f"{k}={v}" for k, v in query.items() if v),
            "dimensions": views.DIMENSION_NAMES,
            "decisions": views.DECISIONS,
        },
    )


@router.get("/reports/trial-report.{extension}")
def download(
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    extension: Annotated[Literal["csv", "json"], Path()],
    problem_area: Filter = "",
    supplier: Filter = "",
    decision: DecisionFilter = "",
) -> Response:
    """The comparable report, as `GET /api/v1/reports/trials?format=csv|json` answers it."""
    rows = crud.report(
        session,
        user=visitor.actor.user,
        now=now,
        selectors=crud.ReportFilter(
            problem_area=problem_area or None, supplier=supplier or None, decision=decision or None
        ),
    )
    headers = {
        **NO_STORE,
        "X-Report-Schema": evaluation.REPORT_SCHEMA,
        "Content-Disposition": f'attachment; filename="trial-report.{extension}"',
    }
    if extension == "csv":
        return Response(evaluation.to_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)
    body = {
        "schema": evaluation.REPORT_SCHEMA,
        "generated_at": now,
        "columns": list(evaluation.COLUMNS),
        "items": rows,
    }
    return JSONResponse(to_jsonable_python(body), headers=headers)
