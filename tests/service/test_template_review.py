"""Review before publishing: a version a supplier sends waits (`PendingReview`) until a
platform engineer publishes it (its images pinned) or rejects it; an operator may let versions
that change nothing risky publish at once (`DEN_ALLOWED_IMAGE_PREFIXES`)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from orchestrator.settings import Settings
from tests.fakes import FakeDriver
from tests.service.conftest import AUTH, launch, run_until_ready

STATUS = "/api/v1/templates/demo/versions/{}/status"


def demo(version: str, **spec: Any) -> dict[str, Any]:
    """The fixture template `demo` (supplier acme) at another version, with `spec` changes."""
    manifest: dict[str, Any] = {
        "apiVersion": "innovation-den.io/v1",
        "kind": "SandboxTemplate",
        "metadata": {
            "name": "demo",
            "version": version,
            "supplier": "acme",
            "summary": "A demo",
            "problemAreas": ["testing"],
        },
        "spec": {
            "dataClassification": "synthetic",
            "components": [
                {
                    "name": "web",
                    "image": "innovation-den/demo:1.0.0",
                    "ports": [{"containerPort": 8080}],
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                }
            ],
        },
    }
    manifest["spec"].update(copy.deepcopy(spec))
    return manifest


def send(client: TestClient, headers: dict[str, str], manifest: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/api/v1/templates", headers=headers, json=manifest)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def versions(client: TestClient) -> dict[str, str]:
    detail = client.get("/api/v1/templates/demo", headers=AUTH).json()
    return {v["version"]: v["status"] for v in detail["versions"]}


def test_a_sent_version_waits_for_review_and_cannot_be_trialled(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    sent = send(client, people["sam"], demo("1.1.0", egress=[{"host": "api.example.org"}]))
    assert sent["status"] == "PendingReview" and sent["pinned_images"] == {}
    assert "DEN_ALLOWED_IMAGE_PREFIXES" in sent["status_reason"]
    # Launching by name still picks the newest *published* version.
    trial = launch(client, people["alice"])
    assert trial["template"] == "demo@1.0.0"
    refused = client.post(
        "/api/v1/trials",
        headers=people["alice"],
        json={"template": "demo@1.1.0", "title": "t", "hypothesis": "h"},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["reason"] == "TemplateNotPublished"
    assert "review" in refused.json()["detail"]
    listed = client.get("/api/v1/templates", headers=people["alice"]).json()["items"]
    assert {t["name"]: t["version"] for t in listed}["demo"] == "1.0.0"


def test_the_review_shows_what_changed_since_the_last_published_version(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    send(
        client,
        people["sam"],
        demo(
            "1.1.0",
            egress=[{"host": "api.example.org", "ports": [443]}],
            components=[
                {
                    "name": "web",
                    "image": "innovation-den/demo:1.1.0",
                    "resources": {"cpu": "1", "memory": "512Mi"},
                    "ports": [{"containerPort": 8080}],
                }
            ],
            limits={"cpu": "2", "memory": "1Gi"},
            parameters={
                "type": "object",
                "properties": {"region": {"type": "string", "enum": ["north", "south"]}},
            },
        ),
    )
    answer = client.get("/api/v1/templates/demo/versions/1.1.0", headers=people["pat"])
    assert answer.status_code == 200, answer.text
    review = answer.json()
    assert review["previous_version"] == "1.0.0"
    changed = {(c["area"], c["field"]): (c["before"], c["after"]) for c in review["changes"]}
    assert changed[("images", "spec.components.web.image")] == (
        "innovation-den/demo:1.0.0",
        "innovation-den/demo:1.1.0",
    )
    assert changed[("egress", "spec.egress[api.example.org]")] == ("", "443")
    assert changed[("resources", "spec.components.web.resources.cpu")] == ("0.5", "1")
    assert changed[("resources", "spec.limits.cpu")] == ("1", "2")
    assert ("parameters", "spec.parameters.properties.region") in changed
    assert ("resources", "spec.components.web.resources.pids") not in changed  # unchanged
    reasons = " ".join(review["review_reasons"])
    assert "DEN_ALLOWED_IMAGE_PREFIXES" in reasons
    # The supplier sees its own version's review; nobody else but platform engineers does.
    assert client.get("/api/v1/templates/demo/versions/1.1.0", headers=people["sam"]).status_code == 200
    for other in ("gus", "alice", "ann"):
        seen = client.get("/api/v1/templates/demo/versions/1.1.0", headers=people[other])
        assert seen.status_code == 403, other
    assert client.get("/api/v1/templates/demo/versions/9.9.9", headers=people["pat"]).status_code == 404


def test_publishing_pins_the_images_and_trials_run_the_pinned_image(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    send(client, people["sam"], demo("1.1.0"))
    published = client.post(
        STATUS.format("1.1.0"), headers=people["pat"], json={"status": "Published", "reason": "Looked fine"}
    )
    assert published.status_code == 200, published.text
    body = published.json()
    pinned = body["pinned_images"]["web"]
    assert pinned.startswith("innovation-den/demo@sha256:") and len(pinned.split(":")[-1]) == 64
    assert body["reviewed_by"] == "pat" and body["reviewed_at"]
    trial = launch(client, people["alice"], template="demo@1.1.0")
    started: list[str] = []
    original = fake_driver.start
    fake_driver.start = lambda spec: (
        started.extend(c.image for c in spec.components)  # type: ignore[method-assign]
        or original(spec)
    )
    run_until_ready(client, fake_driver, trial["id"])
    assert started == [pinned]
    # The audit log records who published what, pinned to what.
    audit = client.get("/api/v1/audit", headers=AUTH, params={"object_id": "demo@1.1.0"})
    assert audit.status_code == 200, audit.text
    assert pinned in audit.text


def test_an_image_the_runtime_lacks_refuses_publishing_and_changes_nothing(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    send(
        client,
        people["sam"],
        demo(
            "1.1.0",
            components=[
                {"name": "web", "image": "innovation-den/missing-app:1.0", "ports": [{"containerPort": 8080}]}
            ],
        ),
    )
    refused = client.post(
        STATUS.format("1.1.0"), headers=people["pat"], json={"status": "Published", "reason": ""}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["reason"] == "ImageMissing"
    assert "innovation-den/missing-app:1.0" in refused.json()["detail"]
    assert versions(client)["1.1.0"] == "PendingReview"
    detail = client.get("/api/v1/templates/demo/versions/1.1.0", headers=AUTH).json()
    assert detail["version"]["pinned_images"] == {} and detail["version"]["reviewed_by"] == ""


def test_rejecting_needs_a_reason_and_a_rejected_version_stays_rejected(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    send(client, people["sam"], demo("1.1.0"))
    no_reason = client.post(
        STATUS.format("1.1.0"), headers=people["pat"], json={"status": "Rejected", "reason": "  "}
    )
    assert no_reason.status_code == 422
    assert no_reason.json()["problems"][0]["field"] == "reason"
    assert versions(client)["1.1.0"] == "PendingReview"
    rejected = client.post(
        STATUS.format("1.1.0"),
        headers=people["pat"],
        json={"status": "Rejected", "reason": "Egress to a private range"},
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "Rejected"
    assert rejected.json()["reviewed_by"] == "pat"
    again = client.post(
        STATUS.format("1.1.0"),
        headers=people["pat"],
        json={"status": "Published", "reason": "changed my mind"},
    )
    assert again.status_code == 409 and again.json()["reason"] == "StatusChangeNotAllowed"
    assert "send a new version" in again.json()["detail"]
    # Sending the same content again is idempotent: it stays rejected.
    same = client.post("/api/v1/templates", headers=people["sam"], json=demo("1.1.0"))
    assert same.status_code == 200 and same.json()["status"] == "Rejected"
    # A published version cannot be "rejected" after the fact: quarantine it instead.
    late = client.post(
        STATUS.format("1.0.0"), headers=people["pat"], json={"status": "Rejected", "reason": "late"}
    )
    assert late.status_code == 409 and "Quarantined" in late.json()["detail"]


def test_only_platform_engineers_review(client: TestClient, people: dict[str, dict[str, str]]) -> None:
    send(client, people["sam"], demo("1.1.0"))
    for who in ("sam", "alice", "ann"):
        answer = client.post(
            STATUS.format("1.1.0"), headers=people[who], json={"status": "Published", "reason": ""}
        )
        assert answer.status_code == 403, who
    assert versions(client)["1.1.0"] == "PendingReview"


@pytest.fixture
def auto_client(settings: Settings, fake_driver: FakeDriver) -> Any:
    allowed = settings.model_copy(
        update={"allowed_image_prefixes": "innovation-den/, registry.example/approved/"}
    )
    with TestClient(create_app(allowed, with_reconciler=False, driver=fake_driver)) as test:
        yield test


@pytest.mark.parametrize(
    ("spec", "published", "why"),
    [
        ({}, True, ""),
        (
            {
                "components": [
                    {
                        "name": "web",
                        "image": "registry.example/approved/demo:2",
                        "ports": [{"containerPort": 8080}],
                    }
                ]
            },
            True,
            "",
        ),
        (
            {
                "components": [
                    {
                        "name": "web",
                        "image": "registry.example/other/demo:2",
                        "ports": [{"containerPort": 8080}],
                    }
                ]
            },
            False,
            "not under",
        ),
        (
            {
                "components": [
                    {"name": "web", "image": "innovation-den-evil/demo:2", "ports": [{"containerPort": 8080}]}
                ]
            },
            False,
            "not under",
        ),
        ({"egress": [{"host": "api.example.org"}]}, False, "egress"),
        (
            {
                "components": [
                    {
                        "name": "web",
                        "image": "innovation-den/demo:1.0.0",
                        "resources": {"memory": "512Mi"},
                        "ports": [{"containerPort": 8080}],
                    }
                ]
            },
            False,
            "more resources",
        ),
        ({"limits": {"maxDuration": 86400}}, False, "limits are higher"),
        (
            {
                "components": [
                    {
                        "name": "web",
                        "image": "innovation-den/missing-app:1",
                        "ports": [{"containerPort": 8080}],
                    }
                ]
            },
            False,
            "could not be pinned",
        ),
    ],
)
def test_versions_that_change_nothing_risky_may_publish_at_once(
    auto_client: TestClient, spec: dict[str, Any], published: bool, why: str
) -> None:
    sent = send(auto_client, AUTH, demo("1.2.0", **spec))
    assert sent["status"] == ("Published" if published else "PendingReview"), sent
    assert why in sent["status_reason"]
    if published:
        assert sent["pinned_images"]["web"].split("@sha256:")[0] in (
            "innovation-den/demo",
            "registry.example/approved/demo",
        )
        assert sent["reviewed_by"] == ""
    else:
        assert sent["pinned_images"] == {}


def test_the_template_directory_is_published_at_once(client: TestClient) -> None:
    """The operator's own directory, loaded at start-up: no review, no pins (named by tag)."""
    detail = client.get("/api/v1/templates/demo", headers=AUTH).json()["versions"]
    assert [(v["status"], v["pinned_images"]) for v in detail] == [("Published", {})]
