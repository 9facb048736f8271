"""The core REST endpoints of PRODUCT.md 7.1, on SQLite and on PostgreSQL."""

from __future__ import annotations

import yaml
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from orchestrator.models import AuditEvent, TemplateVersion, Trial
from tests.service.conftest import AUTH
from tests.unit.test_catalogue import GOOD


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_templates_and_suppliers_list_the_loaded_catalogue(client: TestClient) -> None:
    items = client.get("/api/v1/templates", headers=AUTH).json()["items"]
    assert [(t["name"], t["version"], t["supplier"]) for t in items] == [
        ("demo", "1.0.0", "acme"),
        ("pair", "2.1.0", "globex"),
    ]
    assert items[0]["summary"] == "A demo"
    suppliers = client.get("/api/v1/suppliers", headers=AUTH).json()["items"]
    assert {s["slug"]: s["templates"] for s in suppliers} == {"acme": ["demo"], "globex": ["pair"]}


def test_every_api_route_needs_a_valid_token(client: TestClient) -> None:
    for path in ("/api/v1/templates", "/api/v1/suppliers", "/api/v1/trials"):
        answer = client.get(path)
        assert answer.status_code == 401
        assert answer.json()["reason"] == "Unauthenticated"
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_publishing_yaml_stores_an_immutable_version(client: TestClient) -> None:
    manifest = yaml.safe_dump({**GOOD, "metadata": {**GOOD["metadata"], "version": "1.1.0"}})
    headers = {**AUTH, "Content-Type": "application/yaml"}
    first = client.post("/api/v1/templates", headers=headers, content=manifest)
    assert first.status_code == 201, first.text
    assert first.json()["version"] == "1.1.0"
    assert client.post("/api/v1/templates", headers=headers, content=manifest).status_code == 200
    changed = manifest.replace("A demo", "Something else")
    conflict = client.post("/api/v1/templates", headers=headers, content=changed)
    assert conflict.status_code == 409
    assert "A published version cannot change" in conflict.json()["detail"]
    assert first.json()["status"] == "PendingReview"
    newest = {t["name"]: t["version"] for t in client.get("/api/v1/templates", headers=AUTH).json()["items"]}
    assert newest["demo"] == "1.0.0"  # the catalogue lists a version once it is published
    assert (
        client.post(
            "/api/v1/templates/demo/versions/1.1.0/status",
            headers=AUTH,
            json={"status": "Published", "reason": ""},
        ).status_code
        == 200
    )
    newest = {t["name"]: t["version"] for t in client.get("/api/v1/templates", headers=AUTH).json()["items"]}
    assert newest["demo"] == "1.1.0"


def test_a_manifest_with_several_mistakes_lists_each_and_stores_nothing(
    client: TestClient, settings: object
) -> None:
    bad = {
        **GOOD,
        "metadata": {**GOOD["metadata"], "name": "Bad Name", "version": "x"},
        "spec": {**GOOD["spec"], "dataClassification": "personal"},
    }
    bad["spec"]["components"] = [{**GOOD["spec"]["components"][0], "privileged": True}]
    answer = client.post("/api/v1/templates", headers=AUTH, json=bad)
    assert answer.status_code == 422
    body = answer.json()
    assert body["reason"] == "ValidationFailed"
    assert {p["field"] for p in body["problems"]} == {
        "metadata.name",
        "metadata.version",
        "spec.dataClassification",
        "spec.components.0.privileged",
    }
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        assert session.exec(select(func.count()).select_from(TemplateVersion)).one() == 2


def test_malformed_bodies_get_the_error_shape(client: TestClient) -> None:
    answer = client.post(
        "/api/v1/templates", headers={**AUTH, "Content-Type": "application/json"}, content=b"{not json"
    )
    assert answer.status_code == 422 and answer.json()["reason"] == "ValidationFailed"
    answer = client.post("/api/v1/trials", headers=AUTH, json={"template": "demo"})
    assert answer.status_code == 422
    assert {p["field"] for p in answer.json()["problems"]} == {"title", "hypothesis"}
    huge = client.post("/api/v1/templates", headers=AUTH, content=b"x" * 2_000_000)
    assert huge.status_code == 413 and huge.json()["reason"] == "TooLarge"


def test_a_trial_is_created_listed_read_ended_and_has_a_timeline(client: TestClient) -> None:
    created = client.post(
        "/api/v1/trials",
        headers=AUTH,
        json={
            "template": "pair@2.1.0",
            "title": "Try casework",
            "hypothesis": "It saves time",
            "duration_seconds": 600,
            "parameters": {"tone": "formal"},
        },
    )
    assert created.status_code == 201, created.text
    trial = created.json()
    assert trial["phase"] == "Requested" and trial["template"] == "pair@2.1.0"
    assert trial["owner"] == "admin" and trial["endpoints"] == {}
    for key in ("id", "reason", "message", "created_at", "ready_at", "expires_at", "ended_at"):
        assert key in trial
    listed = client.get("/api/v1/trials", headers=AUTH).json()["items"]
    assert [t["id"] for t in listed] == [trial["id"]]
    assert client.get(f"/api/v1/trials/{trial['id']}", headers=AUTH).json()["id"] == trial["id"]
    assert client.post(f"/api/v1/trials/{trial['id']}/end", headers=AUTH).status_code == 202
    events = client.get(f"/api/v1/trials/{trial['id']}/events", headers=AUTH).json()["items"]
    assert [e["message"] for e in events] == ["Requested by admin", "End requested by admin"]
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        actions = session.exec(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["trial.create", "trial.end"]


def test_trial_rules_name_the_field_and_store_nothing(client: TestClient) -> None:
    cases = [
        ({"duration_seconds": 5000}, "duration_seconds", "at most 1200"),
        ({"parameters": {"tone": "rude"}}, "parameters.tone", "choose one of"),
        ({"parameters": {"other": 1}}, "parameters", "use one of its parameters"),
    ]
    for change, field, hint in cases:
        body = {"template": "pair", "title": "t", "hypothesis": "h", **change}
        answer = client.post("/api/v1/trials", headers=AUTH, json=body)
        assert answer.status_code == 422, answer.text
        (problem,) = answer.json()["problems"]
        assert problem["field"] == field and hint in problem["hint"]
    missing = client.post(
        "/api/v1/trials", headers=AUTH, json={"template": "nope", "title": "t", "hypothesis": "h"}
    )
    assert missing.status_code == 404
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        assert session.exec(select(func.count()).select_from(Trial)).one() == 0


def test_unknown_trials_and_routes_answer_404_in_the_error_shape(client: TestClient) -> None:
    answer = client.get("/api/v1/trials/t000000000000", headers=AUTH)
    assert answer.status_code == 404 and answer.json()["reason"] == "NotFound"
    assert client.get("/api/v1/nothing-here", headers=AUTH).json()["reason"] == "NotFound"


def test_openapi_document_and_metrics_are_served(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/templates", "/api/v1/trials", "/api/v1/trials/{trial_id}/end"} <= set(paths)
    assert "den_trial_transitions_total" in client.get("/metrics").text


def test_security_headers_are_on_every_answer(client: TestClient) -> None:
    headers = client.get("/healthz").headers
    assert headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
