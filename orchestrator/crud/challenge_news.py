"""Who hears of a challenge by email and webhook (orchestrator.notify's events): every
supplier of a new challenge, its owner of each response and question, and every supplier that
follows it (responded, asked or registered) of each answer, so that answers reach all alike.

Written in the transaction of the change, as every notification is (crud/notifications.py).
An email never says which supplier asked a question or responded: only how to see it.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from orchestrator.access import Role
from orchestrator.crud.notifications import enqueue
from orchestrator.models import (
    Challenge,
    ChallengeQuestion,
    ChallengeResponse,
    EngagementSession,
    SessionRegistration,
    User,
)
from orchestrator.notify import Event
from orchestrator.settings import Settings


def _about(challenge: Challenge) -> dict[str, object]:
    return {
        "challenge": {
            "id": challenge.id,
            "title": challenge.title,
            "closes_at": challenge.closes_at.isoformat(),
            "questions_close_at": challenge.questions_close_at.isoformat(),
        }
    }


def _suppliers_people(session: Session, supplier_ids: set[int] | None = None) -> list[User]:
    query = select(User).where(
        User.role == Role.SUPPLIER, col(User.supplier_id).is_not(None), col(User.disabled_at).is_(None)
    )
    if supplier_ids is not None:
        if not supplier_ids:
            return []
        query = query.where(col(User.supplier_id).in_(supplier_ids))
    return list(session.exec(query.order_by(col(User.id))).all())


def _owner(session: Session, challenge: Challenge) -> list[User]:
    owner = session.get(User, challenge.owner_id)
    return [owner] if owner is not None else []


def notify_published(session: Session, *, challenge: Challenge, settings: Settings, now: datetime) -> None:
    enqueue(
        session,
        event=Event.CHALLENGE_PUBLISHED,
        settings=settings,
        now=now,
        trial=None,
        recipients=_suppliers_people(session),
        occurrence=challenge.id,
        summary=f"a new challenge: “{challenge.title}”",
        message=(
            f"A new challenge was published: “{challenge.title}”. Respond, with the templates you "
            f"would offer, before {challenge.closes_at:%-d %B %Y}."
        ),
        extra=_about(challenge),
    )


def notify_responded(
    session: Session, *, challenge: Challenge, replaced: bool, settings: Settings, now: datetime
) -> None:
    did = "changed its response" if replaced else "responded"
    enqueue(
        session,
        event=Event.CHALLENGE_RESPONDED,
        settings=settings,
        now=now,
        trial=None,
        recipients=_owner(session, challenge),
        occurrence=now.isoformat(),
        summary=f"a supplier {did} to “{challenge.title}”",
        message=f"A supplier {did} to your challenge “{challenge.title}”.",
        extra=_about(challenge),
    )


def notify_asked(
    session: Session, *, challenge: Challenge, question_id: int, settings: Settings, now: datetime
) -> None:
    enqueue(
        session,
        event=Event.CHALLENGE_ASKED,
        settings=settings,
        now=now,
        trial=None,
        recipients=_owner(session, challenge),
        occurrence=str(question_id),
        summary=f"a question about “{challenge.title}”",
        message=(
            f"A supplier asked a question about your challenge “{challenge.title}”. Your answer is "
            "published to every supplier."
        ),
        extra={**_about(challenge), "question": question_id},
    )


def notify_answered(
    session: Session, *, challenge: Challenge, question_id: int, settings: Settings, now: datetime
) -> None:
    """Every supplier that follows the challenge: the same email for all, whoever asked."""
    following = {
        *session.exec(
            select(ChallengeResponse.supplier_id).where(ChallengeResponse.challenge_id == challenge.id)
        ),
        *session.exec(
            select(ChallengeQuestion.supplier_id).where(ChallengeQuestion.challenge_id == challenge.id)
        ),
        *session.exec(
            select(SessionRegistration.supplier_id)
            .join(EngagementSession, col(EngagementSession.id) == SessionRegistration.session_id)
            .where(EngagementSession.challenge_id == challenge.id)
        ),
    }
    enqueue(
        session,
        event=Event.CHALLENGE_ANSWERED,
        settings=settings,
        now=now,
        trial=None,
        recipients=_suppliers_people(session, following),
        occurrence=f"{question_id}@{now.isoformat()}",
        summary=f"a question answered on “{challenge.title}”",
        message=(
            f"A question about the challenge “{challenge.title}” was answered, for every supplier to read."
        ),
        extra={**_about(challenge), "question": question_id},
    )
