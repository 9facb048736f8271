"""What a supplier sees of its templates' trials: aggregates, never a trial.

sam supplies `demo` (acme), gus supplies `pair` (globex); alice (civil servant, dwp) runs the
trials. A supplier gets no trial anywhere (API, watch, pages, their JSON twins), the outcomes of
its own templates in aggregate (`GET /api/v1/templates/{name}/outcomes`, `/supplier`), and the
report's rows of its templates without the civil servant's words; and no report, report page
or template page publishes a trial's id.
"""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.fakes import FakeDriver
from tests.service.conftest import QUESTION, SCORES, launch, run_until_ready
from tests.service.test_web_pages import browser, client, settings

__all__ = ["client", "settings"]  # the https client and settings of test_web_pages
PRIVATE = {
    "title": "Bins in Barnsley",
    "hypothesis": "Residents find their day",
    "problem_statement": "Collections are missed",
    "parameters": {},
}


def _evaluated_trial(
    client: TestClient, people: dict[str, dict[str, str]], driver: FakeDriver, *, decision: str = "adopt"
) -> str:
    trial_id = str(launch(client, people["alice"], **PRIVATE)["id"])
    run_until_ready(client, driver, trial_id)
    answer = client.put(
        f"/api/v1/trials/{trial_id}/evaluation",
        headers=people["alice"],
        json={
            **QUESTION,
            "scores": {**SCORES, "security": {"score": 2, "evidence": "x"}},
            "decision": decision,
            "private_notes": "Only for dwp",
        },
    )
    assert answer.status_code == 200, answer.text
    return trial_id


def _leaks(text: str, trial_id: str) -> list[str]:
    words = [
        trial_id,
        PRIVATE["title"],
        PRIVATE["hypothesis"],
        PRIVATE["problem_statement"],
        "dwp",
        "alice",
        "Only for dwp",
    ]
    return [word for word in words if word in text]


def test_a_supplier_sees_no_trial_of_its_templates(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = _evaluated_trial(client, people, fake_driver)
    sam = people["sam"]
    assert client.get("/api/v1/trials", headers=sam).json()["items"] == []
    watched = client.get("/api/v1/trials?watch=true&timeout_seconds=0", headers=sam)
    assert watched.status_code == 200 and watched.text == ""
    for method, suffix in [
        ("GET", ""),
        ("GET", "/events"),
        ("GET", "/evaluation"),
        ("GET", "/logs/web"),
        ("POST", "/end"),
    ]:
        answer = client.request(method, f"/api/v1/trials/{trial_id}{suffix}", headers=sam)
        assert answer.status_code == 404, (suffix, answer.text)
        assert _leaks(answer.text, trial_id) == [trial_id]  # only the id sam asked about
    pages = browser(client, "sam")
    for path in (
        f"/trials/{trial_id}",
        f"/trials/{trial_id}.json",
        f"/trials/{trial_id}/evaluation",
        f"/trials/{trial_id}/confirmation",
    ):
        assert pages.get(path).status_code == 404, path
    for path in (
        "/",
        "/index.json",
        "/trials",
        "/trials.json",
        "/supplier",
        "/supplier.json",
        "/templates/demo",
        "/templates/demo.json",
        "/reports",
        "/reports.json",
    ):
        answer = pages.get(path)
        assert answer.status_code == 200 and _leaks(answer.text, trial_id) == [], path
    # The trial is there: its owner sees it.
    assert client.get(f"/api/v1/trials/{trial_id}", headers=people["alice"]).status_code == 200


def test_a_templates_outcomes_in_aggregate(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    adopted = _evaluated_trial(client, people, fake_driver)
    _evaluated_trial(client, people, fake_driver, decision="stop")
    launch(client, people["alice"], **PRIVATE)  # requested, never ready
    launch(client, people["carol"], template="pair")  # another supplier's template
    answer = client.get("/api/v1/templates/demo/outcomes", headers=people["sam"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["template"], body["supplier"]) == ("demo", "acme")
    total = body["total"]
    assert (total["version"], total["trials"], total["evaluated"]) == (None, 3, 2)
    assert (total["phases"]["Ready"], total["phases"]["Requested"], total["phases"]["Stopped"]) == (2, 1, 0)
    assert total["decisions"] == {"adopt": 1, "iterate": 0, "stop": 1}
    assert total["mean_scores"]["security"] == 2.0 and total["mean_scores"]["user_need"] == 4.0
    ready = total["time_to_ready"]
    assert ready["samples"] == 2 and 0 <= ready["median_seconds"] <= ready["p90_seconds"]
    assert [v["version"] for v in body["versions"]] == ["1.0.0"]
    assert body["versions"][0]["trials"] == 3
    assert _leaks(answer.text, adopted) == []
    # Approvers and platform engineers too; nobody else, and an unknown template is not found.
    statuses = {
        person: client.get("/api/v1/templates/demo/outcomes", headers=people[person]).status_code
        for person in people
    }
    assert statuses == {
        "alice": 403,
        "bob": 403,
        "carol": 403,
        "sam": 200,
        "gus": 403,
        "pat": 200,
        "ann": 200,
    }
    assert client.get("/api/v1/templates/pair/outcomes", headers=people["gus"]).json()["total"]["trials"] == 1
    assert client.get("/api/v1/templates/nothing/outcomes", headers=people["pat"]).status_code == 404


def test_the_supplier_page_shows_the_same_aggregates(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = _evaluated_trial(client, people, fake_driver)
    api = client.get("/api/v1/templates/demo/outcomes", headers=people["sam"]).json()
    sam = browser(client, "sam")
    twin = sam.get("/supplier.json").json()
    (demo,) = twin["templates"]
    assert demo["total"]["active"] == 1  # the page's own count: running or waiting
    for column in (demo["total"], *demo["versions"]):
        del column["active"]
    assert demo == api
    html = sam.get("/supplier").text
    assert "Version 1.0.0" in html and "Time to ready, 90th percentile" in html
    assert _leaks(html, trial_id) == [] and _leaks(json.dumps(twin), trial_id) == []


def test_no_report_nor_template_page_publishes_a_trial_id(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = _evaluated_trial(client, people, fake_driver)
    for person in ("alice", "carol", "sam", "pat"):
        for query in ("?format=json", "?format=csv"):
            answer = client.get(f"/api/v1/reports/trials{query}", headers=people[person])
            assert answer.status_code == 200 and trial_id not in answer.text, (person, query)
        pages = browser(client, person)
        for path in (
            "/reports",
            "/reports.json",
            "/reports/trial-report.csv",
            "/reports/trial-report.json",
            "/templates/demo",
            "/templates/demo.json",
        ):
            answer = pages.get(path)
            assert answer.status_code == 200 and trial_id not in answer.text, (person, path)
            assert f"/trials/{trial_id}" not in answer.text
    # Not vacuous: the evaluated trial is listed, by its title, to a civil servant.
    alice = browser(client, "alice")
    listed = alice.get("/templates/demo.json").json()["past_trials"]
    assert [row["title"] for row in listed] == [PRIVATE["title"]]
    assert "trial_id" not in listed[0] and PRIVATE["title"] in alice.get("/reports").text
    assert browser(client, "sam").get("/templates/demo.json").json()["past_trials"] == []
