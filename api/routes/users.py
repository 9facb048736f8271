"""People and their API tokens (platform engineers manage them; anyone manages their own
tokens), and the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api import errors, lists, presenters, schemas
from api.deps import ActorDep, Now, SessionDep, SettingsDep, StrictQuery
from orchestrator import crud
from orchestrator.access import Role, require_role
from orchestrator.crud import listing, paging

router = APIRouter(prefix="/api/v1", tags=["users"], responses=errors.RESPONSES, dependencies=[StrictQuery])
UserName = Annotated[str, Path(max_length=100, pattern=r"^[a-z0-9][a-z0-9._@-]{0,99}$")]


@router.post("/users", status_code=201)
def create_user(
    body: schemas.UserCreate, session: SessionDep, actor: ActorDep, now: Now
) -> schemas.UserPublic:
    """Create a user with a role; a supplier user is bound to one supplier (`supplier`)."""
    user = crud.create_user(
        session,
        actor=actor,
        now=now,
        data=crud.NewUser(
            name=body.name,
            role=body.role,
            department=body.department,
            supplier=body.supplier,
            display_name=body.display_name,
            email=body.email,
        ),
    )
    session.commit()
    return presenters.user(user, supplier_slug=body.supplier or None)


USERS_PAGE = 500  # without `limit`


@router.get("/users")
def list_users(
    session: SessionDep, actor: ActorDep, limit: lists.Limit = None, continue_: lists.Continue = None
) -> schemas.UserList:
    """People by name, a page at a time (`limit`, default 500; `continue`)."""
    require_role(actor.user, Role.PLATFORM_ENGINEER, to="list users")
    asked = paging.ask("users", limit=limit or USERS_PAGE, token=continue_, key=listing.NAME_KEY)
    found = listing.users_page(session, asked=asked)
    return schemas.UserList(items=presenters.users(session, found.rows).items, metadata=lists.meta(found))


@router.patch("/users/{name}")
def update_user(
    name: UserName, body: schemas.UserUpdate, session: SessionDep, actor: ActorDep, now: Now
) -> schemas.UserPublic:
    """Platform engineers change a person's role, department or supplier, or disable them
    (their sessions and tokens stop at once) and enable them again. Audited."""
    user = crud.update_user(
        session,
        actor=actor,
        name=name,
        now=now,
        change=crud.UserChange(
            role=body.role, department=body.department, supplier=body.supplier, disabled=body.disabled
        ),
    )
    session.commit()
    return presenters.users(session, [user]).items[0]


@router.post("/users/{name}/tokens", status_code=201)
def create_token(
    name: UserName,
    body: schemas.TokenCreate,
    session: SessionDep,
    actor: ActorDep,
    now: Now,
    settings: SettingsDep,
) -> schemas.TokenCreated:
    """Make an API token. The answer holds the token itself: it is never shown again. It
    lasts at most DEN_MAX_TOKEN_LIFETIME (the default when none is asked), and never longer
    than the token that asks for it."""
    owner = crud.get_user(session, name=name)
    ttl = timedelta(seconds=body.expires_in_seconds) if body.expires_in_seconds else None
    token, row = crud.issue_token(
        session,
        user=owner,
        now=now,
        name=body.name,
        ttl=ttl,
        actor=actor,
        max_lifetime=timedelta(seconds=settings.max_token_lifetime),
    )
    session.commit()
    return schemas.TokenCreated(token=token, **presenters.token(row, owner=name).model_dump())


@router.get("/users/{name}/tokens")
def list_tokens(name: UserName, session: SessionDep, actor: ActorDep) -> schemas.TokenList:
    """The user's tokens, without their secrets."""
    rows = crud.list_tokens(session, actor=actor, owner=name)
    return schemas.TokenList(items=[presenters.token(r, owner=name) for r in rows])


@router.delete("/users/{name}/tokens/{token_id}")
def revoke_token(
    name: UserName,
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
    actor: ActorDep,
    now: Now,
) -> schemas.TokenPublic:
    """Revoke a token at once (repeating it is harmless)."""
    row = crud.revoke_token(session, actor=actor, owner=name, token_id=token_id, now=now)
    session.commit()
    return presenters.token(row, owner=name)


@router.get("/audit")
def audit_log(
    session: SessionDep,
    actor: ActorDep,
    limit: Annotated[int, Query(ge=1, le=paging.MAX_LIMIT)] = 100,
    object_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    continue_: lists.Continue = None,
) -> schemas.AuditList:
    """Who did what to which object, when and from where: newest first, a page at a time
    (`limit`, default 100; `continue`)."""
    require_role(actor.user, Role.PLATFORM_ENGINEER, to="read the audit log")
    asked = paging.ask(
        "audit", limit=limit, token=continue_, selectors={"object_id": object_id}, key=listing.ID_KEY
    )
    found = listing.audit_page(session, asked=asked, object_id=object_id)
    return schemas.AuditList(
        items=[presenters.audit_event(r) for r in found.rows], metadata=lists.meta(found)
    )
