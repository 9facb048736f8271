"""The retention rules: which trials lose their free text, what is kept, and how the notice
says the period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator import retention

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_trial_ended_longer_ago_than_the_period_is_due_once() -> None:
    long_ago = NOW - timedelta(days=731)
    assert retention.is_due(ended_at=long_ago, text_removed_at=None, now=NOW, days=730)
    assert not retention.is_due(ended_at=long_ago, text_removed_at=NOW, now=NOW, days=730)  # done already
    assert not retention.is_due(ended_at=NOW - timedelta(days=729), text_removed_at=None, now=NOW, days=730)
    assert not retention.is_due(ended_at=None, text_removed_at=None, now=NOW, days=730)  # still running


def test_zero_keeps_text_for_ever() -> None:
    assert retention.cutoff(now=NOW, days=0) is None
    assert not retention.is_due(ended_at=NOW - timedelta(days=10**4), text_removed_at=None, now=NOW, days=0)
    assert retention.cutoff(now=NOW, days=730) == NOW - timedelta(days=730)


def test_scores_and_answers_are_kept_and_their_words_removed() -> None:
    scores = {"user_need": {"score": 4, "evidence": "Residents said so"}}
    assert retention.scores_without_text(scores) == {"user_need": {"score": 4, "evidence": ""}}
    results = [{"criterion": "Fewer calls", "met": "yes", "evidence": "Calls halved"}]
    assert retention.criteria_without_text(results) == [{"criterion": "", "met": "yes", "evidence": ""}]


def test_the_period_in_words() -> None:
    assert retention.in_words(730) == "for 2 years after the trial ends"
    assert retention.in_words(365) == "for 1 year after the trial ends"
    assert retention.in_words(90) == "for 90 days after the trial ends"
    assert retention.in_words(1) == "for 1 day after the trial ends"
    assert retention.in_words(0) == "for as long as the den runs"
