"""Record a trial's evaluation (the standard scheme, PRODUCT.md 6), compare evaluated trials
side by side by problem area or supplier, and download the comparable report.

The evaluation is a short task list (`/trials/{id}/evaluation`) of three parts, each a page
saved on its own as a draft; it is complete once every answer is given. Printable, and a PDF
(`/trials/{id}/evaluation.pdf`) without private notes.

Twins: `PUT`/`GET /api/v1/trials/{id}/evaluation` call `crud.put_evaluation` and
`crud.get_evaluation` as the forms do (`/trials/{id}/evaluation.json` and
`/trials/{id}/evaluation/{part}.json` are the forms' data);
`/reports.json` is the comparison's data, and the downloads are `GET /api/v1/reports/trials`'s
format exactly (`crud.report`, `evaluation.to_csv`), for a signed-in browser.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic_core import to_jsonable_python
from sqlmodel import Session

from orchestrator import access, crud, evaluation
from orchestrator.errors import NotFound, Problem
from orchestrator.models import Evaluation, Trial, User
from orchestrator.sandbox_hosts import SandboxAddress
from orchestrator.settings import RateCard
from web import views
from web.deps import Now, Sandboxes, SessionDep, SettingsDep, SignedIn
from web.forms import CheckedForm, Checks, FormPage, shown_again_on_error, text
from web.pages import page
from web.rendering import NO_STORE, render

router = APIRouter()
TrialId = Annotated[str, Path(pattern=r"^[a-z0-9]{1,20}$")]
Filter = Annotated[str, Query(max_length=40, pattern=r"^[a-z0-9-]*$")]
DecisionFilter = Annotated[Literal["", "adopt", "iterate", "stop"], Query()]
Grouping = Annotated[Literal["problem_area", "supplier"], Query()]
SIDE_BY_SIDE = 8


#: The evaluation's parts, each a page of its own, as the task list names them.
PART_NAMES = {
    "question": "Your trial's question",
    "scores": "Scores",
    "decision": "Decision and lessons",
}
assert tuple(PART_NAMES) == evaluation.PARTS, "one page per part of the evaluation"
Part = Annotated[Literal["question", "scores", "decision"], Path()]
Saved = Annotated[Literal["", "draft"], Query()]

#: Who will see each answer, said beside it.
AUDIENCES = {
    "published": "Who sees this: everyone signed in to the service, in the published trial report "
    "they can download, and the template's supplier.",
    "evidence": "Who sees this: everyone signed in to the service, in the published trial report, "
    "and the template's supplier; unless you keep evidence out of the report (in 'Decision and "
    "lessons'), when only the people who can see this trial do.",
    "private": "Who sees this: only you, your department when the trial is shared, and platform "
    "engineers. Never the supplier, never the report, never the printed or PDF evaluation.",
}


def _form_data(
    session: Session,
    user: User,
    trial: Trial,
    now: datetime,
    sandboxes: SandboxAddress,
    rate_card: RateCard | None = None,
) -> dict[str, Any]:
    owner = crud.owner_names(session, [trial]).get(trial.owner_id, "")
    found, measured = recorded(session, user=user, trial=trial, now=now, rate_card=rate_card)
    return {
        "trial": views.trial(trial, owner=owner, now=now, sandboxes=sandboxes),
        "evaluation": found,
        "measured": vars(measured),
        "parts": _parts(trial, crud.find_evaluation(session, trial=trial)),
        "dimensions": views.DIMENSION_NAMES,
        "dimension_hints": evaluation.DIMENSION_HINTS,
        "scale": {str(n): text for n, text in evaluation.SCALE.items()},
        "held": evaluation.HELD_NAMES,
        "met": evaluation.MET_NAMES,
        "decisions": views.DECISIONS,
        "audiences": AUDIENCES,
    }


def _parts(trial: Trial, row: Evaluation | None) -> list[dict[str, str]]:
    """Each part of the evaluation with its state: not started, in progress or completed."""
    if row is None:
        return [{"part": p, "name": n, "status": "not_started"} for p, n in PART_NAMES.items()]
    lacking = {evaluation.part_of(p.field) for p in _lacking(trial, crud.input_of(row))}
    answered = [r.get("met") or r.get("evidence") for r in row.criteria_results]
    started = {
        "question": bool(row.hypothesis_held or row.hypothesis_evidence or any(answered)),
        "scores": any(s and (s.get("score") or s.get("evidence")) for s in row.scores.values()),
        "decision": bool(row.decision or row.lessons_learned or row.private_notes),
    }

    def state(part: str) -> str:
        if part not in lacking:
            return "completed"
        return "in_progress" if started[part] else "not_started"

    return [{"part": p, "name": n, "status": state(p)} for p, n in PART_NAMES.items()]


def _lacking(trial: Trial, data: crud.EvaluationInput) -> list[Problem]:
    return evaluation.missing(
        criteria=trial.success_criteria,
        hypothesis_held=data.hypothesis_held,
        hypothesis_evidence=data.hypothesis_evidence,
        criteria_results=evaluation.in_trial_order(trial.success_criteria, data.criteria_results),
        scores=data.scores,
        decision=data.decision,
    )


def recorded(
    session: Session, *, user: User, trial: Trial, now: datetime, rate_card: RateCard | None = None
) -> tuple[dict[str, Any] | None, evaluation.Measured]:
    """The trial's evaluation as the pages show it (None until one is recorded, a draft
    included), and what the orchestrator measured of the trial."""
    try:
        row, author, measured = crud.get_evaluation(session, trial=trial, now=now, rate_card=rate_card)
    except NotFound:
        events = crud.trial_events(session, trial_id=trial.id)
        return None, evaluation.measure(trial, events, now=now, rate_card=rate_card)
    shown = views.evaluation(
        row, author=author, measured=measured, show_private=access.sees_private_notes(user, trial)
    )
    shown["criteria_results"] = evaluation.in_trial_order(trial.success_criteria, row.criteria_results)
    return shown, measured


def _prefill(trial: Trial, recorded: dict[str, Any] | None) -> dict[str, str]:
    if recorded is None:
        return {"publish-evidence": "yes"}
    values = {f"score-{d}": str(s.get("score") or "") for d, s in recorded["scores"].items()}
    values |= {f"evidence-{d}": s.get("evidence", "") for d, s in recorded["scores"].items()}
    for index, result in enumerate(recorded["criteria_results"]):
        values |= {f"criterion-{index}-met": result["met"], f"criterion-{index}-evidence": result["evidence"]}
    return values | {
        "hypothesis-held": recorded["hypothesis_held"],
        "hypothesis-evidence": recorded["hypothesis_evidence"],
        "decision": recorded["decision"],
        "lessons": recorded["lessons_learned"],
        "publish-evidence": "yes" if recorded["publish_evidence"] else "",
        "notes": recorded["private_notes"] or "",
    }


def _field_ids(trial: Trial) -> dict[str, str]:
    """The core's field paths (`evaluation.missing`) -> the form's input ids."""
    ids = {"hypothesis_held": "hypothesis-held", "hypothesis_evidence": "hypothesis-evidence"}
    for index in range(len(trial.success_criteria)):
        ids[f"criteria_results.{index}.met"] = f"criterion-{index}-met"
        ids[f"criteria_results.{index}.evidence"] = f"criterion-{index}-evidence"
        ids[f"criteria_results.{index}.criterion"] = f"criterion-{index}-met"
    for dimension in evaluation.DIMENSIONS:
        ids[f"scores.{dimension}"] = ids[f"scores.{dimension}.score"] = f"score-{dimension}"
        ids[f"scores.{dimension}.evidence"] = f"evidence-{dimension}"
    return ids | {"decision": "decision"}


@page(router, "/trials/{trial_id}/evaluation")
def evaluation_form(
    request: Request,
    trial_id: TrialId,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    sandboxes: Sandboxes,
    settings: SettingsDep,
    saved: Saved = "",
) -> Response:
    """The evaluation's task list: each part, whether it is done, and what was measured."""
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    access.check_may_evaluate(visitor.actor.user, trial)
    data = _form_data(session, visitor.actor.user, trial, now, sandboxes, settings.rate_card)
    return render(request, visitor, "evaluation.html", data | {"saved": saved})


