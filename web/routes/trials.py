"""Trials: the list, a trial's page (phase, live progress, countdown, the sandbox's links,
extend, end now, approve or reject), the confirmation after asking for one. The sandbox's
"Open" links go to its hand-over page (web/routes/sandboxes.py), which sends the visitor on to
the sandbox's own origin.

Each write calls the core function its REST twin calls: `crud.request_extension`
(`POST /api/v1/trials/{id}/extend`), `crud.request_end` (`.../end`), `crud.approve` and
`crud.reject` (`.../approve`, `.../reject`). Read twins: `/trials.json` and `/trials/{id}.json`
(and the API's `GET /api/v1/trials`, `GET /api/v1/trials/{id}`, `.../events`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from orchestrator import access, crud, rules
from orchestrator.errors import NotFound
from orchestrator.lifecycle import LIVE_PHASES, Phase, Reason
from orchestrator.models import Trial, User
from orchestrator.sandbox_hosts import SandboxAddress
from orchestrator.settings import Settings
from web import views
from web.deps import Now, Sandboxes, SessionDep, SettingsDep, SignedIn, wake_reconciler
from web.forms import CheckedForm, Checks, FormPage, shown_again_on_error, text
from web.lookups import allowed, owner_names
from web.pages import page
from web.rendering import duration, render

router = APIRouter()
TrialId = Annotated[str, Path(pattern=r"^[a-z0-9]{1,20}$")]
EXTENSIONS = (600, 1800, 3600, 7200, 14400, 28800, 86400)
DONE = {
    "extended": "The trial has been extended.",
    "extension-requested": "Your extension is waiting for an approver.",
    "ending": "The trial is ending: its sandbox is being deleted.",
    "evaluated": "The evaluation has been saved.",
    "approved": "The request has been approved.",
    "rejected": "The request has been rejected.",
}
PhaseFilter = Annotated[str, Query(pattern=r"^(|" + "|".join(Phase) + ")$")]


@page(router, "/trials")
def trials_page(
    request: Request,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    sandboxes: Sandboxes,
    phase: PhaseFilter = "",
) -> Response:
    """The trials the visitor may see (`crud.list_trials`, as `GET /api/v1/trials`)."""
    rows = crud.list_trials(session, user=visitor.actor.user, selectors=crud.TrialFilter(phase=phase or None))
    names = owner_names(session, rows)
    return render(
        request,
        visitor,
        "trials.html",
        {
            "phase": phase,
            "phases": [str(p) for p in Phase],
            "trials": [
                views.trial(r, owner=names.get(r.owner_id, ""), now=now, sandboxes=sandboxes) for r in rows
            ],
        },
    )


def trial_data(
    session: Session,
    *,
    user: User,
    trial: Trial,
    settings: Settings,
    now: datetime,
    sandboxes: SandboxAddress,
) -> dict[str, Any]:
    """Everything a trial's page shows, and what the visitor may do to it."""
    names = owner_names(session, [trial])
    manifest = crud.trial_manifest(session, trial)
    try:
        row, author, measured = crud.get_evaluation(session, trial=trial, now=now)
        evaluation = views.evaluation(
            row, author=author, measured=measured, show_private=access.sees_private_notes(user, trial)
        )
    except NotFound:
        evaluation = None
    return {
        "trial": views.trial(trial, owner=names.get(trial.owner_id, ""), now=now, sandboxes=sandboxes),
        "events": [views.event(e) for e in crud.trial_events(session, trial_id=trial.id)],
        "evaluation": evaluation,
        "actions": _actions(session, user, trial, settings),
        "max_extensions": manifest.spec.limits.max_extensions,
        "dimensions": views.DIMENSION_NAMES,
        "decisions": views.DECISIONS,
    }


def _actions(session: Session, user: User, trial: Trial, settings: Settings) -> dict[str, Any]:
    manifest = crud.trial_manifest(session, trial)
    room = rules.longest_duration(manifest, settings) - trial.duration_seconds
    limit = rules.self_service_limit(settings, trial.template_name)
    extendable = (
        trial.phase in rules.EXTENDABLE_PHASES
        and trial.end_requested_at is None
        and trial.extension_requested_seconds is None
        and trial.extension_count < manifest.spec.limits.max_extensions
    )
    requested_by = (
        trial.extension_requested_by
        if trial.extension_requested_seconds is not None
        else _owner(session, trial)
        if trial.phase == Phase.PENDING_APPROVAL
        and trial.approved_at is None
        and trial.rejected_at is None
        and trial.end_requested_at is None
        else None
    )
    never_started = trial.phase == Phase.PENDING_APPROVAL or trial.reason == Reason.REJECTED
    return {
        "extend": extendable and allowed(access.check_may_extend, user, trial),
        "extend_options": [
            {"seconds": s, "text": duration(s), "needs_approval": trial.duration_seconds + s > limit}
            for s in EXTENSIONS
            if s <= room
        ],
        "end": trial.end_requested_at is None
        and allowed(access.check_may_end, user, trial)
        and (trial.phase in LIVE_PHASES or trial.phase == Phase.PENDING_APPROVAL),
        "decide": requested_by is not None
        and allowed(access.check_may_decide, user, requested_by=requested_by),
        "evaluate": not never_started and allowed(access.check_may_evaluate, user, trial),
        "open": access.may_open_sandbox(user, trial),
    }


