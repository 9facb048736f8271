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

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic_core import to_jsonable_python
from sqlmodel import Session
from starlette.datastructures import FormData

from orchestrator import access, conditional, crud, evaluation, presenting, rules
from orchestrator.access import Role
from orchestrator.crud import listing, paging
from orchestrator.crud.sandbox_access import is_reachable
from orchestrator.lifecycle import Phase
from orchestrator.manifest import TemplateManifest
from orchestrator.models import Trial, User
from orchestrator.sandbox_hosts import SandboxAddress
from orchestrator.settings import Settings
from web import views
from web.deps import Now, Sandboxes, SessionDep, SettingsDep, SignedIn
from web.forms import CheckedForm, Checks, FormPage, shown_again_on_error, text
from web.lookups import allowed
from web.pages import page
from web.rendering import duration, render, wants_json
from web.routes.evaluations import recorded

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
    "member-added": "The member has been added.",
    "member-removed": "The member has been removed.",
    "assessed": "Your scores have been saved.",
}
#: What `DONE` says of a write that is done; the others wait on someone (a neutral banner).
WAITING = {"extension-requested"}
PhaseFilter = Annotated[str, Query(pattern=r"^(|" + "|".join(Phase) + ")$")]


#: Trials a page of `/trials` shows; older ones follow on the next page.
TRIALS_PAGE = 50