@page(router, "/trials/{trial_id}/evaluation/{part}")
def evaluation_part(
    request: Request,
    trial_id: TrialId,
    part: Part,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    sandboxes: Sandboxes,
    settings: SettingsDep,
) -> Response:
    """One part of the evaluation, with what was already saved of it."""
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    access.check_may_evaluate(visitor.actor.user, trial)
    data = _form_data(session, visitor.actor.user, trial, now, sandboxes, settings.rate_card) | {
        "part": part,
        "part_name": PART_NAMES[part],
    }
    return render(request, visitor, "evaluation_part.html", data, values=_prefill(trial, data["evaluation"]))


@router.post("/trials/{trial_id}/evaluation/{part}")
def record_evaluation(
    request: Request,
    trial_id: TrialId,
    part: Part,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    sandboxes: Sandboxes,
    settings: SettingsDep,
) -> Response:
    """Save one part: "Save and continue" needs every answer of it; "Save and come back later"
    keeps what was typed. The evaluation is complete once every part is."""
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    later = text(form, "action") == "later"
    shown = FormPage(
        "evaluation_part.html",
        _form_data(session, visitor.actor.user, trial, now, sandboxes, settings.rate_card)
        | {"part": part, "part_name": PART_NAMES[part]},
        values={k: v for k, v in form.items() if isinstance(v, str)},
        fields=_field_ids(trial),
    )
    with shown_again_on_error(request, shown):
        access.check_may_evaluate(visitor.actor.user, trial)
        row = crud.find_evaluation(session, trial=trial)
        kept = crud.input_of(row) if row is not None else crud.EvaluationInput(scores={}, decision="")
        data = READERS[part](form, trial, kept)
        saved = crud.put_evaluation(
            session, actor=visitor.actor, trial=trial, now=now, data=data, check=() if later else (part,)
        )
        status_now = saved.status
    session.commit()
    if status_now == "complete" and not later:
        return RedirectResponse(f"/trials/{trial_id}?done=evaluated", status_code=status.HTTP_303_SEE_OTHER)
    if later:
        target = f"/trials/{trial_id}/evaluation?saved=draft"
    else:
        following = [p["part"] for p in _parts(trial, saved) if p["status"] != "completed"]
        target = (
            f"/trials/{trial_id}/evaluation/{following[0]}" if following else f"/trials/{trial_id}/evaluation"
        )
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


