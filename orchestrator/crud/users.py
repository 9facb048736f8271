"""People and their API tokens. A token is shown once, when made; only its SHA-256 is kept,
with an optional expiry, and revoking it keeps the row (the audit trail names it)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from orchestrator.access import ROLES, Role, check_may_manage_tokens, require_role
from orchestrator.crud.common import Actor, audit, pk
from orchestrator.crud.templates import get_supplier
from orchestrator.crud.token_cache import TOKENS
from orchestrator.errors import Conflict, NotFound, Problem, ValidationFailed
from orchestrator.models import ApiToken, Supplier, User, WebSession


@dataclass(frozen=True)
class NewUser:
    name: str
    role: str
    department: str = ""
    supplier: str = ""  # a supplier's slug: required for, and only for, the supplier role
    display_name: str = ""
    email: str = ""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_user(
    session: Session,
    *,
    name: str,
    role: str,
    now: datetime,
    department: str = "",
    supplier_id: int | None = None,
) -> User:
    """The user `name`, made if missing (start-up's bootstrap administrator)."""
    _check_role(role)
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        user = User(name=name, role=role, department=department, supplier_id=supplier_id, created_at=now)
        session.add(user)
        session.flush()
        audit(
            session,
            actor=None,
            action="user.create",
            obj=("user", name),
            now=now,
            detail={"role": role},
            source="start-up",
        )
    return user


def create_user(
    session: Session, *, actor: Actor | None, data: NewUser, now: datetime, source: str = ""
) -> User:
    """`actor` None is `den users create` working on the database (first set-up)."""
    if actor is not None:
        require_role(actor.user, Role.PLATFORM_ENGINEER, to="create users")
    _check_role(data.role)
    if (data.role == Role.SUPPLIER) != bool(data.supplier):
        raise ValidationFailed(
            [
                Problem(
                    "supplier",
                    "a supplier user is bound to exactly one supplier, and only supplier users are",
                    "give --supplier (the slug) with role supplier only",
                )
            ]
        )
    if session.exec(select(User).where(User.name == data.name)).first() is not None:
        raise Conflict(f"a user {data.name!r} already exists")
    supplier_id = pk(get_supplier(session, slug=data.supplier)) if data.supplier else None
    user = User(
        name=data.name,
        role=data.role,
        department=data.department,
        supplier_id=supplier_id,
        display_name=data.display_name,
        email=data.email,
        created_at=now,
    )
    session.add(user)
    session.flush()
    audit(
        session,
        actor=actor,
        action="user.create",
        obj=("user", data.name),
        now=now,
        detail={"role": data.role, "department": data.department, "supplier": data.supplier},
        source=source,
    )
    return user


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValidationFailed([Problem("role", f"unknown role {role!r}", f"use one of {', '.join(ROLES)}")])


def list_users(session: Session) -> Sequence[User]:
    return session.exec(select(User).order_by(User.name)).all()


def get_user(session: Session, *, name: str) -> User:
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise NotFound(f"no user {name!r}")
    return user


# --- tokens ------------------------------------------------------------------------------


def token_expiry(
    *,
    now: datetime,
    ttl: timedelta | None,
    max_lifetime: timedelta | None,
    parent_expires_at: datetime | None,
) -> datetime | None:
    """When a new token expires: as asked, else at the longest lifetime allowed; never after
    the token that asked for it. Refused, naming the field, when asked for longer."""
    if max_lifetime is not None and ttl is not None and ttl > max_lifetime:
        raise ValidationFailed(
            [
                Problem(
                    "expires_in_seconds",
                    f"a token lasts at most {int(max_lifetime.total_seconds())} seconds on this service",
                    "ask for a shorter lifetime",
                )
            ]
        )
    expires = now + ttl if ttl else (now + max_lifetime if max_lifetime else None)
    if parent_expires_at is not None and (expires is None or expires > parent_expires_at):
        if ttl is not None:
            raise ValidationFailed(
                [
                    Problem(
                        "expires_in_seconds",
                        "a token cannot outlive the token that makes it "
                        f"(yours expires at {parent_expires_at.isoformat()})",
                        "ask for a shorter lifetime, or sign in again for a longer-lived token",
                    )
                ]
            )
        expires = parent_expires_at
    return expires


def issue_token(
    session: Session,
    *,
    user: User,
    now: datetime,
    name: str = "",
    token: str | None = None,
    ttl: timedelta | None = None,
    actor: Actor | None = None,
    source: str = "",
    max_lifetime: timedelta | None = None,
) -> tuple[str, ApiToken]:
    """Create a token for `user` and return it: the only time it is ever visible. A given
    `token` (the bootstrap one) that already exists is returned as it is. `max_lifetime`
    bounds tokens that people make (DEN_MAX_TOKEN_LIFETIME); a token made with a token never
    outlives it."""
    if actor is not None:
        check_may_manage_tokens(actor.user, owner=user.name)
    if user.disabled_at is not None:
        raise Conflict(f"{user.name} is disabled: enable them before making a token", reason="UserDisabled")
    if token is None:
        ttl_expiry = token_expiry(
            now=now,
            ttl=ttl,
            max_lifetime=max_lifetime,
            parent_expires_at=actor.token_expires_at if actor else None,
        )
        ttl = ttl_expiry - now if ttl_expiry is not None else None
    token = token or "den_" + secrets.token_urlsafe(32)
    digest = hash_token(token)
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    if row is None:
        row = ApiToken(
            user_id=pk(user),
            name=name,
            token_hash=digest,
            prefix=token[:8],
            created_at=now,
            expires_at=now + ttl if ttl else None,
        )
        session.add(row)
        session.flush()
        audit(
            session,
            actor=actor,
            action="token.create",
            obj=("token", str(row.id)),
            now=now,
            detail={
                "user": user.name,
                "name": name,
                "prefix": row.prefix,
                "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            },
            source=source,
        )
    return token, row


def list_tokens(session: Session, *, actor: Actor, owner: str) -> Sequence[ApiToken]:
    check_may_manage_tokens(actor.user, owner=owner)
    user = get_user(session, name=owner)
    return session.exec(select(ApiToken).where(ApiToken.user_id == user.id).order_by(col(ApiToken.id))).all()


def revoke_token(session: Session, *, actor: Actor, owner: str, token_id: int, now: datetime) -> ApiToken:
    """Idempotent: revoking a revoked token changes nothing."""
    check_may_manage_tokens(actor.user, owner=owner)
    user = get_user(session, name=owner)
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound(f"{owner} has no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
        audit(
            session,
            actor=actor,
            action="token.revoke",
            obj=("token", str(token_id)),
            now=now,
            detail={"user": owner, "prefix": row.prefix},
        )
    return row


def authenticate(session: Session, *, token: str, now: datetime) -> User | None:
    found = authenticate_token(session, token=token, now=now)
    return found[0] if found else None


def caller_of_token(session: Session, *, token: str, now: datetime) -> tuple[User, datetime | None] | None:
    """`authenticate_token` through the process's token cache (crud/token_cache.py): the
    person and the token's expiry, looked up at most once a second."""
    digest = hash_token(token)
    cached = TOKENS.get(digest, now=now)
    if cached is not None:
        return cached
    found = authenticate_token(session, token=token, now=now)
    if found is None:
        return None
    TOKENS.put(digest, found[0], found[1])
    return found[0], found[1].expires_at


def cached_caller(token: str, *, now: datetime) -> tuple[User, datetime | None] | None:
    """The cached answer of `caller_of_token`, with no database work; None when not cached."""
    return TOKENS.get(hash_token(token), now=now)


def authenticate_token(session: Session, *, token: str, now: datetime) -> tuple[User, ApiToken] | None:
    """The live token of this value and its person; None when unknown, revoked, expired or
    when the person is disabled."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled_at is not None:
        return None
    return user, row


@dataclass(frozen=True)
class UserChange:
    """What a platform engineer changes about a person; None leaves a field as it is."""

    role: str | None = None
    department: str | None = None
    supplier: str | None = None
    disabled: bool | None = None


def update_user(session: Session, *, actor: Actor, name: str, change: UserChange, now: datetime) -> User:
    """Change a person's role or department, or disable them: a disabled person's web
    sessions end and their tokens stop working at once (their rows stay, for the audit
    trail). Audited with what changed."""
    require_role(actor.user, Role.PLATFORM_ENGINEER, to="change people's roles or disable them")
    user = get_user(session, name=name)
    if change.disabled and user.id == actor.user.id:
        raise Conflict("you cannot disable yourself: ask another platform engineer", reason="SelfDisable")
    before = _user_fields(session, user)
    if change.role is not None:
        _check_role(change.role)
        user.role = change.role
    if change.department is not None:
        user.department = change.department
    if change.supplier is not None or change.role is not None:
        kept = before["supplier"] if user.role == Role.SUPPLIER else ""  # leaving the role
        slug = change.supplier if change.supplier is not None else kept
        if (user.role == Role.SUPPLIER) != bool(slug):
            raise ValidationFailed(
                [
                    Problem(
                        "supplier",
                        "a supplier user is bound to exactly one supplier, and only supplier users are",
                        "give the supplier's slug with role supplier only",
                    )
                ]
            )
        user.supplier_id = pk(get_supplier(session, slug=slug)) if slug else None
    if change.disabled is not None:
        user.disabled_at = (user.disabled_at or now) if change.disabled else None
    after = _user_fields(session, user)
    changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
    if not changed:
        return user
    session.add(user)
    if user.disabled_at is not None:
        session.connection().execute(delete(WebSession).where(col(WebSession.user_id) == user.id))
    audit(session, actor=actor, action="user.update", obj=("user", name), now=now, detail=changed)
    return user


def _user_fields(session: Session, user: User) -> dict[str, Any]:
    supplier = session.get(Supplier, user.supplier_id) if user.supplier_id else None
    return {
        "role": user.role,
        "department": user.department,
        "supplier": supplier.slug if supplier else "",
        "disabled": user.disabled_at is not None,
    }
