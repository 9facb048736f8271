"""Hostile challenges, responses, questions and sessions against the engagement API, on SQLite
and PostgreSQL: every refusal names the field (or the rule) and stores nothing; another
person's draft is not found and shows nothing; template injection in a challenge's words is
stored and exported exactly as typed, never evaluated."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fakes import FakeDriver
from tests.reliability.hostile_corpus import INJECTIONS, PAYLOAD, never_evaluated
from tests.reliability.test_hostile_input import nothing_stored, refused
from tests.service import conftest as service
from tests.service import test_web_pages as web_pages
from tests.service.conftest import AUTH

# The service tests' fixtures: the den on each database, its people and its fake runtime.
client, settings = web_pages.client, web_pages.settings
fake_driver, people = service.fake_driver, service.people


def _later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def _challenge(**change: Any) -> dict[str, Any]:
    return {
        "title": "Missed appointments",
        "problem": "People miss them",
        "closes_at": _later(days=10),
        **change,
    }


CHALLENGE_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("owner asked for", {"owner_id": 1}, "owner_id"),
    ("published by a field", {"published_at": _later(days=-1)}, "published_at"),
    ("stage set by a field", {"stage": "Decided"}, "stage"),
    ("empty title", {"title": ""}, "title"),
    ("long title", {"title": "x" * 201}, "title"),
    ("huge problem", {"problem": "x" * 5001}, "problem"),
    ("NUL in the problem", {"problem": "a\u0000b"}, "problem"),
    ("negative budget", {"budget_min": -1, "budget_max": 10}, "budget_min"),
    ("absurd budget", {"budget_min": 1, "budget_max": 10**15}, "budget_max"),
    ("half a budget", {"budget_min": 100}, "budget_max"),
    ("closing in the past", {"closes_at": _later(days=-1)}, "closes_at"),
    ("closing without a time zone", {"closes_at": "2099-01-01T10:00:00"}, "closes_at"),
    ("closing date injection", {"closes_at": "2099-01-01'; DROP TABLE challenge; --"}, "closes_at"),
    ("questions after closing", {"questions_close_at": _later(days=30)}, "questions_close_at"),
    ("too many problem areas", {"problem_areas": ["a"] * 21}, "problem_areas"),
    ("a problem area of a paragraph", {"problem_areas": ["x" * 61]}, "problem_areas[0]"),
    ("a name that is not a DNS label", {"name": "../etc"}, "name"),
]


@pytest.mark.parametrize("case, change, field", CHALLENGE_CASES, ids=[c[0] for c in CHALLENGE_CASES])
def test_a_hostile_challenge_is_refused_naming_the_field(
    client: TestClient,
    people: dict[str, dict[str, str]],
    fake_driver: FakeDriver,
    case: str,
    change: dict[str, Any],
    field: str,
) -> None:
    with nothing_stored(client, fake_driver):
        refused(client.post("/api/v1/challenges", headers=people["alice"], json=_challenge(**change)), field)


def _published(client: TestClient, people: dict[str, dict[str, str]]) -> str:
    made = client.post("/api/v1/challenges", headers=people["alice"], json=_challenge(publish=True))
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


RESPONSE_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("template traversal", {"templates": ["../../etc/passwd"]}, "templates[0]"),
    ("version traversal", {"templates": ["demo@../../1.0.0"]}, "templates[0]"),
    ("no template", {"templates": []}, "templates"),
    ("too many templates", {"templates": ["demo"] * 11}, "templates"),
    ("a template twice", {"templates": ["demo", "demo"]}, "templates"),
    ("supplier chosen by a field", {"supplier_id": 2}, "supplier_id"),
    ("a conflict without its detail", {"conflict_declared": True}, "conflict_detail"),
    ("no declaration", {"conflict_declared": None}, "conflict_declared"),
]


@pytest.mark.parametrize("case, change, field", RESPONSE_CASES, ids=[c[0] for c in RESPONSE_CASES])
def test_a_hostile_response_is_refused_naming_the_field(
    client: TestClient,
    people: dict[str, dict[str, str]],
    fake_driver: FakeDriver,
    case: str,
    change: dict[str, Any],
    field: str,
) -> None:
    challenge = _published(client, people)
    body = {"summary": "We help", "templates": ["demo"], "conflict_declared": False, **change}
    with nothing_stored(client, fake_driver):
        refused(
            client.post(f"/api/v1/challenges/{challenge}/responses", headers=people["sam"], json=body), field
        )


def test_another_supplier_s_template_and_others_writes_change_nothing(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    challenge = _published(client, people)
    base = f"/api/v1/challenges/{challenge}"
    with nothing_stored(client, fake_driver):
        stolen = client.post(
            f"{base}/responses",
            headers=people["gus"],
            json={"summary": "x", "templates": ["demo"], "conflict_declared": False},
        )
        assert stolen.status_code == 422 and stolen.json()["reason"] == "NotSuppliersTemplate"
        for person in ("bob", "gus", "sam", "pat"):
            assert client.post(f"{base}/close", headers=people[person]).status_code == 403
            assert (
                client.put(f"{base}/decision", headers=people[person], json={"decision": "x"}).status_code
                == 403
            )
        for url in ("javascript:alert(document.cookie)", "http://[::1", "file:///etc/passwd", "https://"):
            material = {"title": "Click me", "url": url}
            answer = client.post(f"{base}/sessions/1/materials", headers=people["alice"], json=material)
            assert answer.status_code == 422, (url, answer.text)
        session = {
            "title": "Q&A",
            "starts_at": _later(days=1),
            "ends_at": _later(days=1, hours=1),
            "mode": "carrier-pigeon",
            "place": "x",
            "capacity": 10**9,
        }
        refused(client.post(f"{base}/sessions", headers=people["alice"], json=session), "mode")


def test_another_person_s_draft_is_not_found_and_shows_nothing(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    secret = "Only alice may read this problem before it is published"
    draft = client.post("/api/v1/challenges", headers=people["alice"], json=_challenge(problem=secret)).json()
    base = f"/api/v1/challenges/{draft['id']}"
    with nothing_stored(client, fake_driver):
        for person in ("bob", "carol", "sam", "gus"):
            for method, path, body in [
                ("GET", base, None),
                ("PUT", base, _challenge()),
                ("POST", f"{base}/publish", None),
                ("GET", f"{base}/questions", None),
                ("POST", f"{base}/questions", {"question": "?"}),
                ("GET", f"{base}/sessions", None),
                (
                    "POST",
                    f"{base}/responses",
                    {"summary": "x", "templates": ["demo"], "conflict_declared": False},
                ),
            ]:
                answer = client.request(method, path, headers=people[person], json=body)
                assert answer.status_code == 404, (person, method, path, answer.text)
                assert secret not in answer.text
            assert secret not in client.get("/api/v1/challenges", headers=people[person]).text


def test_template_injection_in_a_challenge_is_stored_and_exported_literally(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    asked = {
        "title": PAYLOAD[:200],
        "problem": PAYLOAD,
        "users_and_need": PAYLOAD,
        "tried": PAYLOAD,
        "constraints": PAYLOAD,
        "timeline": PAYLOAD[:2000],
        "problem_areas": [p[:60] for p in INJECTIONS],
    }
    made = client.post("/api/v1/challenges", headers=people["alice"], json=_challenge(publish=True, **asked))
    assert made.status_code == 201, made.text
    challenge = made.json()
    assert {key: challenge[key] for key in asked} == asked
    question = client.post(
        f"/api/v1/challenges/{challenge['id']}/questions",
        headers=people["sam"],
        json={"question": PAYLOAD[:2000]},
    )
    assert question.status_code == 201 and question.json()["question"] == PAYLOAD[:2000].strip()
    uk2 = client.get(f"/api/v1/challenges/{challenge['id']}/uk2?format=text", headers=people["alice"])
    ocds = client.get(f"/api/v1/challenges/{challenge['id']}/ocds", headers=people["alice"])
    assert PAYLOAD in uk2.text and ocds.json()["releases"][0]["tender"]["description"] == PAYLOAD
    for text in (made.text, json.dumps(challenge), uk2.text, ocds.text, question.text):
        never_evaluated(text)
    audit = client.get(f"/api/v1/audit?object_id={challenge['id']}", headers=AUTH)
    never_evaluated(audit.text)
