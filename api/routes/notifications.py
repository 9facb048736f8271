"""Notifications: the deliveries platform engineers watch (the outbox, newest first), and
each person's choice of what they receive by email (the JSON twin of
`/account/notifications`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api import errors, lists
from api.deps import ActorDep, Now, SessionDep, StrictQuery
from orchestrator.access import Role, require_role
from orchestrator.crud import notifications, paging
from orchestrator.crud.listing import ID_KEY
from orchestrator.models import NotificationList, NotificationPreferences, NotificationPublic
from orchestrator.notify import State

router = APIRouter(
    prefix="/api/v1", tags=["notifications"], responses=errors.RESPONSES, dependencies=[StrictQuery]
)
PAGE = 100  # without `limit`


@router.get("/notifications")
def list_notifications(
    session: SessionDep,
    actor: ActorDep,
    state: Annotated[
        Literal["pending", "delivered", "failed"] | None,
        Query(description="Only deliveries in this state."),
    ] = None,
    limit: lists.Limit = None,
    continue_: lists.Continue = None,
) -> NotificationList:
    """Every delivery by email and webhook, newest first, with its attempts and last error
    (`limit`, default 100; `continue`; `state`). Platform engineers only."""
    require_role(actor.user, Role.PLATFORM_ENGINEER, to="see notification deliveries")
    asked = paging.ask(
        "notifications", limit=limit or PAGE, token=continue_, selectors={"state": state}, key=ID_KEY
    )
    found = notifications.notifications_page(session, asked=asked, state=state)
    names = notifications.recipient_names(session, found.rows)
    return NotificationList(
        items=[
            NotificationPublic(
                id=row.id or 0,
                event=row.event,
                trial_id=row.trial_id,
                recipient=names.get(row.recipient_id) if row.recipient_id is not None else None,
                channel=row.channel,
                target=row.target,
                state=row.state,
                created_at=row.created_at,
                next_attempt_at=row.next_attempt_at if row.state == State.PENDING else None,
                attempts=row.attempts,
                delivered_at=row.delivered_at,
                last_error=row.last_error,
            )
            for row in found.rows
        ],
        metadata=lists.meta(found),
    )


@router.get("/users/me/notifications")
def my_preferences(actor: ActorDep) -> NotificationPreferences:
    """Which events you receive by email (all that concern you, unless you chose otherwise)."""
    return NotificationPreferences(
        email=actor.user.email, email_events=notifications.email_events(actor.user)
    )


@router.put("/users/me/notifications")
def set_my_preferences(
    body: NotificationPreferences, session: SessionDep, actor: ActorDep, now: Now
) -> NotificationPreferences:
    """Receive exactly `email_events` by email (`email` is read only: a platform engineer or
    single sign-on sets it). Audited."""
    user = notifications.set_email_events(session, actor=actor, events=body.email_events, now=now)
    session.commit()
    return NotificationPreferences(email=user.email, email_events=notifications.email_events(user))
