"""Who gets into a sandbox, and how: share links, one-time hand-overs, sandbox sessions.

Each sandbox answers on an origin of its own (orchestrator/sandbox_hosts.py), which the den's
session cookie never reaches. So the den hands a visitor over: it makes a **grant** (random,
single-use, about a minute long, bound to the trial, the component and a person or a share
link; only its SHA-256 is stored), and the browser carries it to `<sandbox origin>/_den/enter`.
The sandbox origin consumes it with one conditional UPDATE, so two uses can never both succeed,
and opens a **sandbox session**: a cookie of that origin only, whose SHA-256 is stored, lasting
no longer than the trial. Every later request re-checks the session: the trial still Ready
(not ending, not expired), the person still allowed (`access.may_open_sandbox`) or the link
neither revoked nor expired. Scripts send an API token instead (`X-Den-Token`), checked the
same way on every request.

A **share link** opens one trial's sandbox to people outside the den, without signing in; its
secret is in its URL, shown once. Making, using (each hand-over) and revoking one is audited.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from orchestrator import rules
from orchestrator.access import check_may_share, may_open_sandbox
from orchestrator.crud.activity import is_waking
from orchestrator.crud.common import Actor, audit, pk
from orchestrator.crud.members import member_role
from orchestrator.crud.users import authenticate, hash_token
from orchestrator.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Problem,
    Unauthenticated,
    ValidationFailed,
)
from orchestrator.lifecycle import LIVE_PHASES, Phase
from orchestrator.models import SandboxGrant, SandboxSession, ShareLink, Trial, User

#: How long a hand-over may take between the den's redirect and the sandbox origin.
GRANT_TTL = timedelta(seconds=60)
SHARE_LINK_SHORTEST = 60
SHARE_LINK_LONGEST = 7 * 86400


def is_open(trial: Trial | None, component: str, *, now: datetime) -> bool:
    """The sandbox answers: Ready with that endpoint, not ending, not past its expiry (even
    before the reconciler has acted on it)."""
    return (
        trial is not None
        and trial.phase == Phase.READY
        and component in trial.endpoints
        and trial.end_requested_at is None
        and (trial.expires_at is None or trial.expires_at > now)
    )


def is_reachable(trial: Trial | None, component: str, *, now: datetime) -> bool:
    """The sandbox answers, or will once woken: Ready (`is_open`), or asleep or waking with
    that endpoint, not ending and not past its expiry. A visit may go on to it (and wake it)."""
    if trial is None or is_open(trial, component, now=now):
        return trial is not None
    return (
        (trial.phase == Phase.SLEEPING or is_waking(trial))
        and component in trial.endpoints
        and trial.end_requested_at is None
        and (trial.expires_at is None or trial.expires_at > now)
    )


def check_openable(
    user: User, trial: Trial, component: str, *, now: datetime, member: str | None = None
) -> None:
    """For a person who may see `trial` (`member`: their role on it, if any): Forbidden unless
    they may open its sandbox, NotFound for a component it does not expose, Conflict while the
    sandbox is not running."""
    if not may_open_sandbox(user, trial, member=member):
        raise Forbidden(
            "only the trial's owner, its members, its department when shared, and platform engineers "
            "open its sandbox"
        )
    if component not in trial.endpoints and trial.phase == Phase.READY:
        raise NotFound(
            f"trial {trial.id} exposes no component {component!r}; it exposes "
            f"{', '.join(sorted(trial.endpoints)) or 'none'}"
        )
    if not is_open(trial, component, now=now):
        raise Conflict(
            f"the trial is {trial.phase}: its sandbox is not running", reason=rules.Rule.NOT_RUNNING
        )


def only_component(trial: Trial) -> str:
    """The component to open when none is named: the trial's one exposed component."""
    if trial.phase != Phase.READY:
        raise Conflict(
            f"the trial is {trial.phase}: its sandbox is not running", reason=rules.Rule.NOT_RUNNING
        )
    names = sorted(trial.endpoints)
    if len(names) != 1:
        raise ValidationFailed(
            [
                Problem(
                    "component",
                    "name the component to open" if names else "the trial exposes no component",
                    f"one of {', '.join(names)}" if names else "there is nothing to open",
                )
            ]
        )
    return names[0]


# --- hand-overs -------------------------------------------------------------------------


def hand_over(session: Session, *, actor: Actor, trial: Trial, component: str, now: datetime) -> str:
    """A grant for `actor` to open `component` of `trial` (checked first); returns its secret."""
    member = member_role(session, trial=trial, user=actor.user)
    check_openable(actor.user, trial, component, now=now, member=member)
    secret = _grant(session, trial=trial, component=component, now=now, user_id=pk(actor.user))
    audit(
        session,
        actor=actor,
        action="sandbox.open",
        obj=("trial", trial.id),
        now=now,
        detail={"component": component},
    )
    return secret