def _owner(session: Session, trial: Trial) -> str:
    return owner_names(session, [trial]).get(trial.owner_id, "")


@page(router, "/trials/{trial_id}")
def trial_page(
    request: Request,
    trial_id: TrialId,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    sandboxes: Sandboxes,
    done: str = "",
) -> Response:
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    data = trial_data(
        session, user=visitor.actor.user, trial=trial, settings=settings, now=now, sandboxes=sandboxes
    )
    return render(request, visitor, "trial.html", {**data, "done": DONE.get(done, "")})


@page(router, "/trials/{trial_id}/confirmation")
def confirmation(
    request: Request, trial_id: TrialId, visitor: SignedIn, session: SessionDep, now: Now
) -> Response:
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    return render(
        request,
        visitor,
        "confirmation.html",
        {"trial": views.trial(trial, owner=visitor.actor.name, now=now)},
    )


def _trial_form(
    session: Session,
    visitor: SignedIn,
    trial: Trial,
    settings: Settings,
    now: datetime,
    sandboxes: SandboxAddress,
) -> FormPage:
    """The trial's page, to show again with the error summary when one of its forms fails."""
    data = trial_data(
        session, user=visitor.actor.user, trial=trial, settings=settings, now=now, sandboxes=sandboxes
    )
    return FormPage(
        "trial.html", {**data, "done": ""}, fields={"(form)": "actions", "duration_seconds": "extend-by"}
    )


@router.post("/trials/{trial_id}/extend")
def extend(
    request: Request,
    trial_id: TrialId,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    sandboxes: Sandboxes,
) -> Response:
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    shown = _trial_form(session, visitor, trial, settings, now, sandboxes)
    with shown_again_on_error(
        request, FormPage(shown.template, shown.data, fields={**shown.fields, "(form)": "extend-by"})
    ):
        chosen = text(form, "extend-by")
        if not chosen.isdigit() or len(chosen) > 9:
            checks = Checks()
            checks.add("extend-by", "Select how much time to add")
            checks.raise_any()
        applied = crud.request_extension(
            session, actor=visitor.actor, trial=trial, seconds=int(chosen), settings=settings, now=now
        )
    session.commit()
    wake_reconciler(request)
    done = "extended" if applied else "extension-requested"
    return RedirectResponse(f"/trials/{trial_id}?done={done}", status_code=status.HTTP_303_SEE_OTHER)


@page(router, "/trials/{trial_id}/end")
def end_page(
    request: Request, trial_id: TrialId, visitor: SignedIn, session: SessionDep, now: Now
) -> Response:
    """Are you sure? Ending deletes the sandbox and everything in it."""
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    access.check_may_end(visitor.actor.user, trial)
    return render(
        request, visitor, "end.html", {"trial": views.trial(trial, owner=_owner(session, trial), now=now)}
    )


@router.post("/trials/{trial_id}/end")
def end(
    request: Request,
    trial_id: TrialId,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    sandboxes: Sandboxes,
) -> Response:
    del form  # checked
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    with shown_again_on_error(request, _trial_form(session, visitor, trial, settings, now, sandboxes)):
        crud.request_end(session, actor=visitor.actor, trial=trial, now=now)
    session.commit()
    wake_reconciler(request)
    return RedirectResponse(f"/trials/{trial_id}?done=ending", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/trials/{trial_id}/approve")
def approve(
    request: Request,
    trial_id: TrialId,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    sandboxes: Sandboxes,
) -> Response:
    del form  # checked
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    with shown_again_on_error(request, _trial_form(session, visitor, trial, settings, now, sandboxes)):
        crud.approve(session, actor=visitor.actor, trial=trial, now=now)
    session.commit()
    wake_reconciler(request)
    return RedirectResponse(f"/trials/{trial_id}?done=approved", status_code=status.HTTP_303_SEE_OTHER)


@page(router, "/trials/{trial_id}/reject")
def reject_page(
    request: Request, trial_id: TrialId, visitor: SignedIn, session: SessionDep, now: Now
) -> Response:
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    access.require_role(
        visitor.actor.user,
        access.Role.APPROVER,
        access.Role.PLATFORM_ENGINEER,
        to="approve or reject requests",
    )
    return render(
        request, visitor, "reject.html", {"trial": views.trial(trial, owner=_owner(session, trial), now=now)}
    )


@router.post("/trials/{trial_id}/reject")
def reject(
    request: Request, trial_id: TrialId, form: CheckedForm, visitor: SignedIn, session: SessionDep, now: Now
) -> Response:
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    shown = FormPage(
        "reject.html",
        {"trial": views.trial(trial, owner=_owner(session, trial), now=now)},
        values={"reason": text(form, "reason")},
        fields={"(form)": "reason"},
    )
    with shown_again_on_error(request, shown):
        checks = Checks()
        reason = checks.required(
            text(form, "reason"),
            field_id="reason",
            longest=2000,
            what="The reason",
            message="Enter why you are rejecting it",
        )
        checks.raise_any()
        crud.reject(session, actor=visitor.actor, trial=trial, reason=reason, now=now)
    session.commit()
    wake_reconciler(request)
    return RedirectResponse(f"/trials/{trial_id}?done=rejected", status_code=status.HTTP_303_SEE_OTHER)
