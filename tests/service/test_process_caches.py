"""What each process keeps for a second (orchestrator/crud/memo.py) against what other
processes change: the catalogue's pages and people's names show another process's change
within the second, and this process's own change at once. "Another process" here is a write
that does not go through this process's ORM sessions (plain SQL on a connection of its own),
as a second `den serve` worker's would not."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.service.conftest import AUTH, launch


def _names(client: TestClient) -> list[str]:
    return [t["name"] for t in client.get("/api/v1/templates", headers=AUTH).json()["items"]]


def test_a_template_withdrawn_by_another_process_leaves_the_list_within_a_second(
    client: TestClient, engine: Engine
) -> None:
    assert "pair" in _names(client)
    with engine.begin() as connection:
        connection.execute(text("UPDATE template_version SET status = 'Deprecated' WHERE version = '2.1.0'"))
    time.sleep(1.05)
    assert "pair" not in _names(client)


def test_a_template_withdrawn_here_leaves_the_list_at_once(client: TestClient) -> None:
    assert "pair" in _names(client)
    answer = client.post(
        "/api/v1/templates/pair/versions/2.1.0/status",
        headers=AUTH,
        json={"status": "Deprecated", "reason": "replaced"},
    )
    assert answer.status_code == 200, answer.text
    assert "pair" not in _names(client)


def test_an_owner_renamed_by_another_process_shows_within_a_second(
    client: TestClient, engine: Engine
) -> None:
    trial = launch(client, AUTH)
    shown = client.get(f"/api/v1/trials/{trial['id']}", headers=AUTH).json()
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE den_user SET name = 'renamed' WHERE name = :name"), {"name": shown["owner"]}
        )
    time.sleep(1.05)
    assert client.get(f"/api/v1/trials/{trial['id']}", headers=AUTH).json()["owner"] == "renamed"