def hand_over_shared(
    session: Session, *, link: ShareLink, trial: Trial, component: str, source: str, now: datetime
) -> str:
    """A grant for whoever holds `link` (checked by `share_link_by_secret`); audited as a use
    of the link."""
    if not is_open(trial, component, now=now):
        raise NotFound(f"no running sandbox endpoint {trial.id}/{component}")
    secret = _grant(session, trial=trial, component=component, now=now, share_link_id=link.id)
    # Nobody signed in: the link is the actor, and the audit's source says so.
    audit(
        session,
        actor=None,
        action="share_link.use",
        obj=("trial", trial.id),
        now=now,
        detail={"share_link": link.id, "component": component},
        source=f"share link {link.id} from {source}"[:100],
    )
    return secret


def _grant(
    session: Session,
    *,
    trial: Trial,
    component: str,
    now: datetime,
    user_id: int | None = None,
    share_link_id: int | None = None,
) -> str:
    session.connection().execute(delete(SandboxGrant).where(col(SandboxGrant.expires_at) <= now))
    secret = secrets.token_urlsafe(32)
    session.add(
        SandboxGrant(
            token_hash=hash_token(secret),
            trial_id=trial.id,
            component=component,
            user_id=user_id,
            share_link_id=share_link_id,
            created_at=now,
            expires_at=now + GRANT_TTL,
        )
    )
    session.flush()
    return secret


def consume_grant(
    session: Session, *, secret: str, trial_id: str, component: str, now: datetime, longest: timedelta
) -> tuple[str, SandboxSession] | None:
    """Swap a grant for a sandbox session, once: returns the session cookie's value (shown this
    once) and the row, or None when the grant is unknown, used, expired, for another sandbox,
    or its person or link may no longer open it. The session lasts `longest` at most, and
    never past the trial's (or the link's) expiry."""
    used = session.connection().execute(
        update(SandboxGrant)
        .where(
            col(SandboxGrant.token_hash) == hash_token(secret),
            col(SandboxGrant.used_at).is_(None),
            col(SandboxGrant.expires_at) > now,
            col(SandboxGrant.trial_id) == trial_id,
            col(SandboxGrant.component) == component,
        )
        .values(used_at=now)
    )
    if used.rowcount != 1:
        return None
    grant = session.exec(select(SandboxGrant).where(SandboxGrant.token_hash == hash_token(secret))).one()
    visit = Visit(
        trial_id=trial_id, component=component, user_id=grant.user_id, share_link_id=grant.share_link_id
    )
    ends = _still_allowed(session, visit, now=now)
    if ends is None:
        return None
    session.connection().execute(delete(SandboxSession).where(col(SandboxSession.expires_at) <= now))
    token = secrets.token_urlsafe(32)
    row = SandboxSession(
        token_hash=hash_token(token),
        trial_id=trial_id,
        component=component,
        user_id=grant.user_id,
        share_link_id=grant.share_link_id,
        created_at=now,
        expires_at=min(ends, now + longest),
    )
    session.add(row)
    session.flush()
    return token, row


# --- each request on a sandbox origin -------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    """Who a request on a sandbox origin is for: a person, or a share link's holder."""

    trial_id: str
    component: str
    user_id: int | None = None
    share_link_id: int | None = None


def _still_allowed(session: Session, visit: Visit, *, now: datetime) -> datetime | None:
    """When the visit's right to the sandbox ends (the trial's or the link's expiry), or None
    when it has no right now."""
    trial = session.get(Trial, visit.trial_id)
    if trial is None or not is_reachable(trial, visit.component, now=now):
        return None
    ends = trial.expires_at or now
    if visit.user_id is not None:
        user = session.get(User, visit.user_id)
        if user is None:
            return None
        return (
            ends
            if may_open_sandbox(user, trial, member=member_role(session, trial=trial, user=user))
            else None
        )
    link = session.get(ShareLink, visit.share_link_id) if visit.share_link_id else None
    if link is None or link.trial_id != trial.id or not _link_alive(link, now=now):
        return None
    return min(ends, link.expires_at)


@dataclass(frozen=True)
class Admitted:
    """A request on a sandbox origin that may go on: the trial, who it is for, and the
    component's address (None while the sandbox sleeps or wakes: the visit wakes it)."""

    trial: Trial
    visit: Visit
    upstream: str | None


def upstream_for_cookie(
    session: Session, *, tokens: Iterable[str], trial_id: str, component: str, now: datetime
) -> Admitted | None:
    """Where a request carrying these sandbox cookie values goes (a browser may hold several),
    or None when none of them is a live session allowed in now."""
    for token in tokens:
        row = session.exec(
            select(SandboxSession).where(SandboxSession.token_hash == hash_token(token))
        ).first()
        if row is None or row.expires_at <= now or row.trial_id != trial_id or row.component != component:
            continue
        visit = Visit(
            trial_id=trial_id, component=component, user_id=row.user_id, share_link_id=row.share_link_id
        )
        if _still_allowed(session, visit, now=now) is not None:
            return _admitted(session, visit, now=now)
    return None


