"""Users, tokens (shown once, expiring, revocable), suppliers, template versions' status, the
audit log, what each person sees of the trials, watching and logs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.deps import get_now
from orchestrator.models import ApiToken
from tests.fakes import FakeDriver
from tests.service.conftest import AUTH, launch, reconciler, run_until_ready
from tests.unit.test_catalogue import GOOD


def test_a_token_is_shown_once_and_stored_only_as_a_hash(client: TestClient) -> None:
    client.post("/api/v1/users", headers=AUTH, json={"name": "dee", "role": "civil_servant"})
    made = client.post("/api/v1/users/dee/tokens", headers=AUTH, json={"name": "laptop"}).json()
    token = made["token"]
    me = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/trials", headers=me).status_code == 200
    listed = client.get("/api/v1/users/dee/tokens", headers=me).json()["items"]
    assert [(t["name"], t["prefix"]) for t in listed] == [("laptop", token[:8])]
    assert token not in json.dumps(listed)
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        hashes = session.exec(select(ApiToken.token_hash)).all()
    assert token not in hashes and all(len(h) == 64 for h in hashes)


def test_a_revoked_token_stops_working_at_once(client: TestClient) -> None:
    client.post("/api/v1/users", headers=AUTH, json={"name": "dee", "role": "civil_servant"})
    made = client.post("/api/v1/users/dee/tokens", headers=AUTH, json={}).json()
    me = {"Authorization": f"Bearer {made['token']}"}
    revoked = client.delete(f"/api/v1/users/dee/tokens/{made['id']}", headers=me)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    answer = client.get("/api/v1/trials", headers=me)
    assert answer.status_code == 401 and answer.json()["reason"] == "Unauthenticated"


def test_a_token_expires(client: TestClient) -> None:
    client.post("/api/v1/users", headers=AUTH, json={"name": "dee", "role": "civil_servant"})
    made = client.post("/api/v1/users/dee/tokens", headers=AUTH, json={"expires_in_seconds": 3600}).json()
    me = {"Authorization": f"Bearer {made['token']}"}
    assert client.get("/api/v1/trials", headers=me).status_code == 200
    later = datetime.now(UTC) + timedelta(seconds=3601)
    client.app.dependency_overrides[get_now] = lambda: later  # type: ignore[attr-defined]
    assert client.get("/api/v1/trials", headers=me).status_code == 401


def test_user_rules(client: TestClient) -> None:
    def create(**body: str) -> tuple[int, str]:
        answer = client.post("/api/v1/users", headers=AUTH, json=body)
        return answer.status_code, answer.json().get("reason", "")

    assert create(name="sue", role="supplier") == (422, "ValidationFailed")  # needs a supplier
    assert create(name="sue", role="civil_servant", supplier="acme") == (422, "ValidationFailed")
    assert create(name="sue", role="supplier", supplier="nobody") == (404, "NotFound")
    assert create(name="sue", role="supplier", supplier="acme") == (201, "")
    assert create(name="sue", role="approver") == (409, "Conflict")
    assert create(name="Sue Smith", role="approver")[0] == 422
    users = client.get("/api/v1/users", headers=AUTH).json()["items"]
    assert {u["name"]: u["supplier"] for u in users} == {"admin": None, "sue": "acme"}


def test_a_registered_supplier_can_be_bound_and_publishes_only_its_own(client: TestClient) -> None:
    created = client.post(
        "/api/v1/suppliers", headers=AUTH, json={"slug": "initech", "name": "Initech", "size": "large"}
    )
    assert created.status_code == 201 and created.json()["templates"] == []
    assert (
        client.post("/api/v1/suppliers", headers=AUTH, json={"slug": "initech", "name": "Again"}).status_code
        == 409
    )
    client.post(
        "/api/v1/users", headers=AUTH, json={"name": "ivy", "role": "supplier", "supplier": "initech"}
    )
    token = client.post("/api/v1/users/ivy/tokens", headers=AUTH, json={}).json()["token"]
    ivy = {"Authorization": f"Bearer {token}"}
    theirs = {**GOOD, "metadata": {**GOOD["metadata"], "version": "9.0.0"}}
    assert client.post("/api/v1/templates", headers=ivy, json=theirs).status_code == 403
    mine = {**GOOD, "metadata": {**GOOD["metadata"], "name": "tps", "supplier": "initech"}}
    assert client.post("/api/v1/templates", headers=ivy, json=mine).status_code == 201
    listed = client.get("/api/v1/suppliers", headers=ivy).json()["items"]
    assert {s["slug"]: s["templates"] for s in listed}["initech"] == ["tps"]


def test_quarantining_a_version_stops_new_trials_from_it(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    changed = client.post(
        "/api/v1/templates/demo/versions/1.0.0/status",
        headers=people["pat"],
        json={"status": "Quarantined", "reason": "CVE-2026-0001"},
    )
    assert changed.status_code == 200 and changed.json()["status_reason"] == "CVE-2026-0001"
    detail = client.get("/api/v1/templates/demo", headers=people["alice"]).json()
    assert [(v["version"], v["status"]) for v in detail["versions"]] == [("1.0.0", "Quarantined")]
    names = [t["name"] for t in client.get("/api/v1/templates", headers=AUTH).json()["items"]]
    assert names == ["pair"]
    answer = client.post(
        "/api/v1/trials",
        headers=people["alice"],
        json={"template": "demo@1.0.0", "title": "t", "hypothesis": "h"},
    )
    assert answer.status_code == 422 and "quarantined" in answer.json()["detail"]
    unknown = client.post(
        "/api/v1/templates/demo/versions/1.0.0/status", headers=people["pat"], json={"status": "Draft"}
    )
    assert unknown.status_code == 422


def test_the_audit_log_names_actor_source_and_object(client: TestClient) -> None:
    client.post("/api/v1/users", headers=AUTH, json={"name": "dee", "role": "approver"})
    made = client.post("/api/v1/users/dee/tokens", headers=AUTH, json={}).json()
    items = client.get("/api/v1/audit?limit=2", headers=AUTH).json()["items"]
    assert [(a["action"], a["actor"], a["source"], a["object_id"]) for a in items] == [
        ("token.create", "admin", "testclient", str(made["id"])),
        ("user.create", "admin", "testclient", "dee"),
    ]
    assert made["token"] not in json.dumps(items)


def test_each_person_sees_only_the_trials_they_should(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    private = launch(client, people["alice"])["id"]
    shared = launch(client, people["alice"], shared_with_department=True)["id"]
    other = launch(client, people["carol"], template="pair")["id"]

    def seen(person: str) -> set[str]:
        return {t["id"] for t in client.get("/api/v1/trials", headers=people[person]).json()["items"]}

    assert seen("alice") == {private, shared}
    assert seen("bob") == {shared}  # same department, shared only
    assert seen("carol") == {other}
    assert seen("sam") == seen("gus") == set()  # suppliers see aggregates, never trials
    assert seen("ann") == seen("pat") == {private, shared, other}


def test_selectors_filter_trials_server_side(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    ready = launch(client, people["alice"])["id"]
    run_until_ready(client, fake_driver, ready)
    waiting = launch(client, people["carol"], template="pair")["id"]

    def ids(query: str) -> list[str]:
        answer = client.get(f"/api/v1/trials?{query}", headers=AUTH)
        assert answer.status_code == 200, answer.text
        return [t["id"] for t in answer.json()["items"]]

    assert ids("phase=Ready") == [ready]
    assert ids("template=pair") == [waiting]
    assert ids("template=pair@9.9.9") == []
    assert ids("owner=alice&template=demo") == [ready]
    assert ids("department=hmrc") == [waiting]
    assert client.get("/api/v1/trials?phase=Sleeping", headers=AUTH).status_code == 422


def test_a_watch_starts_with_every_matching_trial(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    first = launch(client, people["alice"])["id"]
    launch(client, people["alice"], template="pair")
    answer = client.get("/api/v1/trials?watch=true&timeout_seconds=0&template=demo", headers=people["alice"])
    assert answer.headers["content-type"] == "application/x-ndjson"
    events = [json.loads(line) for line in answer.text.splitlines()]
    assert [(e["type"], e["object"]["id"]) for e in events] == [("ADDED", first)]


def test_a_watch_sends_what_changed_and_only_that(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    from api import watch
    from orchestrator import crud
    from orchestrator.models import User
    from orchestrator.sandbox_hosts import address

    trial_id = launch(client, people["alice"])["id"]
    launch(client, people["alice"], template="pair")
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        alice = session.exec(select(User).where(User.name == "alice")).one()
    spec = watch.WatchSpec(
        user=alice,
        selectors=crud.TrialFilter(),
        sandboxes=address("http://x/", "sandbox.localhost"),
        interval=0.1,
        timeout=0,
    )
    cursor = watch._Cursor()
    assert [json.loads(line)["type"] for line in watch._poll(engine, spec, cursor)] == ["ADDED"] * 2
    assert watch._poll(engine, spec, cursor) == []  # nothing changed, nothing sent
    client.post(f"/api/v1/trials/{trial_id}/end", headers=people["alice"])
    changed = [json.loads(line) for line in watch._poll(engine, spec, cursor)]
    assert [(e["type"], e["object"]["id"]) for e in changed] == [("MODIFIED", trial_id)]
    assert changed[0]["object"]["end_requested_at"] is not None


def test_logs_stream_from_the_runtime(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = launch(client, people["alice"])["id"]
    early = client.get(f"/api/v1/trials/{trial_id}/logs/web", headers=people["alice"])
    assert early.status_code == 409 and early.json()["reason"] == "NoSandbox"
    run_until_ready(client, fake_driver, trial_id)
    answer = client.get(f"/api/v1/trials/{trial_id}/logs/web?tail=5", headers=people["alice"])
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert answer.text == f"{trial_id}/web: hello\n"
    missing = client.get(f"/api/v1/trials/{trial_id}/logs/db", headers=people["alice"])
    assert missing.status_code == 404 and "it has web" in missing.json()["detail"]


def test_nul_characters_are_refused_not_a_server_error(client: TestClient) -> None:
    """PostgreSQL cannot store or compare NUL: every way in answers 422 naming the field."""
    body = client.post(
        "/api/v1/trials", headers=AUTH, json={"template": "demo", "title": "a\x00b", "hypothesis": "h"}
    )
    query = client.get("/api/v1/trials?owner=a%00b", headers=AUTH)
    manifest = client.post(
        "/api/v1/templates",
        headers=AUTH,
        json={**GOOD, "metadata": {**GOOD["metadata"], "description": "x\x00"}},
    )
    assert [(a.status_code, a.json()["problems"][0]["field"]) for a in (body, query, manifest)] == [
        (422, "title"),
        (422, "owner"),
        (422, "(body)"),
    ]


def test_quarantining_a_version_tears_down_its_running_trials(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    running = launch(client, people["alice"])
    run_until_ready(client, fake_driver, running["id"])
    other = launch(client, people["alice"], template="pair")
    changed = client.post(
        "/api/v1/templates/demo/versions/1.0.0/status",
        headers=people["pat"],
        json={"status": "Quarantined", "reason": "CVE-2026-0001"},
    )
    assert changed.status_code == 200
    reconciler(client, fake_driver).reconcile_once(now=datetime.now(UTC))
    stopped = client.get(f"/api/v1/trials/{running['id']}", headers=people["alice"]).json()
    assert (stopped["phase"], stopped["reason"]) == ("Stopped", "TemplateQuarantined")
    assert "quarantined" in stopped["message"] and running["id"] not in fake_driver.resources
    events = client.get(f"/api/v1/trials/{running['id']}/events", headers=people["alice"]).json()
    assert any("quarantined by pat" in e["message"] for e in events["items"])
    survivor = client.get(f"/api/v1/trials/{other['id']}", headers=people["alice"]).json()
    assert survivor["phase"] != "Stopped", "a trial of another template goes on"
