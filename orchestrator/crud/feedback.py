"""What people tell us through the feedback form, and platform engineers reading it.

Anyone may send feedback, signed in or not. So that nobody can fill the table, each sender
(the person, or before signing in the address the form came from) may send at most
`FEEDBACK_PER_HOUR` in an hour: every message is audited with its source, and the audit log is
what is counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from orchestrator.access import Role, require_role
from orchestrator.crud.common import Actor, audit, pk
from orchestrator.errors import Problem, ValidationFailed
from orchestrator.models import AuditEvent, Feedback, User

FEEDBACK_PER_HOUR = 10
SATISFACTION = {
    "very-satisfied": "Very satisfied",
    "satisfied": "Satisfied",
    "neither": "Neither satisfied nor dissatisfied",
    "dissatisfied": "Dissatisfied",
    "very-dissatisfied": "Very dissatisfied",
}
ACTION = "feedback.sent"


def send_feedback(
    session: Session,
    *,
    user: User | None,
    source: str,
    page: str,
    satisfaction: str,
    message: str,
    reply_to: str,
    now: datetime,
) -> Feedback:
    """Store one message (already checked by the form) unless its sender has sent too many
    in the last hour."""
    recent = select(func.count()).where(
        AuditEvent.action == ACTION,
        col(AuditEvent.at) > now - timedelta(hours=1),
        # Signed out, the audit's actor is the system: the sender is told apart by address.
        AuditEvent.actor == user.name if user is not None else AuditEvent.source == source,
    )
    if user is None:
        recent = recent.where(AuditEvent.actor == "system")
    if session.exec(recent).one() >= FEEDBACK_PER_HOUR:
        raise ValidationFailed(
            [
                Problem(
                    "message",
                    f"You have sent {FEEDBACK_PER_HOUR} messages in the last hour. Try again in an hour",
                )
            ]
        )
    row = Feedback(
        created_at=now,
        user_id=pk(user) if user is not None else None,
        page=page[:300],
        satisfaction=satisfaction,
        message=message,
        reply_to=reply_to,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor=Actor(user=user, source=source) if user is not None else None,
        action=ACTION,
        obj=("feedback", str(row.id)),
        now=now,
        source=source,
    )
    return row


def list_feedback(session: Session, *, user: User, limit: int = 200) -> Sequence[tuple[Feedback, str]]:
    """The newest feedback first, each with its sender's name ("" when not signed in):
    platform engineers only."""
    require_role(user, Role.PLATFORM_ENGINEER, to="read feedback")
    query = (
        select(Feedback, User.name)
        .join(User, col(Feedback.user_id) == col(User.id), isouter=True)
        .order_by(col(Feedback.created_at).desc(), col(Feedback.id).desc())
        .limit(limit)
    )
    return [(row, name or "") for row, name in session.exec(query).all()]
