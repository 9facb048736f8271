"""Request dependencies: the database session, the caller, the clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from orchestrator import crud
from orchestrator.errors import Unauthenticated
from orchestrator.settings import Settings


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
_bearer = HTTPBearer(auto_error=False)


def get_actor(
    request: Request, session: SessionDep, now: Now,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> crud.Actor:
    if credentials is None:
        raise Unauthenticated("send an API token as 'Authorization: Bearer <token>'")
    user = crud.authenticate(session, token=credentials.credentials, now=now)
    if user is None:
        raise Unauthenticated("the API token is unknown, expired or revoked")
    source = request.client.host if request.client else ""
    return crud.Actor(user=user, source=source)


ActorDep = Annotated[crud.Actor, Depends(get_actor)]


def wake_reconciler(request: Request) -> None:
    """Tell an in-process reconciler that intent changed, so it acts now."""
    wake = getattr(request.app.state, "wake", None)
    if wake is not None:
        wake.set()


def get_base_url(request: Request, settings: SettingsDep) -> str:
    """The service's public URL: DEN_PUBLIC_URL, or what this request was sent to."""
    return settings.public_url or str(request.base_url)


BaseUrl = Annotated[str, Depends(get_base_url)]
