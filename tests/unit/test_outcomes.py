"""A template's outcomes in aggregate (what its supplier sees instead of trials): pure."""

from __future__ import annotations

from dataclasses import asdict, fields

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.evaluation import DIMENSIONS
from orchestrator.lifecycle import Phase
from orchestrator.outcomes import TrialFacts, quantile, summarise

ALL_FOURS = dict.fromkeys(DIMENSIONS, 4)


def test_counts_decisions_scores_and_time_to_ready_per_version_and_in_total() -> None:
    rows = [
        TrialFacts("1.0.0", "Stopped", 2.0, "adopt", ALL_FOURS),
        TrialFacts("1.0.0", "Stopped", 4.0, "stop", {**ALL_FOURS, "security": 1}),
        TrialFacts("1.1.0", "Ready", 10.0),
        TrialFacts("1.1.0", "PendingApproval", None),
        TrialFacts("1.1.0", "Stopped", 6.0, "iterate", {**ALL_FOURS, "security": 5}),
    ]
    found = summarise(template="demo", supplier="acme", versions=["1.1.0", "1.0.0", "0.9.0"], rows=rows)
    assert [v.version for v in found.versions] == ["1.1.0", "1.0.0", "0.9.0"]
    total, newest, older, untried = found.total, *found.versions
    assert (total.version, total.trials, total.evaluated) == (None, 5, 3)
    assert total.phases == {
        **dict.fromkeys(map(str, Phase), 0),
        "Stopped": 3,
        "Ready": 1,
        "PendingApproval": 1,
    }
    assert total.decisions == {"adopt": 1, "iterate": 1, "stop": 1}
    assert total.mean_scores["security"] == round(10 / 3, 2)
    assert total.mean_scores["user_need"] == 4.0
    assert (
        total.time_to_ready.samples,
        total.time_to_ready.median_seconds,
        total.time_to_ready.p90_seconds,
    ) == (4, 5.0, 8.8)
    assert (older.trials, older.decisions, older.mean_scores["security"]) == (
        2,
        {"adopt": 1, "iterate": 0, "stop": 1},
        2.5,
    )
    assert (newest.trials, newest.evaluated, newest.time_to_ready.median_seconds) == (3, 1, 8.0)
    # A version nobody trialled is listed, with nothing to average.
    assert (untried.trials, untried.evaluated, untried.time_to_ready.median_seconds) == (0, 0, None)
    assert set(untried.mean_scores) == set(DIMENSIONS)
    assert all(v is None for v in untried.mean_scores.values())


def test_a_version_with_trials_but_not_listed_still_counts() -> None:
    found = summarise(
        template="demo", supplier="acme", versions=["2.0.0"], rows=[TrialFacts("1.0.0", "Stopped", 1.0)]
    )
    assert [v.version for v in found.versions] == ["2.0.0", "1.0.0"]
    assert found.total.trials == 1


def test_nothing_a_civil_servant_wrote_has_a_place_in_the_aggregates() -> None:
    found = asdict(
        summarise(
            template="demo",
            supplier="acme",
            versions=["1.0.0"],
            rows=[TrialFacts("1.0.0", "Ready", 1.0, "adopt", ALL_FOURS)],
        )
    )
    assert {f.name for f in fields(TrialFacts)} == {
        "version",
        "phase",
        "time_to_ready_seconds",
        "decision",
        "scores",
    }
    assert set(found["total"]) == {
        "version",
        "trials",
        "phases",
        "evaluated",
        "decisions",
        "mean_scores",
        "time_to_ready",
    }


def test_quantiles_interpolate_between_ranks() -> None:
    assert quantile([], 0.5) is None
    assert quantile([7.0], 0.9) == 7.0
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert quantile([1.0, 2.0, 3.0, 4.0, 100.0], 0.9) == 61.6
    assert quantile([3.0, 1.0, 2.0], 0.5) == 2.0  # order does not matter


@given(
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=50),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
)
def test_quantiles_lie_within_the_values_and_grow_with_q(values: list[float], a: float, b: float) -> None:
    low, high = sorted((a, b))
    q_low, q_high = quantile(values, low), quantile(values, high)
    assert q_low is not None and q_high is not None
    rounding = 1e-3  # quantiles are given to the millisecond
    assert min(values) - rounding <= q_low <= q_high + rounding
    assert q_high <= max(values) + rounding