def upstream_for_token(
    session: Session, *, token: str, trial_id: str, component: str, now: datetime
) -> Admitted | None:
    """Where a request with a script's API token (`X-Den-Token`) goes, or None when its
    person may not open it now. An unknown, expired or revoked token raises Unauthenticated
    (as the API does); so does a disabled person's."""
    user = authenticate(session, token=token, now=now)
    if user is None:
        raise Unauthenticated("the X-Den-Token is unknown, expired or revoked")
    visit = Visit(trial_id=trial_id, component=component, user_id=user.id)
    if _still_allowed(session, visit, now=now) is None:
        return None
    return _admitted(session, visit, now=now)


def _admitted(session: Session, visit: Visit, *, now: datetime) -> Admitted:
    trial = session.get(Trial, visit.trial_id)
    assert trial is not None  # `_still_allowed` found it
    upstream = (
        trial.endpoints[visit.component].rstrip("/") if is_open(trial, visit.component, now=now) else None
    )
    return Admitted(trial=trial, visit=visit, upstream=upstream)


def has_sandbox_session(session: Session, *, user: User, trial: Trial, component: str, now: datetime) -> bool:
    """Whether the person already passed the hand-over page for this sandbox and their session
    is still live (then a later visit goes straight in)."""
    found = session.exec(
        select(SandboxSession.id).where(
            SandboxSession.trial_id == trial.id,
            SandboxSession.component == component,
            SandboxSession.user_id == pk(user),
            col(SandboxSession.expires_at) > now,
        )
    ).first()
    return found is not None


# --- share links ------------------------------------------------------------------------


def _link_alive(link: ShareLink, *, now: datetime) -> bool:
    return link.revoked_at is None and link.expires_at > now


def create_share_link(
    session: Session, *, actor: Actor, trial: Trial, expires_in_seconds: int, note: str, now: datetime
) -> tuple[str, ShareLink]:
    """A new share link (owner or platform engineer); returns its secret, shown this once."""
    check_may_share(actor.user, trial)
    if not SHARE_LINK_SHORTEST <= expires_in_seconds <= SHARE_LINK_LONGEST:
        raise ValidationFailed(
            [
                Problem(
                    "expires_in_seconds",
                    f"a share link lasts from {SHARE_LINK_SHORTEST} to {SHARE_LINK_LONGEST} seconds",
                    "give a number of seconds in that range",
                )
            ]
        )
    if trial.phase not in LIVE_PHASES or trial.end_requested_at is not None:
        raise Conflict(
            f"the trial is {trial.phase}: it has no sandbox to share", reason=rules.Rule.NOT_RUNNING
        )
    secret = "dsl_" + secrets.token_urlsafe(32)
    link = ShareLink(
        trial_id=trial.id,
        token_hash=hash_token(secret),
        note=note,
        created_by=pk(actor.user),
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in_seconds),
    )
    session.add(link)
    session.flush()
    audit(
        session,
        actor=actor,
        action="share_link.create",
        obj=("trial", trial.id),
        now=now,
        detail={"share_link": link.id, "expires_at": link.expires_at.isoformat(), "note": note},
    )
    return secret, link


def list_share_links(session: Session, *, actor: Actor, trial: Trial) -> Sequence[ShareLink]:
    check_may_share(actor.user, trial)
    return session.exec(
        select(ShareLink).where(ShareLink.trial_id == trial.id).order_by(col(ShareLink.id))
    ).all()


def revoke_share_link(
    session: Session, *, actor: Actor, trial: Trial, link_id: int, now: datetime
) -> ShareLink:
    """Revoke at once: every sandbox session it opened stops at its next request. Revoking
    again is harmless (and not audited twice)."""
    check_may_share(actor.user, trial)
    link = session.get(ShareLink, link_id)
    if link is None or link.trial_id != trial.id:
        raise NotFound(f"trial {trial.id} has no share link {link_id}")
    if link.revoked_at is None:
        link.revoked_at = now
        session.add(link)
        audit(
            session,
            actor=actor,
            action="share_link.revoke",
            obj=("trial", trial.id),
            now=now,
            detail={"share_link": link.id},
        )
    return link


def share_link_by_secret(session: Session, *, secret: str, now: datetime) -> tuple[ShareLink, Trial]:
    """The live link of this secret and its trial; NotFound when unknown, revoked, expired, or
    its trial has ended (a dead link reveals nothing, not even that it existed)."""
    link = session.exec(select(ShareLink).where(ShareLink.token_hash == hash_token(secret))).first()
    trial = session.get(Trial, link.trial_id) if link is not None else None
    if link is None or trial is None or not _link_alive(link, now=now) or trial.phase not in LIVE_PHASES:
        raise NotFound("this link is not valid: it may have expired or been revoked")
    return link, trial
