"""Signing in and out, the home page, and the service's statements (accessibility, cookies).

Development sign-in lets anyone pick an existing user, with no password: it exists only when
`Settings.dev_sign_in_enabled` (development mode; refused in production, and `den serve`
refuses it on an address other than loopback). Real sign-in goes through the organisation's
OpenID Connect provider (routes/sso.py) when `DEN_OIDC_ISSUER` is set; until then the sign-in
page says single sign-on is not set up (the API keeps working with tokens). Signing out ends
the den's session and, after single sign-on, the provider's too where it offers that.
"""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from orchestrator import crud, retention
from orchestrator.access import DECIDES
from orchestrator.errors import Forbidden, NotFound, Problem, ValidationFailed
from orchestrator.lifecycle import ACTIVE_PHASES
from web import views
from web.deps import Now, Sandboxes, SessionDep, SettingsDep, VisitorDep
from web.forms import CheckedForm, FormPage, shown_again_on_error, text
from web.pages import local_path, page
from web.rendering import clear_cookie, render, set_cookie
from web.routes import sso

router = APIRouter()
ROLE_NAMES = {
    "civil_servant": "Civil servant",
    "supplier": "Supplier",
    "platform_engineer": "Platform engineer",
    "approver": "Approver",
}


@page(router, "/")
def home(
    request: Request, visitor: VisitorDep, session: SessionDep, now: Now, sandboxes: Sandboxes
) -> Response:
    """Signed out: what the service is. Signed in: your trials still running, and what waits
    for you."""
    if visitor.user is None:
        return render(request, visitor, "start.html", {"signed_in": False})
    rows = [r for r in crud.list_trials(session, user=visitor.user, limit=50) if r.phase in ACTIVE_PHASES]
    active = views.trials(rows, owners=crud.owner_names(session, rows), now=now, sandboxes=sandboxes)
    waiting = len(crud.pending_decisions(session, user=visitor.user)) if visitor.user.role in DECIDES else 0
    return render(
        request,
        visitor,
        "home.html",
        {
            "signed_in": True,
            "user": visitor.user.name,
            "role": visitor.user.role,
            "active_trials": active,
            "waiting_for_decision": waiting,
        },
    )


@page(router, "/sign-in")
def sign_in_page(
    request: Request, visitor: VisitorDep, session: SessionDep, settings: SettingsDep, next: str = "/"
) -> Response:
    return render(request, visitor, "sign_in.html", _sign_in_data(session, settings, next))


def _sign_in_data(session: SessionDep, settings: SettingsDep, next_path: str) -> dict[str, object]:
    users = (
        [
            {
                "name": u.name,
                "role": u.role,
                "role_name": ROLE_NAMES.get(u.role, u.role),
                "department": u.department,
            }
            for u in crud.list_users(session)
        ]
        if settings.dev_sign_in_enabled
        else []
    )
    return {
        "development": settings.dev_sign_in_enabled,
        "users": users,
        "single_sign_on": settings.oidc_enabled,
        "next": local_path(next_path),
    }


@router.post("/sign-in")
def sign_in(
    request: Request,
    form: CheckedForm,
    visitor: VisitorDep,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
) -> Response:
    if not settings.dev_sign_in_enabled:
        raise Forbidden("development sign-in is switched off on this service", reason="SignInUnavailable")
    name, next_path = text(form, "user"), local_path(text(form, "next"))
    page_ = FormPage(
        "sign_in.html",
        _sign_in_data(session, settings, next_path),
        values={"user": name},
        fields={"user": "user"},
    )
    with shown_again_on_error(request, page_):
        if not name:
            raise ValidationFailed([Problem("user", "Select who you want to sign in as")])
        try:
            user = crud.get_user(session, name=name)
        except NotFound:
            raise ValidationFailed([Problem("user", "Select a user from the list")]) from None
    if visitor.web_session is not None:  # a new session, never a reused one
        crud.end_session(session, web_session=visitor.web_session, actor=visitor.actor, now=now)
    token, _row = crud.start_session(
        session,
        user=user,
        now=now,
        source=visitor.source,
        ttl=timedelta(seconds=settings.session_max_age),
        method="development",
    )
    session.commit()
    response = RedirectResponse(next_path, status_code=status.HTTP_303_SEE_OTHER)
    set_cookie(response, settings, "den_session", token, max_age=settings.session_max_age)
    clear_cookie(response, settings, "den_sign_in")
    return response


@router.post("/sign-out")
def sign_out(
    request: Request,
    form: CheckedForm,
    visitor: VisitorDep,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
) -> Response:
    del form  # checked: signing someone out is a write like any other
    provider_url = ""
    if visitor.web_session is not None:
        id_token = str(visitor.web_session.data.get("id_token", ""))
        crud.end_session(session, web_session=visitor.web_session, actor=visitor.actor, now=now)
        session.commit()
        provider_url = sso.provider_sign_out_url(request, settings, id_token=id_token)
    response = RedirectResponse(provider_url or "/signed-out", status_code=status.HTTP_303_SEE_OTHER)
    clear_cookie(response, settings, "den_session")
    return response


@page(router, "/signed-out")
def signed_out(request: Request, visitor: VisitorDep) -> Response:
    return render(request, visitor, "signed_out.html", {"signed_in": visitor.user is not None})


#: When the accessibility statement was first written, and last checked against the service.
STATEMENT_PREPARED = date(2026, 11, 26)
STATEMENT_REVIEWED = date(2026, 12, 1)


@page(router, "/accessibility")
def accessibility(request: Request, visitor: VisitorDep, settings: SettingsDep) -> Response:
    return render(
        request,
        visitor,
        "accessibility.html",
        {
            "standard": "WCAG 2.2 AA",
            "compliance": "partially compliant",
            "contact_email": settings.contact_email,
            "prepared": STATEMENT_PREPARED,
            "reviewed": STATEMENT_REVIEWED,
        },
    )


@page(router, "/privacy")
def privacy(request: Request, visitor: VisitorDep, settings: SettingsDep) -> Response:
    """What the den keeps about people, for how long (`DEN_RETENTION_DAYS`), and who sees it."""
    return render(
        request,
        visitor,
        "privacy.html",
        {
            "retention_days": settings.retention_days,
            "retention": retention.in_words(settings.retention_days),
            "contact_email": settings.contact_email,
        },
    )


@page(router, "/cookies")
def cookies(request: Request, visitor: VisitorDep, settings: SettingsDep) -> Response:
    return render(
        request,
        visitor,
        "cookies.html",
        {
            "cookies": [
                {
                    "name": "den_session",
                    "purpose": "Keeps you signed in",
                    "expires": settings.session_max_age,
                },
                {"name": "den_sign_in", "purpose": "Protects the sign-in form from forgery", "expires": 3600},
                {
                    "name": "den_sandbox",
                    "purpose": "Lets you into a sandbox you opened, on the sandbox's own address only",
                    "expires": settings.session_max_age,
                },
            ]
        },
    )
