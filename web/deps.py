"""Who is visiting: a server-side session (the cookie holds a random token), or an API token
for scripts reading the pages' JSON twins. Plus the database session and the clock.

The session cookie is `HttpOnly`, `SameSite=Lax` and, unless DEN_SESSION_COOKIE_SECURE is
false, `Secure` with the `__Host-` prefix (so no other site or path can set it). Before signing
in, the sign-in form's CSRF token comes from a second, short-lived cookie of the same kind.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from orchestrator import crud, sandbox_hosts
from orchestrator.errors import Unauthenticated
from orchestrator.models import User, WebSession
from orchestrator.sandbox_hosts import SandboxAddress
from orchestrator.settings import Settings

SIGN_IN_CSRF_MAX_AGE = 3600


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_now() -> datetime:
    return datetime.now(UTC)


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Now = Annotated[datetime, Depends(get_now)]


def cookie_name(settings: Settings, base: str) -> str:
    return f"__Host-{base}" if settings.session_cookie_secure else base


@dataclass
class Visitor:
    """The person looking at a page (None before signing in) and the CSRF token their forms
    carry. `new_csrf` is set when a sign-in CSRF cookie must be sent with the answer."""

    user: User | None
    web_session: WebSession | None
    source: str
    csrf: str
    new_csrf: bool = False

    @property
    def actor(self) -> crud.Actor:
        if self.user is None:
            raise Unauthenticated("sign in to continue")
        return crud.Actor(user=self.user, source=self.source)

    @property
    def role(self) -> str:
        return self.user.role if self.user else ""


def get_visitor(request: Request, session: SessionDep, settings: SettingsDep, now: Now) -> Visitor:
    source = request.client.host if request.client else ""
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        user = crud.authenticate(session, token=authorization[7:].strip(), now=now)
        if user is None:
            raise Unauthenticated("the API token is unknown, expired or revoked")
        return _remember(request, Visitor(user=user, web_session=None, source=source, csrf=""))
    token = request.cookies.get(cookie_name(settings, "den_session"), "")
    found = crud.session_user(session, token=token, now=now) if token else None
    if found is not None:
        web_session, user = found
        return _remember(
            request, Visitor(user=user, web_session=web_session, source=source, csrf=web_session.csrf_token)
        )
    csrf = request.cookies.get(cookie_name(settings, "den_sign_in"), "")
    return _remember(
        request,
        Visitor(
            user=None,
            web_session=None,
            source=source,
            csrf=csrf or secrets.token_urlsafe(32),
            new_csrf=not csrf,
        ),
    )


def _remember(request: Request, visitor: Visitor) -> Visitor:
    """Error pages show the navigation of whoever was visiting."""
    request.state.den_visitor = visitor
    return visitor


def signed_in(visitor: Annotated[Visitor, Depends(get_visitor)]) -> Visitor:
    if visitor.user is None:
        raise Unauthenticated("sign in to see this page")
    return visitor


VisitorDep = Annotated[Visitor, Depends(get_visitor)]
SignedIn = Annotated[Visitor, Depends(signed_in)]


def get_sandboxes(request: Request, settings: SettingsDep) -> SandboxAddress:
    """How this den's sandbox URLs look: each on its own origin under DEN_SANDBOX_DOMAIN, with
    the scheme and port of the den's public URL (or of this request)."""
    return sandbox_hosts.address(settings.public_url or str(request.base_url), settings.sandbox_domain)


Sandboxes = Annotated[SandboxAddress, Depends(get_sandboxes)]
