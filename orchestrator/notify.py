"""Notifications, the pure parts: the events, when an expiry warning is due, the webhook
signature, the delivery back-off, the SMTP URL and the words of an email.

An event is written to the outbox (`Notification` rows, `orchestrator.crud.notifications`) in
the same transaction as the change that causes it, one row per recipient and channel; the
delivery worker (`orchestrator.delivery`) sends them later, outside any request or reconciler
transaction. Nothing here does I/O or reads the clock.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit


class Event(StrEnum):
    """Stable tokens: webhook receivers and people's preferences name them."""

    TRIAL_READY = "trial.ready"
    TRIAL_FAILED = "trial.failed"
    TRIAL_EXPIRING = "trial.expiring"
    TRIAL_EXPIRED = "trial.expired"
    APPROVAL_WAITING = "approval.waiting"
    DECISION_MADE = "decision.made"
    MEMBERSHIP_CHANGED = "membership.changed"
    CHALLENGE_PUBLISHED = "challenge.published"
    CHALLENGE_RESPONDED = "challenge.responded"
    CHALLENGE_ASKED = "challenge.asked"
    CHALLENGE_ANSWERED = "challenge.answered"


EVENTS = tuple(str(e) for e in Event)
#: What each event means, for the preferences page and the docs.
DESCRIPTIONS: Mapping[str, str] = {
    Event.TRIAL_READY: "Your sandbox is ready to use",
    Event.TRIAL_FAILED: "Your sandbox failed to start or stopped working",
    Event.TRIAL_EXPIRING: "Your trial will end soon",
    Event.TRIAL_EXPIRED: "Your trial's time ran out and its sandbox was removed",
    Event.APPROVAL_WAITING: "A request or an extension waits for your approval",
    Event.DECISION_MADE: "An approver decided on your request or extension",
    Event.MEMBERSHIP_CHANGED: "You were added to or removed from a trial",
    Event.CHALLENGE_PUBLISHED: "A new challenge was published for suppliers to respond to",
    Event.CHALLENGE_RESPONDED: "A supplier responded to your challenge",
    Event.CHALLENGE_ASKED: "A supplier asked a question about your challenge",
    Event.CHALLENGE_ANSWERED: "A question was answered on a challenge your supplier follows",
}


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class State(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last attempt


STATES = tuple(str(s) for s in State)
BACKOFF_BASE = 1.0  # seconds before the first retry
BACKOFF_CAP = 300.0  # the longest wait between two attempts


def parse_offsets(value: str) -> tuple[int, ...]:
    """`DEN_EXPIRY_WARNINGS`: seconds before `expires_at`, comma-separated, largest first.
    Raises ValueError naming the bad part."""
    offsets: set[int] = set()
    for part in filter(None, (p.strip() for p in value.split(","))):
        if not part.isdigit() or int(part) < 1:
            raise ValueError(f"{part!r} is not a whole number of seconds above 0")
        offsets.add(int(part))
    return tuple(sorted(offsets, reverse=True))


def due_warning(*, expires_at: datetime, offsets: Iterable[int], now: datetime) -> int | None:
    """The warning to send at `now`, by its offset: the smallest offset whose instant
    (`expires_at - offset`) has passed, while the trial has not expired. Earlier instants that
    passed unsent (a trial shorter than the offset, a reconciler that was down) are covered by
    it: one warning, never a burst."""
    if now >= expires_at:
        return None
    passed = [o for o in offsets if expires_at - timedelta(seconds=o) <= now]
    return min(passed) if passed else None


def next_warning_at(*, expires_at: datetime, offsets: Iterable[int], now: datetime) -> datetime | None:
    """The next warning instant after `now`, if any is still to come."""
    later = [expires_at - timedelta(seconds=o) for o in offsets]
    later = [t for t in later if t > now]
    return min(later) if later else None


def warning_key(*, offset: int, expires_at: datetime) -> str:
    """What tells one warning from another of the same trial: an extension moves `expires_at`,
    and its warnings are new ones."""
    return f"{offset}@{expires_at.isoformat()}"


def signature(secret: str, body: bytes) -> str:
    """The `X-Den-Signature` header's value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: compare in constant time."""
    return hmac.compare_digest(signature(secret, body), header)


def backoff(attempts: int, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Seconds before the next attempt after `attempts` failed ones: 1, 2, 4 ... at most `cap`."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


def wants(events: Iterable[str], event: str) -> bool:
    """A webhook's `events` filter: none listed means every event."""
    chosen = list(events)
    return not chosen or event in chosen


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    tls: bool  # smtps://: TLS from the first byte; otherwise STARTTLS when the server offers it
    username: str
    password: str


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://user:pass@host:587` or `smtps://...` (user and password percent-decoded).
    Raises ValueError saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"must start with smtp:// or smtps://, not {parts.scheme or 'nothing'}")
    if not parts.hostname:
        raise ValueError("names no host (smtp://host:587)")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"has a bad port: {exc}") from None
    tls = parts.scheme == "smtps"
    return SmtpTarget(
        host=parts.hostname,
        port=port or (465 if tls else 587),
        tls=tls,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def trial_link(public_url: str, trial_id: str | None) -> str:
    if not public_url or not trial_id:
        return ""
    return f"{public_url.rstrip('/')}/trials/{trial_id}"


def challenge_link(public_url: str, challenge_id: str | None) -> str:
    if not public_url or not challenge_id:
        return ""
    return f"{public_url.rstrip('/')}/challenges/{challenge_id}"


def email_text(*, event: str, payload: Mapping[str, Any], public_url: str) -> tuple[str, str]:
    """Subject and plain-text body of an email about `event` (a trial's, or a challenge's)."""
    trial = payload.get("trial") or {}
    challenge = payload.get("challenge") or {}
    title = trial.get("title") or trial.get("id") or "your trial"
    subject = f"Innovation Den: {payload.get('summary') or DESCRIPTIONS.get(event, event)}"
    lines = [str(payload.get("message") or DESCRIPTIONS.get(event, event)), ""]
    if trial:
        lines.append(f"Trial: {title} ({trial.get('id')})")
    if trial.get("expires_at"):
        lines.append(f"Ends at: {trial['expires_at']}")
    link = trial_link(public_url, trial.get("id"))
    if link:
        lines += ["", f"See the trial: {link}"]
    if challenge:
        lines.append(f"Challenge: {challenge.get('title') or challenge.get('id')}")
    if link := challenge_link(public_url, challenge.get("id")):
        lines += ["", f"See the challenge: {link}"]
    if public_url:
        lines += [
            "",
            f"Choose what you are told by email: {public_url.rstrip('/')}/account/notifications",
        ]
    return subject[:200], "\n".join(lines) + "\n"
