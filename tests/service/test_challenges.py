"""Early engagement through the API: a challenge from draft to decided, two suppliers'
responses, questions answered for all, a session, the equal offer, and the UK2 and OCDS
exports; and every bad input refused with a clear error and nothing changed."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fakes import FakeDriver
from tests.ocds_validation import validate as validate_ocds
from tests.service.conftest import AUTH, SCORES, run_until_ready

pytestmark = pytest.mark.usefixtures("people")


def _later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def challenge_body(**extra: Any) -> dict[str, Any]:
    return {
        "title": "Fewer missed benefit appointments",
        "problem": "A third of claimants miss their first appointment, and rebooking takes weeks.",
        "users_and_need": "Claimants need to know when and where, in a way that reaches them.",
        "tried": "Letters, and text reminders sent by hand.",
        "constraints": "Must work on a basic phone.",
        "budget_min": 20000,
        "budget_max": 80000,
        "timeline": "A pilot from spring",
        "problem_areas": ["appointments", "notifications"],
        "closes_at": _later(days=14),
        "questions_close_at": _later(days=7),
        **extra,
    }


def publish(client: TestClient, people: dict[str, dict[str, str]], **extra: Any) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/challenges", headers=people["alice"], json=challenge_body(publish=True, **extra)
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    assert body["stage"] == "Published"
    return body


def respond(
    client: TestClient, headers: dict[str, str], challenge: str, templates: list[str], **extra: Any
) -> Any:
    return client.post(
        f"/api/v1/challenges/{challenge}/responses",
        headers=headers,
        json={
            "summary": "We send reminders people can answer.",
            "templates": templates,
            "conflict_declared": False,
            **extra,
        },
    )


def test_a_draft_is_its_owner_s_until_published(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    made = client.post(
        "/api/v1/challenges", headers=people["alice"], json=challenge_body(name="appointments")
    )
    assert made.status_code == 201, made.text
    draft = made.json()
    assert draft["stage"] == "Draft" and draft["owner"] == "alice" and draft["department"] == "dwp"
    for other in ("sam", "bob"):
        assert client.get(f"/api/v1/challenges/{draft['id']}", headers=people[other]).status_code == 404
        assert client.get("/api/v1/challenges", headers=people[other]).json()["items"] == []
    assert client.get(f"/api/v1/challenges/{draft['id']}", headers=people["pat"]).status_code == 200
    changed = client.put(
        f"/api/v1/challenges/{draft['id']}",
        headers=people["alice"],
        json=challenge_body(title="Missed appointments"),
    )
    assert changed.status_code == 200 and changed.json()["title"] == "Missed appointments"
    assert (
        client.put(
            f"/api/v1/challenges/{draft['id']}", headers=people["bob"], json=challenge_body()
        ).status_code
        == 404
    )
    published = client.post(f"/api/v1/challenges/{draft['id']}/publish", headers=people["alice"])
    assert published.json()["stage"] == "Published"
    assert (
        client.get(f"/api/v1/challenges/{draft['id']}", headers=people["sam"]).json()["title"]
        == "Missed appointments"
    )
    again = client.put(f"/api/v1/challenges/{draft['id']}", headers=people["alice"], json=challenge_body())
    assert again.status_code == 422 and again.json()["reason"] == "ChallengeNotDraft"
    twice = client.post(
        "/api/v1/challenges", headers=people["alice"], json=challenge_body(name="appointments")
    )
    assert twice.status_code == 409
    assert (
        client.get("/api/v1/challenges?name=appointments", headers=people["alice"]).json()["items"][0]["id"]
        == draft["id"]
    )


def test_only_civil_servants_and_approvers_write_challenges(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    for who, status in (("sam", 403), ("pat", 403), ("ann", 201), ("carol", 201)):
        answer = client.post("/api/v1/challenges", headers=people[who], json=challenge_body())
        assert answer.status_code == status, (who, answer.text)


def test_a_challenge_s_fields_are_checked_each_with_its_fix(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    bad = challenge_body(
        closes_at=_later(days=-1), questions_close_at=_later(days=3), budget_min=9000, budget_max=10
    )
    answer = client.post("/api/v1/challenges", headers=people["alice"], json=bad)
    assert answer.status_code == 422
    fields = {p["field"] for p in answer.json()["problems"]}
    assert {"closes_at", "budget_max"} <= fields, answer.json()
    late = challenge_body(questions_close_at=_later(days=20))
    answer = client.post("/api/v1/challenges", headers=people["alice"], json=late)
    assert answer.status_code == 422 and answer.json()["problems"][0]["field"] == "questions_close_at"
    naive = challenge_body(closes_at="2030-01-01T10:00:00")
    assert client.post("/api/v1/challenges", headers=people["alice"], json=naive).status_code == 422
    assert client.get("/api/v1/challenges", headers=people["alice"]).json()["items"] == []


def test_suppliers_respond_with_their_own_templates_and_never_see_each_other_s(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    challenge = publish(client, people)["id"]
    acme = respond(client, people["sam"], challenge, ["demo"])
    assert acme.status_code == 201, acme.text
    assert acme.json()["templates"][0].startswith("demo@")
    globex = respond(
        client,
        people["gus"],
        challenge,
        ["pair"],
        conflict_declared=True,
        conflict_detail="We built the current system.",
    )
    assert globex.status_code == 201
    # Another supplier's template: refused, and the response unchanged.
    stolen = respond(client, people["sam"], challenge, ["pair"])
    assert stolen.status_code == 422 and stolen.json()["reason"] == "NotSuppliersTemplate"
    assert "another supplier's template" in stolen.json()["detail"]
    mine = client.get(f"/api/v1/challenges/{challenge}/responses", headers=people["sam"]).json()["items"]
    assert [r["supplier"] for r in mine] == ["acme"] and mine[0]["templates"][0].startswith("demo@")
    everyone = client.get(f"/api/v1/challenges/{challenge}/responses", headers=people["alice"]).json()[
        "items"
    ]
    assert [r["supplier"] for r in everyone] == ["acme", "globex"]
    assert everyone[1]["conflict_detail"] == "We built the current system."
    assert client.get(f"/api/v1/challenges/{challenge}/responses", headers=people["bob"]).status_code == 403
    # Replacing keeps one response per supplier.
    assert respond(client, people["sam"], challenge, ["demo"], summary="Better words.").status_code == 201
    assert (
        len(client.get(f"/api/v1/challenges/{challenge}/responses", headers=people["alice"]).json()["items"])
        == 2
    )
    # A declared conflict needs its detail; civil servants do not respond.
    vague = respond(client, people["gus"], challenge, ["pair"], conflict_declared=True)
    assert vague.status_code == 422 and vague.json()["problems"][0]["field"] == "conflict_detail"
    assert respond(client, people["bob"], challenge, ["demo"]).status_code == 403


def test_a_closed_challenge_takes_no_response_and_nothing_changes(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    challenge = publish(client, people)["id"]
    assert respond(client, people["sam"], challenge, ["demo"]).status_code == 201
    closed = client.post(f"/api/v1/challenges/{challenge}/close", headers=people["alice"])
    assert closed.status_code == 200 and closed.json()["stage"] == "Closed"
    late = respond(client, people["sam"], challenge, ["demo"], summary="Changed after closing")
    assert late.status_code == 422 and late.json()["reason"] == "ChallengeClosed"
    assert "closed on" in late.json()["detail"]
    kept = client.get(f"/api/v1/challenges/{challenge}/responses", headers=people["sam"]).json()["items"]
    assert kept[0]["summary"] == "We send reminders people can answer."
    assert respond(client, people["gus"], challenge, ["pair"]).status_code == 422
    assert (
        len(client.get(f"/api/v1/challenges/{challenge}/responses", headers=people["alice"]).json()["items"])
        == 1
    )


def test_questions_are_answered_for_every_supplier_without_saying_who_asked(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    challenge = publish(client, people)["id"]
    asked = client.post(
        f"/api/v1/challenges/{challenge}/questions",
        headers=people["sam"],
        json={"question": "Is there an API for bookings?"},
    )
    assert asked.status_code == 201, asked.text
    question = asked.json()
    assert question["yours"] is True and "sam" not in str(question) and "acme" not in str(question)
    # Unanswered: the asker and the owner see it, the other supplier does not yet.
    assert (
        client.get(f"/api/v1/challenges/{challenge}/questions", headers=people["gus"]).json()["items"] == []
    )
    assert (
        len(client.get(f"/api/v1/challenges/{challenge}/questions", headers=people["alice"]).json()["items"])
        == 1
    )
    assert (
        client.put(
            f"/api/v1/challenges/{challenge}/questions/{question['id']}/answer",
            headers=people["gus"],
            json={"answer": "no"},
        ).status_code
        == 403
    )
    answered = client.put(
        f"/api/v1/challenges/{challenge}/questions/{question['id']}/answer",
        headers=people["alice"],
        json={"answer": "Yes: a REST API, documented for all suppliers."},
    )
    assert answered.status_code == 200
    for who in ("gus", "sam", "bob"):
        items = client.get(f"/api/v1/challenges/{challenge}/questions", headers=people[who]).json()["items"]
        assert [q["answer"] for q in items] == ["Yes: a REST API, documented for all suppliers."], who
        assert items[0]["yours"] is (who == "sam")
        assert set(items[0]) == {"id", "question", "asked_at", "answer", "answered_at", "yours"}
    assert (
        client.post(
            f"/api/v1/challenges/{challenge}/questions", headers=people["bob"], json={"question": "?"}
        ).status_code
        == 403
    )


def test_a_question_after_the_last_date_is_refused_and_nothing_is_stored(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    challenge = publish(client, people, questions_close_at=_later(seconds=4))["id"]
    time.sleep(4.2)
    late = client.post(
        f"/api/v1/challenges/{challenge}/questions", headers=people["sam"], json={"question": "Too late?"}
    )
    assert late.status_code == 422 and late.json()["reason"] == "QuestionsClosed"
    assert "closed on" in late.json()["detail"]
    assert (
        client.get(f"/api/v1/challenges/{challenge}/questions", headers=people["alice"]).json()["items"] == []
    )
    assert (
        client.get(f"/api/v1/challenges/{challenge}", headers=people["sam"]).json()["questions_open"] is False
    )
    # Responses are still taken until the closing date.
    assert respond(client, people["sam"], challenge, ["demo"]).status_code == 201


def test_sessions_take_registrations_up_to_their_places_and_share_materials_with_all(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    challenge = publish(client, people)["id"]
    made = client.post(
        f"/api/v1/challenges/{challenge}/sessions",
        headers=people["alice"],
        json={
            "title": "Questions and answers",
            "starts_at": _later(days=2),
            "ends_at": _later(days=2, hours=1),
            "mode": "online",
            "place": "https://meet.example.gov.uk/abc",
            "capacity": 1,
        },
    )
    assert made.status_code == 201, made.text
    held = made.json()["id"]
    first = client.post(
        f"/api/v1/challenges/{challenge}/sessions/{held}/registrations", headers=people["sam"]
    )
    assert first.status_code == 201 and first.json()["attending"] is True
    assert (
        client.post(
            f"/api/v1/challenges/{challenge}/sessions/{held}/registrations", headers=people["sam"]
        ).status_code
        == 409
    )
    full = client.post(f"/api/v1/challenges/{challenge}/sessions/{held}/registrations", headers=people["gus"])
    assert full.status_code == 422 and full.json()["reason"] == "SessionFull"
    shared = client.post(
        f"/api/v1/challenges/{challenge}/sessions/{held}/materials",
        headers=people["alice"],
        json={"title": "Slides", "url": "https://docs.example.gov.uk/slides.pdf"},
    )
    assert shared.status_code == 201, shared.text
    script = client.post(
        f"/api/v1/challenges/{challenge}/sessions/{held}/materials",
        headers=people["alice"],
        json={"title": "Click", "url": "javascript:alert(1)"},
    )
    assert script.status_code == 422 and script.json()["problems"][0]["field"] == "url"
    seen = client.get(f"/api/v1/challenges/{challenge}/sessions", headers=people["gus"]).json()["items"][0]
    assert seen["attending"] is False and seen["places_left"] == 0 and seen["suppliers"] == []
    assert [m["title"] for m in seen["materials"]] == ["Slides"]
    owner = client.get(f"/api/v1/challenges/{challenge}/sessions", headers=people["alice"]).json()["items"][0]
    assert owner["suppliers"] == ["Acme"] or owner["suppliers"][0].lower().startswith("acme")
    past = client.post(
        f"/api/v1/challenges/{challenge}/sessions",
        headers=people["alice"],
        json={
            "title": "Old",
            "starts_at": _later(days=-1),
            "ends_at": _later(days=-1, hours=-1),
            "mode": "in_person",
            "place": "",
            "capacity": 0,
        },
    )
    assert past.status_code == 422


def test_two_registrations_for_the_last_place_at_once_one_wins(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    challenge = publish(client, people)["id"]
    held = client.post(
        f"/api/v1/challenges/{challenge}/sessions",
        headers=people["alice"],
        json={
            "title": "Demo day",
            "starts_at": _later(days=3),
            "ends_at": _later(days=3, hours=2),
            "mode": "in_person",
            "place": "Caxton House, London",
            "capacity": 1,
        },
    ).json()["id"]
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def take(who: str) -> None:
        barrier.wait()
        statuses.append(
            client.post(
                f"/api/v1/challenges/{challenge}/sessions/{held}/registrations", headers=people[who]
            ).status_code
        )

    threads = [threading.Thread(target=take, args=(who,)) for who in ("sam", "gus")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 422]
    assert (
        client.get(f"/api/v1/challenges/{challenge}/sessions", headers=people["alice"]).json()["items"][0][
            "registered"
        ]
        == 1
    )


def test_the_equal_offer_starts_one_trial_per_template_on_the_same_terms(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    challenge = publish(client, people)["id"]
    assert respond(client, people["sam"], challenge, ["demo"]).status_code == 201
    assert respond(client, people["gus"], challenge, ["pair"]).status_code == 201
    held = client.post(
        f"/api/v1/challenges/{challenge}/sessions",
        headers=people["alice"],
        json={
            "title": "Show and tell",
            "starts_at": _later(days=1),
            "ends_at": _later(days=1, hours=1),
            "mode": "online",
            "place": "https://meet.example.gov.uk/x",
            "capacity": 5,
        },
    ).json()["id"]
    shared = client.post(
        f"/api/v1/challenges/{challenge}/sessions/{held}/materials",
        headers=people["alice"],
        json={"title": "Slides", "url": "https://docs.example.gov.uk/slides.pdf"},
    )
    assert shared.status_code == 201
    terms = {
        "hypothesis": "Reminders halve missed appointments",
        "success_criteria": ["Fewer than 15% missed"],
        "duration_seconds": 900,
    }
    assert (
        client.post(f"/api/v1/challenges/{challenge}/trials", headers=people["bob"], json=terms).status_code
        == 403
    )
    offered = client.post(f"/api/v1/challenges/{challenge}/trials", headers=people["alice"], json=terms)
    assert offered.status_code == 201, offered.text
    trials = offered.json()["items"]
    assert [(t["supplier"], t["template"]) for t in trials] == [("acme", "demo"), ("globex", "pair")]
    for trial in trials:
        full = client.get(f"/api/v1/trials/{trial['id']}", headers=people["alice"]).json()
        assert (
            full["hypothesis"] == terms["hypothesis"]
            and full["success_criteria"] == terms["success_criteria"]
        )
        assert full["duration_seconds"] == 900
        run_until_ready(client, fake_driver, trial["id"])
    seen = client.get(f"/api/v1/challenges/{challenge}", headers=people["sam"]).json()
    assert seen["stage"] == "Closed" and seen["offer"]["duration_seconds"] == 900
    again = client.post(f"/api/v1/challenges/{challenge}/trials", headers=people["alice"], json=terms)
    assert again.status_code == 422 and again.json()["reason"] == "OfferAlreadyLaunched"
    # Suppliers see no individual trial, here as anywhere.
    assert client.get(f"/api/v1/challenges/{challenge}/trials", headers=people["sam"]).status_code == 403
    for trial in trials:
        evaluation = {
            "scores": SCORES,
            "decision": "iterate",
            "hypothesis_held": "partly",
            "hypothesis_evidence": "Some",
            "criteria_results": [{"criterion": "Fewer than 15% missed", "met": "partly", "evidence": "18%"}],
        }
        put = client.put(f"/api/v1/trials/{trial['id']}/evaluation", headers=people["alice"], json=evaluation)
        assert put.status_code == 200, put.text
    listed = client.get(f"/api/v1/challenges/{challenge}/trials", headers=people["alice"]).json()["items"]
    assert [t["phase"] for t in listed] == ["Ready", "Ready"]
    assert all(t["decision"] == "iterate" and t["scores"]["security"] == 4 for t in listed)
    assert all(t["measured"]["time_to_ready_seconds"] is not None for t in listed)
    assert all(t["measured"]["ready_seconds"] is not None for t in listed)
    package = client.get(f"/api/v1/challenges/{challenge}/ocds", headers=people["alice"])
    assert package.status_code == 200
    release = package.json()["releases"][0]
    assert release["ocid"] == f"ocds-den000-{challenge}"
    assert {p["id"] for p in release["parties"]} >= {"supplier-acme", "supplier-globex"}
    evaluations = release["planning"]["denEvaluations"]
    assert [(e["template"], e["decision"]) for e in evaluations] == [("demo", "iterate"), ("pair", "iterate")]
    assert all(len(e["scores"]) == 8 for e in evaluations)
    assert [d["title"] for d in release["planning"]["documents"]] == ["Show and tell: Slides"]
    checked = validate_ocds(package.json())
    assert checked["validation_errors"] == [], checked["validation_errors"]
    assert checked.get("additional_fields", []) == [], checked.get("additional_fields")
    decided = client.put(
        f"/api/v1/challenges/{challenge}/decision",
        headers=people["alice"],
        json={"decision": "Iterate with both suppliers."},
    )
    assert decided.status_code == 200 and decided.json()["stage"] == "Decided"


def test_an_offer_a_template_cannot_fit_starts_nothing(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    challenge = publish(client, people)["id"]
    assert respond(client, people["sam"], challenge, ["demo"]).status_code == 201
    assert respond(client, people["gus"], challenge, ["pair"]).status_code == 201
    terms = {
        "hypothesis": "It helps",
        "success_criteria": ["It helps"],
        "duration_seconds": 900,
        "max_memory_mib": 1,
    }
    refused = client.post(f"/api/v1/challenges/{challenge}/trials", headers=people["alice"], json=terms)
    assert refused.status_code == 422, refused.text
    assert "raise the offer's ceiling" in refused.json()["problems"][0]["hint"]
    assert client.get("/api/v1/trials", headers=people["alice"]).json()["items"] == []
    still = client.get(f"/api/v1/challenges/{challenge}", headers=people["alice"]).json()
    assert still["stage"] == "Published" and still["offer"] is None


def test_the_uk2_draft_and_the_ocds_package_are_for_the_owner(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    challenge = publish(client, people)["id"]
    notice = client.get(f"/api/v1/challenges/{challenge}/uk2", headers=people["alice"])
    assert notice.status_code == 200
    body = notice.json()
    labels = [f["label"] for s in body["sections"] for f in s["fields"]]
    assert "Engagement deadline" in labels and "Estimated value" in labels
    assert "£20,000 to £80,000" in body["text"]
    text = client.get(f"/api/v1/challenges/{challenge}/uk2?format=text", headers=people["alice"])
    assert (
        text.headers["content-type"].startswith("text/plain")
        and "Fewer missed benefit appointments" in text.text
    )
    for who in ("sam", "bob"):
        assert client.get(f"/api/v1/challenges/{challenge}/uk2", headers=people[who]).status_code == 403
        assert client.get(f"/api/v1/challenges/{challenge}/ocds", headers=people[who]).status_code == 403
    package = client.get(f"/api/v1/challenges/{challenge}/ocds", headers=people["pat"]).json()
    assert package["extensions"][0].endswith("/ocds/extension.json")
    extension = client.get("/ocds/extension.json")
    assert extension.status_code == 200 and "release-schema.json" in str(extension.json()["schemas"])
    assert client.get("/ocds/release-schema.json").status_code == 200


def test_every_write_is_audited(client: TestClient, people: dict[str, dict[str, str]]) -> None:
    challenge = publish(client, people)["id"]
    respond(client, people["sam"], challenge, ["demo"])
    client.post(
        f"/api/v1/challenges/{challenge}/questions",
        headers=people["sam"],
        json={"question": "How many users?"},
    )
    audit = client.get(f"/api/v1/audit?object_id={challenge}", headers=AUTH)
    assert audit.status_code == 200, audit.text
    actions = {e["action"] for e in audit.json()["items"]}
    assert {
        "challenge.create",
        "challenge.publish",
        "challenge.response.submit",
        "challenge.question.ask",
    } <= actions


def test_two_launches_of_the_offer_at_once_start_one_set_of_trials(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    challenge = publish(client, people)["id"]
    assert respond(client, people["sam"], challenge, ["demo"]).status_code == 201
    assert respond(client, people["gus"], challenge, ["pair"]).status_code == 201
    terms = {"hypothesis": "It helps", "success_criteria": ["Fewer missed"], "duration_seconds": 600}
    statuses: list[int] = []
    barrier = threading.Barrier(3)

    def launch() -> None:
        barrier.wait()
        answer = client.post(f"/api/v1/challenges/{challenge}/trials", headers=people["alice"], json=terms)
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=launch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 422, 422]
    assert len(client.get("/api/v1/trials", headers=people["alice"]).json()["items"]) == 2
    assert (
        len(client.get(f"/api/v1/challenges/{challenge}/trials", headers=people["alice"]).json()["items"])
        == 2
    )


def test_a_response_racing_the_close_is_either_in_or_refused(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    """The owner closes while a supplier responds: the response is kept only if it came first."""
    challenge = publish(client, people)["id"]
    answers: dict[str, int] = {}
    barrier = threading.Barrier(2)

    def close() -> None:
        barrier.wait()
        answers["close"] = client.post(
            f"/api/v1/challenges/{challenge}/close", headers=people["alice"]
        ).status_code

    def reply() -> None:
        barrier.wait()
        answers["respond"] = respond(client, people["sam"], challenge, ["demo"]).status_code

    threads = [threading.Thread(target=close), threading.Thread(target=reply)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers["close"] == 200
    kept = client.get(f"/api/v1/challenges/{challenge}/responses", headers=people["alice"]).json()["items"]
    assert len(kept) == (1 if answers["respond"] == 201 else 0)
    assert answers["respond"] in (201, 422)
    if kept:
        closed_at = client.get(f"/api/v1/challenges/{challenge}", headers=people["alice"]).json()["closed_at"]
        assert kept[0]["submitted_at"] <= closed_at


def test_lists_by_stage_follow_the_owner_and_the_clock(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    draft = client.post("/api/v1/challenges", headers=people["alice"], json=challenge_body()).json()["id"]
    open_ = publish(client, people)["id"]
    closed = publish(client, people)["id"]
    assert client.post(f"/api/v1/challenges/{closed}/close", headers=people["alice"]).status_code == 200
    decided = publish(client, people)["id"]
    client.post(f"/api/v1/challenges/{decided}/close", headers=people["alice"])
    client.put(f"/api/v1/challenges/{decided}/decision", headers=people["alice"], json={"decision": "Stop"})
    lapsed = publish(client, people, closes_at=_later(seconds=4), questions_close_at=None)["id"]
    time.sleep(4.2)  # its closing date passes: Closed by the clock alone

    def ids(who: str, stage: str) -> set[str]:
        answer = client.get(f"/api/v1/challenges?stage={stage}", headers=people[who])
        assert answer.status_code == 200, answer.text
        return {c["id"] for c in answer.json()["items"]}

    assert ids("alice", "Draft") == {draft} and ids("sam", "Draft") == set()
    assert ids("alice", "Published") == {open_}
    assert ids("sam", "Closed") == {closed, lapsed}
    assert ids("bob", "Decided") == {decided}
    assert client.get("/api/v1/challenges?stage=Open", headers=people["alice"]).status_code == 422


def test_challenges_come_a_page_at_a_time(client: TestClient, people: dict[str, dict[str, str]]) -> None:
    made = [publish(client, people)["id"] for _ in range(3)]
    first = client.get("/api/v1/challenges?limit=2", headers=people["sam"]).json()
    token = first["metadata"]["continue"]
    second = client.get(f"/api/v1/challenges?limit=2&continue={token}", headers=people["sam"]).json()
    assert [c["id"] for c in first["items"] + second["items"]] == made[::-1]
    assert "continue" not in second["metadata"] or second["metadata"].get("continue") is None
    other = client.get(f"/api/v1/challenges?limit=2&stage=Closed&continue={token}", headers=people["sam"])
    assert other.status_code == 422 and other.json()["problems"][0]["field"] == "continue"
