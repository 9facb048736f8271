"""The notification outbox: writing events in the transaction of the change that causes them,
claiming due deliveries, recording their outcome, and each person's email preferences.

Writing is idempotent: every row carries a `dedup_key` (event, trial, what tells this
occurrence apart, channel and recipient or URL) under a unique constraint, and is inserted
with "on conflict do nothing", so a reconcile pass repeated after a crash writes nothing new
and never rolls back the change it belongs to. Claiming is one conditional UPDATE per row
(`next_attempt_at <= now` moved to a lease in the future): of two workers, one wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from orchestrator.access import Role
from orchestrator.crud.common import Actor, audit
from orchestrator.crud.paging import Page, PageAsk, page
from orchestrator.errors import Problem, ValidationFailed
from orchestrator.lifecycle import Phase
from orchestrator.models import Notification, Trial, TrialMember, User
from orchestrator.notify import (
    EVENTS,
    Channel,
    Event,
    State,
    backoff,
    due_warning,
    next_warning_at,
    wants,
    warning_key,
)
from orchestrator.settings import Settings

WARNED_PHASES = (Phase.READY, Phase.SLEEPING)


def enqueue(
    session: Session,
    *,
    event: Event,
    settings: Settings,
    now: datetime,
    trial: Trial | None,
    recipients: Sequence[User],
    occurrence: str = "",
    summary: str,
    message: str,
    extra: dict[str, Any] | None = None,
) -> int:
    """Write `event` for each recipient who wants it by email and each webhook that wants it,
    in the caller's transaction; how many rows were new."""
    payload = {
        "event": str(event),
        "summary": summary,
        "message": message,
        "at": now.isoformat(),
        "trial": _trial_of(session, trial),
        **(extra or {}),
    }
    base = f"{event}|{trial.id if trial else ''}|{occurrence}"
    rows = [
        _row(base, event, trial, payload, now, Channel.EMAIL, person.email, person.id)
        for person in recipients
        if person.email and person.disabled_at is None and str(event) not in person.email_opt_out
    ]
    rows += [
        _row(base, event, trial, payload, now, Channel.WEBHOOK, hook.url, None)
        for hook in settings.webhooks
        if wants(hook.events, str(event))
    ]
    return _insert_new(session, rows)


def _row(
    base: str,
    event: Event,
    trial: Trial | None,
    payload: dict[str, Any],
    now: datetime,
    channel: Channel,
    target: str,
    recipient_id: int | None,
) -> dict[str, Any]:
    who = f"user:{recipient_id}" if recipient_id is not None else target
    return {
        "dedup_key": f"{base}|{channel}|{who}"[:400],
        "event": str(event),
        "trial_id": trial.id if trial else None,
        "recipient_id": recipient_id,
        "channel": str(channel),
        "target": target,
        "payload": payload,
        "state": str(State.PENDING),
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
        "last_error": "",
    }


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    table = Notification.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(rows).on_conflict_do_nothing(index_elements=["dedup_key"])
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def _trial_of(session: Session, trial: Trial | None) -> dict[str, Any] | None:
    if trial is None:
        return None
    owner = session.get(User, trial.owner_id)
    return {
        "id": trial.id,
        "title": trial.title,
        "template": f"{trial.template_name}@{trial.template_version}",
        "owner": owner.name if owner else "",
        "phase": trial.phase,
        "expires_at": trial.expires_at.isoformat() if trial.expires_at else None,
    }


def _people(session: Session, trial: Trial) -> list[User]:
    """Whom a trial's events concern: its owner, then its members (team trials) as they were
    added."""
    owner = session.get(User, trial.owner_id)
    members = session.exec(
        select(User)
        .join(TrialMember, col(TrialMember.user_id) == User.id)
        .where(TrialMember.trial_id == trial.id)
        .order_by(col(TrialMember.added_at), col(TrialMember.user_id))
    ).all()
    return [*([owner] if owner is not None else []), *members]


# --- the events ------------------------------------------------------------------------


def notify_transition(
    session: Session, *, trial: Trial, to: Phase, reason: str, message: str, settings: Settings, now: datetime
) -> None:
    """Before a transition is committed (its transaction): ready (the first time, not after a
    sleep), failed, and expired (torn down because its time was up). A warm pool's sandbox
    nobody has taken tells nobody."""
    if trial.pooled:
        return
    if to is Phase.READY and trial.ready_at is None:
        event, summary = Event.TRIAL_READY, f"your sandbox for “{trial.title}” is ready"
    elif to is Phase.FAILED:
        event, summary = Event.TRIAL_FAILED, f"your sandbox for “{trial.title}” failed"
    elif to is Phase.STOPPED and reason == "Expired":
        event, summary = Event.TRIAL_EXPIRED, f"your trial “{trial.title}” has ended"
    else:
        return
    enqueue(
        session,
        event=event,
        settings=settings,
        now=now,
        trial=trial,
        recipients=_people(session, trial),
        summary=summary,
        message=message,
        extra={"reason": reason},
    )


