"""Request dependencies: the database session, the caller, the clock.

A request holds a pooled database connection only while a worker thread uses it. FastAPI runs
each sync dependency and the sync endpoint in a worker thread of their own, and a request
waits for a free thread between them; had it kept its connection while waiting, a burst of
requests (more than the pool holds) would leave every thread waiting for a connection held by
a request that waits for a thread, until the pool's timeout. So the session opens and closes on
the event loop (a session touches no connection until its first query), the caller comes from
the process's token cache on the loop (or, once a second, from a lookup on a connection of its
own), and the dependencies that do no I/O run on the loop too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, TypeVar

import anyio
from fastapi import Depends, Path, Query, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session

from api import schemas
from orchestrator import crud, sandbox_hosts
from orchestrator.drivers import shared_driver
from orchestrator.drivers.base import Driver
from orchestrator.errors import (
    Problem,
    Unauthenticated,
    ValidationFailed,
)
from orchestrator.models import User
from orchestrator.sandbox_hosts import SandboxAddress
from orchestrator.settings import RateCard, Settings

_T = TypeVar("_T")
_known_query: dict[int, dict[str, bool]] = {}  # route -> query parameter -> repeatable


async def get_session(request: Request) -> AsyncIterator[Session]:
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_now() -> datetime:
    return datetime.now(UTC)


async def run_read(request: Request, session: Session, work: Callable[[], _T]) -> _T:
    """A read's database work, for the reads that clients poll most (a trial, the trial and
    template lists). On SQLite it runs on the event loop: reads in WAL mode never wait for a
    lock, and the hop to a worker thread and back cost more than the read itself. On
    PostgreSQL, where every query waits for the network, it runs in a worker thread, so the
    loop never waits, on a connection in autocommit: a read needs no transaction, and BEGIN and
    ROLLBACK would be two more round trips to the server. The connection goes back to the pool
    from that thread as soon as the work is done."""
    if request.app.state.engine.dialect.name == "sqlite":
        return work()

    def read() -> _T:
        try:
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            return work()
        finally:
            session.close()

    return await anyio.to_thread.run_sync(read)


TrialId = Annotated[str, Path(pattern=r"^[a-z0-9]{1,20}$", description="The trial's id.")]
SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Now = Annotated[datetime, Depends(get_now)]
_bearer = HTTPBearer(auto_error=False)


async def get_actor(
    request: Request,
    now: Now,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> crud.Actor:
    """The caller, from the process's token cache when it knows the token (no thread, no
    query), else looked up in a worker thread on a connection of its own."""
    if credentials is None:
        raise Unauthenticated("send an API token as 'Authorization: Bearer <token>'")
    token = credentials.credentials
    found = crud.cached_caller(token, now=now)
    if found is None:
        found = await anyio.to_thread.run_sync(partial(_look_up, request.app.state.engine, token, now))
    if found is None:
        raise Unauthenticated("the API token is unknown, expired or revoked, or its person is disabled")
    source = request.client.host if request.client else ""
    return crud.Actor(user=found[0], source=source, token_expires_at=found[1])


def _look_up(engine: Engine, token: str, now: datetime) -> tuple[User, datetime | None] | None:
    with Session(engine, expire_on_commit=False) as session:
        return crud.caller_of_token(session, token=token, now=now)


ActorDep = Annotated[crud.Actor, Depends(get_actor)]


async def get_base_url(request: Request, settings: SettingsDep) -> str:
    """The service's public URL: DEN_PUBLIC_URL, or what this request was sent to."""
    return settings.public_url or str(request.base_url)


BaseUrl = Annotated[str, Depends(get_base_url)]


async def get_sandboxes(request: Request, settings: SettingsDep) -> SandboxAddress:
    """How this den's sandbox URLs look: each on its own origin under DEN_SANDBOX_DOMAIN, with
    the scheme and port of the den's public URL."""
    return sandbox_hosts.address(settings.public_url or str(request.base_url), settings.sandbox_domain)


Sandboxes = Annotated[SandboxAddress, Depends(get_sandboxes)]


async def get_rate_card(settings: SettingsDep) -> RateCard | None:
    """The operator's rate card (`DEN_RATE_CARD`), from which costs are estimated; None: no
    cost is shown."""
    return settings.rate_card


RateCardDep = Annotated[RateCard | None, Depends(get_rate_card)]


def driver_for(request: Request) -> Driver:
    """The runtime driver, for reading logs and pinning images: made on first use."""
    return shared_driver(request.app.state)


async def get_selectors(
    phase: Annotated[schemas.Phase | None, Query(description="Only trials in this phase.")] = None,
    template: Annotated[
        str | None,
        Query(
            max_length=110,
            pattern=r"^[a-z0-9-]+(@[0-9A-Za-z.+-]+)?$",
            description="`name` or `name@version`.",
        ),
    ] = None,
    owner: Annotated[
        str | None, Query(min_length=1, max_length=100, description="The owner's user name.")
    ] = None,
    department: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> crud.TrialFilter:
    """Label-like selectors on trials (`denctl get tr -l phase=Ready,owner=alice`)."""
    return crud.TrialFilter(phase=phase, template=template, owner=owner, department=department)


Selectors = Annotated[crud.TrialFilter, Depends(get_selectors)]


async def reject_unknown_query(request: Request) -> None:
    """An unknown or repeated query parameter is a mistake worth naming (`?phse=Ready` would
    otherwise list every trial), so every API route refuses them, and NUL characters, which
    PostgreSQL cannot compare or store."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _known_query.get(id(route))
    if known is None:
        known = _query_parameters(request, route)
        _known_query[id(route)] = known
    problems = [
        Problem(
            name,
            "unknown query parameter",
            f"use {', '.join(sorted(known))}" if known else "this route takes none",
        )
        for name in sorted(set(request.query_params) - set(known))
    ]
    problems += [
        Problem(name, "given more than once", "give it once")
        for name, repeatable in known.items()
        if not repeatable and len(request.query_params.getlist(name)) > 1
    ]
    problems += [
        Problem(name, "NUL characters are not allowed", "remove them")
        for name, value in request.query_params.multi_items()
        if "\x00" in value
    ]
    if problems:
        raise ValidationFailed(problems[:10])


def _query_parameters(request: Request, route: APIRoute) -> dict[str, bool]:
    """Read from the OpenAPI document, which lists every query parameter of the route."""
    operations = request.app.openapi()["paths"].get(route.path_format, {})
    return {
        p["name"]: p.get("schema", {}).get("type") == "array"
        for method in route.methods or ()
        for p in operations.get(method.lower(), {}).get("parameters", [])
        if p["in"] == "query"
    }


StrictQuery = Depends(reject_unknown_query)