def _read_question(form: Any, trial: Trial, kept: crud.EvaluationInput) -> crud.EvaluationInput:
    """Whether the hypothesis held, and each success criterion's result, with evidence."""
    checks = Checks()
    held = text(form, "hypothesis-held")
    if held and held not in evaluation.HELD:
        checks.add("hypothesis-held", "Select whether the hypothesis held")
    evidence = checks.optional(
        text(form, "hypothesis-evidence"), field_id="hypothesis-evidence", longest=5000, what="The evidence"
    )
    results = []
    for index, criterion in enumerate(trial.success_criteria):
        met = text(form, f"criterion-{index}-met")
        if met and met not in evaluation.HELD:
            checks.add(f"criterion-{index}-met", f"Select whether '{criterion}' was met")
        said = checks.optional(
            text(form, f"criterion-{index}-evidence"),
            field_id=f"criterion-{index}-evidence",
            longest=5000,
            what=f"The evidence for '{criterion}'",
        )
        results.append({"criterion": criterion, "met": met, "evidence": said})
    checks.raise_any()
    return replace(kept, hypothesis_held=held, hypothesis_evidence=evidence, criteria_results=results)


def _read_scores(form: Any, trial: Trial, kept: crud.EvaluationInput) -> crud.EvaluationInput:
    """Each dimension scored 1-5 with evidence (as the API's `Scores`)."""
    del trial
    checks, scores = Checks(), {}
    for dimension, name in views.DIMENSION_NAMES.items():
        score = text(form, f"score-{dimension}")
        if score and score not in ("1", "2", "3", "4", "5"):
            checks.add(f"score-{dimension}", f"Select a score from 1 to 5 for {name.lower()}")
        evidence = checks.optional(
            text(form, f"evidence-{dimension}"),
            field_id=f"evidence-{dimension}",
            longest=5000,
            what=f"The evidence for {name.lower()}",
        )
        scores[dimension] = {
            "score": int(score) if score in ("1", "2", "3", "4", "5") else None,
            "evidence": evidence,
        }
    checks.raise_any()
    return replace(kept, scores=scores)


def _read_decision(form: Any, trial: Trial, kept: crud.EvaluationInput) -> crud.EvaluationInput:
    """The decision, lessons learned, whether the evidence is published, and private notes."""
    del trial
    checks = Checks()
    decision = text(form, "decision")
    if decision and decision not in views.DECISIONS:
        checks.add("decision", "Select adopt, iterate or stop")
    lessons = checks.optional(
        text(form, "lessons"), field_id="lessons", longest=10000, what="Lessons learned"
    )
    notes = checks.optional(text(form, "notes"), field_id="notes", longest=10000, what="Private notes")
    checks.raise_any()
    return replace(
        kept,
        decision=decision,
        lessons_learned=lessons,
        private_notes=notes,
        publish_evidence=text(form, "publish-evidence") == "yes",
    )


READERS = {"question": _read_question, "scores": _read_scores, "decision": _read_decision}


@router.get("/trials/{trial_id}/evaluation.pdf")
def evaluation_pdf(trial_id: TrialId, visitor: SignedIn, session: SessionDep, now: Now) -> Response:
    """The evaluation as a PDF, for anyone who can see the trial: never its private notes."""
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    row, author, measured = crud.get_evaluation(session, trial=trial, now=now)
    from web import evaluation_document  # fpdf2 costs 30 MB: loaded by the first PDF asked for

    body = evaluation_document.pdf(
        trial=trial,
        evaluation=row,
        author=author,
        measured=measured,
        owner=crud.owner_names(session, [trial]).get(trial.owner_id, ""),
    )
    return Response(
        body,
        media_type="application/pdf",
        headers={**NO_STORE, "Content-Disposition": f'inline; filename="evaluation-{trial_id}.pdf"'},
    )


# --- comparing ------------------------------------------------------------------------------


@page(router, "/reports")
def reports(
    request: Request,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
    by: Grouping = "problem_area",
    problem_area: Filter = "",
    supplier: Filter = "",
    decision: DecisionFilter = "",
) -> Response:
    """Evaluated trials summed up per problem area or supplier, and side by side."""
    selectors = crud.ReportFilter(
        problem_area=problem_area or None, supplier=supplier or None, decision=decision or None
    )
    rows = crud.report(
        session, user=visitor.actor.user, selectors=selectors, now=now, rate_card=settings.rate_card
    )
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
            "held": evaluation.HELD_NAMES,
        },
    )


@router.get("/reports/trial-report.{extension}")
def download(
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
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
        rate_card=settings.rate_card,
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