def approvers(session: Session, *, besides: str = "") -> list[User]:
    """Who decides: every approver still enabled, except the person who asked."""
    rows = session.exec(
        select(User).where(col(User.role) == Role.APPROVER, col(User.disabled_at).is_(None))
    ).all()
    return [u for u in rows if u.name != besides]


def notify_approval_waiting(
    session: Session, *, trial: Trial, subject: str, requested_by: str, settings: Settings, now: datetime
) -> None:
    """A request (`subject` "trial") or an extension ("extension") waits for an approver."""
    occurrence = "trial" if subject == "trial" else f"extension@{now.isoformat()}"
    what = "a trial request" if subject == "trial" else "an extension"
    enqueue(
        session,
        event=Event.APPROVAL_WAITING,
        settings=settings,
        now=now,
        trial=trial,
        recipients=approvers(session, besides=requested_by),
        occurrence=occurrence,
        summary=f"{what} from {requested_by} waits for approval",
        message=f"{requested_by} asked for {what} beyond self-service on “{trial.title}”: "
        "it waits for an approver's decision.",
        extra={"subject": subject, "requested_by": requested_by},
    )


def notify_decision(
    session: Session,
    *,
    trial: Trial,
    subject: str,
    decision: str,
    requested_by: str,
    decided_by: str,
    note: str,
    settings: Settings,
    now: datetime,
) -> None:
    """An approver approved or rejected a request or an extension: the requester hears."""
    requester = session.exec(select(User).where(User.name == requested_by)).first()
    what = "trial request" if subject == "trial" else "extension"
    enqueue(
        session,
        event=Event.DECISION_MADE,
        settings=settings,
        now=now,
        trial=trial,
        recipients=[requester] if requester else [],
        occurrence=f"{subject}@{now.isoformat()}",
        summary=f"your {what} was {decision}",
        message=f"{decided_by} {decision} the {what} on “{trial.title}”" + (f": {note}" if note else "."),
        extra={"subject": subject, "decision": decision, "decided_by": decided_by, "note": note},
    )


def notify_membership_changed(
    session: Session, *, trial: Trial, member: User, change: str, settings: Settings, now: datetime
) -> None:
    """A person was added to or removed from a trial (`change`: "added" | "removed")."""
    enqueue(
        session,
        event=Event.MEMBERSHIP_CHANGED,
        settings=settings,
        now=now,
        trial=trial,
        recipients=[member],
        occurrence=f"{member.name}:{change}@{now.isoformat()}",
        summary=f"you were {change} {'to' if change == 'added' else 'from'} “{trial.title}”",
        message=f"You were {change} as a member of the trial “{trial.title}”.",
        extra={"member": member.name, "change": change},
    )


# --- expiry warnings (the reconciler) --------------------------------------------------


def enqueue_due_warnings(session: Session, *, settings: Settings, now: datetime) -> int:
    """Write the `trial.expiring` warnings due at `now` (one per trial at most); how many."""
    offsets = settings.warning_offsets
    if not offsets:
        return 0
    horizon = now + timedelta(seconds=max(offsets))
    trials = session.exec(
        select(Trial).where(
            col(Trial.phase).in_(list(WARNED_PHASES)),
            col(Trial.pooled).is_(False),
            col(Trial.expires_at) > now,
            col(Trial.expires_at) <= horizon,
        )
    ).all()
    written = 0
    for trial in trials:
        assert trial.expires_at is not None  # the query says so
        offset = due_warning(expires_at=trial.expires_at, offsets=offsets, now=now)
        if offset is None:
            continue
        left = int((trial.expires_at - now).total_seconds())
        written += enqueue(
            session,
            event=Event.TRIAL_EXPIRING,
            settings=settings,
            now=now,
            trial=trial,
            recipients=_people(session, trial),
            occurrence=warning_key(offset=offset, expires_at=trial.expires_at),
            summary=f"your trial “{trial.title}” ends in {_duration(left)}",
            message=f"Your trial “{trial.title}” ends in {_duration(left)}, at "
            f"{trial.expires_at.isoformat()}: its sandbox is then removed. Extend it from its page "
            "if you need longer.",
            extra={"offset_seconds": offset, "seconds_left": left},
        )
    return written


