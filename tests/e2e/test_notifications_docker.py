"""End to end: a short trial on the real Docker engine, a real `den serve`, a real mail server
(aiosmtpd) and a real webhook receiver. Its owner is warned before it ends, by email and by a
signed webhook, although the mail server is down when the warning is due: the outbox keeps
the email and sends it, once, when the server is back, before the sandbox is torn down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.engine import remove_instance
from tests.e2e.server import ROOT, TOKEN, Server
from tests.receivers import MailServer, WebhookReceiver

pytestmark = pytest.mark.docker
SECRET = "e2e-webhook-secret"
WARNING = 20  # seconds before the end: room for each step on a busy machine
DURATION = 45


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
def server(
    tmp_path: Path, engine_client: Any, mail: MailServer, receiver: WebhookReceiver
) -> Iterator[Server]:
    running = Server(
        data_dir=tmp_path,
        env={
            "DEN_SMTP_URL": mail.url,
            "DEN_MAIL_FROM": "den@example.org",
            "DEN_WEBHOOKS": json.dumps([{"url": receiver.url, "secret": SECRET}]),
            "DEN_EXPIRY_WARNINGS": str(WARNING),
            "DEN_NOTIFY_TIMEOUT": "2",
        },
    )
    running.env["DEN_PUBLIC_URL"] = running.url
    running.start()
    yield running
    running.stop()
    remove_instance(engine_client, running.instance)


def until(check: Callable[[], Any], *, timeout: float, what: str, server: Server) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen in {timeout} s:\n{server.log_tail()}")


def owner(server: Server) -> dict[str, str]:
    """A civil servant with an email address, and her API token's headers."""
    made = server.call(
        "POST",
        "/api/v1/users",
        json={"name": "olive", "role": "civil_servant", "department": "dwp", "email": "olive@example.org"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["email"] == "olive@example.org"
    token = server.call("POST", "/api/v1/users/olive/tokens", json={"name": "e2e"})
    assert token.status_code == 201, token.text
    return {"Authorization": f"Bearer {token.json()['token']}"}


def test_expiry_warning_by_email_and_signed_webhook_with_the_mail_server_restarted(
    server: Server, mail: MailServer, receiver: WebhookReceiver
) -> None:
    headers = owner(server)
    answer = httpx.post(
        f"{server.url}/api/v1/trials",
        headers=headers,
        timeout=30,
        json={
            "template": "open-data-dashboard",
            "title": "Warned in time",
            "hypothesis": "People hear before it ends",
            "duration_seconds": DURATION,
        },
    )
    assert answer.status_code == 201, answer.text
    trial = answer.json()
    server.launched.append(trial["id"])
    server.wait_for(trial["id"], "Ready", timeout=DURATION - WARNING - 2)
    until(lambda: mail.to("olive@example.org"), timeout=10, what="the ready email", server=server)
    mail.stop()  # before the warning is due

    warned = until(
        lambda: receiver.of("trial.expiring"), timeout=DURATION, what="the warning webhook", server=server
    )
    assert len(warned) == 1 and warned[0].signed
    assert warned[0].document["data"]["trial"]["id"] == trial["id"]
    assert server.trial(trial["id"])["phase"] == "Ready"

    def email_retrying() -> bool:
        listed = server.call("GET", "/api/v1/notifications?state=pending").json()["items"]
        return any(n["event"] == "trial.expiring" and n["attempts"] >= 1 and n["last_error"] for n in listed)

    until(email_retrying, timeout=5, what="a failed attempt at the warning email", server=server)
    mail.start()

    def warning_emails() -> list[Any]:
        return [m for m in mail.to("olive@example.org") if m["X-Den-Event"] == "trial.expiring"]

    (email,) = until(warning_emails, timeout=10, what="the warning email", server=server)
    assert server.trial(trial["id"])["phase"] == "Ready"  # before it is torn down
    assert "Warned in time" in email["Subject"]
    assert f"{server.url}/trials/{trial['id']}" in email.get_content()

    server.wait_for(trial["id"], "Stopped", timeout=DURATION)
    until(lambda: receiver.of("trial.expired"), timeout=10, what="the expired webhook", server=server)
    time.sleep(1.5)  # any second copy would have been sent by now
    assert len(warning_emails()) == 1
    assert len(receiver.of("trial.expiring")) == 1
    assert all(d.signed for d in receiver.received)
    delivered = server.call("GET", "/api/v1/notifications?state=delivered").json()["items"]
    assert {(n["event"], n["channel"]) for n in delivered} >= {
        ("trial.ready", "email"),
        ("trial.expiring", "email"),
        ("trial.expiring", "webhook"),
        ("trial.expired", "webhook"),
    }

    # A platform engineer sees the same on the command line.
    listed = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.denctl",
            "get",
            "notifications",
            "-o",
            "wide",
            "--field-selector",
            "event=trial.expiring,channel=email",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={
            **os.environ,
            "DEN_SERVER": server.url,
            "DEN_TOKEN": TOKEN,
            "DENCTL_CONFIG": str(server.data_dir / "denctl.yaml"),
        },
    )
    assert listed.returncode == 0, listed.stderr
    header, *lines = listed.stdout.splitlines()
    assert header.split()[:5] == ["ID", "EVENT", "CHANNEL", "TARGET", "STATE"]
    assert len(lines) == 1, listed.stdout
    assert lines[0].split()[1:5] == ["trial.expiring", "email", "olive@example.org", "delivered"]
    assert trial["id"] in lines[0] and "olive" in lines[0]
