"""The UK2 draft and the OCDS release package, built from facts with no database, the package
checked by libcoveocds (the maintained OCDS validator) with no network: it is given the standard's
schema as a local ZIP (tests/fixtures/ocds/: the release and versioned release schemas of OCDS
1.1.4 as the ocdsmerge sdist ships them, and the release package schema as the ocdskit sdist
ships it), with our extension's patch already merged into the release schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.evaluation import DIMENSIONS
from orchestrator.opendata.inputs import (
    ChallengeFacts,
    DocumentFacts,
    SessionFacts,
    SupplierFacts,
    TrialFacts,
)
from orchestrator.opendata.ocds import extension_metadata, release_package
from orchestrator.opendata.uk2 import uk2_notice, uk2_text
from tests.ocds_validation import validate

SCHEMAS = Path(__file__).resolve().parents[1] / "fixtures" / "ocds"
NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
TAG = "1__1__4"


def _challenge(**changes: Any) -> ChallengeFacts:
    facts = ChallengeFacts(
        reference="CH-0042",
        title="Fewer missed hospital appointments",
        problem="One in ten outpatient appointments is missed, costing clinics time and patients care.",
        users_and_need="Patients need reminders they can act on; clinic staff need to refill slots.",
        tried="Text reminders two days before; no change to the rate.",
        constraints="NHS data stays in the UK; WCAG 2.2 AA; no patient data in the sandbox.",
        budget_min=20_000,
        budget_max=80_000,
        timeline="Trials in June, a decision in July 2026.",
        closes_at=datetime(2026, 5, 29, 17, 0, tzinfo=UTC),
        questions_close_at=datetime(2026, 5, 22, 17, 0, tzinfo=UTC),
        problem_areas=("health", "scheduling"),
        department="Department of Health and Social Care",
        owner_name="Priya Shah",
        owner_email="priya.shah@example.gov.uk",
        published_at=datetime(2026, 4, 28, 9, 0, tzinfo=UTC),
        public_url="https://den.example.gov.uk/challenges/CH-0042",
        sessions=(
            SessionFacts(
                starts_at=datetime(2026, 5, 8, 10, 0, tzinfo=UTC),
                ends_at=datetime(2026, 5, 8, 11, 30, tzinfo=UTC),
                mode="online",
                place="Microsoft Teams, link sent on sign-up",
                capacity=40,
            ),
            SessionFacts(
                starts_at=datetime(2026, 5, 14, 13, 0, tzinfo=UTC),
                ends_at=datetime(2026, 5, 14, 15, 0, tzinfo=UTC),
                mode="in_person",
                place="39 Victoria Street, London SW1H 0EU",
                capacity=20,
            ),
        ),
        documents=(
            DocumentFacts("d-1", "Problem statement", "https://den.example.gov.uk/d/1", "needsAssessment"),
            DocumentFacts("d-2", "Session materials", "https://den.example.gov.uk/d/2", "marketStudies"),
            DocumentFacts("d-3", "Evaluation report", "https://den.example.gov.uk/d/3", "evaluationReports"),
        ),
    )
    return ChallengeFacts(**{**facts.__dict__, **changes})


def _trials() -> list[TrialFacts]:
    acme = SupplierFacts("acme", "Acme Health Ltd", "small")
    birch = SupplierFacts("birch", "Birch Digital", "micro")
    return [
        TrialFacts("t-1", "Acme reminders", acme, "acme-remind", "1.2.0", "Expired", "adopt",
                   dict.fromkeys(DIMENSIONS, 4), NOW),
        TrialFacts("t-2", "Birch booking", birch, "birch-book", "0.9.1", "Expired", "iterate",
                   {d: 1 + i % 5 for i, d in enumerate(DIMENSIONS)}, NOW),
    ]  # fmt: skip


def _package(challenge: ChallengeFacts | None = None) -> dict[str, Any]:
    return release_package(
        challenge or _challenge(),
        _trials(),
        now=NOW,
        publisher_name="Innovation Den",
        uri_prefix="https://den.example.gov.uk/",
        ocid_prefix="ocds-abc123",
    )


def test_the_uk2_draft_has_every_regulation_17_field_under_its_form_label() -> None:
    notice = uk2_notice(_challenge(), now=NOW)
    fields = {f["label"]: f["value"] for s in notice["sections"] for f in s["fields"]}
    assert fields["Organisation name"] == "Department of Health and Social Care"
    assert fields["Email"] == "priya.shah@example.gov.uk"
    assert fields["Procurement title"] == "Fewer missed hospital appointments"
    assert fields["Reference"] == "CH-0042"
    assert "One in ten" in fields["Description"]
    assert fields["Estimated value"].startswith("£20,000 to £80,000")
    assert fields["Engagement deadline"] == "29 May 2026 at 6:00pm (UK time)"  # British Summer Time
    process = fields["Engagement process description"]
    assert "https://den.example.gov.uk/challenges/CH-0042" in process
    assert "22 May 2026 at 6:00pm (UK time)" in process
    assert "Session 1: 8 May 2026 at 11:00am to 12:30pm (UK time). Online" in process
    assert "Session 2: 14 May 2026 at 2:00pm to 4:00pm (UK time). In person: 39 Victoria Street" in process
    assert all(f["regulation"].startswith("reg. 17") for s in notice["sections"] for f in s["fields"])
    text = uk2_text(notice)
    assert "Engagement deadline:\n29 May 2026 at 6:00pm (UK time)" in text


def test_no_budget_means_no_estimated_value_field() -> None:
    notice = uk2_notice(_challenge(budget_min=None, budget_max=None), now=NOW)
    labels = [f["label"] for s in notice["sections"] for f in s["fields"]]
    assert "Estimated value" not in labels
    assert "budget" not in _package(_challenge(budget_min=None, budget_max=None))["releases"][0]["planning"]


def test_the_release_package_maps_the_challenge_and_validates_with_no_errors() -> None:
    package = _package()
    release = package["releases"][0]
    assert release["ocid"] == "ocds-abc123-CH-0042"
    assert release["tag"] == ["planning"] and release["tender"]["status"] == "planning"
    roles = {p["id"]: p["roles"] for p in release["parties"]}
    assert roles["supplier-acme"] == ["interestedParty"] and release["buyer"]["id"] in roles
    assert release["planning"]["budget"]["amount"] == {"amount": 80_000, "currency": "GBP"}
    assert {d["documentType"] for d in release["planning"]["documents"]} >= {
        "needsAssessment",
        "evaluationReports",
    }
    assert release["relatedProcesses"][0]["relationship"] == ["planning"]
    evaluation = release["planning"]["denEvaluations"][1]
    assert evaluation["supplierId"] == "supplier-birch" and len(evaluation["scores"]) == len(DIMENSIONS)
    result = validate(package)
    assert result["validation_errors"] == [], result["validation_errors"]
    assert result.get("additional_fields", []) == [], result.get("additional_fields")


def test_a_wrong_score_type_is_reported_by_the_patched_schema() -> None:
    package = _package()
    package["releases"][0]["planning"]["denEvaluations"][0]["scores"][0]["score"] = "four"
    errors = validate(package)["validation_errors"]
    assert any("denEvaluations" in json.dumps(e) and "score" in json.dumps(e) for e in errors), errors


def test_the_extension_metadata_is_complete() -> None:
    meta = extension_metadata()
    assert set(meta) >= {"name", "description", "documentationUrl", "compatibility", "schemas"}
    assert meta["compatibility"] == ["1.1"] and meta["schemas"] == ["release-schema.json"]


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=st.text(min_size=1, max_size=60), problem=st.text(max_size=200))
def test_arbitrary_text_never_breaks_validity(title: str, problem: str) -> None:
    package = _package(_challenge(title=title, problem=problem))
    assert validate(package)["validation_errors"] == []
    assert title in uk2_text(uk2_notice(_challenge(title=title, problem=problem), now=NOW))


def test_empty_fields_leave_no_label_in_the_description() -> None:
    notice = uk2_notice(_challenge(tried="", constraints="", timeline=""), now=NOW)
    fields = {f["label"]: f["value"] for s in notice["sections"] for f in s["fields"]}
    assert "What has been tried" not in fields["Description"] and "Constraints" not in fields["Description"]
    assert "Users and their need:" in fields["Description"]