def _duration(seconds: int) -> str:
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def next_warning(session: Session, *, offsets: Sequence[int], after: datetime) -> datetime | None:
    """The soonest warning instant after `after` of any running trial: one indexed query per
    offset (the soonest `expires_at` whose warning is still to come)."""
    times = []
    for offset in offsets:
        soonest = session.exec(
            select(func.min(Trial.expires_at)).where(
                col(Trial.phase).in_(list(WARNED_PHASES)),
                col(Trial.expires_at) > after + timedelta(seconds=offset),
            )
        ).one()
        if soonest is not None:
            found = next_warning_at(expires_at=soonest, offsets=[offset], now=after)
            if found is not None:
                times.append(found)
    return min(times) if times else None


# --- delivery --------------------------------------------------------------------------


def claim_due(session: Session, *, now: datetime, lease: float, limit: int = 20) -> list[Notification]:
    """Claim up to `limit` due deliveries for `lease` seconds and commit: a row another worker
    claimed first is skipped. A worker that dies while sending leaves its claim to run out,
    and the row is tried again then."""
    due = session.exec(
        select(Notification.id)
        .where(col(Notification.state) == State.PENDING, col(Notification.next_attempt_at) <= now)
        .order_by(col(Notification.next_attempt_at))
        .limit(limit)
    ).all()
    claimed = [row_id for row_id in due if claim(session, row_id=row_id, now=now, lease=lease)]
    session.commit()
    if not claimed:
        return []
    return list(session.exec(select(Notification).where(col(Notification.id).in_(claimed))).all())


def claim(session: Session, *, row_id: int | None, now: datetime, lease: float) -> bool:
    """One conditional UPDATE: True when this caller won the row."""
    result = session.execute(
        update(Notification)
        .where(
            col(Notification.id) == row_id,
            col(Notification.state) == State.PENDING,
            col(Notification.next_attempt_at) <= now,
        )
        .values(next_attempt_at=now + timedelta(seconds=lease))
    )
    return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


def record_outcome(
    session: Session, *, row_id: int | None, now: datetime, error: str | None, max_attempts: int
) -> str:
    """After an attempt: delivered, or the error kept and the next attempt put off (1 s, 2 s,
    4 s ... 5 min), or given up as failed after `max_attempts`. Returns the new state."""
    row = session.get(Notification, row_id)
    if row is None:
        return ""
    row.attempts += 1
    if error is None:
        row.state, row.delivered_at, row.last_error = State.DELIVERED, now, ""
    else:
        row.last_error = error[:2000]
        if row.attempts >= max_attempts:
            row.state = State.FAILED
        else:
            row.next_attempt_at = now + timedelta(seconds=backoff(row.attempts))
    session.add(row)
    session.commit()
    return row.state


def next_due(session: Session) -> datetime | None:
    return session.exec(
        select(func.min(Notification.next_attempt_at)).where(col(Notification.state) == State.PENDING)
    ).one()


def notifications_page(session: Session, *, asked: PageAsk, state: str | None = None) -> Page[Notification]:
    """Deliveries newest first (by id), optionally of one state."""
    query = select(Notification)
    if state:
        query = query.where(col(Notification.state) == state)
    if asked.after is not None:
        query = query.where(col(Notification.id) < asked.after[0])
    query = query.order_by(col(Notification.id).desc()).limit(asked.limit + 1)
    return page(session.exec(query).all(), asked, key=lambda n: (n.id or 0,))


def recipient_names(session: Session, rows: Sequence[Notification]) -> dict[int, str]:
    ids = {r.recipient_id for r in rows if r.recipient_id is not None}
    if not ids:
        return {}
    return {u.id: u.name for u in session.exec(select(User).where(col(User.id).in_(ids))) if u.id is not None}


# --- preferences -----------------------------------------------------------------------


def email_events(user: User) -> list[str]:
    """The events the person receives by email."""
    return [e for e in EVENTS if e not in user.email_opt_out]


def set_email_events(session: Session, *, actor: Actor, events: Sequence[str], now: datetime) -> User:
    """Receive exactly `events` by email (the others not). Audited."""
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise ValidationFailed(
            [
                Problem(
                    "email_events",
                    f"unknown event {', '.join(unknown)}: choose from {', '.join(EVENTS)}",
                )
            ]
        )
    user = session.get(User, actor.user.id) or actor.user  # the caller's own row, in this session
    user.email_opt_out = [e for e in EVENTS if e not in set(events)]
    session.add(user)
    audit(
        session,
        actor=actor,
        action="user.notifications.update",
        obj=("user", user.name),
        now=now,
        detail={"email_events": email_events(user)},
    )
    return user
