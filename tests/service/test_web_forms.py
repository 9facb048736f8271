"""The web pages' forms in process: each journey's writes go through the same core functions as
the API (what the API reads back is what the form wrote), and every mistake comes back as the
form again, with a GOV.UK error summary whose links point at the fields to fix.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import yaml
from fastapi.testclient import TestClient

from tests.fakes import FakeDriver
from tests.service.conftest import AUTH, SCORES, launch, run_until_ready
from tests.service.test_web_pages import browser, client, csrf_of, error_links, post_form, settings
from tests.unit.test_catalogue import GOOD

__all__ = ["client", "settings"]  # the https client and settings of test_web_pages
START = "/templates/demo/start"


def answer(visitor: TestClient, step: str, data: dict[str, Any], **kwargs: Any) -> Any:
    return post_form(visitor, f"{START}/{step}", data, **kwargs)


def test_starting_a_trial_one_question_per_page(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    alice = browser(client, "alice")
    assert alice.get(f"{START}/check").headers["location"] == f"{START}/title"  # nothing yet
    refused = answer(alice, "title", {"title": ""})
    assert refused.status_code == 422 and error_links(refused.text) == ["#title"]
    assert "Error: What is your trial called?" in refused.text
    steps = [
        ("title", {"title": "Can residents read it?"}, "problem"),
        ("problem", {"problem": "Residents phone us.\nEvery day."}, "hypothesis"),
        ("hypothesis", {"hypothesis": "They find it in a minute."}, "success-criteria"),
        ("success-criteria", {"own-criteria": "Found in a minute\n\nNo help needed"}, "duration"),
        ("duration", {"duration": "other", "duration-minutes": "20"}, "sharing"),
        ("sharing", {"shared": "yes"}, "check"),
    ]
    for step, data, following in steps:
        moved = answer(alice, step, data)
        assert moved.status_code == 303, moved.text
        assert moved.headers["location"] == f"{START}/{following}"
    check = alice.get(f"{START}/check")
    assert "Residents phone us.<br>" in check.text and "20 minutes" in check.text
    changed = answer(alice, "title", {"title": "Can residents really read it?", "change": "1"})
    assert changed.headers["location"] == f"{START}/check"  # a change returns to the check page
    started = post_form(alice, f"{START}/check", {})
    assert started.status_code == 303
    trial_id = started.headers["location"].split("/")[2]
    assert "Your trial has been requested" in alice.get(started.headers["location"]).text
    trial = client.get(f"/api/v1/trials/{trial_id}", headers=people["alice"]).json()
    assert (trial["title"], trial["problem_statement"], trial["duration_seconds"]) == (
        "Can residents really read it?",
        "Residents phone us.\nEvery day.",
        1200,
    )
    assert trial["success_criteria"] == ["Found in a minute", "No help needed"]
    assert trial["shared_with_department"] is True and trial["phase"] == "Requested"
    assert alice.get(f"{START}/check").headers["location"] == f"{START}/title"  # draft cleared


def test_a_duration_outside_the_limits_names_them(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    del people
    alice = browser(client, "alice")
    refused = answer(alice, "duration", {"duration": "other", "duration-minutes": "100000"})
    assert refused.status_code == 422 and error_links(refused.text) == ["#duration-minutes"]
    assert "The trial must last at most 4 hours" in refused.text
    assert error_links(answer(alice, "duration", {}).text) == ["#duration"]
    # Digits that are not ASCII ("¹".isdigit() is true, int("¹") fails) are a form error too.
    for minutes in ("¹", "²⁰"):
        refused = answer(alice, "duration", {"duration": "other", "duration-minutes": minutes})
        assert refused.status_code == 422 and error_links(refused.text) == ["#duration-minutes"]
    refused = answer(alice, "duration", {"duration": "³⁶⁰⁰"})
    assert refused.status_code == 422 and error_links(refused.text) == ["#duration"]


def test_a_long_request_waits_for_an_approver_who_decides_on_the_trial_page(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial = launch(client, people["alice"], duration=3600)  # over the 3000 s self-service limit
    assert trial["phase"] == "PendingApproval"
    ann = browser(client, "ann")
    queue = ann.get("/approvals")
    assert f"/trials/{trial['id']}" in queue.text and "A trial of 1 hour" in queue.text
    empty = post_form(ann, f"/trials/{trial['id']}/reject", {"reason": ""})
    assert empty.status_code == 422 and error_links(empty.text) == ["#reason"]
    approved = post_form(ann, f"/trials/{trial['id']}", {}, action=f"/trials/{trial['id']}/approve")
    assert approved.headers["location"] == f"/trials/{trial['id']}?done=approved"
    again = post_form(ann, f"/trials/{trial['id']}", {}, action=f"/trials/{trial['id']}/approve")
    assert again.status_code == 409 and "There is a problem" in again.text  # the trial page again
    assert client.get(f"/api/v1/trials/{trial['id']}", headers=AUTH).json()["approved_by"] == "ann"


def test_extend_and_end_from_the_trial_page(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial = launch(client, people["alice"])
    run_until_ready(client, fake_driver, trial["id"])
    alice, page = browser(client, "alice"), f"/trials/{trial['id']}"
    none = post_form(alice, page, {}, action=f"{page}/extend")
    assert none.status_code == 422 and error_links(none.text) == ["#extend-by"]
    extended = post_form(alice, page, {"extend-by": "600"}, action=f"{page}/extend")
    assert extended.headers["location"] == f"{page}?done=extended"
    assert "The trial has been extended: it now ends at" in alice.get(extended.headers["location"]).text
    api = client.get(f"/api/v1/trials/{trial['id']}", headers=AUTH).json()
    assert (api["extension_count"], api["duration_seconds"]) == (1, 1200)
    refused = post_form(alice, page, {"extend-by": "600"}, action=f"{page}/extend")
    assert refused.status_code == 409 and "(maxExtensions)" in refused.text  # demo allows one
    ended = post_form(alice, f"{page}/end", {})
    assert ended.headers["location"] == f"{page}?done=ending"
    assert client.get(f"/api/v1/trials/{trial['id']}", headers=AUTH).json()["end_requested_at"]


def _evaluation(**changes: Any) -> dict[str, str]:
    """The evaluation's scores page, answered."""
    form = {f"score-{d}": str(s["score"]) for d, s in SCORES.items()}
    return form | {f"evidence-{d}": s["evidence"] for d, s in SCORES.items()} | changes


