"""Early engagement through the pages: a civil servant writes a challenge one question per
page and publishes it from the check page; two suppliers respond with their own templates; a
question asked and answered is seen by both without saying who asked; a session with a
document; the equal offer launched and its trials compared in a chart once evaluated; the UK2
draft and the OCDS package downloaded by the owner and refused to others. Bad input shows the
core's clear error on the page, and nothing changes. Every page is in plain words, and each
JSON twin says what the API says.

People and fixtures as in tests/service/test_web_pages.py.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.fakes import FakeDriver
from tests.service.conftest import SCORES, run_until_ready
from tests.service.plain_words import assert_plain
from tests.service.test_web_pages import browser, client, error_links, post_form, settings

__all__ = ["client", "settings"]  # the https client and settings of test_web_pages
NEW = "/challenges/new"


def _in(days: int) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def _date(prefix: str, when: datetime) -> dict[str, str]:
    return {
        f"{prefix}-day": str(when.day),
        f"{prefix}-month": str(when.month),
        f"{prefix}-year": str(when.year),
    }


ANSWERS: list[tuple[str, dict[str, str], str]] = [
    ("title", {"title": "Fewer missed benefit appointments"}, "problem"),
    (
        "problem",
        {"problem": "A third of claimants miss their first appointment.\nRebooking takes weeks."},
        "users",
    ),
    ("users", {"users_and_need": "Claimants need to know when and where."}, "tried"),
    ("tried", {"tried": "Letters, and text reminders sent by hand."}, "constraints"),
    ("constraints", {"constraints": "Must work on a basic phone."}, "budget"),
    ("budget", {"budget_min": "£20,000", "budget_max": "80000"}, "timeline"),
    ("timeline", {"timeline": "A pilot from spring"}, "dates"),
    ("dates", {**_date("closes", _in(14)), **_date("questions", _in(7))}, "areas"),
    ("areas", {"problem_areas": "appointments\n\nnotifications"}, "check"),
]


def write_challenge(visitor: TestClient, *, publish: bool = True) -> str:
    """Every question answered through its page, then saved from the check page: its id."""
    for step, data, following in ANSWERS:
        moved = post_form(visitor, f"{NEW}/{step}", data)
        assert moved.status_code == 303, (step, moved.text)
        assert moved.headers["location"] == f"{NEW}/{following}"
    saved = post_form(visitor, f"{NEW}/check", {"action": "publish" if publish else "draft"})
    assert saved.status_code == 303, saved.text
    return str(saved.headers["location"].split("/")[2].split("?")[0])


def respond(visitor: TestClient, challenge: str, templates: list[str], **extra: str) -> Any:
    return post_form(
        visitor,
        f"/challenges/{challenge}/respond",
        {
            "summary": "We send reminders people can answer.",
            "templates": templates,
            "conflict": "no",
            **extra,
        },
    )


def test_writing_a_challenge_one_question_per_page_then_publishing_it(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    alice = browser(client, "alice")
    assert alice.get(f"{NEW}/check").headers["location"] == f"{NEW}/title"  # nothing yet
    empty = post_form(alice, f"{NEW}/title", {"title": ""})
    assert empty.status_code == 422 and error_links(empty.text) == ["#title"]
    assert "Error: What is your challenge called?" in empty.text
    problem = alice.get(f"{NEW}/problem").text
    assert "Describe the problem, not a solution" in problem
    for step, data, _following in ANSWERS:
        page = alice.get(f"{NEW}/{step}")
        assert page.status_code == 200, step
        assert_plain(page.text, where=f"the {step} question")
        assert post_form(alice, f"{NEW}/{step}", data).status_code == 303
    check = alice.get(f"{NEW}/check")
    assert_plain(check.text, where="the check page")
    assert "£20,000 to £80,000" in check.text and "Rebooking takes weeks." in check.text
    assert 'href="/challenges/new/budget?change=1"' in check.text
    changed = post_form(alice, f"{NEW}/title", {"title": "Missed appointments", "change": "1"})
    assert changed.headers["location"] == f"{NEW}/check"
    saved = post_form(alice, f"{NEW}/check", {"action": "publish"})
    assert saved.status_code == 303
    challenge = saved.headers["location"].split("/")[2].split("?")[0]
    shown = alice.get(saved.headers["location"])
    assert "Your challenge has been published" in shown.text and "Missed appointments" in shown.text
    assert_plain(shown.text, where="the challenge's page")
    api = client.get(f"/api/v1/challenges/{challenge}", headers=people["sam"]).json()
    assert (api["stage"], api["budget_min"], api["problem_areas"]) == (
        "Published",
        20000,
        ["appointments", "notifications"],
    )
    assert api["problem"] == "A third of claimants miss their first appointment.\nRebooking takes weeks."
    assert api["closes_at"].endswith("23:59:00Z")  # the end of the day, UK time (GMT in winter)
    # The answers are gone from the session: the next challenge starts afresh.
    assert alice.get(f"{NEW}/check").headers["location"] == f"{NEW}/title"
    # Suppliers, and platform engineers, write no challenge.
    assert browser(client, "sam").get(f"{NEW}/title").status_code == 403
    listed = browser(client, "sam").get("/challenges")
    assert "Missed appointments" in listed.text and "Write a challenge" not in listed.text
    assert "Write a challenge" in alice.get("/challenges").text
    assert_plain(listed.text, where="the list of challenges")


def test_a_draft_is_saved_then_published_from_its_page(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    alice = browser(client, "alice")
    challenge = write_challenge(alice, publish=False)
    page = alice.get(f"/challenges/{challenge}?done=saved")
    assert "saved as a draft" in page.text and "Publish the challenge" in page.text
    for other in ("bob", "sam"):
        assert browser(client, other).get(f"/challenges/{challenge}").status_code == 404
        assert "Fewer missed" not in browser(client, other).get("/challenges").text
    # Changed from its page: its answers, each with its Change link, then saved again.
    opened = post_form(alice, f"/challenges/{challenge}", {}, action=f"/challenges/{challenge}/change")
    assert opened.headers["location"] == f"{NEW}/check"
    check = alice.get(f"{NEW}/check").text
    assert "Change a draft challenge" in check and "£20,000 to £80,000" in check
    assert (
        post_form(alice, f"{NEW}/title", {"title": "Missed appointments", "change": "1"}).status_code == 303
    )
    assert post_form(alice, f"{NEW}/check", {"action": "draft"}).headers["location"] == (
        f"/challenges/{challenge}?done=saved"
    )
    api = client.get(f"/api/v1/challenges/{challenge}", headers=people["alice"]).json()
    assert (api["title"], api["stage"], api["budget_max"]) == ("Missed appointments", "Draft", 80000)
    assert len(client.get("/api/v1/challenges", headers=people["alice"]).json()["items"]) == 1
    confirm = alice.get(f"/challenges/{challenge}/publish")
    assert confirm.status_code == 200 and "cannot be changed" in confirm.text
    done = post_form(alice, f"/challenges/{challenge}/publish", {})
    assert done.headers["location"] == f"/challenges/{challenge}?done=published"
    assert client.get(f"/api/v1/challenges/{challenge}", headers=people["sam"]).json()["stage"] == "Published"
    # Twice: the core refuses, and says why; nor is a published challenge changed.
    assert alice.get(f"/challenges/{challenge}/publish").status_code == 422
    refused = post_form(alice, f"/challenges/{challenge}", {}, action=f"/challenges/{challenge}/change")
    assert refused.status_code == 422 and "only a draft can be changed" in refused.text


def test_bad_dates_and_budgets_are_shown_on_their_page_as_typed(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    alice = browser(client, "alice")
    past = post_form(alice, f"{NEW}/dates", _date("closes", _in(-3)))
    assert past.status_code == 422 and error_links(past.text) == ["#closes-day"]
    assert "The closing date is in the past" in past.text
    late = post_form(alice, f"{NEW}/dates", {**_date("closes", _in(5)), **_date("questions", _in(9))})
    assert late.status_code == 422 and error_links(late.text) == ["#questions-day"]
    assert "is after the closing date" in late.text
    assert f'value="{_in(9).day}"' in late.text  # what was typed is shown again
    unreal = post_form(
        alice, f"{NEW}/dates", {"closes-day": "31", "closes-month": "2", "closes-year": "2030"}
    )
    assert unreal.status_code == 422 and "must be a real date" in unreal.text
    half = post_form(alice, f"{NEW}/budget", {"budget_min": "9000", "budget_max": ""})
    assert half.status_code == 422 and error_links(half.text) == ["#budget_max"]
    assert "give both ends of the budget range, or neither" in half.text
    upside = post_form(alice, f"{NEW}/budget", {"budget_min": "9000", "budget_max": "10"})
    assert error_links(upside.text) == ["#budget_max"] and "below the lowest budget" in upside.text
    assert client.get("/api/v1/challenges", headers=people["alice"]).json()["items"] == []


def _question_id(html: str) -> str:
    found = re.search(r"/questions/(\d+)/answer", html)
    assert found, "no question to answer on the page"
    return found.group(1)


def test_the_whole_engagement_through_the_pages(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    alice, sam, gus, bob = (browser(client, who) for who in ("alice", "sam", "gus", "bob"))
    challenge = write_challenge(alice)
    page = f"/challenges/{challenge}"
    # Two suppliers respond with their own templates; another's is refused and nothing changes.
    form = sam.get(f"{page}/respond")
    assert form.status_code == 200 and 'value="demo"' in form.text and 'value="pair"' not in form.text
    assert_plain(form.text, where="the respond page")
    stolen = respond(sam, challenge, ["pair"])
    assert stolen.status_code == 422 and "another supplier&#39;s template" in stolen.text
    assert error_links(stolen.text) == ["#templates"]
    assert "We send reminders people can answer." in stolen.text  # as typed
    vague = respond(gus, challenge, ["pair"], conflict="yes")
    assert vague.status_code == 422 and error_links(vague.text) == ["#conflict_detail"]
    assert (
        client.get(f"/api/v1/challenges/{challenge}/responses", headers=people["alice"]).json()["items"] == []
    )
    assert respond(sam, challenge, ["demo"]).headers["location"] == f"{page}?done=responded"
    assert respond(gus, challenge, ["pair"], conflict="yes", conflict_detail="We run the current system.")
    assert "We send reminders" in sam.get(page).text and "We run the current system" not in sam.get(page).text
    assert "Respond" not in bob.get(page).text
    # A question, answered for all without saying who asked.
    assert post_form(sam, f"{page}/ask", {"question": ""}).status_code == 422
    asked = post_form(sam, f"{page}/ask", {"question": "Is there an API for bookings?"})
    assert asked.headers["location"] == f"{page}?done=asked#questions"
    assert "Is there an API for bookings?" not in gus.get(page).text  # not answered yet
    owner = alice.get(page).text
    question = _question_id(owner)
    assert post_form(alice, f"{page}/questions/{question}/answer", {"answer": ""}).status_code == 422
    answered = post_form(
        alice, f"{page}/questions/{question}/answer", {"answer": "Yes: a REST API, documented for all."}
    )
    assert answered.status_code == 303
    for who, visitor in (("sam", sam), ("gus", gus), ("bob", bob)):
        seen = visitor.get(page).text
        assert "Is there an API for bookings?" in seen and "Yes: a REST API, documented for all." in seen, who
        assert ("Your question" in seen) is (who == "sam"), who
        assert "Acme" not in seen.split('id="questions"')[1].split('id="sessions"')[0], who
    # A session, a registration and a document.
    bad = post_form(
        alice,
        f"{page}/sessions/new",
        {
            "title": "",
            **_date("date", _in(-1)),
            "starts": "25:00",
            "ends": "3pm",
            "place": "",
            "capacity": "x",
        },
    )
    assert bad.status_code == 422
    assert set(error_links(bad.text)) >= {"#title", "#starts", "#mode", "#capacity"}
    day = _in(3)
    held = post_form(
        alice,
        f"{page}/sessions/new",
        {
            "title": "Questions and answers",
            **_date("date", day),
            "starts": "2pm",
            "ends": "15:30",
            "mode": "online",
            "place": "https://meet.example.gov.uk/abc",
            "capacity": "1",
        },
    )
    assert held.status_code == 303, held.text
    sessions = client.get(f"/api/v1/challenges/{challenge}/sessions", headers=people["alice"]).json()["items"]
    session_id = sessions[0]["id"]
    assert re.findall(r"\s*Register\s*</button>", sam.get(page).text) != []
    assert post_form(sam, page, {}, action=f"{page}/sessions/{session_id}/register").status_code == 303
    assert "You have a place" in sam.get(page).text
    full = post_form(gus, page, {}, action=f"{page}/sessions/{session_id}/register")
    assert full.status_code == 422 and "is full" in full.text
    script = post_form(
        alice, f"{page}/sessions/{session_id}/materials", {"title": "Click", "url": "javascript:alert(1)"}
    )
    assert script.status_code == 422 and error_links(script.text) == ["#url"]
    shared = post_form(
        alice,
        f"{page}/sessions/{session_id}/materials",
        {"title": "Slides", "url": "https://docs.example.gov.uk/slides.pdf"},
    )
    assert shared.status_code == 303
    assert 'href="https://docs.example.gov.uk/slides.pdf"' in gus.get(page).text
    # The equal offer: one trial per template, on the same terms.
    assert "Launch the equal offer" in alice.get(page).text
    offer = alice.get(f"{page}/offer")
    assert offer.status_code == 200 and "Acme" in offer.text and "Globex" in offer.text
    assert_plain(offer.text, where="the offer page")
    refused = post_form(alice, f"{page}/offer", {"hypothesis": "", "duration": "0", "duration-unit": "hours"})
    assert refused.status_code == 422 and set(error_links(refused.text)) == {
        "#hypothesis",
        "#success_criteria",
        "#duration",
    }
    launched = post_form(
        alice,
        f"{page}/offer",
        {
            "hypothesis": "Reminders halve missed appointments",
            "success_criteria": "Fewer than 15% missed\n",
            "duration": "15",
            "duration-unit": "minutes",
        },
    )
    assert launched.status_code == 303, launched.text
    trials = client.get(f"/api/v1/challenges/{challenge}/trials", headers=people["alice"]).json()["items"]
    assert [(t["supplier"], t["template"]) for t in trials] == [("acme", "demo"), ("globex", "pair")]
    for trial in trials:
        run_until_ready(client, fake_driver, trial["id"])
    before = alice.get(page).text
    assert "Launch the equal offer" not in before and 'class="den-chart"' not in before
    assert all(f'href="/trials/{t["id"]}"' in before for t in trials)
    assert "den-chart" not in sam.get(page).text and "/trials/" not in sam.get(page).text
    for trial in trials:  # evaluated through the API, as tests/service/test_challenges.py does
        put = client.put(
            f"/api/v1/trials/{trial['id']}/evaluation",
            headers=people["alice"],
            json={
                "scores": SCORES,
                "decision": "iterate",
                "hypothesis_held": "partly",
                "hypothesis_evidence": "Some",
                "criteria_results": [
                    {"criterion": "Fewer than 15% missed", "met": "partly", "evidence": "18%"}
                ],
            },
        )
        assert put.status_code == 200, put.text
    compared = alice.get(page).text
    assert compared.count('class="den-chart"') == 1
    bars = re.findall(
        r'class="den-chart__bar"[^>]*data-series="([A-Z])" data-dimension="([a-z_]+)"', compared
    )
    assert len(bars) == 2 * len(SCORES) and {s for s, _d in bars} == {"A", "B"}
    assert "Trials side by side" in compared
    # Beside the scores, what the den measured of each trial: both were Ready.
    ready_after = re.search(r"Ready after</th>(.*?)</tr>", compared, re.S)
    assert ready_after is not None and "Not ready yet" not in ready_after.group(1)
    assert ready_after.group(1).count("govuk-table__cell") == 2
    assert "Processing time used" in compared and "Most memory used" in compared
    assert_plain(compared, where="the challenge's page with its offer")
    # Downloads: the owner's; others are refused.
    text = alice.get(f"{page}/uk2.txt")
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    assert "Fewer missed benefit appointments" in text.text
    package = alice.get(f"{page}/ocds.json")
    assert package.status_code == 200
    release = package.json()["releases"][0]
    assert {p["id"] for p in release["parties"]} >= {"supplier-acme", "supplier-globex"}
    assert len(release["planning"]["denEvaluations"]) == 2
    api = client.get(f"/api/v1/challenges/{challenge}/ocds", headers=people["alice"]).json()
    assert release["tender"] == api["releases"][0]["tender"]  # the same core builder as the API
    for who in (sam, bob):
        assert who.get(f"{page}/uk2.txt").status_code == 403
        assert who.get(f"{page}/ocds.json").status_code == 403
    # The decision, once closed (launching the offer closed it).
    assert post_form(alice, f"{page}/decision", {"decision": ""}).status_code == 422
    decided = post_form(alice, f"{page}/decision", {"decision": "Iterate with both suppliers."})
    assert decided.status_code == 303
    assert "Iterate with both suppliers." in gus.get(page).text
    assert client.get(f"/api/v1/challenges/{challenge}", headers=people["gus"]).json()["stage"] == "Decided"


def test_a_closed_challenge_refuses_on_the_page_and_nothing_changes(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    alice, sam = browser(client, "alice"), browser(client, "sam")
    challenge = write_challenge(alice)
    page = f"/challenges/{challenge}"
    assert respond(sam, challenge, ["demo"]).status_code == 303
    form = sam.get(f"{page}/respond").text  # opened before the owner closes it
    closing = alice.get(f"{page}/close")
    assert closing.status_code == 200 and "cannot undo" in closing.text
    assert post_form(alice, f"{page}/close", {}).headers["location"] == f"{page}?done=closed"
    late = sam.post(
        f"{page}/respond",
        data={
            "csrf_token": re.findall(r'name="csrf_token" value="([^"]+)"', form)[0],
            "summary": "Changed after closing",
            "templates": ["demo"],
            "conflict": "no",
        },
    )
    assert late.status_code == 422 and "The challenge closed on" in late.text
    assert "nobody can respond any more" in late.text
    assert error_links(late.text) == ["#templates"]
    kept = client.get(f"/api/v1/challenges/{challenge}/responses", headers=people["sam"]).json()["items"]
    assert kept[0]["summary"] == "We send reminders people can answer."
    assert sam.get(f"{page}/respond").status_code == 422  # the form is not offered any more
    assert "Respond" not in sam.get(page).text.split('id="questions"')[0].replace("Your response", "")


def test_a_question_after_the_last_date_is_refused_on_the_page(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    last = datetime.now(UTC) + timedelta(seconds=5)
    made = client.post(
        "/api/v1/challenges",
        headers=people["alice"],
        json={
            "title": "Quick questions",
            "problem": "People wait.",
            "closes_at": _in(10).isoformat(),
            "questions_close_at": last.isoformat(),
            "publish": True,
        },
    )
    assert made.status_code == 201, made.text
    challenge = made.json()["id"]
    sam = browser(client, "sam")
    form = sam.get(f"/challenges/{challenge}/ask")
    assert form.status_code == 200
    time.sleep(max(0.0, (last - datetime.now(UTC)).total_seconds()) + 0.2)
    token = re.findall(r'name="csrf_token" value="([^"]+)"', form.text)[0]
    late = sam.post(f"/challenges/{challenge}/ask", data={"csrf_token": token, "question": "Too late?"})
    assert late.status_code == 422 and "Questions on the challenge closed on" in late.text
    assert challenge not in late.text.split("govuk-error-summary")[1].split("</ul>")[0]  # no ids in words
    assert error_links(late.text) == ["#question"] and "Too late?" in late.text
    assert (
        client.get(f"/api/v1/challenges/{challenge}/questions", headers=people["alice"]).json()["items"] == []
    )
    assert "Ask a question" not in sam.get(f"/challenges/{challenge}").text


def test_the_json_twins_say_what_the_api_says(client: TestClient, people: dict[str, dict[str, str]]) -> None:
    alice, sam = browser(client, "alice"), browser(client, "sam")
    challenge = write_challenge(alice)
    assert respond(sam, challenge, ["demo"]).status_code == 303
    post_form(sam, f"/challenges/{challenge}/ask", {"question": "How many users?"})
    for who, visitor in (("alice", alice), ("sam", sam)):
        twin = visitor.get(f"/challenges/{challenge}.json").json()
        api = client.get(f"/api/v1/challenges/{challenge}", headers=people[who]).json()
        assert twin["challenge"] == api, who
        for part in ("questions", "sessions", "responses"):
            listed = client.get(f"/api/v1/challenges/{challenge}/{part}", headers=people[who]).json()["items"]
            assert twin[part] == listed, (who, part)
        assert (twin["trials"] is None) is (who == "sam")
    listed = sam.get("/challenges.json").json()["challenges"]
    assert listed == client.get("/api/v1/challenges", headers=people["sam"]).json()["items"]


def test_every_challenge_page_is_in_plain_words(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    alice, sam = browser(client, "alice"), browser(client, "sam")
    draft = write_challenge(alice, publish=False)
    challenge = write_challenge(alice)
    page = f"/challenges/{challenge}"
    assert respond(sam, challenge, ["demo"]).status_code == 303
    post_form(sam, f"{page}/ask", {"question": "How many users?"})
    made = client.post(
        f"/api/v1/challenges/{challenge}/sessions",
        headers=people["alice"],
        json={
            "title": "Demo day",
            "starts_at": _in(3).isoformat(),
            "ends_at": (_in(3) + timedelta(hours=2)).isoformat(),
            "mode": "in_person",
            "place": "Caxton House, London",
            "capacity": 5,
        },
    ).json()
    question = _question_id(alice.get(page).text)
    seen = {
        "alice": [
            "/challenges",
            f"/challenges/{draft}",
            f"/challenges/{draft}/publish",
            page,
            f"{page}/close",
            f"{page}/questions/{question}/answer",
            f"{page}/sessions/new",
            f"{page}/sessions/{made['id']}/materials",
            f"{page}/offer",
        ],
        "sam": ["/challenges", page, f"{page}/respond", f"{page}/ask"],
        "bob": ["/challenges", page],
        "pat": [page, f"/challenges/{draft}"],
    }
    for who, paths in seen.items():
        visitor = browser(client, who)
        for path in paths:
            shown = visitor.get(path)
            assert shown.status_code == 200, (who, path)
            assert_plain(shown.text, where=f"{path} as {who}")
    assert post_form(alice, f"{page}/close", {}).status_code == 303
    decision = alice.get(f"{page}/decision")
    assert decision.status_code == 200
    assert_plain(decision.text, where="the decision page")
