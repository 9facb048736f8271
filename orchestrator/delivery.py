"""The delivery worker: sends what the notification outbox holds, by email and webhook.

A thread of its own beside the reconciler (`Reconciler.run` starts it, so both `den serve`
and `den reconcile` deliver), acting only while its reconciler leads. Each turn claims the due
rows (`crud.notifications.claim_due`: a conditional UPDATE, so two workers never send the same
row), sends each one with short timeouts outside any transaction, and records the outcome: a
failure is retried with exponential back-off (1 s doubling to 5 minutes) until
`DEN_NOTIFY_MAX_ATTEMPTS`, then kept as `failed`. The outbox is in the database, so a mail
server or receiver that is down loses nothing, and a restart goes on where it stopped.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid

import httpx
import structlog
from sqlalchemy import Engine
from sqlmodel import Session

from orchestrator import metrics
from orchestrator.crud import notifications as outbox
from orchestrator.models import Notification
from orchestrator.notify import Channel, State, email_text, parse_smtp_url, signature
from orchestrator.settings import Settings

log = structlog.get_logger("delivery")


class DeliveryError(Exception):
    """A delivery that did not go through (kept on the row as `last_error`)."""


def webhook_body(row: Notification) -> bytes:
    """The JSON a receiver gets: the delivery id, the event and its data; signed as sent."""
    document = {
        "id": row.id,
        "event": row.event,
        "created_at": row.created_at.isoformat(),
        "data": row.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def send_webhook(row: Notification, *, settings: Settings) -> None:
    hook = next((h for h in settings.webhooks if h.url == row.target), None)
    if hook is None:
        raise DeliveryError("this webhook is no longer in DEN_WEBHOOKS")
    body = webhook_body(row)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "innovation-den",
        "X-Den-Event": row.event,
        "X-Den-Delivery": str(row.id),
        "X-Den-Signature": signature(hook.secret, body),
    }
    try:
        answer = httpx.post(
            row.target, content=body, headers=headers, timeout=settings.notify_timeout, follow_redirects=False
        )
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    if not 200 <= answer.status_code < 300:
        raise DeliveryError(f"the receiver answered {answer.status_code}")


def send_email(row: Notification, *, settings: Settings) -> None:
    if not settings.smtp_url:
        raise DeliveryError("no mail server is set (DEN_SMTP_URL)")
    server = parse_smtp_url(settings.smtp_url)
    subject, text = email_text(event=row.event, payload=row.payload, public_url=settings.public_url)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.mail_from, row.target, subject
    message["Message-ID"] = make_msgid(idstring=f"den-{row.id}")
    message["X-Den-Event"], message["X-Den-Delivery"] = row.event, str(row.id)
    message.set_content(text)
    try:
        if server.tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                server.host,
                server.port,
                timeout=settings.notify_timeout,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=settings.notify_timeout)
        with client:
            client.ehlo()
            if not server.tls and client.has_extn("starttls"):
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if server.username:
                client.login(server.username, server.password)
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


Sender = Callable[[Notification], None]


def _always() -> bool:
    return True


@dataclass
class DeliveryWorker:
    engine: Engine
    settings: Settings
    leader: Callable[[], bool] = _always
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    senders: dict[str, Sender] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.senders = {
            Channel.EMAIL: lambda row: send_email(row, settings=self.settings),
            Channel.WEBHOOK: lambda row: send_webhook(row, settings=self.settings),
            **self.senders,
        }

    @property
    def lease(self) -> float:
        """Seconds a claim lasts: longer than one attempt may take (SMTP's connect, then each
        command, can each wait out the timeout)."""
        return 60.0 + 4 * self.settings.notify_timeout

    def deliver_due(self, *, most: int = 50) -> int:
        """One turn: claim one due row at a time (so a claim only ever covers the attempt in
        hand), send it, record how it went; how many were delivered."""
        sent = 0
        for _ in range(most):
            if not self.leader():
                break
            with Session(self.engine, expire_on_commit=False) as session:
                rows = outbox.claim_due(session, now=self.clock(), lease=self.lease, limit=1)
            if not rows:
                break
            sent += self._deliver(rows[0])
        return sent

    def _deliver(self, row: Notification) -> int:
        error: str | None = None
        try:
            self.senders[row.channel](row)
        except Exception as exc:  # any failure of one delivery is that delivery's alone
            error = str(exc) or type(exc).__name__
        with Session(self.engine) as session:
            state = outbox.record_outcome(
                session,
                row_id=row.id,
                now=self.clock(),
                error=error,
                max_attempts=self.settings.notify_max_attempts,
            )
        outcome = {State.DELIVERED: "delivered", State.FAILED: "failed"}.get(State(state), "retry")
        metrics.NOTIFICATIONS.labels(channel=row.channel, outcome=outcome).inc()
        if error is None:
            log.info(
                "notification_delivered",
                id=row.id,
                kind=row.event,
                channel=row.channel,
                trial_id=row.trial_id,
            )
            return 1
        log.warning(
            "notification_not_delivered",
            id=row.id,
            kind=row.event,
            channel=row.channel,
            trial_id=row.trial_id,
            outcome=outcome,
            error=error,
        )
        return 0

    def wait_for(self) -> float:
        """Seconds until the soonest pending row is due, at most the poll interval."""
        try:
            with Session(self.engine) as session:
                due = outbox.next_due(session)
        except Exception:
            return self.settings.notify_poll_interval
        if due is None:
            return self.settings.notify_poll_interval
        left = (due - self.clock()).total_seconds()
        return max(0.05, min(left, self.settings.notify_poll_interval))

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # the database away: the worker waits and tries again
                log.exception("delivery_error")
            stop.wait(self.wait_for())

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="notification-delivery", daemon=True)
        thread.start()
        return thread
