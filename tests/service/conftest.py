from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from orchestrator import crud, db
from orchestrator.reconciler import Reconciler
from orchestrator.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.fakes import FakeDriver

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: name -> (role, department, supplier): who the service tests act as. The fixture templates
#: are `demo` (supplier acme) and `pair` (supplier globex).
PEOPLE = {
    "alice": ("civil_servant", "dwp", ""),
    "bob": ("civil_servant", "dwp", ""),
    "carol": ("civil_servant", "hmrc", ""),
    "sam": ("supplier", "", "acme"),
    "gus": ("supplier", "", "globex"),
    "pat": ("platform_engineer", "", ""),
    "ann": ("approver", "", ""),
}


@pytest.fixture
def fake_driver() -> FakeDriver:
    return FakeDriver(ready_after=1)


@pytest.fixture
def client(settings: Settings, fake_driver: FakeDriver) -> Iterator[TestClient]:
    with TestClient(create_app(settings, with_reconciler=False, driver=fake_driver)) as test_client:
        yield test_client


@pytest.fixture
def people(client: TestClient) -> dict[str, dict[str, str]]:
    """Each person of PEOPLE, created on the database, as request headers."""
    now = datetime.now(UTC)
    with db.session_scope(client.app.state.engine) as session:  # type: ignore[attr-defined]
        for name, (role, department, supplier) in PEOPLE.items():
            user = crud.create_user(
                session,
                actor=None,
                now=now,
                data=crud.NewUser(name=name, role=role, department=department, supplier=supplier),
            )
            crud.issue_token(session, user=user, now=now, token=f"token-{name}-" + "x" * 20)
    return {name: {"Authorization": f"Bearer token-{name}-" + "x" * 20} for name in PEOPLE}


def launch(
    client: TestClient, headers: dict[str, str], *, template: str = "demo", duration: int = 600, **extra: Any
) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/trials",
        headers=headers,
        json={
            "template": template,
            "title": "A trial",
            "hypothesis": "It helps",
            "duration_seconds": duration,
            **extra,
        },
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def reconciler(client: TestClient, driver: FakeDriver) -> Reconciler:
    app = client.app
    return Reconciler(
        engine=app.state.engine,
        driver=driver,  # type: ignore[attr-defined]
        settings=app.state.settings,
    )  # type: ignore[attr-defined]


def run_until_ready(client: TestClient, driver: FakeDriver, trial_id: str) -> dict[str, Any]:
    """Two passes of the reconciler on the fake runtime: Requested -> Provisioning -> Ready."""
    den = reconciler(client, driver)
    for _ in range(2):
        den.reconcile_once(now=datetime.now(UTC))
    body: dict[str, Any] = client.get(f"/api/v1/trials/{trial_id}", headers=AUTH).json()
    assert body["phase"] == "Ready", body
    return body


SCORES = {
    dimension: {"score": 4, "evidence": f"Evidence for {dimension}"}
    for dimension in (
        "user_need",
        "accessibility",
        "security",
        "privacy",
        "interoperability",
        "performance",
        "cost_value",
        "ease_of_adoption",
    )
}
#: The trial's own question, answered: with SCORES and a decision, a complete evaluation of a
#: trial without success criteria (as `launch` makes them).
QUESTION = {"hypothesis_held": "partly", "hypothesis_evidence": "Half the testers found it"}


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """`app` served on a real socket, as `den serve` serves it, in a thread: its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, log_level="critical", http="h11", ws="none", loop="asyncio")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the den did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
