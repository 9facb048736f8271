"""Engagement sessions: the owner schedules them (online or in person, with a number of
places), suppliers' people register, and materials shared at a session are published to every
supplier, whether they came or not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlmodel import Session, col, select

from orchestrator import access, engagement
from orchestrator.crud.common import Actor, audit, pk
from orchestrator.crud.locks import lock_challenge
from orchestrator.engagement import SessionInput
from orchestrator.errors import AlreadyExists, NotFound, Problem, ValidationFailed
from orchestrator.models import Challenge, EngagementSession, SessionRegistration, Supplier, User


@dataclass(frozen=True)
class SessionView:
    held: EngagementSession
    registered: int
    #: Whether the reader registered for it.
    attending: bool
    #: The suppliers registered, for the owner and the den's operators (empty for others).
    suppliers: tuple[str, ...] = ()


def add_session(
    session: Session, *, actor: Actor, challenge: Challenge, fields: SessionInput, now: datetime
) -> EngagementSession:
    access.check_may_manage_challenge(actor.user, challenge)
    if problems := engagement.session_problems(fields, now=now):
        raise ValidationFailed(problems)
    challenge = lock_challenge(session, challenge)
    engagement.check_may_schedule(challenge, now)
    held = EngagementSession(
        challenge_id=challenge.id,
        title=fields.title.strip(),
        starts_at=fields.starts_at,
        ends_at=fields.ends_at,
        mode=fields.mode,
        place=fields.place.strip(),
        capacity=fields.capacity,
        created_at=now,
    )
    session.add(held)
    session.flush()
    audit(
        session,
        actor=actor,
        action="challenge.session.add",
        obj=("challenge", challenge.id),
        now=now,
        detail={"session": held.id},
    )
    return held


def list_sessions(session: Session, *, user: User, challenge: Challenge) -> list[SessionView]:
    """In the order they are held."""
    rows = session.exec(
        select(EngagementSession)
        .where(EngagementSession.challenge_id == challenge.id)
        .order_by(col(EngagementSession.starts_at), col(EngagementSession.id))
    ).all()
    ids = [r.id for r in rows if r.id is not None]
    counts = _counts(session, ids)
    mine = set()
    if ids and user.id is not None:
        mine = set(
            session.exec(
                select(SessionRegistration.session_id).where(
                    col(SessionRegistration.session_id).in_(ids), SessionRegistration.user_id == user.id
                )
            ).all()
        )
    names: dict[int, list[str]] = {}
    if ids and access.sees_all_responses(user, challenge):
        for session_id, supplier in session.exec(
            select(SessionRegistration.session_id, Supplier.name)
            .join(Supplier, col(Supplier.id) == SessionRegistration.supplier_id)
            .where(col(SessionRegistration.session_id).in_(ids))
            .order_by(col(SessionRegistration.id))
        ).all():
            if supplier not in names.setdefault(session_id, []):
                names[session_id].append(supplier)
    return [
        SessionView(
            held=r,
            registered=counts.get(pk_of(r), 0),
            attending=pk_of(r) in mine,
            suppliers=tuple(names.get(pk_of(r), ())),
        )
        for r in rows
    ]


def register(
    session: Session, *, actor: Actor, challenge: Challenge, session_id: int, now: datetime
) -> SessionView:
    """Take one of the session's places for the caller (a supplier's person)."""
    supplier_id = access.check_acts_for_supplier(actor.user, to="register for engagement sessions")
    challenge = lock_challenge(session, challenge)  # two registrations for the last place: one wins
    held = _session_of(session, challenge, session_id)
    taken = _counts(session, [session_id]).get(session_id, 0)
    already = session.exec(
        select(SessionRegistration.id).where(
            SessionRegistration.session_id == session_id, SessionRegistration.user_id == actor.user.id
        )
    ).first()
    if already is not None:
        raise AlreadyExists(f"you are already registered for session {session_id}")
    engagement.check_may_register(challenge, held, taken=taken, now=now)
    session.add(
        SessionRegistration(
            session_id=session_id, user_id=pk(actor.user), supplier_id=supplier_id, registered_at=now
        )
    )
    audit(
        session,
        actor=actor,
        action="challenge.session.register",
        obj=("challenge", challenge.id),
        now=now,
        detail={"session": session_id},
    )
    return SessionView(held=held, registered=taken + 1, attending=True)


def share_material(
    session: Session,
    *,
    actor: Actor,
    challenge: Challenge,
    session_id: int,
    title: str,
    url: str,
    now: datetime,
) -> EngagementSession:
    """Publish a document shown at the session (its slides, notes, a recording) to every
    supplier: a title and an `https` (or `http`) address."""
    access.check_may_manage_challenge(actor.user, challenge)
    problems = []
    if not title.strip():
        problems.append(Problem("title", "is empty", "name the document, e.g. 'Slides'"))
    if not _web_address(url.strip()):
        problems.append(Problem("url", "is not a web address", "give an address starting https://"))
    problems += engagement.too_long("title", title, longest=engagement.LONGEST["material_title"])
    problems += engagement.too_long("url", url)
    if problems:
        raise ValidationFailed(problems)
    challenge = lock_challenge(session, challenge)
    engagement.check_may_share_materials(challenge, now)
    held = _session_of(session, challenge, session_id)
    held.materials = [
        *held.materials,
        {"title": title.strip(), "url": url.strip(), "shared_at": now.isoformat()},
    ]
    session.add(held)
    audit(
        session,
        actor=actor,
        action="challenge.session.material",
        obj=("challenge", challenge.id),
        now=now,
        detail={"session": session_id, "title": title.strip()},
    )
    return held


def _web_address(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        return False
    return parts.scheme in ("https", "http") and bool(parts.hostname)


def pk_of(held: EngagementSession) -> int:
    assert held.id is not None
    return held.id


def _session_of(session: Session, challenge: Challenge, session_id: int) -> EngagementSession:
    held = session.get(EngagementSession, session_id)
    if held is None or held.challenge_id != challenge.id:
        raise NotFound(f"challenge {challenge.id} has no session {session_id}")
    return held


def _counts(session: Session, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    query = (
        select(SessionRegistration.session_id, func.count())
        .where(col(SessionRegistration.session_id).in_(ids))
        .group_by(col(SessionRegistration.session_id))
    )
    return {session_id: int(count) for session_id, count in session.exec(query).all()}
