"""Single sign-on through the organisation's OpenID Connect provider (web/oidc.py speaks the
protocol; orchestrator/crud/sign_in.py decides who the person is here).

1. `GET /sign-in/start` makes a sign-in attempt bound to this browser's pre-sign-in cookie and
   sends the browser to the provider with `state`, `nonce` and a PKCE code challenge.
2. The provider sends it back to `GET /sign-in/callback` (`DEN_PUBLIC_URL` + that path must be
   registered there) with a code: the attempt is taken (once, by the same browser), the code is
   exchanged, the ID token verified, and the person signed in with a new server-side session,
   like the development sign-in. The ID token is kept in the session only to end the
   provider's session at sign-out (`id_token_hint`).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from orchestrator import crud
from orchestrator.crud import sign_in
from orchestrator.errors import NotFound
from orchestrator.settings import Settings
from web.deps import Now, SessionDep, SettingsDep, VisitorDep
from web.oidc import Provider, SignInRefused, SignInUnavailable
from web.pages import local_path
from web.rendering import clear_cookie, set_cookie

router = APIRouter()
CALLBACK = "/sign-in/callback"
_providers_lock = threading.Lock()


def provider_for(request: Request) -> Provider:
    """The application's provider client (its caches live as long as the application)."""
    settings: Settings = request.app.state.settings
    if not settings.oidc_enabled:
        raise NotFound("single sign-on is not set up on this service")
    with _providers_lock:
        provider: Provider | None = getattr(request.app.state, "oidc_provider", None)
        if provider is None:
            provider = request.app.state.oidc_provider = Provider(settings)
    return provider


def public_base(request: Request, settings: Settings) -> str:
    return (settings.public_url or str(request.base_url)).rstrip("/")


@router.get("/sign-in/start")
def start(
    request: Request,
    visitor: VisitorDep,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    next: str = "/",
) -> Response:
    provider = provider_for(request)
    attempt = sign_in.begin(session, browser=visitor.csrf, next_path=local_path(next), now=now)
    url = provider.authorization_url(
        redirect_uri=public_base(request, settings) + CALLBACK,
        state=attempt.state,
        nonce=attempt.nonce,
        code_verifier=attempt.code_verifier,
    )
    session.commit()
    response = RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    if visitor.new_csrf:  # the attempt is bound to this cookie: the browser must keep it
        set_cookie(response, settings, "den_sign_in", visitor.csrf, max_age=3600)
    return response


@router.get(CALLBACK)
def callback(
    request: Request,
    visitor: VisitorDep,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    state: str = Query("", max_length=200),
    code: str = Query("", max_length=4000),
    error: str = Query("", max_length=200),
    error_description: str = Query("", max_length=500),
) -> Response:
    provider = provider_for(request)
    attempt = sign_in.take(session, state=state, browser=visitor.csrf, now=now)
    session.commit()  # used once, whatever happens next
    if error:
        if error == "temporarily_unavailable":
            raise SignInUnavailable("the sign-in provider is not available: try again later")
        raise SignInRefused(
            f"the sign-in provider did not sign you in ({error}"
            f"{': ' + error_description if error_description else ''})"
        )
    if not code:
        raise SignInRefused("the sign-in provider sent no code")
    tokens = provider.exchange(
        code=code, redirect_uri=public_base(request, settings) + CALLBACK, code_verifier=attempt.code_verifier
    )
    claims = provider.verify_id_token(tokens["id_token"], nonce=attempt.nonce, now=time.time())
    person = sign_in.identity(
        claims, username_claim=settings.oidc_username_claim, groups_claim=settings.oidc_roles_claim
    )
    user = sign_in.sign_in_user(
        session,
        person=person,
        mapping=settings.oidc_groups,
        create_users=settings.oidc_create_users,
        now=now,
        source=visitor.source,
    )
    if visitor.web_session is not None:  # a new session, never a reused one
        crud.end_session(session, web_session=visitor.web_session, actor=visitor.actor, now=now)
    token, row = crud.start_session(
        session,
        user=user,
        now=now,
        source=visitor.source,
        ttl=timedelta(seconds=settings.session_max_age),
        method="oidc",
    )
    crud.save_session_data(session, web_session=row, data={"id_token": tokens["id_token"]})
    session.commit()
    response = RedirectResponse(attempt.next_path, status_code=status.HTTP_303_SEE_OTHER)
    set_cookie(response, settings, "den_session", token, max_age=settings.session_max_age)
    clear_cookie(response, settings, "den_sign_in")
    return response


def provider_sign_out_url(request: Request, settings: Settings, *, id_token: str) -> str:
    """Where a signed-out browser goes so that the provider's session ends too (empty when
    single sign-on is off or the provider offers no end-session endpoint)."""
    if not settings.oidc_enabled or not id_token:
        return ""
    return provider_for(request).end_session_url(
        id_token_hint=id_token, post_logout_redirect_uri=public_base(request, settings) + "/signed-out"
    )
