"""Single sign-on: sign-ins in progress, and the den user a provider's account becomes.

A sign-in attempt is made when the den sends a browser to the provider and taken (deleted,
once) when the provider sends it back: `state` finds it, the pre-sign-in cookie proves the
same browser came back, and it keeps the nonce and the PKCE code verifier, which never leave
the server. Attempts last ten minutes.

Who the person is comes from the verified ID token: the user name from
`DEN_OIDC_USERNAME_CLAIM`, the role and department from their groups (`DEN_OIDC_GROUPS`,
`role_for_groups`, a pure rule), bound to the provider account (`iss` and `sub`) at the first
sign-in so that another account claiming the same name later is refused.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from orchestrator.access import Role
from orchestrator.crud.common import Actor, audit, pk
from orchestrator.crud.templates import get_supplier
from orchestrator.crud.users import hash_token
from orchestrator.errors import Forbidden, NotFound
from orchestrator.models import SignInAttempt, User
from orchestrator.settings import GroupMapping

ATTEMPT_TTL = timedelta(minutes=10)
USER_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,99}$")
#: The strongest role wins when a person's groups give several.
ROLE_STRENGTH = (Role.PLATFORM_ENGINEER, Role.APPROVER, Role.CIVIL_SERVANT, Role.SUPPLIER)


class NoRole(Forbidden):
    """Signed in at the provider, but nothing gives them a role here."""

    reason = "NoRole"


@dataclass(frozen=True)
class Attempt:
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class Identity:
    """Who a verified ID token says the person is."""

    subject: str  # iss + " " + sub
    name: str
    email: str
    display_name: str
    groups: tuple[str, ...]


def begin(session: Session, *, browser: str, next_path: str, now: datetime) -> Attempt:
    """A new attempt for the browser holding the pre-sign-in cookie `browser`."""
    session.connection().execute(delete(SignInAttempt).where(col(SignInAttempt.expires_at) <= now))
    attempt = Attempt(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),
    )
    session.add(
        SignInAttempt(
            state_hash=hash_token(attempt.state),
            browser_hash=hash_token(browser),
            nonce=attempt.nonce,
            code_verifier=attempt.code_verifier,
            next_path=next_path,
            created_at=now,
            expires_at=now + ATTEMPT_TTL,
        )
    )
    return attempt


def take(session: Session, *, state: str, browser: str, now: datetime) -> SignInAttempt:
    """The attempt `state` names, removed so that it is used once. Unknown, expired, or
    started by another browser: `NotFound`."""
    row = session.exec(select(SignInAttempt).where(SignInAttempt.state_hash == hash_token(state))).first()
    if row is None:
        raise NotFound("this sign-in link was already used or never started here")
    removed = (
        session.connection().execute(delete(SignInAttempt).where(col(SignInAttempt.id) == row.id)).rowcount
    )
    if (
        removed != 1
        or row.expires_at <= now
        or not secrets.compare_digest(row.browser_hash, hash_token(browser))
    ):
        raise NotFound("this sign-in was started in another browser, or too long ago")
    return row


def identity(claims: Mapping[str, Any], *, username_claim: str, groups_claim: str) -> Identity:
    """The person in verified ID token claims; refused when the user name claim is missing or
    is not a name the den can use."""
    raw = claims.get(username_claim)
    name = raw.strip().lower() if isinstance(raw, str) else ""
    if not USER_NAME.match(name):
        raise NoRole(
            f"your account has no usable {username_claim!r} for this service "
            "(letters, digits, '.', '_', '-', '@'): ask your administrator"
        )
    groups = claims.get(groups_claim) if groups_claim else None
    listed = groups if isinstance(groups, list) else [groups] if isinstance(groups, str) else []
    return Identity(
        subject=f"{claims['iss']} {claims['sub']}",
        name=name,
        email=str(claims.get("email") or "")[:200],
        display_name=str(claims.get("name") or "")[:200],
        groups=tuple(str(g) for g in listed if isinstance(g, str))[:200],
    )


def role_for_groups(groups: Sequence[str], mapping: Mapping[str, GroupMapping]) -> GroupMapping | None:
    """What a person's groups give: the strongest role among them, with the first department
    (and supplier) that the groups of that role name. A group named like a role gives it.
    Group paths (`/a/b`) match on their full path or their last part."""
    given: list[GroupMapping] = []
    for group in groups:
        for key in dict.fromkeys([group, group.strip("/"), group.rsplit("/", 1)[-1]]):
            if key in mapping:
                given.append(mapping[key])
            elif key in {str(r) for r in Role}:
                given.append(GroupMapping(role=key))
    for role in ROLE_STRENGTH:
        of_role = [g for g in given if g.role == role]
        if of_role:
            return GroupMapping(
                role=role,
                department=next((g.department for g in of_role if g.department), ""),
                supplier=next((g.supplier for g in of_role if g.supplier), ""),
            )
    return None


def sign_in_user(
    session: Session,
    *,
    person: Identity,
    mapping: Mapping[str, GroupMapping],
    create_users: bool,
    now: datetime,
    source: str,
) -> User:
    """The den user for this provider account: made at the first sign-in when allowed, its
    role and department following the groups when they give one. Audited when made or
    changed. Refused (`NoRole`) with a reason a person can act on."""
    given = role_for_groups(person.groups, mapping)
    user = session.exec(select(User).where(User.oidc_subject == person.subject)).first()
    if user is None:
        user = session.exec(select(User).where(User.name == person.name)).first()
        if user is not None and user.oidc_subject not in (None, person.subject):
            raise NoRole(f"the name {person.name!r} belongs to another account here: ask a platform engineer")
    if user is None:
        if not create_users:
            raise NoRole("you do not have an account on this service yet: ask a platform engineer to add you")
        if given is None:
            raise NoRole(
                "your account is in no group that gives a role on this service: ask "
                "your administrator to add you to one"
            )
        user = User(name=person.name, role=given.role, created_at=now)
    if user.disabled_at is not None:
        raise NoRole(
            "your access to this service has been switched off: ask a platform engineer",
            reason="UserDisabled",
        )
    made = user.id is None
    before = (user.role, user.department, user.supplier_id)
    if given is not None:
        user.role, user.department = given.role, given.department
        user.supplier_id = pk(get_supplier(session, slug=given.supplier)) if given.supplier else None
    if user.role == Role.SUPPLIER and user.supplier_id is None:
        raise NoRole("your group gives the supplier role but names no supplier: ask a platform engineer")
    user.oidc_subject = person.subject
    user.email = person.email or user.email
    user.display_name = person.display_name or user.display_name
    session.add(user)
    session.flush()
    actor = Actor(user=user, source=source)
    if made:
        audit(
            session,
            actor=actor,
            action="user.create",
            obj=("user", user.name),
            now=now,
            detail={"role": user.role, "department": user.department, "method": "oidc"},
        )
    elif before != (user.role, user.department, user.supplier_id):
        audit(
            session,
            actor=actor,
            action="user.update",
            obj=("user", user.name),
            now=now,
            detail={
                "role": {"from": before[0], "to": user.role},
                "department": {"from": before[1], "to": user.department},
                "method": "oidc groups",
            },
        )
    return user
