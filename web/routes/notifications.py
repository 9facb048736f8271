"""Your notifications: which events you receive by email, chosen with checkboxes.

The form calls `crud.notifications.set_email_events`, as `PUT /api/v1/users/me/notifications`
does; the page's twin is `/account/notifications.json` (the same data as its REST twin's
`GET`). Webhooks are set by the den's operators (`DEN_WEBHOOKS`), not here.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from orchestrator.crud import notifications
from orchestrator.models import User
from orchestrator.notify import DESCRIPTIONS, EVENTS
from web.deps import Now, SessionDep, SettingsDep, SignedIn
from web.forms import CheckedForm
from web.pages import page
from web.rendering import render

router = APIRouter()
PATH = "/account/notifications"


def _data(user: User, *, mail_server: bool, saved: bool) -> dict[str, object]:
    return {
        "email": user.email,
        "email_events": notifications.email_events(user),
        "events": [{"name": e, "description": DESCRIPTIONS[e]} for e in EVENTS],
        "mail_server": mail_server,
        "saved": saved,
    }


@page(router, PATH)
def preferences(
    request: Request, visitor: SignedIn, session: SessionDep, settings: SettingsDep, saved: str = ""
) -> Response:
    user = session.get(User, visitor.actor.user.id) or visitor.actor.user
    return render(
        request,
        visitor,
        "notifications.html",
        _data(user, mail_server=bool(settings.smtp_url), saved=saved == "yes"),
    )


@router.post(PATH)
def save(request: Request, form: CheckedForm, visitor: SignedIn, session: SessionDep, now: Now) -> Response:
    del request
    chosen = [e for e in form.getlist("events") if isinstance(e, str) and e in EVENTS]
    notifications.set_email_events(session, actor=visitor.actor, events=chosen, now=now)
    session.commit()
    return RedirectResponse(f"{PATH}?saved=yes", status_code=status.HTTP_303_SEE_OTHER)
