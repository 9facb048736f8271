"""Lists in pages (`limit`, `continue`, `metadata.continue`) and conditional reads (`ETag`,
`If-None-Match`, 304) on the real service and its database; `denctl get --chunk-size` against
a real server (uvicorn in a thread) as a real process."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from api.main import create_app
from orchestrator import crud, db
from orchestrator.lifecycle import Phase
from orchestrator.models import SandboxTemplate, TemplateVersion, Trial, User
from orchestrator.settings import Settings
from tests.conftest import ROOT
from tests.fakes import FakeDriver
from tests.service.conftest import AUTH, launch, serving
from tests.service.test_web_pages import browser


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Room for the trials launched between pages."""
    return settings.model_copy(
        update={"max_active_trials_per_user": 100, "max_active_trials_per_department": 100}
    )


def bulk_trials(engine: Engine, *, owner: str, count: int, newest: datetime) -> None:
    """`count` ended trials of `owner`, three to each `created_at` (so the order's tie-break,
    the id, is walked too), the newest at `newest`."""
    with db.session_scope(engine) as session:
        user = session.exec(select(User).where(User.name == owner)).one()
        template, version = session.exec(
            select(SandboxTemplate, TemplateVersion)
            .join(TemplateVersion)
            .where(SandboxTemplate.name == "demo", TemplateVersion.status == "Published")
        ).one()
        for i in range(count):
            when = newest - timedelta(seconds=i // 3)
            session.add(
                Trial(
                    owner_id=user.id or 0,
                    department=user.department,
                    template_version_id=version.id or 0,
                    template_name=template.name,
                    template_version=version.version,
                    title=f"Bulk {i}",
                    hypothesis="It helps",
                    duration_seconds=600,
                    phase=Phase.STOPPED,
                    reason="Expired",
                    phase_changed_at=when,
                    created_at=when,
                    ended_at=when,
                )
            )


def walk(client: TestClient, path: str, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every page of a list: each page's body."""
    pages = []
    while True:
        answer = client.get(path, headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        token = answer.json()["metadata"].get("continue")
        if token is None:
            return pages
        params = {**params, "continue": token}


def problem_fields(answer: Any) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.json()["reason"] == "ValidationFailed"
    return [p["field"] for p in answer.json()["problems"]]


# --- pages ---------------------------------------------------------------------------------


def test_a_walk_in_pages_of_100_sees_every_trial_once_newest_first_while_trials_are_created(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    bulk_trials(engine, owner="alice", count=1200, newest=datetime.now(UTC) - timedelta(hours=1))
    before = {launch(client, people[p])["id"] for p in ("alice", "bob") for _ in range(17)}
    with db.session_scope(engine) as session:
        on_record = {t.id for t in session.exec(select(Trial))}
    assert len(on_record) == 1234
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    pages = 0
    while True:
        answer = client.get("/api/v1/trials", headers=people["pat"], params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages += 1
        seen += body["items"]
        assert "remainingItemCount" not in body["metadata"]
        if "continue" not in body["metadata"]:
            break
        assert len(body["items"]) == 100
        launch(client, people["carol"])  # newer than the walk's position: never shown again
        params["continue"] = body["metadata"]["continue"]
    ids = [t["id"] for t in seen]
    assert len(ids) == len(set(ids)), "a trial was shown twice"
    assert set(ids) == on_record, "a trial was missed, or one created during the walk was shown"
    assert before <= set(ids)
    assert pages == 13 and len(seen[-34:]) == 34
    order = [(t["created_at"], t["id"]) for t in seen]
    assert order == sorted(order, reverse=True), "not newest first"
    assert body["metadata"] == {}  # the last page: no continue


def test_without_limit_the_list_answers_as_before_and_says_when_more_follow(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    bulk_trials(engine, owner="alice", count=501, newest=datetime.now(UTC))
    first = client.get("/api/v1/trials", headers=people["alice"]).json()
    assert len(first["items"]) == 500 and first["metadata"]["continue"]
    rest = client.get(
        "/api/v1/trials", headers=people["alice"], params={"continue": first["metadata"]["continue"]}
    ).json()
    assert len(rest["items"]) == 1 and rest["metadata"] == {}


def test_a_token_is_refused_with_other_selectors_another_list_or_changed(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    bulk_trials(engine, owner="alice", count=5, newest=datetime.now(UTC))
    first = client.get("/api/v1/trials", headers=people["alice"], params={"limit": 2, "phase": "Stopped"})
    token = first.json()["metadata"]["continue"]
    again = client.get(
        "/api/v1/trials", headers=people["alice"], params={"limit": 2, "phase": "Stopped", "continue": token}
    )
    assert again.status_code == 200 and len(again.json()["items"]) == 2
    other = client.get("/api/v1/trials", headers=people["alice"], params={"limit": 2, "continue": token})
    assert problem_fields(other) == ["continue"]
    assert "other selectors" in other.json()["problems"][0]["message"]
    assert other.json()["problems"][0]["hint"] == "start again without continue"
    elsewhere = client.get("/api/v1/templates", headers=people["alice"], params={"continue": token})
    assert problem_fields(elsewhere) == ["continue"]
    fields = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    fields["a"][1] = "t000000000000"
    edited = base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")
    changed = client.get(
        "/api/v1/trials", headers=people["alice"], params={"phase": "Stopped", "continue": edited}
    )
    assert problem_fields(changed) == ["continue"]
    assert "changed" in changed.json()["problems"][0]["message"]
    for bad in ("not-a-token", "e30", "W10", "x" * 1001, base64.urlsafe_b64encode(b'{"v":1}').decode()):
        answer = client.get("/api/v1/trials", headers=people["alice"], params={"continue": bad})
        assert problem_fields(answer) == ["query.continue" if len(bad) > 1000 else "continue"], bad


def test_limit_out_of_range_and_pages_in_a_watch_are_refused_naming_the_parameter(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    for path in ("/api/v1/trials", "/api/v1/templates", "/api/v1/users", "/api/v1/audit"):
        for limit in ("0", "1001", "ten"):
            answer = client.get(path, headers=people["pat"], params={"limit": limit})
            assert problem_fields(answer) == ["query.limit"], (path, limit)
    watch = client.get("/api/v1/trials", headers=people["pat"], params={"watch": "true", "limit": 5})
    assert problem_fields(watch) == ["limit"]
    assert "a watch has no pages" in watch.json()["problems"][0]["message"]
    streamed = client.get(
        "/api/v1/trials", headers=people["pat"], params={"watch": "true", "timeout_seconds": 0}
    )
    assert streamed.status_code == 200 and streamed.headers["content-type"] == "application/x-ndjson"
    assert problem_fields(client.get("/api/v1/trials", headers=people["pat"], params={"limt": 5})) == ["limt"]


def test_templates_users_audit_and_a_timeline_come_in_pages_too(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    templates = walk(client, "/api/v1/templates", AUTH, limit=1)
    assert [[t["name"] for t in p["items"]] for p in templates] == [["demo"], ["pair"]]
    everyone = client.get("/api/v1/users", headers=people["pat"]).json()
    users = walk(client, "/api/v1/users", people["pat"], limit=3)
    assert [u["name"] for p in users for u in p["items"]] == [u["name"] for u in everyone["items"]]
    assert len(users) == -(-len(everyone["items"]) // 3) and everyone["metadata"] == {}
    trial = launch(client, people["alice"])
    assert client.post(f"/api/v1/trials/{trial['id']}/end", headers=people["alice"]).status_code == 202
    events = walk(client, f"/api/v1/trials/{trial['id']}/events", people["alice"], limit=1)
    assert [len(p["items"]) for p in events] == [1, 1]
    assert [e["kind"] for p in events for e in p["items"]] == ["Transition", "Intent"]
    audit = walk(client, "/api/v1/audit", people["pat"], limit=1, object_id=trial["id"])
    assert [a["action"] for p in audit for a in p["items"]] == ["trial.end", "trial.create"]
    first = client.get("/api/v1/audit", headers=people["pat"], params={"limit": 1, "object_id": trial["id"]})
    token = first.json()["metadata"]["continue"]
    other = client.get("/api/v1/audit", headers=people["pat"], params={"limit": 1, "continue": token})
    assert problem_fields(other) == ["continue"]


# --- ETag ----------------------------------------------------------------------------------


def test_an_unchanged_trial_is_304_and_a_changed_one_has_a_new_etag(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    trial = launch(client, people["alice"])
    path = f"/api/v1/trials/{trial['id']}"
    first = client.get(path, headers=people["alice"])
    tag = first.headers["etag"]
    assert first.status_code == 200 and tag.startswith('W/"') and first.json()["id"] == trial["id"]
    assert first.headers["cache-control"] == "private, no-cache"
    time.sleep(1.1)  # time_left_seconds counts down; the tag does not follow the clock
    same = client.get(path, headers={**people["alice"], "If-None-Match": tag})
    assert same.status_code == 304 and same.content == b""
    assert same.headers["etag"] == tag and same.headers["cache-control"] == "private, no-cache"
    listed = client.get(
        f"{path.rsplit('/', 1)[0]}/{trial['id']}", headers={**people["alice"], "If-None-Match": f'"x", {tag}'}
    )
    assert listed.status_code == 304
    assert client.post(f"{path}/end", headers=people["alice"]).status_code == 202
    changed = client.get(path, headers={**people["alice"], "If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert changed.json()["end_requested_at"] is not None
    elsewhere = client.get(path, headers={**people["bob"], "If-None-Match": tag})
    assert elsewhere.status_code == 404  # the tag never answers for a trial one may not see


def test_trial_and_template_lists_answer_304_until_something_changes(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    launch(client, people["alice"])
    for path in ("/api/v1/trials", "/api/v1/templates"):
        first = client.get(path, headers=people["alice"])
        tag = first.headers["etag"]
        again = client.get(path, headers={**people["alice"], "If-None-Match": tag})
        assert again.status_code == 304 and again.headers["etag"] == tag, path
    tag = client.get("/api/v1/trials", headers=people["alice"]).headers["etag"]
    launch(client, people["alice"])
    changed = client.get("/api/v1/trials", headers={**people["alice"], "If-None-Match": tag})
    assert changed.status_code == 200 and len(changed.json()["items"]) == 2
    assert changed.headers["etag"] != tag


def test_the_trial_pages_json_twin_answers_304_to_its_poll(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    trial = launch(client, people["alice"])
    alice = browser(client, "alice")
    first = alice.get(f"/trials/{trial['id']}.json")
    assert first.status_code == 200 and first.json()["trial"]["id"] == trial["id"]
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, no-cache"
    time.sleep(1.1)
    polled = alice.get(f"/trials/{trial['id']}.json", headers={"If-None-Match": tag})
    assert polled.status_code == 304 and polled.content == b"" and polled.headers["etag"] == tag
    assert client.post(f"/api/v1/trials/{trial['id']}/end", headers=people["alice"]).status_code == 202
    moved = alice.get(f"/trials/{trial['id']}.json", headers={"If-None-Match": tag})
    assert moved.status_code == 200 and moved.headers["etag"] != tag
    assert [e["kind"] for e in moved.json()["events"]][-1] == "Intent"
    html = alice.get(f"/trials/{trial['id']}", headers={"If-None-Match": tag})
    assert html.status_code == 200 and "etag" not in html.headers  # the page itself is not cached


def test_the_trials_page_shows_fifty_at_a_time_with_older_and_newest_links(
    client: TestClient, people: dict[str, dict[str, str]], engine: Engine
) -> None:
    bulk_trials(engine, owner="alice", count=70, newest=datetime.now(UTC))
    alice = browser(client, "alice")
    first = alice.get("/trials.json")
    assert first.status_code == 200, first.text
    assert len(first.json()["trials"]) == 50 and first.json()["newest"] == ""
    older = first.json()["older"]
    assert older.startswith("/trials?continue=")
    html = alice.get("/trials").text
    assert "govuk-pagination" in html and "Older trials" in html
    second = alice.get(older.replace("/trials?", "/trials.json?"))
    assert second.status_code == 200, second.text
    titles = [t["title"] for t in first.json()["trials"] + second.json()["trials"]]
    assert sorted(titles) == sorted(f"Bulk {i}" for i in range(70))  # each once (ties by id)
    assert [int(t.split()[1]) // 3 for t in titles] == sorted(int(t.split()[1]) // 3 for t in titles)
    assert second.json()["older"] == "" and second.json()["newest"] == "/trials?"
    assert alice.get("/trials?continue=not-a-token").status_code == 422


# --- denctl ----------------------------------------------------------------------------------

TOKEN = "denctl-pages-token-" + "x" * 20


@pytest.fixture
def den(settings: Settings) -> Iterator[tuple[str, Engine]]:
    """A den serving on a real socket, as `den serve` does."""
    app = create_app(settings, with_reconciler=False, driver=FakeDriver(ready_after=1))
    with serving(app) as url:
        engine = app.state.engine
        with db.session_scope(engine) as session:
            now = datetime.now(UTC)
            user = crud.create_user(
                session,
                actor=None,
                now=now,
                data=crud.NewUser(name="alice", role="civil_servant", department="dwp"),
            )
            crud.issue_token(session, user=user, now=now, token=TOKEN)
        yield url, engine


def denctl(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEN_")}
    env.update({"DEN_SERVER": url, "DEN_TOKEN": TOKEN, "DENCTL_CONFIG": str(tmp_path / "denctl.yaml")})
    return subprocess.run(
        [sys.executable, "-m", "cli.denctl", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )


def test_denctl_get_reads_every_page_in_chunks(den: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = den
    bulk_trials(engine, owner="alice", count=510, newest=datetime.now(UTC))
    with db.session_scope(engine) as session:
        on_record = {t.id for t in session.exec(select(Trial))}
    chunked = denctl(url, tmp_path, "get", "tr", "--chunk-size", "100", "-o", "name")
    assert chunked.returncode == 0, chunked.stderr
    names = chunked.stdout.split()
    assert len(names) == 510 and {n.removeprefix("trials/") for n in names} == on_record
    default = denctl(url, tmp_path, "get", "tr", "-o", "json")
    assert default.returncode == 0, default.stderr
    assert len(json.loads(default.stdout)["items"]) == 510  # 500 a request: two pages
    one = denctl(url, tmp_path, "get", "tr", "--chunk-size", "0", "-o", "name")
    assert one.returncode == 0 and len(one.stdout.split()) == 500
    assert "more than these 500" in one.stderr
    too_big = denctl(url, tmp_path, "get", "tr", "--chunk-size", "5000")
    assert too_big.returncode == 2 and "--chunk-size" in too_big.stderr
