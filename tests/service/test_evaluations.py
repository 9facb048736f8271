"""The standard evaluation, the evidence the orchestrator measured, and the comparable report."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from orchestrator.evaluation import COLUMNS, DIMENSIONS, REPORT_SCHEMA
from tests.fakes import FakeDriver
from tests.service.conftest import AUTH, QUESTION, SCORES, launch, reconciler, run_until_ready

ROOT = Path(__file__).resolve().parents[2]


def evaluate(client: TestClient, headers: dict[str, str], trial_id: str, **extra: object):  # type: ignore[no-untyped-def]
    return client.put(
        f"/api/v1/trials/{trial_id}/evaluation",
        headers=headers,
        json={
            **QUESTION,
            "scores": SCORES,
            "decision": "iterate",
            "lessons_learned": "Needs Welsh",
            "private_notes": "The team lead was sceptical",
            **extra,
        },
    )


def finished_trial(
    client: TestClient, headers: dict[str, str], driver: FakeDriver, template: str = "demo"
) -> str:
    trial_id = str(launch(client, headers, template=template)["id"])
    run_until_ready(client, driver, trial_id)
    client.post(f"/api/v1/trials/{trial_id}/end", headers=headers)
    reconciler(client, driver).reconcile_once(now=datetime.now(UTC))
    return trial_id


def test_an_evaluation_is_recorded_with_measured_evidence(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = finished_trial(client, people["alice"], fake_driver)
    answer = evaluate(client, people["alice"], trial_id)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["scores"]["accessibility"] == SCORES["accessibility"]
    assert (body["decision"], body["recorded_by"]) == ("iterate", "alice")
    measured = body["measured"]
    assert measured["time_to_ready_seconds"] is not None and measured["time_to_ready_seconds"] >= 0
    assert measured["teardown_verified"] is True  # Stopped only once nothing remained
    assert measured["availability"] == 1.0  # ended on request, never failed while Ready
    replaced = evaluate(client, people["alice"], trial_id, decision="adopt").json()
    assert replaced["decision"] == "adopt"


def test_private_notes_stay_with_the_owner_and_platform_engineers(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = finished_trial(client, people["alice"], fake_driver)
    evaluate(client, people["alice"], trial_id)
    notes = {
        person: client.get(f"/api/v1/trials/{trial_id}/evaluation", headers=people[person]).json()[
            "private_notes"
        ]
        for person in ("alice", "pat", "ann")
    }
    assert notes == {
        "alice": "The team lead was sceptical",
        "pat": "The team lead was sceptical",
        "ann": None,
    }
    # The template's supplier does not see the trial, nor so its evaluation.
    hidden = client.get(f"/api/v1/trials/{trial_id}/evaluation", headers=people["sam"])
    assert hidden.status_code == 404 and "sceptical" not in hidden.text


def test_every_dimension_is_required_and_scored_one_to_five(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = finished_trial(client, people["alice"], fake_driver)
    partial = {k: v for k, v in SCORES.items() if k != "privacy"}
    answer = evaluate(client, people["alice"], trial_id, scores=partial)
    assert answer.status_code == 422
    assert [p["field"] for p in answer.json()["problems"]] == ["scores.privacy"]
    bad = {**SCORES, "security": {"score": 6, "evidence": "x"}}
    problems = evaluate(client, people["alice"], trial_id, scores=bad).json()["problems"]
    assert [p["field"] for p in problems] == ["scores.security.score"]
    decision = evaluate(client, people["alice"], trial_id, decision="maybe").json()["problems"]
    assert [p["field"] for p in decision] == ["decision"]
    assert (
        client.get(f"/api/v1/trials/{trial_id}/evaluation", headers=people["alice"]).json()["reason"]
        == "NotEvaluated"
    )


def test_a_trial_that_never_started_cannot_be_evaluated(
    client: TestClient, people: dict[str, dict[str, str]], settings: object
) -> None:
    client.app.state.settings = client.app.state.settings.model_copy(  # type: ignore[attr-defined]
        update={"self_service_max_duration": 300}
    )
    trial_id = launch(client, people["alice"], duration=600)["id"]
    answer = evaluate(client, people["alice"], trial_id)
    assert answer.status_code == 409 and answer.json()["reason"] == "NotEvaluable"


def test_the_report_has_one_row_per_evaluated_trial_in_json_and_csv(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    evaluated = finished_trial(client, people["alice"], fake_driver)
    evaluate(client, people["alice"], evaluated, lessons_learned='=HYPERLINK("x")')
    finished_trial(client, people["alice"], fake_driver)  # not evaluated: not reported
    answer = client.get("/api/v1/reports/trials", headers=people["carol"])
    body = answer.json()
    assert answer.headers["x-report-schema"] == REPORT_SCHEMA == body["schema"]
    assert body["columns"] == list(COLUMNS)
    (row,) = body["items"]
    assert (row["row"], row["decision"], row["supplier"]) == (1, "iterate", "acme")
    assert (row["privacy_score"], row["teardown_verified"]) == (4, True)
    assert row["problem_areas"] == ["testing"]
    flat = str(body)
    assert "sceptical" not in flat and "alice" not in flat  # no private notes, no owner
    assert evaluated not in answer.text  # nothing that opens the trial
    text = client.get("/api/v1/reports/trials?format=csv", headers=people["carol"]).text
    (csv_row,) = list(csv.DictReader(io.StringIO(text)))
    assert list(csv_row) == list(COLUMNS)
    assert csv_row["row"] == "1" and csv_row["teardown_verified"] == "true"
    assert evaluated not in text
    assert csv_row["lessons_learned"] == '\'=HYPERLINK("x")'  # a spreadsheet will not run it


def test_the_report_filters_and_suppliers_see_only_their_own(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    demo = finished_trial(client, people["alice"], fake_driver)
    pair = finished_trial(client, people["alice"], fake_driver, template="pair")
    for trial_id in (demo, pair):
        evaluate(client, people["alice"], trial_id)

    def ids(query: str, person: str = "pat") -> list[tuple[int, str]]:
        items = client.get(f"/api/v1/reports/trials{query}", headers=people[person]).json()["items"]
        return [(item["row"], item["template"]) for item in items]

    assert ids("") == [(1, "demo"), (2, "pair")]  # rows numbered in each export
    assert ids("?problem_area=casework") == [(1, "pair")]
    assert ids("?supplier=acme") == [(1, "demo")]
    assert ids("?decision=adopt") == []
    assert ids("", person="sam") == [(1, "demo")]
    assert ids("", person="gus") == [(1, "pair")]


def test_a_supplier_gets_its_rows_without_the_civil_servants_words(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = str(
        launch(
            client,
            people["alice"],
            title="Bins in Barnsley",
            problem_statement="Residents miss collections",
            success_criteria=["Half find their day"],
        )["id"]
    )
    run_until_ready(client, fake_driver, trial_id)
    result = {"criterion": "Half find their day", "met": "yes", "evidence": "Six of ten did"}
    assert evaluate(client, people["alice"], trial_id, criteria_results=[result]).status_code == 200
    (full,) = client.get("/api/v1/reports/trials", headers=people["carol"]).json()["items"]
    assert (full["title"], full["department"]) == ("Bins in Barnsley", "dwp")
    answer = client.get("/api/v1/reports/trials", headers=people["sam"])
    (row,) = answer.json()["items"]
    assert (
        row["title"],
        row["problem_statement"],
        row["hypothesis"],
        row["department"],
        row["success_criteria"],
    ) == ("", "", "", "", [])
    assert (row["decision"], row["user_need_score"], row["lessons_learned"]) == (
        "iterate",
        4,
        "Needs Welsh",
    )  # the evaluation itself is published
    assert (row["criteria_total"], row["criteria_met"], row["criteria_results"]) == (1, 1, ["yes"])
    text = client.get("/api/v1/reports/trials?format=csv", headers=people["sam"]).text
    for private in ("Barnsley", "Residents miss", "Half find", "It helps", "dwp", trial_id):
        assert private not in answer.text and private not in text


def test_the_report_schema_document_describes_every_column() -> None:
    text = (ROOT / "docs" / "report-schema.md").read_text()
    assert REPORT_SCHEMA in text
    documented = [
        line.split("|")[1].strip().strip("`") for line in text.splitlines() if line.startswith("| `")
    ]
    per_dimension = {f"{d}_{part}" for d in DIMENSIONS for part in ("score", "evidence")}
    expected = [c for c in COLUMNS if c not in per_dimension]
    expected += ["<dimension>_score", "<dimension>_evidence"]
    assert sorted(documented) == sorted(expected)


def test_reports_need_a_token(client: TestClient) -> None:
    assert client.get("/api/v1/reports/trials").status_code == 401
    assert client.get("/api/v1/reports/trials", headers=AUTH).status_code == 200
