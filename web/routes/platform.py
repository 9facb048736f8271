"""The approver queue (requests beyond self-service, and extensions waiting), deciding on one
(a confirmation page with a note, then a page saying who decided and how the requester hears),
and the platform views: every trial, every template version with its status, and quarantining
a version.

The decision calls `crud.approve` / `crud.reject`, as `POST /api/v1/trials/{id}/approve`
(`{"note"}`) and `.../reject` (`{"reason"}`) do.
Twins: `/approvals.json` (`crud.pending_decisions`), `/platform.json` (`crud.list_trials`,
`crud.list_template_versions`); the status change calls `crud.set_version_status`, as
`POST /api/v1/templates/{name}/versions/{version}/status` does.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from orchestrator import crud, rules
from orchestrator.access import (
    Role,
    check_decides,
    check_may_decide,
    check_may_set_version_status,
    require_role,
)
from orchestrator.crud import STATUS_CHANGES, VERSION_STATUSES
from orchestrator.drivers import image_pinner
from orchestrator.errors import Conflict
from orchestrator.lifecycle import Phase
from orchestrator.models import Trial
from orchestrator.review import AREAS
from orchestrator.sandbox_hosts import SandboxAddress
from orchestrator.settings import RateCard, Settings
from web import views
from web.deps import Now, Sandboxes, SessionDep, SettingsDep, SignedIn
from web.forms import CheckedForm, Checks, FormPage, shown_again_on_error, text
from web.pages import page
from web.rendering import render

router = APIRouter()
TemplateName = Annotated[str, Path(pattern=r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")]
TrialId = Annotated[str, Path(pattern=r"^[a-z0-9]{1,20}$")]
Decided = Annotated[str, Query(pattern=r"^(approved|rejected)$")]
Version = Annotated[str, Path(max_length=60, pattern=r"^[0-9A-Za-z.+-]+$")]
PhaseFilter = Annotated[str, Query(pattern=r"^(|" + "|".join(Phase) + ")$")]
STATUS_HINTS = {
    "Published": "People can start trials of it. Publishing a version waiting for review pins "
    "each of its images to the runtime's immutable reference.",
    "Rejected": "Nobody can trial it; the supplier reads your reason and sends a new version.",
    "Deprecated": "No new trials; running trials go on. For versions that were replaced.",
    "Quarantined": "No new trials, and waiting requests cannot be approved: for a version "
    "found unsafe. Its running trials are ended.",
}
AREA_NAMES = {
    "images": "Images",
    "egress": "Egress",
    "resources": "Resources and limits",
    "parameters": "Parameters",
}


@page(router, "/approvals")
def approvals(
    request: Request, visitor: SignedIn, session: SessionDep, now: Now, sandboxes: Sandboxes
) -> Response:
    """What waits for an approver (`crud.pending_decisions`), each with what it asks for
    (`rules.waiting_decision`) and whether it is the visitor's own request."""
    rows = crud.pending_decisions(session, user=visitor.actor.user)
    names = crud.owner_names(session, rows)
    return render(
        request,
        visitor,
        "approvals.html",
        {
            "waiting": [
                _waiting(
                    row,
                    owner=names.get(row.owner_id, ""),
                    now=now,
                    sandboxes=sandboxes,
                    visitor=visitor.actor.name,
                )
                for row in rows
            ]
        },
    )


def _waiting(
    row: Trial, *, owner: str, now: datetime, sandboxes: SandboxAddress, visitor: str
) -> dict[str, Any]:
    waiting = rules.waiting_decision(row, owner=owner)
    assert waiting is not None  # crud.pending_decisions is its query form
    return {
        "trial": views.trial(row, owner=owner, now=now, sandboxes=sandboxes),
        **asdict(waiting),
        "why": _why(row, waiting),
        "own": waiting.requested_by == visitor,
    }


def _why(row: Trial, waiting: rules.Waiting) -> str:
    """The requester's reason for what waits: a longer trial, or more time."""
    return row.extension_justification if waiting.subject == "extension" else row.justification