@page(router, "/trials")
def trials_page(
    request: Request,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    sandboxes: Sandboxes,
    phase: PhaseFilter = "",
    continue_: Annotated[str | None, Query(alias="continue", min_length=1, max_length=1000)] = None,
) -> Response:
    """The trials the visitor may see, newest first, a page at a time (as
    `GET /api/v1/trials`: `crud.listing.trials_page`)."""
    selectors = crud.TrialFilter(phase=phase or None)
    asked = paging.ask(
        "web-trials", limit=TRIALS_PAGE, token=continue_, selectors=asdict(selectors), key=listing.TRIAL_KEY
    )
    found = listing.trials_page(session, user=visitor.actor.user, selectors=selectors, asked=asked)
    rows = found.rows
    query = {"phase": phase} if phase else {}
    return render(
        request,
        visitor,
        "trials.html",
        {
            "phase": phase,
            "phases": [str(p) for p in Phase],
            "trials": views.trials(
                rows, owners=crud.owner_names(session, rows), now=now, sandboxes=sandboxes
            ),
            "older": f"/trials?{urlencode({**query, 'continue': found.continue_token})}"
            if found.continue_token
            else "",
            "newest": f"/trials?{urlencode(query)}" if continue_ else "",
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
    owner = _owner(session, trial)
    manifest = crud.trial_manifest(session, trial)
    evaluation, _measured = recorded(session, user=user, trial=trial, now=now, rate_card=settings.rate_card)
    events = [views.event(e) for e in crud.trial_events(session, trial_id=trial.id)]
    member = crud.member_role(session, trial=trial, user=user)
    return {
        "trial": views.trial(trial, owner=owner, now=now, sandboxes=sandboxes, rate_card=settings.rate_card),
        "events": events,
        "progress": presenting.plain_timeline(events),
        "status_text": presenting.plain_message(trial.message, phase=trial.phase),
        "runtime_detail": user.role == Role.PLATFORM_ENGINEER,
        "evaluation": evaluation,
        "actions": _actions(
            user, trial, owner=owner, manifest=manifest, settings=settings, now=now, member=member
        ),
        "team": team_data(session, user=user, trial=trial, member=member),
        "max_extensions": manifest.spec.limits.max_extensions,
        "dimensions": views.DIMENSION_NAMES,
        "decisions": views.DECISIONS,
    }


def team_data(session: Session, *, user: User, trial: Trial, member: str | None) -> dict[str, Any] | None:
    """The trial's team as its page shows it (None to whoever may not see it): the members,
    each assessor's scores with their mean and spread, and what the visitor may do."""
    if not allowed(access.check_may_see_team, user, trial, member=member):
        return None
    scored = crud.assessments_of(session, trial=trial)
    together = evaluation.agreement([a.scores for a in scored])
    mine = next((a.scores for a in scored if a.assessor == user.name), {})
    return {
        "members": [
            {"user": m.user.name, "role": m.role, "department": m.user.department, "added_by": m.added_by}
            for m in crud.team_of(session, trial=trial)
        ],
        "manage": allowed(access.check_may_manage_members, user, trial),
        "roles": list(access.MEMBER_ROLES),
        "assessments": [{"assessor": a.assessor, "scores": a.scores} for a in scored],
        "agreement": {d: vars(a) for d, a in together.items()},
        "assess": allowed(rules.check_evaluable, trial)
        and allowed(access.check_may_assess, user, trial, member=member),
        "mine": mine,
    }


def _actions(
    user: User,
    trial: Trial,
    *,
    owner: str,
    manifest: TemplateManifest,
    settings: Settings,
    now: datetime,
    member: str | None = None,
) -> dict[str, Any]:
    """What the visitor may do to the trial: each offered when the core's rule (`rules`) and
    who-may (`access`) would both let the write through."""
    options = rules.extension_options(trial, choices=EXTENSIONS, manifest=manifest, settings=settings)
    waiting = rules.waiting_decision(trial, owner=owner)
    return {
        "extend": bool(options) and allowed(access.check_may_extend, user, trial, member=member),
        "extend_options": [
            {"seconds": o.seconds, "text": duration(o.seconds), "needs_approval": o.needs_approval}
            for o in options
        ],
        "end": rules.may_ask_to_end(trial) and allowed(access.check_may_end, user, trial),
        "decide": waiting is not None
        and allowed(access.check_may_decide, user, requested_by=waiting.requested_by),
        "own": access.is_owner(user, trial),
        "evaluate": allowed(rules.check_evaluable, trial) and allowed(access.check_may_evaluate, user, trial),
        "open": access.may_open_sandbox(user, trial, member=member)
        and any(is_reachable(trial, name, now=now) for name in trial.endpoints),
    }


def _owner(session: Session, trial: Trial) -> str:
    return crud.owner_names(session, [trial]).get(trial.owner_id, "")


def _shown(session: Session, trial: Trial, *, now: datetime, sandboxes: SandboxAddress) -> dict[str, Any]:
    """The trial as a page about it (confirming, ending, rejecting) shows it."""
    return {"trial": views.trial(trial, owner=_owner(session, trial), now=now, sandboxes=sandboxes)}


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
    said = DONE.get(done, "")
    if done == "extended" and trial.expires_at is not None:
        said = f"The trial has been extended: it now ends at {presenting.clock_words(trial.expires_at)}."
    shown = {**data, "done": said, "done_success": done not in WAITING}
    if wants_json(request):  # polled every 2 s by the page (den.mjs): answered 304 when unchanged
        return _conditional(request, shown)
    return render(request, visitor, "trial.html", shown)


def _conditional(request: Request, data: dict[str, Any]) -> Response:
    """The twin as `render` answers it, with an `ETag` (orchestrator/conditional.py)."""
    body = json.dumps(to_jsonable_python(data), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    decided = conditional.answer(body.encode(), if_none_match=request.headers.get("if-none-match"))
    if decided.status == 304:
        return Response(status_code=304, headers=decided.headers)
    return Response(decided.body, headers=decided.headers, media_type="application/json")


@page(router, "/trials/{trial_id}/confirmation")
def confirmation(
    request: Request,
    trial_id: TrialId,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    sandboxes: Sandboxes,
) -> Response:
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    return render(request, visitor, "confirmation.html", _shown(session, trial, now=now, sandboxes=sandboxes))


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


def _written(
    request: Request, session: Session, trial: Trial, *, shown: FormPage, write: Callable[[], str]
) -> Response:
    """Make one write (its problems shown on `shown`), commit it, and show the trial's page
    saying what was done (`write` returns which of `DONE`)."""
    with shown_again_on_error(request, shown):
        done = write()
    session.commit()  # the commit wakes the reconciler (crud.on_intent_change)
    return RedirectResponse(f"/trials/{trial.id}?done={done}", status_code=status.HTTP_303_SEE_OTHER)


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

    def write() -> str:
        chosen = text(form, "extend-by")
        if not (chosen.isascii() and chosen.isdigit()) or len(chosen) > 9:
            checks = Checks()
            checks.add("extend-by", "Select how much time to add")
            checks.raise_any()
        justification = _extension_justification(form, trial, seconds=int(chosen), settings=settings)
        applied = crud.request_extension(
            session,
            actor=visitor.actor,
            trial=trial,
            seconds=int(chosen),
            settings=settings,
            now=now,
            justification=justification,
        )
        return "extended" if applied else "extension-requested"

    return _written(
        request,
        session,
        trial,
        write=write,
        shown=FormPage(
            shown.template,
            shown.data,
            values={key: text(form, key) for key in ("extend-by", "extension-justification")},
            fields={**shown.fields, "(form)": "extend-by"},
        ),
    )


def _extension_justification(form: FormData, trial: Trial, *, seconds: int, settings: Settings) -> str:
    """Why more time is needed: asked for (and kept) only when an approver must agree."""
    total = trial.duration_seconds + seconds
    if not rules.needs_approval(total, settings=settings, template=trial.template_name):
        return ""
    checks = Checks()
    reason = checks.required(
        text(form, "extension-justification"),
        field_id="extension-justification",
        longest=2000,
        what="The reason",
        message="Enter why the trial needs more time",
    )
    checks.raise_any()
    return reason


@page(router, "/trials/{trial_id}/end")
def end_page(
    request: Request,
    trial_id: TrialId,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    sandboxes: Sandboxes,
) -> Response:
    """Are you sure? Ending deletes the sandbox and everything in it."""
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    access.check_may_end(visitor.actor.user, trial)
    return render(request, visitor, "end.html", _shown(session, trial, now=now, sandboxes=sandboxes))


#: The trial page's buttons that send nothing but their CSRF token: the core call each makes
#: (its REST twin's: `POST /api/v1/trials/{id}/end`, `.../approve`) and what the page then says.
def _end(session: Session, *, actor: crud.Actor, trial: Trial, settings: Settings, now: datetime) -> object:
    del settings  # ending needs none
    return crud.request_end(session, actor=actor, trial=trial, now=now)


BUTTONS: dict[str, tuple[Callable[..., object], str]] = {
    "end": (_end, "ending"),
    "approve": (crud.approve, "approved"),
}


def _button(call: Callable[..., object], done: str) -> Callable[..., Response]:
    def post(
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

        def write() -> str:
            call(session, actor=visitor.actor, trial=trial, settings=settings, now=now)
            return done

        return _written(
            request,
            session,
            trial,
            write=write,
            shown=_trial_form(session, visitor, trial, settings, now, sandboxes),
        )

    return post


for _action, (_call, _done) in BUTTONS.items():
    router.add_api_route(
        f"/trials/{{trial_id}}/{_action}", _button(_call, _done), methods=["POST"], name=_action
    )


@page(router, "/trials/{trial_id}/reject")
def reject_page(
    request: Request,
    trial_id: TrialId,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    sandboxes: Sandboxes,
) -> Response:
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    access.check_decides(visitor.actor.user)
    return render(request, visitor, "reject.html", _shown(session, trial, now=now, sandboxes=sandboxes))


@router.post("/trials/{trial_id}/reject")
def reject(
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
    shown = FormPage(
        "reject.html",
        _shown(session, trial, now=now, sandboxes=sandboxes),
        values={"reason": text(form, "reason")},
        fields={"(form)": "reason"},
    )

    def write() -> str:
        checks = Checks()
        reason = checks.required(
            text(form, "reason"),
            field_id="reason",
            longest=2000,
            what="The reason",
            message="Enter why you are rejecting it",
        )
        checks.raise_any()
        crud.reject(session, actor=visitor.actor, trial=trial, reason=reason, settings=settings, now=now)
        return "rejected"

    return _written(request, session, trial, shown=shown, write=write)
