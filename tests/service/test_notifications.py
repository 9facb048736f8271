"""Notifications on the service tier: the outbox written with the change that causes it, once
however often the reconciler passes; the conditional claim; retries and giving up; people's
preferences (API and page); and delivery to a real mail server and a real webhook receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from orchestrator import db
from orchestrator.crud import notifications as outbox
from orchestrator.delivery import DeliveryWorker
from orchestrator.models import Notification, Trial, User
from orchestrator.settings import Settings, Webhook
from tests.fakes import FakeDriver
from tests.receivers import MailServer, WebhookReceiver
from tests.service.conftest import AUTH, launch, reconciler, run_until_ready
from tests.service.test_web_pages import browser, csrf_of

SECRET = "hook-secret"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(SECRET).start()
    yield hook
    hook.stop()


@pytest.fixture
def mail() -> Iterator[MailServer]:
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings: Settings, receiver: WebhookReceiver, mail: MailServer) -> Settings:
    return settings.model_copy(
        update={
            "expiry_warnings": "300,60",
            "smtp_url": mail.url,
            "mail_from": "den@example.org",
            "public_url": "https://den.example",
            "webhooks": (Webhook(url=receiver.url, secret=SECRET),),
            "self_service_max_duration": 3000,
            "notify_timeout": 3.0,
            "notify_max_attempts": 3,
        }
    )


@pytest.fixture
def emails(client: TestClient, people: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Everyone has an email address: name@example.org."""
    with db.session_scope(client.app.state.engine) as session:  # type: ignore[attr-defined]
        for user in session.exec(select(User)).all():
            user.email = f"{user.name}@example.org"
            session.add(user)
    return people


def rows(client: TestClient, **where: object) -> list[Notification]:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        query = select(Notification).order_by(col(Notification.id))
        for name, value in where.items():
            query = query.where(getattr(Notification, name) == value)
        return list(session.exec(query).all())


def worker(client: TestClient, **kwargs: object) -> DeliveryWorker:
    app = client.app
    return DeliveryWorker(engine=app.state.engine, settings=app.state.settings, **kwargs)  # type: ignore[attr-defined, arg-type]