# --- deciding on one request ----------------------------------------------------------------


def _decision_data(
    session: SessionDep,
    *,
    visitor: SignedIn,
    trial: Trial,
    now: datetime,
    sandboxes: SandboxAddress,
    rate_card: RateCard | None = None,
) -> dict[str, Any]:
    """The request as the approver decides on it; refused when nothing waits, or when it is
    the approver's own request (`access.check_may_decide`)."""
    check_decides(visitor.actor.user)
    owner = crud.owner_names(session, [trial]).get(trial.owner_id, "")
    waiting = rules.waiting_decision(trial, owner=owner)
    if waiting is None:
        raise Conflict("nothing on this trial waits for a decision", reason="NothingToDecide")
    check_may_decide(visitor.actor.user, requested_by=waiting.requested_by)
    extra = (trial.extension_requested_seconds or 0) if waiting.subject == "extension" else 0
    return {
        "trial": views.trial(trial, owner=owner, now=now, sandboxes=sandboxes, rate_card=rate_card),
        **asdict(waiting),
        "why": _why(trial, waiting),
        "cost_forecast": views.trial_forecast_words(trial, extra_seconds=extra, rate_card=rate_card),
    }


@page(router, "/trials/{trial_id}/decide")
def decide_page(
    request: Request,
    trial_id: TrialId,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    sandboxes: Sandboxes,
    settings: SettingsDep,
) -> Response:
    """Approve or reject: what is asked for, the requester's reason, its cost forecast (with a
    rate card), and a note."""
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    data = _decision_data(
        session, visitor=visitor, trial=trial, now=now, sandboxes=sandboxes, rate_card=settings.rate_card
    )
    return render(request, visitor, "decide.html", data, values={"decision": "", "note": ""})


def read_decision(*, decision: str, note: str) -> tuple[str, str]:
    """The approver's answer: `approve` (a note optional) or `reject` (a reason required)."""
    checks = Checks()
    if decision not in ("approve", "reject"):
        checks.add("decision", "Select whether to approve or reject the request")
    if decision == "reject":
        note = checks.required(
            note,
            field_id="note",
            longest=2000,
            what="The reason",
            message="Enter why you are rejecting the request",
        )
    else:
        note = checks.optional(note, field_id="note", longest=2000, what="The note")
    checks.raise_any()
    return decision, note


@router.post("/trials/{trial_id}/decide")
def decide(
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
        "decide.html",
        _decision_data(
            session, visitor=visitor, trial=trial, now=now, sandboxes=sandboxes, rate_card=settings.rate_card
        ),
        values={"decision": text(form, "decision"), "note": text(form, "note")},
        fields={"(form)": "decision", "reason": "note"},
    )
    with shown_again_on_error(request, shown):
        decision, note = read_decision(decision=text(form, "decision"), note=text(form, "note"))
        if decision == "approve":
            crud.approve(session, actor=visitor.actor, trial=trial, note=note, settings=settings, now=now)
        else:
            crud.reject(session, actor=visitor.actor, trial=trial, reason=note, settings=settings, now=now)
    session.commit()  # the commit wakes the reconciler (crud.on_intent_change)
    done = "approved" if decision == "approve" else "rejected"
    return RedirectResponse(
        f"/trials/{trial.id}/decided?decision={done}&subject={shown.data['subject']}",
        status_code=status.HTTP_303_SEE_OTHER,
    )


@page(router, "/trials/{trial_id}/decided")
def decided(
    request: Request,
    trial_id: TrialId,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    sandboxes: Sandboxes,
    decision: Decided = "approved",
    subject: Annotated[str, Query(pattern=r"^(trial|extension)$")] = "trial",
) -> Response:
    """After a decision: who decided, and how the requester will hear of it."""
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    check_decides(visitor.actor.user)
    owner = crud.owner_names(session, [trial]).get(trial.owner_id, "")
    return render(
        request,
        visitor,
        "decided.html",
        {
            "trial": views.trial(trial, owner=owner, now=now, sandboxes=sandboxes),
            "decision": decision,
            "subject": subject,
            "decided_by": visitor.actor.name,
        },
    )


