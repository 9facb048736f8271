"""Requests beyond self-service wait for an approver; the reconciler acts on the decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from orchestrator.models import AuditEvent
from orchestrator.settings import Settings
from tests.fakes import FakeDriver
from tests.service.conftest import launch, reconciler


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"self_service_max_duration": 900})


def transitions(client: TestClient, headers: dict[str, str], trial_id: str) -> list[tuple[str, str]]:
    items = client.get(f"/api/v1/trials/{trial_id}/events", headers=headers).json()["items"]
    return [(e["phase"], e["reason"]) for e in items if e["kind"] == "Transition"]


def test_a_long_request_waits_then_runs_once_approved_with_its_clock_from_approval(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial = launch(client, people["alice"], duration=1000)
    assert (trial["phase"], trial["reason"], trial["expires_at"]) == (
        "PendingApproval",
        "AwaitingApproval",
        None,
    )
    assert "self-service limit of 900 s" in trial["message"]
    den = reconciler(client, fake_driver)
    den.reconcile_once(now=datetime.now(UTC))
    assert fake_driver.calls == ["running", "list"]  # nothing started while it waits
    approved = client.post(f"/api/v1/trials/{trial['id']}/approve", headers=people["ann"])
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["approved_by"] == "ann" and body["phase"] == "PendingApproval"
    expires = datetime.fromisoformat(body["expires_at"])
    approved_at = datetime.fromisoformat(body["approved_at"])
    assert expires - approved_at == timedelta(seconds=1000)
    den.reconcile_once(now=datetime.now(UTC))
    den.reconcile_once(now=datetime.now(UTC))
    assert transitions(client, people["alice"], trial["id"]) == [
        ("PendingApproval", "AwaitingApproval"),
        ("Requested", "Approved"),
        ("Provisioning", "Starting"),
        ("Ready", "Started"),
    ]


def test_a_rejected_request_ends_stopped_with_the_reason_and_nothing_made(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial = launch(client, people["alice"], duration=1000)
    answer = client.post(
        f"/api/v1/trials/{trial['id']}/reject",
        headers=people["pat"],
        json={"reason": "Try the shorter pilot first"},
    )
    assert answer.status_code == 200 and answer.json()["rejected_by"] == "pat"
    reconciler(client, fake_driver).reconcile_once(now=datetime.now(UTC))
    final = client.get(f"/api/v1/trials/{trial['id']}", headers=people["alice"]).json()
    assert (final["phase"], final["reason"]) == ("Stopped", "Rejected")
    assert final["message"] == "Rejected by pat: Try the shorter pilot first"
    assert "start" not in fake_driver.calls
    again = client.post(f"/api/v1/trials/{trial['id']}/approve", headers=people["ann"])
    assert again.status_code == 409


def test_nobody_approves_their_own_request(client: TestClient, people: dict[str, dict[str, str]]) -> None:
    trial = launch(client, people["ann"], duration=1000)
    own = client.post(f"/api/v1/trials/{trial['id']}/approve", headers=people["ann"])
    assert own.status_code == 403 and own.json()["reason"] == "SelfApproval"
    assert client.post(f"/api/v1/trials/{trial['id']}/approve", headers=people["pat"]).status_code == 200


def test_the_owner_can_withdraw_a_waiting_request(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial = launch(client, people["alice"], duration=1000)
    assert client.post(f"/api/v1/trials/{trial['id']}/end", headers=people["alice"]).status_code == 202
    reconciler(client, fake_driver).reconcile_once(now=datetime.now(UTC))
    final = client.get(f"/api/v1/trials/{trial['id']}", headers=people["alice"]).json()
    assert (final["phase"], final["reason"]) == ("Stopped", "UserRequested")
    late = client.post(f"/api/v1/trials/{trial['id']}/approve", headers=people["ann"])
    assert late.status_code == 409


def test_a_request_for_a_version_quarantined_meanwhile_cannot_be_approved(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    trial = launch(client, people["alice"], duration=1000)
    client.post(
        "/api/v1/templates/demo/versions/1.0.0/status",
        headers=people["pat"],
        json={"status": "Quarantined", "reason": "security review"},
    )
    # Quarantine withdraws the request (it will end as TemplateQuarantined): nothing to approve.
    answer = client.post(f"/api/v1/trials/{trial['id']}/approve", headers=people["ann"])
    assert answer.status_code == 409, answer.text


def test_a_request_for_a_version_deprecated_meanwhile_cannot_be_approved(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    trial = launch(client, people["alice"], duration=1000)
    client.post(
        "/api/v1/templates/demo/versions/1.0.0/status",
        headers=people["pat"],
        json={"status": "Deprecated", "reason": "superseded"},
    )
    answer = client.post(f"/api/v1/trials/{trial['id']}/approve", headers=people["ann"])
    assert answer.status_code == 422 and answer.json()["reason"] == "TemplateNotPublished"


def test_nothing_to_approve_on_a_trial_that_waits_for_nothing(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    trial = launch(client, people["alice"], duration=600)
    answer = client.post(f"/api/v1/trials/{trial['id']}/approve", headers=people["ann"])
    assert answer.status_code == 409 and answer.json()["reason"] == "NothingToDecide"


def test_decisions_are_audited_with_actor_and_source(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    trial = launch(client, people["alice"], duration=1000)
    client.post(f"/api/v1/trials/{trial['id']}/approve", headers=people["ann"])
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        rows = session.exec(select(AuditEvent).where(AuditEvent.object_id == trial["id"])).all()
    assert [(r.action, r.actor, r.source) for r in rows] == [
        ("trial.create", "alice", "testclient"),
        ("trial.approve", "ann", "testclient"),
    ]


def test_the_requester_says_why_and_the_approver_adds_a_note_kept_in_the_audit_log(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    trial = launch(client, people["alice"], duration=1000, justification="Residents use it on bin days")
    assert trial["justification"] == "Residents use it on bin days"
    approved = client.post(
        f"/api/v1/trials/{trial['id']}/approve", headers=people["ann"], json={"note": "Report back in a week"}
    )
    assert approved.status_code == 200, approved.text
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        row = session.exec(select(AuditEvent).where(AuditEvent.action == "trial.approve")).one()
    assert row.detail == {"note": "Report back in a week"}
    events = client.get(f"/api/v1/trials/{trial['id']}/events", headers=people["alice"]).json()["items"]
    assert "Approved by ann: Report back in a week" in [e["message"] for e in events]


def test_the_api_takes_a_long_request_without_a_reason_and_a_short_one_keeps_none(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    # Optional in the API (scripts made before it still work); the web form asks for it.
    assert launch(client, people["alice"], duration=1000)["justification"] == ""
    short = launch(client, people["alice"], duration=600, justification="Not needed")
    assert (short["phase"], short["justification"]) == ("Requested", "")
    too_long = client.post(
        "/api/v1/trials",
        headers=people["alice"],
        json={
            "template": "demo",
            "title": "T",
            "hypothesis": "H",
            "duration_seconds": 1000,
            "justification": "x" * 2001,
        },
    )
    assert too_long.status_code == 422 and "justification" in too_long.text
    refused = client.post(
        f"/api/v1/trials/{short['id']}/approve", headers=people["ann"], json={"note": "n" * 2001}
    )
    assert refused.status_code == 422 and "note" in refused.text
