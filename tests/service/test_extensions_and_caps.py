"""Extending a trial (within its template's rules, past self-service only with approval) and
the caps on what people may hold at once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from orchestrator.settings import Settings, TemplateCaps
from tests.fakes import FakeDriver
from tests.service.conftest import launch, run_until_ready


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # `pair` allows 1200 s in all and one extension; past 1000 s an approver must agree.
    return settings.model_copy(update={"self_service_max_duration": 1000})


def extend(client: TestClient, headers: dict[str, str], trial_id: str, seconds: int, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/trials/{trial_id}/extend", headers=headers, json={"duration_seconds": seconds, **extra}
    )


def running(
    client: TestClient, people: dict[str, dict[str, str]], driver: FakeDriver, duration: int = 600
) -> dict[str, object]:
    trial = launch(client, people["alice"], template="pair", duration=duration)
    return run_until_ready(client, driver, str(trial["id"]))


def test_an_extension_moves_expiry_and_counts(
    client: TestClient, fake_driver: FakeDriver, people: dict[str, dict[str, str]]
) -> None:
    trial = running(client, people, fake_driver)
    answer = extend(client, people["alice"], str(trial["id"]), 300)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(
        str(trial["expires_at"])
    ) == timedelta(seconds=300)
    assert (body["duration_seconds"], body["extension_count"]) == (900, 1)
    again = extend(client, people["alice"], str(trial["id"]), 60)
    assert again.status_code == 409 and again.json()["reason"] == "MaxExtensionsReached"
    assert "maxExtensions" in again.json()["detail"]


def test_the_whole_trial_must_stay_within_max_duration(
    client: TestClient, fake_driver: FakeDriver, people: dict[str, dict[str, str]]
) -> None:
    trial = running(client, people, fake_driver)
    answer = extend(client, people["alice"], str(trial["id"]), 601)
    assert answer.status_code == 422
    assert answer.json()["reason"] == "MaxDurationExceeded"
    assert "at most 600 s" in answer.json()["detail"]


def test_only_provisioning_or_ready_trials_extend(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    trial = launch(client, people["alice"], template="pair")  # Requested: not yet started
    answer = extend(client, people["alice"], trial["id"], 60)
    assert answer.status_code == 409 and answer.json()["reason"] == "NotRunning"


def test_past_self_service_an_extension_waits_for_an_approver(
    client: TestClient, fake_driver: FakeDriver, people: dict[str, dict[str, str]]
) -> None:
    trial = running(client, people, fake_driver)
    trial_id = str(trial["id"])
    answer = extend(client, people["alice"], trial_id, 500, justification="The pilot runs over a weekend")
    assert answer.status_code == 202  # 1100 s in all: over 1000
    waiting = answer.json()
    assert waiting["extension_justification"] == "The pilot runs over a weekend"
    assert waiting["expires_at"] == trial["expires_at"]
    assert (waiting["pending_extension_seconds"], waiting["extension_requested_by"]) == (500, "alice")
    assert extend(client, people["alice"], trial_id, 10).json()["reason"] == "ExtensionPending"
    approved = client.post(f"/api/v1/trials/{trial_id}/approve", headers=people["ann"]).json()
    assert approved["pending_extension_seconds"] is None
    assert datetime.fromisoformat(approved["expires_at"]) - datetime.fromisoformat(
        str(trial["expires_at"])
    ) == timedelta(seconds=500)


def test_a_rejected_extension_leaves_the_trial_as_it_was(
    client: TestClient, fake_driver: FakeDriver, people: dict[str, dict[str, str]]
) -> None:
    trial = running(client, people, fake_driver)
    trial_id = str(trial["id"])
    extend(client, people["pat"], trial_id, 500)
    own = client.post(f"/api/v1/trials/{trial_id}/reject", headers=people["pat"], json={"reason": "mine"})
    assert own.status_code == 403  # pat asked for it, so pat cannot decide on it
    rejected = client.post(
        f"/api/v1/trials/{trial_id}/reject", headers=people["ann"], json={"reason": "long enough"}
    ).json()
    assert rejected["expires_at"] == trial["expires_at"]
    assert rejected["pending_extension_seconds"] is None and rejected["extension_count"] == 0
    events = client.get(f"/api/v1/trials/{trial_id}/events", headers=people["alice"]).json()
    assert events["items"][-1]["message"] == "Extension by 500 s rejected by ann: long enough"


# --- caps --------------------------------------------------------------------------------


def refused(client: TestClient, headers: dict[str, str], template: str = "demo") -> str:
    answer = client.post(
        "/api/v1/trials",
        headers=headers,
        json={"template": template, "title": "t", "hypothesis": "h", "duration_seconds": 600},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["reason"] == "QuotaExceeded"
    return str(answer.json()["detail"])


def test_per_person_cap(client: TestClient, people: dict[str, dict[str, str]], settings: Settings) -> None:
    client.app.state.settings = settings.model_copy(update={"max_active_trials_per_user": 2})  # type: ignore[attr-defined]
    launch(client, people["alice"])
    launch(client, people["alice"])
    assert "2 of your trials are active (the cap is 2)" in refused(client, people["alice"])
    launch(client, people["carol"])  # someone else still can


def test_per_department_cap_counts_colleagues(
    client: TestClient, settings: Settings, people: dict[str, dict[str, str]]
) -> None:
    client.app.state.settings = settings.model_copy(  # type: ignore[attr-defined]
        update={"max_active_trials_per_department": 2}
    )
    launch(client, people["alice"])
    launch(client, people["bob"])
    assert "of your department's trials" in refused(client, people["bob"])
    launch(client, people["carol"])  # hmrc is another department


def test_total_resources_cap(
    client: TestClient, settings: Settings, people: dict[str, dict[str, str]]
) -> None:
    # `demo` reserves 0.5 CPU and 256 MiB (manifest defaults): three fit in 1.5 cores.
    client.app.state.settings = settings.model_copy(update={"max_total_cpu": 1.5})  # type: ignore[attr-defined]
    for person in ("alice", "bob", "carol"):
        assert launch(client, people[person])["cpu_millicores"] == 500
    assert "CPU reserved" in refused(client, people["pat"])


def test_a_template_cap_counts_that_template_only(
    client: TestClient, settings: Settings, people: dict[str, dict[str, str]]
) -> None:
    client.app.state.settings = settings.model_copy(
        update={  # type: ignore[attr-defined]
            "template_caps": {"demo": TemplateCaps(max_active_trials=1)}
        }
    )
    launch(client, people["alice"])
    assert "template demo" in refused(client, people["carol"])
    launch(client, people["carol"], template="pair")


def test_a_template_self_service_limit_sends_requests_for_approval(
    client: TestClient, settings: Settings, people: dict[str, dict[str, str]]
) -> None:
    client.app.state.settings = settings.model_copy(
        update={  # type: ignore[attr-defined]
            "template_caps": {"demo": TemplateCaps(self_service_max_duration=300)}
        }
    )
    assert launch(client, people["alice"], duration=600)["phase"] == "PendingApproval"
    assert launch(client, people["alice"], template="pair", duration=600)["phase"] == "Requested"