def test_ready_is_written_once_with_the_transition(
    client: TestClient, emails: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial = launch(client, emails["alice"])
    run_until_ready(client, fake_driver, trial["id"])
    den = reconciler(client, fake_driver)
    for _ in range(3):  # passes repeated (after a crash, say) write nothing new
        den.reconcile_once(now=datetime.now(UTC))
    ready = rows(client, event="trial.ready")
    assert sorted((r.channel, r.target) for r in ready) == [
        ("email", "alice@example.org"),
        ("webhook", client.app.state.settings.webhooks[0].url),  # type: ignore[attr-defined]
    ]
    assert ready[0].payload["trial"]["id"] == trial["id"]
    assert all(r.state == "pending" for r in ready)


def test_expiry_warnings_once_each_and_in_the_next_wake(
    client: TestClient, emails: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial = launch(client, emails["alice"], duration=600)
    run_until_ready(client, fake_driver, trial["id"])
    den = reconciler(client, fake_driver)
    expires = datetime.fromisoformat(trial["expires_at"])
    early = expires - timedelta(seconds=400)
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        assert outbox.next_warning(session, offsets=(300, 60), after=early) == expires - timedelta(
            seconds=300
        )
        assert outbox.next_warning(session, offsets=(300, 60), after=expires - timedelta(seconds=300)) == (
            expires - timedelta(seconds=60)
        )
    # The loop wakes at the warning's instant, not at its next poll.
    assert den.next_wake(now=expires - timedelta(seconds=301)) == expires - timedelta(seconds=300)
    assert den.warn_expiring(now=early) == 0
    for _ in range(3):
        den.reconcile_once(now=expires - timedelta(seconds=299))
    first = rows(client, event="trial.expiring", channel="email")
    assert [r.payload["offset_seconds"] for r in first] == [300]
    assert "ends in 4 min" in first[0].payload["summary"]
    den.reconcile_once(now=expires - timedelta(seconds=30))
    den.reconcile_once(now=expires - timedelta(seconds=20))
    warned = rows(client, event="trial.expiring", channel="email")
    assert [r.payload["offset_seconds"] for r in warned] == [300, 60]
    # The time runs out: the owner hears that too.
    den.reconcile_once(now=expires + timedelta(seconds=1))
    den.reconcile_once(now=expires + timedelta(seconds=2))
    assert [r.target for r in rows(client, event="trial.expired", channel="email")] == ["alice@example.org"]


def test_a_short_trial_gets_one_warning_not_a_burst(
    client: TestClient, emails: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    """100 s long: the 300 s warning's instant passed before it began, so it is warned at
    once, by one message; the 60 s warning follows at its own time."""
    trial = launch(client, emails["alice"], duration=100)
    run_until_ready(client, fake_driver, trial["id"])
    den = reconciler(client, fake_driver)
    den.reconcile_once(now=datetime.now(UTC))
    den.reconcile_once(now=datetime.now(UTC))
    assert [r.payload["offset_seconds"] for r in rows(client, event="trial.expiring", channel="email")] == [
        300
    ]
    den.reconcile_once(now=datetime.fromisoformat(trial["expires_at"]) - timedelta(seconds=5))
    warned = rows(client, event="trial.expiring", channel="email")
    assert [r.payload["offset_seconds"] for r in warned] == [300, 60]


def test_two_claimers_one_wins(client: TestClient, emails: dict[str, dict[str, str]]) -> None:
    launch(client, emails["alice"], duration=3600)  # waits for an approver: ann is told
    (row,) = rows(client, event="approval.waiting", channel="email")
    now = datetime.now(UTC)
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with Session(engine) as first, Session(engine) as second:
        assert outbox.claim(first, row_id=row.id, now=now, lease=60)
        first.commit()
        assert not outbox.claim(second, row_id=row.id, now=now, lease=60)
        second.commit()
        assert row.id not in [r.id for r in outbox.claim_due(second, now=now, lease=60)]
    # Once the lease runs out (the claimer died), it is due again.
    with Session(engine) as session:
        assert row.id in [r.id for r in outbox.claim_due(session, now=now + timedelta(seconds=61), lease=60)]


def test_failures_back_off_then_give_up_visibly(
    client: TestClient, emails: dict[str, dict[str, str]], receiver: WebhookReceiver
) -> None:
    receiver.status = 503
    launch(client, emails["alice"], duration=3600)
    clock = [datetime.now(UTC)]
    den = worker(client, clock=lambda: clock[0])
    assert den.deliver_due() == 1  # the email to ann; the webhook answered 503
    (hook,) = rows(client, channel="webhook")
    assert (hook.state, hook.attempts, hook.last_error) == ("pending", 1, "the receiver answered 503")
    assert hook.next_attempt_at == clock[0] + timedelta(seconds=1)
    assert den.deliver_due() == 0  # not due yet: nothing is sent
    assert len(receiver.received) == 1
    for step in (1, 2):  # 1 s, then 2 s later
        clock[0] += timedelta(seconds=step)
        den.deliver_due()
    (hook,) = rows(client, channel="webhook")
    assert (hook.state, hook.attempts) == ("failed", 3)
    assert len(receiver.received) == 3
    listed = client.get("/api/v1/notifications?state=failed", headers=AUTH).json()["items"]
    assert [(n["event"], n["channel"], n["attempts"], n["next_attempt_at"]) for n in listed] == [
        ("approval.waiting", "webhook", 3, None)
    ]
    delivered = client.get("/api/v1/notifications?state=delivered", headers=AUTH).json()["items"]
    assert [(n["recipient"], n["target"]) for n in delivered] == [("ann", "ann@example.org")]
    assert client.get("/api/v1/notifications", headers=emails["alice"]).status_code == 403


def test_real_mail_and_signed_webhook(
    client: TestClient, emails: dict[str, dict[str, str]], mail: MailServer, receiver: WebhookReceiver
) -> None:
    trial = launch(client, emails["alice"], duration=3600)
    answer = client.post(f"/api/v1/trials/{trial['id']}/approve", headers=emails["ann"], json={"note": "Go"})
    assert answer.status_code == 200, answer.text
    assert worker(client).deliver_due() == 4  # waiting (ann, webhook), decided (alice, webhook)
    (to_ann,) = mail.to("ann@example.org")
    assert to_ann["From"] == "den@example.org"
    assert to_ann["X-Den-Event"] == "approval.waiting"
    assert f"https://den.example/trials/{trial['id']}" in to_ann.get_content()
    (to_alice,) = mail.to("alice@example.org")
    assert to_alice["Subject"] == "Innovation Den: your trial request was approved"
    assert "ann approved the trial request" in to_alice.get_content()
    assert "Go" in to_alice.get_content()
    (decided,) = receiver.of("decision.made")
    assert decided.signed
    assert decided.document["event"] == "decision.made"
    assert decided.document["data"]["trial"]["id"] == trial["id"]
    assert decided.headers["X-Den-Delivery"] == str(decided.document["id"])
    assert all(d.signed for d in receiver.received)
    assert worker(client).deliver_due() == 0  # delivered once


def test_mail_server_down_loses_nothing(
    client: TestClient, emails: dict[str, dict[str, str]], mail: MailServer
) -> None:
    mail.stop()
    launch(client, emails["alice"], duration=3600)
    clock = [datetime.now(UTC)]
    den = worker(client, clock=lambda: clock[0])
    den.deliver_due()
    (row,) = rows(client, channel="email")
    assert row.state == "pending" and row.attempts == 1
    assert "ConnectionRefusedError" in row.last_error
    mail.start()
    clock[0] += timedelta(seconds=1)
    assert den.deliver_due() == 1
    assert len(mail.to("ann@example.org")) == 1


def test_preferences_over_the_api(
    client: TestClient, emails: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    mine = client.get("/api/v1/users/me/notifications", headers=emails["alice"]).json()
    assert mine["email"] == "alice@example.org"
    assert "trial.ready" in mine["email_events"]
    answer = client.put(
        "/api/v1/users/me/notifications", headers=emails["alice"], json={"email_events": ["trial.expiring"]}
    )
    assert answer.json()["email_events"] == ["trial.expiring"]
    refused = client.put(
        "/api/v1/users/me/notifications", headers=emails["alice"], json={"email_events": ["trial.lunch"]}
    )
    assert refused.status_code == 422
    assert "email_events" in refused.text and "trial.lunch" in refused.text
    trial = launch(client, emails["alice"])
    run_until_ready(client, fake_driver, trial["id"])
    assert [r.channel for r in rows(client, event="trial.ready")] == ["webhook"]  # no email now
    audit = client.get("/api/v1/audit?object_id=alice", headers=AUTH).json()["items"]
    assert audit[0]["action"] == "user.notifications.update"


def test_preferences_page(client: TestClient, emails: dict[str, dict[str, str]]) -> None:
    alice = browser(client, "alice")
    page = alice.get("/account/notifications")
    assert page.status_code == 200
    assert "alice@example.org" in page.text
    assert 'href="/account/notifications"' in page.text  # the header links it
    saved = alice.post(
        "/account/notifications",
        data={"csrf_token": csrf_of(page.text), "events": ["trial.ready", "trial.expired"]},
        follow_redirects=True,
    )
    assert "Your choices were saved" in saved.text
    twin = alice.get("/account/notifications.json").json()
    assert twin["email_events"] == ["trial.ready", "trial.expired"]
    forged = alice.post("/account/notifications", data={"events": ["trial.ready"]})
    assert forged.status_code == 403


def test_membership_changes_tell_the_member(
    client: TestClient, emails: dict[str, dict[str, str]], receiver: WebhookReceiver
) -> None:
    trial = launch(client, emails["alice"])
    engine = client.app.state.engine  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    with Session(engine) as session:
        bob = session.exec(select(User).where(User.name == "bob")).one()
        found = session.get(Trial, trial["id"])
        assert found is not None
        settings = client.app.state.settings  # type: ignore[attr-defined]
        for _ in range(2):  # the same change written twice is one notification
            outbox.notify_membership_changed(
                session, trial=found, member=bob, change="added", settings=settings, now=now
            )
        session.commit()
    assert worker(client).deliver_due() == 2
    (added,) = receiver.of("membership.changed")
    assert added.signed and added.document["data"]["member"] == "bob"
    assert [r.target for r in rows(client, event="membership.changed", channel="email")] == [
        "bob@example.org"
    ]


def test_a_team_hears_of_its_trial_and_members_of_their_membership(
    client: TestClient, emails: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    """Through the members API: the person added is told, then told again when removed, and
    while a member they hear what the owner hears of the trial."""
    trial = launch(client, emails["alice"])
    members = f"/api/v1/trials/{trial['id']}/members"
    added = client.post(members, headers=emails["alice"], json={"user": "carol", "role": "assessor"})
    assert added.status_code == 201, added.text
    told = rows(client, event="membership.changed", channel="email")
    assert [(r.target, r.payload["change"]) for r in told] == [("carol@example.org", "added")]
    run_until_ready(client, fake_driver, trial["id"])
    ready = rows(client, event="trial.ready", channel="email")
    assert sorted(r.target for r in ready) == ["alice@example.org", "carol@example.org"]
    assert client.delete(f"{members}/carol", headers=emails["alice"]).status_code == 204
    told = rows(client, event="membership.changed", channel="email")
    assert [(r.target, r.payload["change"]) for r in told] == [
        ("carol@example.org", "added"),
        ("carol@example.org", "removed"),
    ]


def test_a_challenge_tells_suppliers_and_its_owner_and_answers_reach_every_follower(
    client: TestClient, emails: dict[str, dict[str, str]], mail: MailServer, receiver: WebhookReceiver
) -> None:
    """Through the engagement API, by real mail and signed webhook: every supplier hears of a
    new challenge; its owner of each response and question; and every supplier that follows
    it (here one responded, one asked) of an answer, in the same words, never who asked."""
    made = client.post(
        "/api/v1/challenges",
        headers=emails["alice"],
        json={
            "title": "Fewer missed appointments",
            "problem": "People miss them",
            "closes_at": (datetime.now(UTC) + timedelta(days=10)).isoformat(),
            "publish": True,
        },
    )
    assert made.status_code == 201, made.text
    base = f"/api/v1/challenges/{made.json()['id']}"
    published = rows(client, event="challenge.published", channel="email")
    assert sorted(r.target for r in published) == ["gus@example.org", "sam@example.org"]
    answer = client.post(
        f"{base}/responses",
        headers=emails["sam"],
        json={"summary": "We help", "templates": ["demo"], "conflict_declared": False},
    )
    assert answer.status_code == 201, answer.text
    asked = client.post(f"{base}/questions", headers=emails["gus"], json={"question": "Is there an API?"})
    assert asked.status_code == 201, asked.text
    assert [r.target for r in rows(client, event="challenge.responded", channel="email")] == [
        "alice@example.org"
    ]
    assert [r.target for r in rows(client, event="challenge.asked", channel="email")] == ["alice@example.org"]
    answered = client.put(
        f"{base}/questions/{asked.json()['id']}/answer", headers=emails["alice"], json={"answer": "Yes"}
    )
    assert answered.status_code == 200, answered.text
    told = rows(client, event="challenge.answered", channel="email")
    assert sorted(r.target for r in told) == ["gus@example.org", "sam@example.org"]
    assert len({json.dumps(r.payload, sort_keys=True) for r in told}) == 1  # the same words for all
    worker(client).deliver_due()
    (to_sam,) = [m for m in mail.to("sam@example.org") if m["X-Den-Event"] == "challenge.answered"]
    assert f"https://den.example/challenges/{made.json()['id']}" in to_sam.get_content()
    assert "gus" not in to_sam.get_content() and "globex" not in to_sam.get_content().lower()
    (hook,) = receiver.of("challenge.answered")
    assert hook.signed and hook.document["data"]["challenge"]["title"] == "Fewer missed appointments"
