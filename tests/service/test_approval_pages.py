"""Approvals people can act on, in the pages: the requester says why a longer trial (or more
time) is needed, the approver reads it, decides on a confirmation page with a note, and is told
how the requester will hear; the start journey says who will read each answer and chooses no
duration for the person; the privacy notice says what is kept, for how long and who sees it."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from orchestrator.models import AuditEvent
from tests.fakes import FakeDriver
from tests.service.conftest import AUTH, launch, run_until_ready
from tests.service.test_web_pages import browser, client, error_links, post_form, settings

__all__ = ["client", "settings"]  # the https client and settings (self-service up to 3000 s)
START = "/templates/demo/start"
PUBLISHED = "Everyone signed in to the den can read this in the published trial report."


def answer(visitor: TestClient, step: str, data: dict[str, Any]) -> Any:
    return post_form(visitor, f"{START}/{step}", data)


def test_the_duration_question_chooses_nothing_and_a_long_trial_asks_why(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    alice = browser(client, "alice")
    for step, data in (
        ("title", {"title": "Bin day reminders"}),
        ("problem", {"problem": "Residents miss bin day."}),
        ("hypothesis", {"hypothesis": "Reminders help."}),
        ("success-criteria", {"own-criteria": "Fewer missed bins"}),
    ):
        assert answer(alice, step, data).status_code == 303
    page = alice.get(f"{START}/duration").text
    assert not re.search(r'name="duration"[^>]*checked', page)  # nothing chosen for them
    none = answer(alice, "duration", {})
    assert none.status_code == 422 and error_links(none.text) == ["#duration"]
    assert "Select how long the trial should run" in none.text
    long = answer(alice, "duration", {"duration": "3600"})  # over the 3000 s self-service limit
    assert long.headers["location"] == f"{START}/why-longer"
    asked = alice.get(f"{START}/why-longer").text
    assert "Trials longer than 50 minutes need an approver to agree" in asked
    empty = answer(alice, "why-longer", {"justification": ""})
    assert empty.status_code == 422 and error_links(empty.text) == ["#justification"]
    assert "Enter why the trial needs to run for longer" in empty.text
    wordy = answer(alice, "why-longer", {"justification": "x" * 2001})
    assert "The reason must be 2000 characters or fewer" in wordy.text
    assert answer(alice, "why-longer", {"justification": "Bins go out weekly"}).status_code == 303
    assert answer(alice, "sharing", {"shared": "no"}).status_code == 303
    check = alice.get(f"{START}/check").text
    assert "Why it needs longer" in check and "Bins go out weekly" in check
    started = post_form(alice, f"{START}/check", {})
    trial_id = started.headers["location"].split("/")[2]
    trial = client.get(f"/api/v1/trials/{trial_id}", headers=AUTH).json()
    assert (trial["phase"], trial["justification"]) == ("PendingApproval", "Bins go out weekly")


def test_a_short_trial_is_not_asked_why_and_a_shortened_one_keeps_no_reason(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    alice = browser(client, "alice")
    assert answer(alice, "duration", {"duration": "3600"}).headers["location"] == f"{START}/why-longer"
    answer(alice, "why-longer", {"justification": "A reason"})
    short = answer(alice, "duration", {"duration": "1800"})
    assert short.headers["location"] == f"{START}/settings" or short.headers["location"].endswith("/sharing")
    assert alice.get(f"{START}/why-longer").status_code == 404  # not asked of this journey


def test_each_written_answer_says_who_will_read_it(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    alice = browser(client, "alice")
    for step in ("problem", "hypothesis", "success-criteria"):
        assert PUBLISHED in alice.get(f"{START}/{step}").text, step
    sharing = alice.get(f"{START}/sharing").text
    assert (
        "who signs in to the den can see the trial&#39;s page" in sharing
        or "who signs in to the den can see the trial's page" in sharing
    )
    assert "read its private notes and record or change its evaluation" in sharing
    assert "never your words" in sharing


def test_the_approver_reads_the_reason_and_decides_with_a_note(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    trial = launch(client, people["alice"], duration=3600, justification="Bins go out weekly")
    page = f"/trials/{trial['id']}"
    ann = browser(client, "ann")
    queue = ann.get("/approvals").text
    assert "Bins go out weekly" in queue and f'href="{page}/decide"' in queue
    seen = ann.get(page).text
    assert "Approve or reject" in seen and "Withdraw the request" not in seen  # not hers to withdraw
    assert "Withdraw the request" in browser(client, "alice").get(page).text  # the requester's
    decide = ann.get(f"{page}/decide").text
    assert "Bins go out weekly" in decide and "Note for alice" in decide
    nothing = post_form(ann, f"{page}/decide", {})
    assert nothing.status_code == 422 and error_links(nothing.text) == ["#decision"]
    assert "Select whether to approve or reject the request" in nothing.text
    no_reason = post_form(ann, f"{page}/decide", {"decision": "reject", "note": ""})
    assert error_links(no_reason.text) == ["#note"]
    assert "Enter why you are rejecting the request" in no_reason.text
    too_long = post_form(ann, f"{page}/decide", {"decision": "approve", "note": "n" * 2001})
    assert "The note must be 2000 characters or fewer" in too_long.text
    approved = post_form(ann, f"{page}/decide", {"decision": "approve", "note": "Report back weekly"})
    assert approved.status_code == 303
    assert approved.headers["location"] == f"{page}/decided?decision=approved&subject=trial"
    told = ann.get(approved.headers["location"]).text
    assert "Request approved" in told and "Decided by <strong>ann</strong>" in told
    assert "alice will see the decision, and your note, on the trial" in told
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        row = session.exec(select(AuditEvent).where(AuditEvent.action == "trial.approve")).one()
    assert (row.actor, row.detail) == ("ann", {"note": "Report back weekly"})
    assert "Approved by ann: Report back weekly" in browser(client, "alice").get(page).text


def test_a_rejection_through_the_confirmation_page_names_the_reason(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    trial = launch(client, people["alice"], duration=3600)
    page = f"/trials/{trial['id']}"
    pat = browser(client, "pat")
    assert "They did not say." in pat.get(f"{page}/decide").text
    rejected = post_form(pat, f"{page}/decide", {"decision": "reject", "note": "Try a shorter pilot"})
    assert "Request rejected" in pat.get(rejected.headers["location"]).text
    api = client.get(f"/api/v1/trials/{trial['id']}", headers=AUTH).json()
    assert (api["rejected_by"], api["rejection_reason"]) == ("pat", "Try a shorter pilot")


def test_nobody_opens_the_decision_on_their_own_request(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    trial = launch(client, people["ann"], duration=3600)
    assert browser(client, "ann").get(f"/trials/{trial['id']}/decide").status_code == 403
    own = browser(client, "ann").get("/approvals").text
    assert f'href="/trials/{trial["id"]}/decide"' not in own


def test_an_extension_past_self_service_asks_why(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial = launch(client, people["alice"])
    run_until_ready(client, fake_driver, trial["id"])
    alice, page = browser(client, "alice"), f"/trials/{trial['id']}"
    assert "Why does the trial need more time?" in alice.get(page).text
    missing = post_form(alice, page, {"extend-by": "3600"}, action=f"{page}/extend")  # 4200 s in all
    assert missing.status_code == 422 and error_links(missing.text) == ["#extension-justification"]
    assert "Enter why the trial needs more time" in missing.text
    asked = post_form(
        alice,
        page,
        {"extend-by": "3600", "extension-justification": "The pilot runs over a weekend"},
        action=f"{page}/extend",
    )
    assert asked.headers["location"] == f"{page}?done=extension-requested"
    api = client.get(f"/api/v1/trials/{trial['id']}", headers=AUTH).json()
    assert (api["pending_extension_seconds"], api["extension_justification"]) == (
        3600,
        "The pilot runs over a weekend",
    )
    assert "The pilot runs over a weekend" in browser(client, "ann").get("/approvals").text


def test_the_privacy_notice_is_public_and_linked_from_every_page(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    anonymous = browser(client, "anonymous")
    notice = anonymous.get("/privacy")
    assert notice.status_code == 200
    assert "for 2 years after the trial ends (730 days)" in notice.text
    assert "public task" in notice.text and "sandbox access logs" in notice.text
    assert "without what civil servants wrote" in notice.text
    assert 'href="/privacy"' in anonymous.get("/accessibility").text
    assert 'href="/privacy"' in browser(client, "alice").get("/trials").text