def test_recording_the_evaluation(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial = launch(client, people["alice"])
    run_until_ready(client, fake_driver, trial["id"])
    alice, form = browser(client, "alice"), f"/trials/{trial['id']}/evaluation"
    empty = post_form(alice, f"{form}/scores", {"action": "continue"})
    assert empty.status_code == 422
    links = error_links(empty.text)
    assert links[:2] == ["#score-user_need", "#evidence-user_need"] and len(links) == 16
    question = {"hypothesis-held": "yes", "hypothesis-evidence": "Residents found it", "action": "continue"}
    assert post_form(alice, f"{form}/question", question).headers["location"] == f"{form}/scores"
    assert post_form(alice, f"{form}/scores", _evaluation(action="continue")).status_code == 303
    decided = {"decision": "iterate", "lessons": "Try it with residents", "notes": "Our team only"}
    saved = post_form(alice, f"{form}/decision", decided | {"publish-evidence": "yes", "action": "continue"})
    assert saved.headers["location"] == f"/trials/{trial['id']}?done=evaluated"
    api = client.get(f"/api/v1/trials/{trial['id']}/evaluation", headers=people["alice"]).json()
    assert api["scores"] == SCORES and api["decision"] == "iterate"
    assert api["private_notes"] == "Our team only"
    assert 'value="4" checked' in alice.get(f"{form}/scores").text  # the form shows what was recorded
    # The supplier sees the scores in aggregate and in the report, never the trial, its title
    # or the private notes.
    assert "Our team only" in alice.get(f"/trials/{trial['id']}").text
    sam = browser(client, "sam")
    assert sam.get(f"/trials/{trial['id']}").status_code == 404
    assert "Our team only" not in sam.get("/supplier").text
    compare = sam.get("/reports?by=supplier")
    assert "Acme Ltd" in compare.text and "Row 1" in compare.text
    assert "A trial" not in compare.text and "Our team only" not in compare.text
    ours = alice.get("/reports/trial-report.csv?supplier=acme")
    theirs = client.get("/api/v1/reports/trials?format=csv&supplier=acme", headers=AUTH)
    assert ours.headers["x-report-schema"] == theirs.headers["x-report-schema"]
    assert _steady(ours.text) == _steady(theirs.text)  # the same rows and columns


def _steady(text: str) -> list[dict[str, str]]:
    """CSV rows without the columns that grow while the trial runs."""
    return [
        {k: v for k, v in row.items() if k not in ("ready_seconds", "availability")}
        for row in csv.DictReader(io.StringIO(text))
    ]


def test_a_supplier_publishes_by_upload_and_sees_every_problem(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    del people
    sam = browser(client, "sam")
    bad = {
        **GOOD,
        "metadata": {**GOOD["metadata"], "name": "Bad Name", "version": "one"},
        "spec": {**GOOD["spec"], "privileged": True},
    }
    refused = post_form(
        sam,
        "/supplier/publish",
        {},
        files={"manifest": ("template.yaml", yaml.safe_dump(bad), "application/yaml")},
    )
    assert refused.status_code == 422
    links = error_links(refused.text)
    assert len(links) >= 3 and len(set(links)) == len(links)  # each problem links to its own line
    assert all(link.startswith("#line-") for link in links)
    for field in ("metadata.name", "metadata.version", "spec.privileged"):
        assert field in refused.text
    missing = post_form(sam, "/supplier/publish", {})
    assert missing.status_code == 422 and "Select a manifest file" in missing.text
    good = {**GOOD, "metadata": {**GOOD["metadata"], "version": "1.0.1"}}
    checked = post_form(
        sam, "/supplier/publish", {}, files={"manifest": ("t.yaml", yaml.safe_dump(good), "application/yaml")}
    )
    assert checked.headers["location"] == "/supplier/publish/check"
    published = post_form(sam, "/supplier/publish/check", {})
    ref = f"{GOOD['metadata']['name']}@1.0.1"
    assert published.headers["location"] == f"/supplier?published={ref}"
    assert (
        f"{ref} has been sent. A platform engineer reviews it" in sam.get(published.headers["location"]).text
    )
    assert "has been published" not in sam.get("/supplier?published=other@9.9.9").text
    gus = browser(client, "gus")  # another supplier's template: refused, nothing stored
    other = post_form(
        gus,
        "/supplier/publish",
        {},
        files={
            "manifest": (
                "t.yaml",
                yaml.safe_dump({**GOOD, "metadata": {**GOOD["metadata"], "version": "1.0.2"}}),
                "application/yaml",
            )
        },
    )
    assert other.status_code == 403


def test_a_platform_engineer_quarantines_a_version(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    del people
    pat, page = browser(client, "pat"), "/platform/templates/demo/1.0.0"
    refused = post_form(pat, page, {"status": "Quarantined", "reason": ""})
    assert refused.status_code == 422 and error_links(refused.text) == ["#reason"]
    done = post_form(pat, page, {"status": "Quarantined", "reason": "Found a leak"})
    assert done.headers["location"] == "/platform?done=status"
    template = browser(client, "alice").get("/templates/demo").text
    assert "quarantined: it cannot be trialled. Found a leak" in template
    assert "Start a trial" not in template
    assert client.get("/api/v1/templates/demo", headers=AUTH).json()["versions"][0]["status"] == "Quarantined"


def test_forms_are_refused_to_people_the_core_refuses(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    trial = launch(client, people["alice"], shared_with_department=True)
    sam = browser(client, "sam")
    assert post_form(sam, "/techmap", {}, action=f"{START}/title").status_code == 403
    # The supplier of the template does not see the trial at all; bob (dwp) sees it, shared.
    assert post_form(sam, "/techmap", {}, action=f"/trials/{trial['id']}/end").status_code == 404
    ended = post_form(browser(client, "bob"), "/techmap", {}, action=f"/trials/{trial['id']}/end")
    assert ended.status_code == 403 and "only the trial" in ended.text
    carol = browser(client, "carol")  # another department: the trial does not exist for her
    assert post_form(carol, "/techmap", {}, action=f"/trials/{trial['id']}/end").status_code == 404
    token = csrf_of(carol.get("/techmap").text)
    assert (
        carol.post(
            f"/trials/{trial['id']}/evaluation/scores", data={"csrf_token": token, **_evaluation()}
        ).status_code
        == 404
    )


def test_a_platform_engineer_reviews_and_publishes_a_version(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    from tests.service.test_template_review import demo, send

    send(client, people["sam"], demo("1.1.0", egress=[{"host": "api.example.org"}]))
    pat, page = browser(client, "pat"), "/platform/templates/demo/1.1.0"
    listed = pat.get("/platform").text
    assert 'href="/platform/templates/demo/1.1.0">Review' in listed
    shown = pat.get(page)
    assert shown.status_code == 200, shown.text
    assert "Review demo 1.1.0" in shown.text and "api.example.org" in shown.text
    assert "No change." in shown.text  # the image is the published version's
    assert 'value="Rejected"' in shown.text and 'value="Deprecated"' not in shown.text
    twin = pat.get(page + ".json").json()
    assert twin["previous"] == "1.0.0" and twin["status"] == "PendingReview"
    refused = post_form(pat, page, {"status": "Rejected", "reason": ""})
    assert refused.status_code == 422 and error_links(refused.text) == ["#reason"]
    done = post_form(pat, page, {"status": "Published", "reason": "Its own API only"})
    assert done.headers["location"] == "/platform?done=status"
    version = client.get("/api/v1/templates/demo/versions/1.1.0", headers=AUTH).json()
    assert version["version"]["status"] == "Published"
    assert version["version"]["pinned_images"]["web"].startswith("innovation-den/demo@sha256:")
    assert "Images its trials run" in pat.get(page).text
