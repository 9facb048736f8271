"""Opening a sandbox from the den: its hand-over page, and the page of a share link.

A sandbox answers on an origin of its own (api/sandbox_origin.py), which the den's session
cookie never reaches, so the den hands the visitor over. `/trials/{id}/open/{component}` (signed
in; "page not found" unless the visitor may open that sandbox and it is running) says first
what the sandbox is for: synthetic data only, no real personal data, when it will be deleted.
Its Continue button calls `crud.hand_over` (a one-time grant of about a minute) and sends the
browser to `<sandbox origin>/_den/enter` with it. A later visit, while the person's sandbox
session is still live, goes straight through. `/share/{secret}` needs no sign-in: the same
words, a Continue per exposed component, and `crud.hand_over_shared` (bound to the link).

A sandbox that sleeps (idle sleep) is woken by opening it: both pages then ask for it to wake
(`crud.request_wake`) and say it is waking up (`waking.html`); the page checks its JSON twin
every few seconds (web/static/den.mjs; without script, a "check again" link) and, once the
sandbox is awake, loads itself again and goes on as for a running sandbox.

REST twins: `POST /api/v1/trials/{id}/open` (the same hand-over for a script: `denctl open`)
and `.../share-links`; `/trials/{id}/open/{component}.json` and `/share/{secret}.json` are the
pages' data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from orchestrator import access, crud
from orchestrator.crud.sandbox_access import is_open
from orchestrator.errors import Conflict, Forbidden, NotFound
from orchestrator.models import ShareLink, Trial
from orchestrator.sandbox_hosts import SandboxAddress, sandbox_path
from web import views
from web.deps import Now, Sandboxes, SessionDep, SignedIn, Visitor, VisitorDep
from web.forms import CheckedForm, text
from web.pages import page
from web.rendering import render, wants_json

router = APIRouter()
TrialId = Annotated[str, Path(pattern=r"^[a-z0-9]{1,20}$")]
Component = Annotated[str, Path(pattern=r"^[a-z0-9-]{1,60}$")]
Secret = Annotated[str, Path(min_length=10, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
NextPath = Annotated[str, Query(max_length=2000)]
#: What a share link's holder (or the trial's people, on the hand-over page) reads of the trial.
OUTSIDE_FIELDS = ("id", "title", "template", "template_name", "expires_at", "time_left_seconds")


#: Seconds between the waking page's checks of its sandbox (web/static/den.mjs).
WAKING_REFRESH = 2


def _openable(session: Session, visitor: Visitor, trial_id: str, component: str, now: datetime) -> Trial:
    """The trial, when the visitor may open this sandbox now; "page not found" otherwise (a
    trial they may see but not open, or not running, shows nothing more than one they cannot
    see). A sleeping sandbox is returned as it is: the caller wakes it."""
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    asleep = crud.is_reachable(trial, component, now=now) and not is_open(trial, component, now=now)
    member = crud.member_role(session, trial=trial, user=visitor.actor.user)
    if asleep and access.may_open_sandbox(visitor.actor.user, trial, member=member):
        return trial
    try:
        crud.check_openable(visitor.actor.user, trial, component, now=now, member=member)
    except (Forbidden, Conflict) as exc:
        raise NotFound(f"no running sandbox {trial_id}/{component} that you may open") from exc
    return trial


def _page_data(
    trial: Trial,
    *,
    sandboxes: SandboxAddress,
    actions: dict[str, str],
    now: datetime,
    next_path: str,
    link: ShareLink | None = None,
) -> dict[str, Any]:
    """What the hand-over page says: only what someone outside the den may read too (of the
    trial, `OUTSIDE_FIELDS` of what the trial's page shows)."""
    shown = views.trial(trial, owner="", now=now, sandboxes=sandboxes)
    return {
        "trial": {key: shown[key] for key in OUTSIDE_FIELDS},
        "components": [
            {"name": name, "url": sandboxes.url(trial.id, name), "action": action}
            for name, action in actions.items()
        ],
        "next": next_path,
        "link_expires_at": link.expires_at if link else None,
        "back": None if link else f"/trials/{trial.id}",
    }


def _waking(
    request: Request,
    visitor: Visitor,
    session: Session,
    trial: Trial,
    *,
    by: str,
    now: datetime,
    sandboxes: SandboxAddress,
    back: str | None,
) -> Response:
    """Ask for the sleeping sandbox to wake, and say so: the page reloads itself."""
    trial = crud.request_wake(session, trial=trial, now=now, by=by)
    session.commit()
    shown = views.trial(trial, owner="", now=now, sandboxes=sandboxes)
    return render(
        request,
        visitor,
        "waking.html",
        {
            "trial": {key: shown[key] for key in (*OUTSIDE_FIELDS, "phase", "message")},
            "waking": True,
            "refresh_seconds": WAKING_REFRESH,
            "back": back,
        },
    )


def _go(sandboxes: SandboxAddress, trial: Trial, component: str, *, grant: str, next_path: str) -> Response:
    return RedirectResponse(
        sandboxes.enter_url(trial.id, component, grant=grant, next_path=sandbox_path(next_path)),
        status_code=status.HTTP_303_SEE_OTHER,
    )


@page(router, "/trials/{trial_id}/open/{component}")
def open_page(
    request: Request,
    trial_id: TrialId,
    component: Component,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    sandboxes: Sandboxes,
    next: NextPath = "/",
) -> Response:
    trial = _openable(session, visitor, trial_id, component, now)
    if not is_open(trial, component, now=now):
        return _waking(
            request,
            visitor,
            session,
            trial,
            by=visitor.actor.name,
            now=now,
            sandboxes=sandboxes,
            back=f"/trials/{trial.id}",
        )
    if not wants_json(request) and crud.has_sandbox_session(
        session, user=visitor.actor.user, trial=trial, component=component, now=now
    ):
        grant = crud.hand_over(session, actor=visitor.actor, trial=trial, component=component, now=now)
        session.commit()
        return _go(sandboxes, trial, component, grant=grant, next_path=next)
    return render(
        request,
        visitor,
        "open.html",
        _page_data(
            trial,
            sandboxes=sandboxes,
            now=now,
            next_path=sandbox_path(next),
            actions={component: f"/trials/{trial.id}/open/{component}"},
        ),
    )


@router.post("/trials/{trial_id}/open/{component}")
def open_sandbox(
    trial_id: TrialId,
    component: Component,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    sandboxes: Sandboxes,
) -> Response:
    trial = _openable(session, visitor, trial_id, component, now)
    if not is_open(trial, component, now=now):  # asleep: the page wakes it and waits
        return RedirectResponse(f"/trials/{trial.id}/open/{component}", status_code=status.HTTP_303_SEE_OTHER)
    grant = crud.hand_over(session, actor=visitor.actor, trial=trial, component=component, now=now)
    session.commit()
    return _go(sandboxes, trial, component, grant=grant, next_path=text(form, "next") or "/")


@page(router, "/share/{secret}")
def share_page(
    request: Request, secret: Secret, visitor: VisitorDep, session: SessionDep, now: Now, sandboxes: Sandboxes
) -> Response:
    """A share link: no sign-in. Not found once revoked, expired, or its trial has ended."""
    link, trial = crud.share_link_by_secret(session, secret=secret, now=now)
    asleep = [name for name in sorted(trial.endpoints) if crud.is_reachable(trial, name, now=now)]
    running = [name for name in asleep if is_open(trial, name, now=now)]
    if asleep and not running:
        return _waking(
            request,
            visitor,
            session,
            trial,
            by="a share link's holder",
            now=now,
            sandboxes=sandboxes,
            back=None,
        )
    return render(
        request,
        visitor,
        "open.html",
        _page_data(
            trial,
            sandboxes=sandboxes,
            now=now,
            next_path="/",
            link=link,
            actions={name: f"/share/{secret}/open/{name}" for name in running},
        ),
    )


@router.post("/share/{secret}/open/{component}")
def share_open(
    secret: Secret,
    component: Component,
    form: CheckedForm,
    visitor: VisitorDep,
    session: SessionDep,
    now: Now,
    sandboxes: Sandboxes,
) -> Response:
    link, trial = crud.share_link_by_secret(session, secret=secret, now=now)
    grant = crud.hand_over_shared(
        session, link=link, trial=trial, component=component, source=visitor.source, now=now
    )
    session.commit()
    return _go(sandboxes, trial, component, grant=grant, next_path=text(form, "next") or "/")
