"""Team trials (in process, SQLite and PostgreSQL): the owner adds civil servants as
collaborators or assessors, members see the trial and open its sandbox and strangers do not,
every change of membership is audited, the caps count a trial once, and two assessors' scores
are moderated by the owner into the one evaluation the report carries.

People as in tests/service/conftest.py: alice owns, bob is her colleague in dwp, carol is of
hmrc, sam a supplier, pat a platform engineer, ann an approver. The sandbox is the echo workload
of tests/service/test_sandbox_access.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.main import create_app
from orchestrator import crud, db
from orchestrator.models import AuditEvent
from orchestrator.settings import Settings
from tests.fakes import FakeDriver
from tests.service import test_sandbox_access as sandbox_access
from tests.service.conftest import AUTH, QUESTION, SCORES, launch, run_until_ready, serving
from tests.service.test_sandbox_access import browser, csrf_of, engine_of, enter, visit

# The echo workload's fixtures: its trials' `web` endpoints answer for real.
echo = sandbox_access.echo
fake_driver = sandbox_access.fake_driver
client = sandbox_access.client


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # One active trial per person, two per department: enough to see what a trial counts.
    return settings.model_copy(
        update={"max_active_trials_per_user": 1, "max_active_trials_per_department": 2}
    )


def members_url(trial_id: str, *rest: str) -> str:
    return "/".join((f"/api/v1/trials/{trial_id}/members", *rest))


def add(client: TestClient, trial_id: str, headers: dict[str, str], user: str, role: str) -> Any:
    return client.post(members_url(trial_id), headers=headers, json={"user": user, "role": role})


def audit_rows(client: TestClient, trial_id: str) -> list[AuditEvent]:
    with Session(engine_of(client)) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.object_id == trial_id)).all())


def test_the_owner_adds_and_removes_members_and_every_change_is_audited(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    trial_id = launch(client, people["alice"])["id"]
    added = add(client, trial_id, people["alice"], "carol", "assessor")
    assert added.status_code == 201, added.text
    assert added.json() | {"added_at": None} == {
        "user": "carol",
        "display_name": "",
        "department": "hmrc",
        "role": "assessor",
        "added_by": "alice",
        "added_at": None,
    }
    assert add(client, trial_id, people["alice"], "bob", "collaborator").status_code == 201
    listed = client.get(members_url(trial_id), headers=people["carol"])
    assert listed.status_code == 200, listed.text
    assert listed.json()["owner"] == "alice"
    assert [(m["user"], m["role"]) for m in listed.json()["items"]] == [
        ("carol", "assessor"),
        ("bob", "collaborator"),
    ]

    again = add(client, trial_id, people["alice"], "carol", "collaborator")
    assert again.status_code == 409 and "already a member" in again.json()["detail"]
    unknown = add(client, trial_id, people["alice"], "nobody", "assessor")
    assert unknown.status_code == 404 and "nobody" in unknown.json()["detail"]
    for who in ("sam", "pat", "alice"):
        refused = add(client, trial_id, people["alice"], who, "assessor")
        assert refused.status_code == 422, (who, refused.text)
        assert refused.json()["problems"][0]["field"] == "user"
    wrong_role = add(client, trial_id, people["alice"], "carol", "boss")
    assert wrong_role.status_code == 422 and "role" in wrong_role.text

    removed = client.delete(members_url(trial_id, "bob"), headers=people["alice"])
    assert removed.status_code == 204, removed.text
    assert client.delete(members_url(trial_id, "bob"), headers=people["alice"]).status_code == 404
    assert client.get(f"/api/v1/trials/{trial_id}", headers=people["bob"]).status_code == 404

    rows = [
        (r.action, r.actor, r.detail)
        for r in audit_rows(client, trial_id)
        if r.action.startswith("trial.member")
    ]
    assert rows == [
        ("trial.member.add", "alice", {"user": "carol", "role": "assessor"}),
        ("trial.member.add", "alice", {"user": "bob", "role": "collaborator"}),
        ("trial.member.remove", "alice", {"user": "bob", "role": "collaborator"}),
    ]
    timeline = [
        e["message"] for e in client.get(f"/api/v1/trials/{trial_id}/events", headers=AUTH).json()["items"]
    ]
    assert "carol added as assessor by alice" in timeline and "bob removed by alice" in timeline


def test_only_the_owner_manages_members_and_strangers_see_nothing(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    trial_id = launch(client, people["alice"])["id"]
    assert add(client, trial_id, people["alice"], "carol", "collaborator").status_code == 201
    # A member sees the trial but does not manage its members.
    assert add(client, trial_id, people["carol"], "bob", "assessor").status_code == 403
    assert client.delete(members_url(trial_id, "carol"), headers=people["carol"]).status_code == 403
    # A stranger (a colleague of the owner's, the trial unshared) is told nothing about it.
    for stranger in ("bob", "sam"):
        assert client.get(f"/api/v1/trials/{trial_id}", headers=people[stranger]).status_code == 404
        assert client.get(members_url(trial_id), headers=people[stranger]).status_code == 404
        assert add(client, trial_id, people[stranger], "bob", "assessor").status_code == 404
    # The member sees it in the list, its timeline, and itself.
    listed = client.get("/api/v1/trials", headers=people["carol"]).json()["items"]
    assert [t["id"] for t in listed] == [trial_id]
    assert client.get(f"/api/v1/trials/{trial_id}/events", headers=people["carol"]).status_code == 200
    assert [t["id"] for t in client.get("/api/v1/trials", headers=people["bob"]).json()["items"]] == []
    # A platform engineer helps: adds and removes.
    assert add(client, trial_id, people["pat"], "bob", "assessor").status_code == 201
    assert client.delete(members_url(trial_id, "bob"), headers=people["pat"]).status_code == 204


def test_a_collaborator_extends_but_only_the_owner_ends(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = launch(client, people["alice"])["id"]
    run_until_ready(client, fake_driver, trial_id)
    add(client, trial_id, people["alice"], "carol", "collaborator")
    add(client, trial_id, people["alice"], "bob", "assessor")
    extended = client.post(
        f"/api/v1/trials/{trial_id}/extend", headers=people["carol"], json={"duration_seconds": 60}
    )
    assert extended.status_code == 200, extended.text
    assert extended.json()["duration_seconds"] == 660
    refused = client.post(
        f"/api/v1/trials/{trial_id}/extend", headers=people["bob"], json={"duration_seconds": 60}
    )
    assert refused.status_code == 403
    assert client.post(f"/api/v1/trials/{trial_id}/end", headers=people["carol"]).status_code == 403


def test_a_team_trial_counts_once_against_its_owner_and_department(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    trial_id = launch(client, people["alice"])["id"]
    assert add(client, trial_id, people["alice"], "bob", "collaborator").status_code == 201
    assert add(client, trial_id, people["alice"], "carol", "assessor").status_code == 201
    # bob is on alice's trial, yet his own one trial is his to start; carol's department is
    # not charged for a trial she is a member of.
    launch(client, people["bob"])
    launch(client, people["carol"])
    with Session(engine_of(client)) as session:
        usage, _ = crud.usage(session, user=crud.get_user(session, name="bob"), template="demo")
        assert (usage.of_user, usage.of_department, usage.trials) == (1, 2, 3)
        usage, _ = crud.usage(session, user=crud.get_user(session, name="carol"), template="demo")
        assert (usage.of_user, usage.of_department) == (1, 1)
    # alice's one trial is hers, counted once: a second is over her cap.
    refused = client.post(
        "/api/v1/trials",
        headers=people["alice"],
        json={"template": "demo", "title": "t", "hypothesis": "h", "duration_seconds": 600},
    )
    assert refused.status_code == 422, refused.text
    assert "1 of your trials are active" in refused.json()["detail"]


def test_a_member_opens_the_sandbox_until_removed_and_a_stranger_never(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = launch(client, people["alice"])["id"]
    run_until_ready(client, fake_driver, trial_id)
    add(client, trial_id, people["alice"], "carol", "assessor")
    opened = client.post(f"/api/v1/trials/{trial_id}/open", headers=people["carol"], json={})
    assert opened.status_code == 201, opened.text
    assert client.post(f"/api/v1/trials/{trial_id}/open", headers=people["bob"], json={}).status_code == 404
    carol = browser(client, "carol")
    page = carol.get(f"/trials/{trial_id}/open/web")
    assert page.status_code == 200
    handed = carol.post(f"/trials/{trial_id}/open/web", data={"csrf_token": csrf_of(page.text), "next": "/"})
    cookie = enter(carol, handed.headers["location"])
    assert visit(client, trial_id, cookie).status_code == 200
    assert browser(client, "bob").get(f"/trials/{trial_id}/open/web").status_code == 404
    # Removed, carol's sandbox session stops at her next request.
    assert client.delete(members_url(trial_id, "carol"), headers=people["alice"]).status_code == 204
    assert visit(client, trial_id, cookie).status_code != 200


def assess(client: TestClient, trial_id: str, headers: dict[str, str], score: int) -> Any:
    scores = {d: {"score": score, "evidence": f"{d} seen"} for d in SCORES}
    return client.put(f"/api/v1/trials/{trial_id}/assessments/me", headers=headers, json={"scores": scores})


def test_two_assessors_scores_are_moderated_into_one_evaluation_and_reported(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = launch(client, people["alice"])["id"]
    run_until_ready(client, fake_driver, trial_id)
    add(client, trial_id, people["alice"], "bob", "assessor")
    add(client, trial_id, people["alice"], "carol", "assessor")
    add(client, trial_id, people["alice"], "pat", "collaborator")  # refused: not a civil servant
    assert assess(client, trial_id, people["bob"], 2).status_code == 200
    first = assess(client, trial_id, people["carol"], 3)
    assert first.status_code == 200, first.text
    assert assess(client, trial_id, people["carol"], 5).status_code == 200  # changed her mind
    # Every dimension needs a score with evidence, named as the evaluation names them.
    partial = client.put(
        f"/api/v1/trials/{trial_id}/assessments/me",
        headers=people["bob"],
        json={"scores": {"user_need": {"score": 4, "evidence": ""}}},
    )
    assert partial.status_code == 422
    fields = {p["field"] for p in partial.json()["problems"]}
    assert {"scores.user_need.evidence", "scores.privacy"} <= fields
    # A stranger is told nothing; an approver sees the trial but does not score it.
    assert assess(client, trial_id, people["sam"], 4).status_code == 404
    assert assess(client, trial_id, people["ann"], 4).status_code == 403

    listed = client.get(f"/api/v1/trials/{trial_id}/assessments", headers=people["alice"])
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [(a["assessor"], a["scores"]["privacy"]["score"]) for a in body["items"]] == [
        ("bob", 2),
        ("carol", 5),
    ]
    assert body["assessor_count"] == 2
    assert body["dimensions"]["privacy"] == {"scores": [2, 5], "mean": 3.5, "spread": 3}

    moderated = {d: {"score": 4, "evidence": "moderated: bob 2, carol 5"} for d in SCORES}
    answer = client.put(
        f"/api/v1/trials/{trial_id}/evaluation",
        headers=people["alice"],
        json={**QUESTION, "scores": moderated, "decision": "iterate"},
    )
    assert answer.status_code == 200, answer.text
    report = client.get("/api/v1/reports/trials", headers=people["alice"]).json()
    assert report["schema"] == "innovation-den.io/trial-report/v4"
    (row,) = report["items"]
    assert (row["assessor_count"], row["privacy_score"], row["decision"]) == (2, 4, "iterate")
    csv = client.get("/api/v1/reports/trials?format=csv", headers=people["alice"]).text
    assert "assessor_count" in csv.splitlines()[0]
    actions = [r.action for r in audit_rows(client, trial_id)]
    assert actions.count("trial.assess") == 3 and "trial.evaluate" in actions


def test_the_trial_page_manages_the_team_and_takes_an_assessors_scores(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = launch(client, people["alice"])["id"]
    run_until_ready(client, fake_driver, trial_id)
    alice, carol = browser(client, "alice"), browser(client, "carol")
    page = alice.get(f"/trials/{trial_id}")
    assert "Nobody else is on this trial yet" in page.text and 'action="/trials/' in page.text
    nobody = alice.post(
        f"/trials/{trial_id}/members",
        data={"csrf_token": csrf_of(page.text), "member-user": "nobody", "member-role": "assessor"},
    )
    assert nobody.status_code == 404 and "no user" in nobody.text and "govuk-error-summary" in nobody.text
    added = alice.post(
        f"/trials/{trial_id}/members",
        data={"csrf_token": csrf_of(page.text), "member-user": "Carol", "member-role": "assessor"},
    )
    assert added.status_code == 303 and added.headers["location"].endswith("done=member-added")
    assert "The member has been added" in alice.get(added.headers["location"]).text

    seen = carol.get(f"/trials/{trial_id}")
    assert seen.status_code == 200 and "Your own scores" in seen.text
    assert f"/trials/{trial_id}/members" not in seen.text.replace(
        f"/trials/{trial_id}/members/", ""
    )  # no add form
    form = {"csrf_token": csrf_of(seen.text), **{f"score-{d}": "3" for d in SCORES}}
    missing = carol.post(f"/trials/{trial_id}/assessment", data=form)
    assert missing.status_code == 422 and "Enter the evidence for user need met" in missing.text
    form |= {f"evidence-{d}": "seen it" for d in SCORES}
    saved = carol.post(f"/trials/{trial_id}/assessment", data=form)
    assert saved.status_code == 303, saved.text
    twin = alice.get(f"/trials/{trial_id}.json").json()["team"]
    assert twin["members"][0]["user"] == "carol"
    assert twin["agreement"]["privacy"] == {"scores": [3], "mean": 3.0, "spread": 0}
    assert "Assessors&#39; scores" in alice.get(f"/trials/{trial_id}").text

    removed = alice.post(f"/trials/{trial_id}/members/carol/remove", data={"csrf_token": csrf_of(page.text)})
    assert removed.status_code == 303
    assert carol.get(f"/trials/{trial_id}").status_code == 404


def test_denctl_lists_a_trials_members(settings: Settings, tmp_path: Path) -> None:
    app = create_app(settings, with_reconciler=False, driver=FakeDriver(ready_after=1))
    with serving(app) as url:
        now = datetime.now(UTC)
        with db.session_scope(app.state.engine) as session:
            for name, department in (("alice", "dwp"), ("carol", "hmrc")):
                user = crud.create_user(
                    session,
                    actor=None,
                    now=now,
                    data=crud.NewUser(name=name, role="civil_servant", department=department),
                )
                crud.issue_token(session, user=user, now=now, token=f"token-{name}-" + "x" * 20)
        alice = {"Authorization": "Bearer token-alice-" + "x" * 20}
        made = httpx.post(
            f"{url}/api/v1/trials",
            headers=alice,
            json={"template": "demo", "title": "t", "hypothesis": "h", "duration_seconds": 600},
            timeout=60,
        )
        assert made.status_code == 201, made.text
        trial_id = made.json()["id"]
        added = httpx.post(
            f"{url}/api/v1/trials/{trial_id}/members",
            headers=alice,
            json={"user": "carol", "role": "assessor"},
        )
        assert added.status_code == 201, added.text
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEN_")}
        env |= {
            "DEN_SERVER": url,
            "DEN_TOKEN": "token-alice-" + "x" * 20,
            "DENCTL_CONFIG": str(tmp_path / "c.yaml"),
        }

        def denctl(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "cli.denctl", *args],
                capture_output=True,
                text=True,
                timeout=120,
                env=env,
            )

        table = denctl("members", trial_id)
        assert table.returncode == 0, table.stderr
        header, row = table.stdout.splitlines()
        assert header.split() == ["NAME", "ROLE", "DEPARTMENT", "ADDED", "BY", "AGE"]
        assert row.split()[:4] == ["carol", "assessor", "hmrc", "alice"]
        as_json = denctl("members", f"trials/{trial_id}", "-o", "json")
        assert [m["user"] for m in json.loads(as_json.stdout)["items"]] == ["carol"]
        missing = denctl("members", "t000000000000")
        assert missing.returncode != 0 and "t000000000000" in missing.stderr
