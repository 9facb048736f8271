"""The evaluation answers the trial's own question: the hypothesis and each success criterion,
saved part by part as a draft, evidence kept out of the report when the owner says so, and a
PDF without private notes."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from typing import Any

from fastapi.testclient import TestClient
from pypdf import PdfReader

from tests.fakes import FakeDriver
from tests.service.conftest import QUESTION, SCORES, launch, run_until_ready
from tests.service.plain_words import assert_plain
from tests.service.test_web_pages import browser, client, error_links, post_form, settings

__all__ = ["client", "settings"]  # the https client and settings of test_web_pages

SVG = "{http://www.w3.org/2000/svg}"
CRITERIA = ["Half find their day", "No calls to the contact centre"]


def _trial(client: TestClient, people: dict[str, dict[str, str]], driver: FakeDriver) -> str:
    trial_id = str(launch(client, people["alice"], success_criteria=CRITERIA)["id"])
    run_until_ready(client, driver, trial_id)
    return trial_id


def _put(client: TestClient, people: dict[str, dict[str, str]], trial_id: str, **body: Any) -> Any:
    return client.put(f"/api/v1/trials/{trial_id}/evaluation", headers=people["alice"], json=body)


def _results(*met: str) -> list[dict[str, str]]:
    return [
        {"criterion": c, "met": m, "evidence": f"We saw {m} for {c.lower()}"}
        for c, m in zip(CRITERIA, met, strict=True)
    ]


def _complete(**changes: Any) -> dict[str, Any]:
    return {
        **QUESTION,
        "criteria_results": _results("yes", "partly"),
        "scores": SCORES,
        "decision": "adopt",
        "private_notes": "The lead was sceptical",
        **changes,
    }


def _report(client: TestClient, people: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get("/api/v1/reports/trials", headers=people["carol"]).json()[
        "items"
    ]
    return items


def test_a_body_written_before_the_question_was_asked_is_still_complete(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    """PUT .../evaluation is a fixed contract: a client that sends only scores and a decision
    (as before report v3) records a complete evaluation, reported with the question unanswered."""
    trial_id = _trial(client, people, fake_driver)
    answer = _put(client, people, trial_id, scores=SCORES, decision="adopt")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "complete" and answer.json()["hypothesis_held"] == ""
    (row,) = _report(client, people)
    assert row["hypothesis_held"] == "" and row["decision"] == "adopt"


def test_a_complete_evaluation_needs_every_answer_of_the_trials_question(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = _trial(client, people, fake_driver)
    partial = _put(client, people, trial_id, scores=SCORES, decision="adopt", hypothesis_held="")
    assert partial.status_code == 422
    problems = {p["field"]: p["message"] for p in partial.json()["problems"]}
    assert problems == {
        "hypothesis_held": "Select whether the hypothesis held",
        "hypothesis_evidence": "Enter the evidence for whether the hypothesis held",
        "criteria_results.0.met": "Select whether 'Half find their day' was met",
        "criteria_results.0.evidence": "Enter evidence for 'Half find their day'",
        "criteria_results.1.met": "Select whether 'No calls to the contact centre' was met",
        "criteria_results.1.evidence": "Enter evidence for 'No calls to the contact centre'",
    }
    stranger = [{"criterion": "Something else", "met": "yes", "evidence": "x"}]
    wrong = _put(client, people, trial_id, **_complete(criteria_results=_results("yes", "no") + stranger))
    (problem,) = wrong.json()["problems"]
    assert problem["field"] == "criteria_results.2.criterion"
    assert problem["message"] == "'Something else' is not one of the trial's success criteria"
    assert "'Half find their day'" in problem["hint"]
    scoreless = _put(client, people, trial_id, **_complete(scores={**SCORES, "privacy": {"score": 3}}))
    assert [(p["field"], p["message"]) for p in scoreless.json()["problems"]] == [
        ("scores.privacy.evidence", "Enter the evidence for privacy and data protection")
    ]
    body = _put(client, people, trial_id, **_complete()).json()
    assert (body["status"], body["hypothesis_held"]) == ("complete", "partly")
    assert [r["met"] for r in body["criteria_results"]] == ["yes", "partly"]


def test_a_draft_keeps_what_was_given_and_stays_out_of_the_report(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = _trial(client, people, fake_driver)
    draft = _put(
        client, people, trial_id, status="draft", hypothesis_held="no", scores={"security": {"score": 2}}
    )
    assert draft.status_code == 200, draft.text
    body = draft.json()
    assert (body["status"], body["hypothesis_held"], body["decision"]) == ("draft", "no", "")
    assert body["scores"]["security"] == {"score": 2, "evidence": ""} and body["scores"]["privacy"] is None
    assert _report(client, people) == []  # drafts never reach the report
    outcomes = client.get("/api/v1/templates/demo/outcomes", headers=people["sam"]).json()
    assert outcomes["total"]["evaluated"] == 0  # nor the supplier's outcomes
    _put(client, people, trial_id, **_complete())
    (row,) = _report(client, people)
    assert (row["hypothesis_held"], row["criteria_total"], row["criteria_met"], row["criteria_partly"]) == (
        "partly",
        2,
        1,
        1,
    )
    assert row["criteria_results"] == ["yes", "partly"] and row["evidence_published"] is True
    assert row["criteria_evidence"][0] == "We saw yes for half find their day"


def test_the_owner_keeps_evidence_out_of_the_published_report(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = _trial(client, people, fake_driver)
    assert _put(client, people, trial_id, **_complete(publish_evidence=False)).status_code == 200
    (row,) = _report(client, people)
    assert row["user_need_score"] == 4 and row["hypothesis_held"] == "partly"  # answers stay
    assert row["user_need_evidence"] == row["hypothesis_evidence"] == ""
    assert row["criteria_evidence"] == ["", ""] and row["evidence_published"] is False
    text = client.get("/api/v1/reports/trials?format=csv", headers=people["carol"]).text
    (csv_row,) = list(csv.DictReader(io.StringIO(text)))
    assert csv_row["evidence_published"] == "false" and csv_row["criteria_met"] == "1"
    for evidence in ("Evidence for", "Half the testers", "We saw"):
        assert evidence not in text
    # The people who can see the trial still read it.
    mine = client.get(f"/api/v1/trials/{trial_id}/evaluation", headers=people["pat"]).json()
    assert mine["hypothesis_evidence"] == "Half the testers found it"


def test_the_pdf_has_the_answers_and_never_the_private_notes(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = _trial(client, people, fake_driver)
    _put(client, people, trial_id, **_complete(hypothesis_evidence="Residents \u2018liked\u2019 it"))
    for person in ("alice", "ann"):
        answer = browser(client, person).get(f"/trials/{trial_id}/evaluation.pdf")
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
        text = " ".join(
            " ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(answer.content)).pages
        )
        assert "Did the hypothesis hold? Partly" in text
        assert "Residents 'liked' it" in text and "No calls to the contact centre" in text
        assert "4 out of 5: Meets most of the need" in text
        assert "sceptical" not in text and "Private" not in text
    assert browser(client, "sam").get(f"/trials/{trial_id}/evaluation.pdf").status_code == 404


def test_the_task_list_saves_each_part_and_comes_back_later(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = _trial(client, people, fake_driver)
    alice, base = browser(client, "alice"), f"/trials/{trial_id}/evaluation"
    tasks = alice.get(base).text
    assert tasks.count("Not yet started") == 3 and "What the service measured" in tasks
    # "Save and come back later" keeps what was typed, without every answer.
    later = post_form(alice, f"{base}/question", {"hypothesis-held": "yes", "action": "later"})
    assert later.headers["location"] == f"{base}?saved=draft"
    back = alice.get(f"{base}?saved=draft").text
    assert "Your answers have been saved" in back
    assert (back.count("In progress"), back.count("Not yet started")) == (1, 2)
    assert 'value="yes" checked' in alice.get(f"{base}/question").text
    api = client.get(f"/api/v1/trials/{trial_id}/evaluation", headers=people["alice"]).json()
    assert (api["status"], api["hypothesis_held"]) == ("draft", "yes")
    # "Save and continue" needs every answer of the part, in GOV.UK wording.
    refused = post_form(alice, f"{base}/question", {"hypothesis-held": "", "action": "continue"})
    assert refused.status_code == 422
    assert error_links(refused.text) == [
        "#hypothesis-held",
        "#hypothesis-evidence",
        "#criterion-0-met",
        "#criterion-0-evidence",
        "#criterion-1-met",
        "#criterion-1-evidence",
    ]
    for message in ("Select whether the hypothesis held", "Enter evidence for &#39;Half find their day&#39;"):
        assert message in refused.text
    question = {"hypothesis-held": "partly", "hypothesis-evidence": "Some did", "action": "continue"}
    for index in range(2):
        question |= {f"criterion-{index}-met": "yes", f"criterion-{index}-evidence": "Seen"}
    assert post_form(alice, f"{base}/question", question).headers["location"] == f"{base}/scores"
    scores = {f"score-{d}": "3" for d in SCORES} | {f"evidence-{d}": "Seen" for d in SCORES}
    assert post_form(alice, f"{base}/scores", scores | {"action": "continue"}).headers["location"] == (
        f"{base}/decision"
    )
    no_decision = post_form(alice, f"{base}/decision", {"action": "continue"})
    assert (
        error_links(no_decision.text) == ["#decision"] and "Select adopt, iterate or stop" in no_decision.text
    )
    done = post_form(alice, f"{base}/decision", {"decision": "stop", "notes": "Ours", "action": "continue"})
    assert done.headers["location"] == f"/trials/{trial_id}?done=evaluated"
    api = client.get(f"/api/v1/trials/{trial_id}/evaluation", headers=people["alice"]).json()
    assert (api["status"], api["publish_evidence"], api["private_notes"]) == ("complete", False, "Ours")
    assert alice.get(base).text.count("Completed") == 3


def test_the_pages_say_who_sees_each_answer_and_what_each_score_means(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = _trial(client, people, fake_driver)
    alice, base = browser(client, "alice"), f"/trials/{trial_id}/evaluation"
    question = alice.get(f"{base}/question").text
    assert "the published trial report they can download, and the template&#39;s supplier" in question
    scores = alice.get(f"{base}/scores").text
    assert "Does not meet the need at all" in scores and "Fully meets the need" in scores
    assert "5: no barriers found" in scores  # what to judge on accessibility
    decision = alice.get(f"{base}/decision").text
    assert "only you, your department when the trial is shared, and platform engineers" in decision
    assert "Publish my evidence in the trial report" in decision
    assert "What the service measured" in decision


def test_the_compare_page_shows_whether_each_trial_answered_its_question(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = _trial(client, people, fake_driver)
    _put(client, people, trial_id, **_complete())
    page = browser(client, "carol").get("/reports?by=supplier").text
    assert "Hypothesis held" in page and "Partly" in page
    assert "1 of 2 (1 partly)" in page  # side by side
    assert "Success criteria met" in page


def test_the_compare_page_draws_the_scores_as_charts_beside_its_tables(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    hostile = 'Forms <script>alert("x")</script>'
    for title, score in (("Benefit checker", 4), (hostile, 2)):
        trial_id = str(launch(client, people["alice"], title=title, success_criteria=CRITERIA)["id"])
        run_until_ready(client, fake_driver, trial_id)
        scores = {d: {**s, "score": score} for d, s in SCORES.items()}
        assert _put(client, people, trial_id, **_complete(scores=scores)).status_code == 200
    page = browser(client, "carol").get("/reports?by=supplier").text
    assert_plain(page, where="the compare page")
    assert "<script>alert" not in page
    charts = {
        svg.get("aria-labelledby"): svg
        for svg in (ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", page, flags=re.S))
    }
    trials = charts["chart-trials-title chart-trials-desc"]
    groups = charts["chart-groups-title chart-groups-desc"]
    assert trials.get("role") == groups.get("role") == "img"
    bars = trials.findall(f".//{SVG}rect[@class='den-chart__bar']")
    assert len(bars) == 2 * 8  # one bar per evaluated trial on each of the eight dimensions
    assert sorted({(b.get("data-series"), b.get("data-value")) for b in bars}) == [("A", "4"), ("B", "2")]
    legend = [t.text for t in trials.iter(f"{SVG}text") if t.text in ("Benefit checker", hostile)]
    assert legend == ["Benefit checker", hostile]
    (group_bar_values,) = {
        b.get("data-value") for b in groups.findall(f".//{SVG}rect[@class='den-chart__bar']")
    }
    assert group_bar_values == "3"  # both trials come from one supplier: their average