@page(router, "/platform")
def platform(
    request: Request,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    sandboxes: Sandboxes,
    phase: PhaseFilter = "",
    done: str = "",
) -> Response:
    user = visitor.actor.user
    require_role(user, Role.PLATFORM_ENGINEER, to="open the platform views")
    rows = crud.list_trials(session, user=user, selectors=crud.TrialFilter(phase=phase or None))
    return render(
        request,
        visitor,
        "platform.html",
        {
            "phase": phase,
            "phases": [str(p) for p in Phase],
            "trials": views.trials(
                rows, owners=crud.owner_names(session, rows), now=now, sandboxes=sandboxes
            ),
            "versions": [
                {
                    "name": t.name,
                    "version": v.version,
                    "supplier": s.name,
                    "status": v.status,
                    "status_reason": v.status_reason,
                    "published_at": v.published_at,
                }
                for t, v, s in crud.list_template_versions(session)
            ],
            "done": "The template version's status has been changed." if done == "status" else "",
            "pools": _pools(session, request.app.state.settings),
        },
    )


def _pools(session: SessionDep, settings: Settings) -> list[dict[str, object]]:
    """Each warm pool (`DEN_WARM_POOLS`): its size, and how many of its sandboxes wait Ready."""
    ready = crud.pool_ready_counts(session)
    return [
        {
            "template": pool.template,
            "parameters": dict(pool.parameters),
            "size": pool.size,
            "ready": ready.get(pool.key, 0),
        }
        for pool in crud.configured_pools(settings)
    ]


def _version_data(session: SessionDep, name: str, version: str, settings: Settings) -> dict[str, object]:
    """The review: what changed since the last published version, area by area, and the
    statuses the version may move to."""
    found = crud.version_review(session, name=name, version=version, settings=settings)
    row = found.version
    return {
        "name": name,
        "version": version,
        "supplier": found.supplier.name,
        "status": row.status,
        "status_reason": row.status_reason,
        "reviewed_by": row.reviewed_by,
        "pinned_images": row.pinned_images,
        "previous": found.previous.version if found.previous else None,
        "areas": [
            {"name": AREA_NAMES[area], "changes": [asdict(c) for c in found.changes if c.area == area]}
            for area in AREAS
        ],
        "reasons": found.reasons,
        "statuses": {
            status: STATUS_HINTS[status]
            for status in VERSION_STATUSES
            if status in STATUS_CHANGES[row.status]
        },
    }


@page(router, "/platform/templates/{name}/{version}")
def status_form(
    request: Request,
    name: TemplateName,
    version: Version,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """A version's review and its status change (twin: `GET /api/v1/templates/{name}/versions/
    {version}`, and the `.json` of this page)."""
    check_may_set_version_status(visitor.actor.user)
    data = _version_data(session, name, version, settings)
    return render(request, visitor, "version_status.html", data, values={"status": ""})


@router.post("/platform/templates/{name}/{version}")
def change_status(
    request: Request,
    name: TemplateName,
    version: Version,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
) -> Response:
    check_may_set_version_status(visitor.actor.user)
    shown = FormPage(
        "version_status.html",
        _version_data(session, name, version, settings),
        values={"status": text(form, "status"), "reason": text(form, "reason")},
        fields={"(form)": "status"},
    )
    with shown_again_on_error(request, shown):
        checks = Checks()
        chosen = text(form, "status")
        if chosen not in VERSION_STATUSES:
            checks.add("status", "Select the version's new status")
        reason = checks.required(
            text(form, "reason"),
            field_id="reason",
            longest=500,
            what="The reason",
            message="Enter why the status changes",
        )
        checks.raise_any()
        crud.set_version_status(
            session,
            actor=visitor.actor,
            name=name,
            version=version,
            status=chosen,
            reason=reason,
            now=now,
            pin=image_pinner(request.app.state),
        )
    session.commit()
    return RedirectResponse("/platform?done=status", status_code=status.HTTP_303_SEE_OTHER)
