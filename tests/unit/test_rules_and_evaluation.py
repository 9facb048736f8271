"""The pure rules (caps, self-service, extensions) and the evaluation's measured evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator import evaluation, rules
from orchestrator.errors import Conflict, NotFound, RuleViolation
from orchestrator.evaluation import COLUMNS, DIMENSIONS, measure, to_csv
from orchestrator.manifest import TemplateManifest
from orchestrator.models import Evaluation, Supplier, Trial, TrialEvent
from orchestrator.settings import Settings, TemplateCaps
from tests.unit.test_catalogue import GOOD

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
MANIFEST = TemplateManifest.model_validate(
    {
        **GOOD,
        "spec": {**GOOD["spec"], "limits": {"defaultDuration": 600, "maxDuration": 3600, "maxExtensions": 1}},
    }
)


def trial(**fields: object) -> Trial:
    base: dict[str, object] = {
        "id": "t1",
        "owner_id": 1,
        "template_version_id": 1,
        "template_name": "demo",
        "template_version": "1.0.0",
        "title": "t",
        "hypothesis": "h",
        "duration_seconds": 600,
        "phase": "Ready",
        "phase_changed_at": T0,
        "created_at": T0,
        "expires_at": T0 + timedelta(seconds=600),
    }
    return Trial(**{**base, **fields})


def check(usage: rules.Usage, caps: TemplateCaps, *, cpu: int = 500) -> None:
    rules.check_caps(
        rules.CapCheck(
            scope="the den",
            usage=usage,
            caps=caps,
            ask=rules.Reservation(cpu_millicores=cpu, memory_mib=256),
            has_department=True,
        )
    )


def test_caps_refuse_with_quota_exceeded_naming_the_cap() -> None:
    check(rules.Usage(trials=1), TemplateCaps(max_active_trials=2))
    with pytest.raises(RuleViolation) as refused:
        check(rules.Usage(trials=2), TemplateCaps(max_active_trials=2))
    assert refused.value.reason == "QuotaExceeded" and "the cap is 2" in refused.value.detail
    with pytest.raises(RuleViolation, match="CPU"):
        check(rules.Usage(cpu_millicores=1600), TemplateCaps(max_total_cpu=2.0))
    check(rules.Usage(cpu_millicores=1500), TemplateCaps(max_total_cpu=2.0))  # exactly fits


def test_a_department_cap_does_not_lump_together_people_without_one() -> None:
    rules.check_caps(
        rules.CapCheck(
            scope="x",
            usage=rules.Usage(of_department=99),
            caps=TemplateCaps(max_active_trials_per_department=1),
            ask=rules.Reservation(0, 0),
            has_department=False,
        )
    )


def test_the_tightest_of_template_and_global_limits_applies() -> None:
    settings = Settings(
        max_trial_duration=3000,
        self_service_max_duration=2000,
        template_caps={"demo": TemplateCaps(max_duration=2500, self_service_max_duration=2400)},
    )
    assert rules.longest_duration(MANIFEST, settings) == 2500
    assert rules.self_service_limit(settings, "demo") == 2000
    assert rules.self_service_limit(settings, "other") == 2000
    assert rules.needs_approval(2001, settings=settings, template="demo")


@given(duration=st.integers(1, 5000), extension=st.integers(1, 5000))
def test_an_allowed_extension_never_takes_a_trial_past_its_longest(duration: int, extension: int) -> None:
    settings = Settings()
    try:
        rules.check_extension(
            trial(duration_seconds=duration), seconds=extension, manifest=MANIFEST, settings=settings
        )
    except RuleViolation as refused:
        assert refused.reason == "MaxDurationExceeded"
        assert duration + extension > 3600
    else:
        assert duration + extension <= 3600


def test_extension_refusals_name_their_rule() -> None:
    settings = Settings()
    cases = [
        (trial(phase="Requested"), "NotRunning"),
        (trial(end_requested_at=T0), "NotRunning"),
        (trial(extension_requested_seconds=60), "ExtensionPending"),
        (trial(extension_count=1), "MaxExtensionsReached"),
    ]
    for row, reason in cases:
        with pytest.raises(Conflict) as refused:
            rules.check_extension(row, seconds=60, manifest=MANIFEST, settings=settings)
        assert refused.value.reason == reason


@given(
    duration=st.integers(1, 5000),
    phase=st.sampled_from(["Requested", "Provisioning", "Ready", "Stopping"]),
    count=st.integers(0, 2),
    pending=st.booleans(),
    ending=st.booleans(),
)
def test_the_extensions_offered_are_exactly_those_the_rule_lets_through(
    duration: int, phase: str, count: int, pending: bool, ending: bool
) -> None:
    settings = Settings(self_service_max_duration=1800)
    row = trial(
        duration_seconds=duration,
        phase=phase,
        extension_count=count,
        extension_requested_seconds=60 if pending else None,
        end_requested_at=T0 if ending else None,
    )
    choices = (600, 1800, 3600)
    offered = rules.extension_options(row, choices=choices, manifest=MANIFEST, settings=settings)
    for seconds in choices:
        refusal = rules.extension_refusal(row, seconds=seconds, manifest=MANIFEST, settings=settings)
        assert (refusal is None) == any(o.seconds == seconds for o in offered)
    for option in offered:
        assert option.needs_approval == (duration + option.seconds > 1800)


def test_what_waits_for_a_decision_and_who_asked() -> None:
    asked = trial(phase="PendingApproval", expires_at=None, duration_seconds=7200)
    assert rules.waiting_decision(asked, owner="alice") == rules.Waiting("trial", 7200, "alice")
    for settled, fields in (
        ("approved", {"approved_at": T0}),
        ("rejected", {"rejected_at": T0}),
        ("withdrawn", {"end_requested_at": T0}),
    ):
        decided = trial(phase="PendingApproval", **fields)
        assert rules.settled(decided) == settled
        assert rules.waiting_decision(decided, owner="alice") is None
    extension = trial(extension_requested_seconds=900, extension_requested_by="bob")
    assert rules.waiting_decision(extension, owner="alice") == rules.Waiting("extension", 900, "bob")
    assert rules.waiting_decision(trial(), owner="alice") is None


def test_ending_evaluating_and_logs_name_when_they_apply() -> None:
    assert rules.may_ask_to_end(trial()) and rules.may_ask_to_end(trial(phase="PendingApproval"))
    assert not rules.may_ask_to_end(trial(end_requested_at=T0))
    rules.check_endable(trial(end_requested_at=T0))  # asking again is harmless
    with pytest.raises(Conflict):
        rules.check_endable(trial(phase="Stopped"))
    for never in (trial(phase="PendingApproval"), trial(phase="Stopped", reason="Rejected")):
        with pytest.raises(Conflict) as refused:
            rules.check_evaluable(never)
        assert refused.value.reason == "NotEvaluable"
    rules.check_evaluable(trial(phase="Stopped", reason="Expired"))
    component = MANIFEST.spec.components[0].name
    rules.check_logs(trial(phase="Failed"), component=component, manifest=MANIFEST)
    with pytest.raises(Conflict) as refused:
        rules.check_logs(trial(phase="Stopped"), component=component, manifest=MANIFEST)
    assert refused.value.reason == "NoSandbox"
    with pytest.raises(NotFound, match="no component 'nope'"):
        rules.check_logs(trial(), component="nope", manifest=MANIFEST)


def test_duration_bounds_are_the_rule_duration_problems_applies() -> None:
    settings = Settings(min_trial_duration=300)
    shortest, longest = rules.duration_bounds(MANIFEST, settings)
    assert (shortest, longest) == (300, 3600)
    for seconds in (shortest - 1, shortest, longest, longest + 1):
        assert (not rules.duration_problems(seconds, MANIFEST, settings)) == (shortest <= seconds <= longest)


def test_reservation_sums_the_components_limits() -> None:
    assert rules.reservation(MANIFEST) == rules.Reservation(cpu_millicores=500, memory_mib=256)


# --- measured evidence -------------------------------------------------------------------


def timeline(*steps: tuple[int, str]) -> list[TrialEvent]:
    return [
        TrialEvent(trial_id="t1", at=T0 + timedelta(seconds=s), kind="Transition", phase=p) for s, p in steps
    ]


def test_a_trial_that_ran_its_time_measures_fully_available_and_verified() -> None:
    row = trial(ready_at=T0 + timedelta(seconds=4))
    events = timeline(
        (0, "Requested"), (1, "Provisioning"), (4, "Ready"), (600, "Stopping"), (602, "Stopped")
    )
    measured = measure(row, events, now=T0 + timedelta(seconds=700))
    assert measured.time_to_ready_seconds == 4.0
    assert measured.ready_seconds == 596.0
    assert (measured.availability, measured.teardown_verified) == (1.0, True)


def test_a_sandbox_that_failed_while_ready_is_less_available() -> None:
    row = trial(ready_at=T0 + timedelta(seconds=4))
    events = timeline(
        (0, "Requested"),
        (1, "Provisioning"),
        (4, "Ready"),
        (302, "Failed"),
        (303, "Stopping"),
        (304, "Stopped"),
    )
    measured = measure(row, events, now=T0 + timedelta(seconds=700))
    assert measured.availability == pytest.approx(298 / 596, abs=1e-4)


def test_time_to_ready_counts_from_approval_and_nothing_to_tear_down_is_not_verified() -> None:
    approved = trial(approved_at=T0 + timedelta(seconds=100), ready_at=T0 + timedelta(seconds=103))
    assert measure(approved, [], now=T0).time_to_ready_seconds == 3.0
    rejected = measure(
        trial(phase="Stopped", ready_at=None), timeline((0, "PendingApproval"), (5, "Stopped")), now=T0
    )
    assert (rejected.time_to_ready_seconds, rejected.availability, rejected.teardown_verified) == (
        None,
        None,
        None,
    )


def test_csv_has_the_columns_and_defuses_formulas() -> None:
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        {"title": "+SUM(A1)", "problem_areas": ["a", "b"], "teardown_verified": True, "availability": None}
    )
    header, line = to_csv([row]).splitlines()
    assert header.split(",") == list(COLUMNS)
    assert "'+SUM(A1)" in line and "a | b" in line and ",true," in line
    assert len(DIMENSIONS) == 8


# --- the trial's own question -------------------------------------------------------------

ALL_SCORED = {d: {"score": 4, "evidence": "seen"} for d in DIMENSIONS}


def lacking(**answers: object) -> list[tuple[str, str]]:
    given: dict[str, Any] = {
        "criteria": ["Fast"],
        "hypothesis_held": "yes",
        "hypothesis_evidence": "it was",
        "criteria_results": [{"criterion": "Fast", "met": "no", "evidence": "slow"}],
        "scores": ALL_SCORED,
        "decision": "stop",
        **answers,
    }
    return [(p.field, p.message) for p in evaluation.missing(**given)]


def test_a_complete_evaluation_answers_the_question_scores_every_dimension_and_decides() -> None:
    assert lacking() == []
    assert lacking(hypothesis_held="", hypothesis_evidence=" ") == [
        ("hypothesis_held", "Select whether the hypothesis held"),
        ("hypothesis_evidence", "Enter the evidence for whether the hypothesis held"),
    ]
    assert lacking(criteria_results=[]) == [
        ("criteria_results.0.met", "Select whether 'Fast' was met"),
        ("criteria_results.0.evidence", "Enter evidence for 'Fast'"),
    ]
    assert lacking(scores={**ALL_SCORED, "privacy": {}, "security": {"score": 6, "evidence": "x"}}) == [
        ("scores.security.score", "Select a score from 1 to 5 for security"),
        ("scores.privacy", "Score privacy and data protection from 1 to 5 with evidence"),
    ]
    assert lacking(decision="") == [("decision", "Select adopt, iterate or stop")]
    parts = {evaluation.part_of(f) for f, _ in lacking(hypothesis_held="", scores={}, decision="")}
    assert parts == set(evaluation.PARTS)


def test_results_are_kept_in_the_trials_order_and_strangers_are_refused() -> None:
    results = [{"criterion": "B", "met": "yes", "evidence": "b"}, {"criterion": "A", "met": "no"}]
    ordered = evaluation.in_trial_order(["A", "B", "C"], results)
    assert [(r["criterion"], r["met"]) for r in ordered] == [("A", "no"), ("B", "yes"), ("C", "")]
    (problem,) = evaluation.unknown_criteria(["A"], [{"criterion": "A"}, {"criterion": "A"}])
    assert (problem.field, problem.message) == ("criteria_results.1.criterion", "'A' has a result already")
    assert evaluation.unknown_criteria([], [{"criterion": "Z"}])[0].hint.startswith("The trial has no")


def test_every_score_and_dimension_has_its_meaning_written_down() -> None:
    assert sorted(evaluation.SCALE) == [1, 2, 3, 4, 5]
    assert evaluation.SCALE[1] == "Does not meet the need at all"
    assert evaluation.SCALE[5] == "Fully meets the need"
    assert tuple(evaluation.DIMENSION_HINTS) == DIMENSIONS


def _row(*, publish: bool) -> dict[str, Any]:
    scored = Evaluation(
        trial_id="t1",
        status="complete",
        hypothesis_held="partly",
        hypothesis_evidence="half did",
        criteria_results=[
            {"criterion": "B", "met": "partly", "evidence": "b"},
            {"criterion": "A", "met": "yes", "evidence": "a"},
        ],
        scores=ALL_SCORED,
        decision="adopt",
        publish_evidence=publish,
        private_notes="secret",
        recorded_by=1,
        recorded_at=T0,
    )
    data = evaluation.ReportInput(
        row=1,
        trial=trial(success_criteria=["A", "B"]),
        evaluation=scored,
        supplier=Supplier(slug="acme", name="Acme", size="sme"),
        problem_areas=[],
        measured=evaluation.Measured(None, None, None, None),
    )
    return evaluation.report_row(data)


def test_the_report_row_carries_the_answers_and_honours_keeping_evidence_out() -> None:
    shown = _row(publish=True)
    assert shown["schema"] == "innovation-den.io/trial-report/v4" and list(shown) == list(COLUMNS)
    assert (shown["criteria_total"], shown["criteria_met"], shown["criteria_partly"]) == (2, 1, 1)
    assert shown["criteria_results"] == ["yes", "partly"] and shown["criteria_evidence"] == ["a", "b"]
    assert shown["hypothesis_evidence"] == "half did" and shown["user_need_evidence"] == "seen"
    kept = _row(publish=False)
    assert (kept["hypothesis_held"], kept["user_need_score"], kept["evidence_published"]) == (
        "partly",
        4,
        False,
    )
    assert kept["hypothesis_evidence"] == kept["user_need_evidence"] == "" and kept["criteria_evidence"] == [
        "",
        "",
    ]
    assert "secret" not in str(shown) + str(kept)
    (summary,) = evaluation.summarise([shown, kept], by="supplier")
    assert summary.hypothesis_held == {"yes": 0, "partly": 2, "no": 0}
    assert (summary.criteria_met, summary.criteria_total) == (2, 4)
