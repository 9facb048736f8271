"""Early engagement's pure rules (orchestrator/engagement.py): stages from intent and the clock,
what each stage allows, and every field problem named with its fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator import engagement
from orchestrator.engagement import (
    ChallengeInput,
    EngagementRule,
    OfferInput,
    ResponseInput,
    SessionInput,
    Stage,
)
from orchestrator.errors import RuleViolation
from orchestrator.models import Challenge, EngagementSession

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def challenge(**fields: object) -> Challenge:
    defaults: dict[str, object] = {
        "id": "c0123456789ab",
        "owner_id": 1,
        "title": "Missed appointments",
        "problem": "People miss them",
        "closes_at": NOW + 14 * DAY,
        "questions_close_at": NOW + 7 * DAY,
        "created_at": NOW - DAY,
        "updated_at": NOW - DAY,
    }
    return Challenge(**{**defaults, **fields})


def good(**fields: object) -> ChallengeInput:
    defaults: dict[str, object] = {
        "title": "Missed appointments",
        "problem": "People miss them",
        "closes_at": NOW + 14 * DAY,
    }
    return ChallengeInput(**{**defaults, **fields})  # type: ignore[arg-type]


def reason_of(check: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(RuleViolation) as refused:
        check(*args, **kwargs)  # type: ignore[operator]
    return refused.value.reason


def test_the_stage_follows_the_owner_then_the_clock() -> None:
    draft = challenge()
    assert engagement.stage(draft, NOW) == Stage.DRAFT
    published = challenge(published_at=NOW - DAY)
    assert engagement.stage(published, NOW) == Stage.PUBLISHED
    assert engagement.stage(published, NOW + 14 * DAY) == Stage.CLOSED  # at the closing time
    assert engagement.stage(challenge(published_at=NOW - DAY, closed_at=NOW), NOW) == Stage.CLOSED
    assert engagement.stage(challenge(published_at=NOW - DAY, decided_at=NOW), NOW) == Stage.DECIDED


def test_questions_close_before_responses() -> None:
    published = challenge(published_at=NOW - DAY)
    assert engagement.questions_open(published, NOW)
    engagement.check_may_ask(published, NOW + 6 * DAY)
    assert reason_of(engagement.check_may_ask, published, NOW + 7 * DAY) == EngagementRule.QUESTIONS_CLOSED
    engagement.check_open(published, NOW + 7 * DAY, to="respond")  # responses still open
    assert reason_of(engagement.check_open, published, NOW + 14 * DAY, to="respond") == EngagementRule.CLOSED
    assert reason_of(engagement.check_open, challenge(), NOW, to="respond") == EngagementRule.NOT_PUBLISHED


def test_each_stage_allows_only_its_own_writes() -> None:
    draft, published = challenge(), challenge(published_at=NOW - DAY)
    closed = challenge(published_at=NOW - DAY, closed_at=NOW - DAY / 2)
    decided = challenge(published_at=NOW - DAY, closed_at=NOW - DAY / 2, decided_at=NOW)
    engagement.check_editable(draft, NOW)
    assert reason_of(engagement.check_editable, published, NOW) == EngagementRule.NOT_DRAFT
    assert reason_of(engagement.check_decidable, published, NOW) == EngagementRule.NOT_CLOSED
    engagement.check_decidable(closed, NOW)
    assert reason_of(engagement.check_decidable, decided, NOW) == EngagementRule.DECIDED
    engagement.check_may_schedule(draft, NOW)
    assert reason_of(engagement.check_may_schedule, closed, NOW) == EngagementRule.CLOSED
    engagement.check_answerable(closed, NOW)  # late answers still help every supplier
    assert reason_of(engagement.check_answerable, decided, NOW) == EngagementRule.DECIDED
    engagement.check_may_offer(published, NOW)
    engagement.check_may_offer(closed, NOW)
    assert reason_of(engagement.check_may_offer, draft, NOW) == EngagementRule.NOT_PUBLISHED
    offered = challenge(published_at=NOW - DAY, offered_at=NOW)
    assert reason_of(engagement.check_may_offer, offered, NOW) == EngagementRule.OFFER_MADE
    late = challenge(closes_at=NOW - DAY)
    assert reason_of(engagement.check_publishable, late, NOW) == EngagementRule.CLOSED


def test_registration_stops_when_full_or_started() -> None:
    published = challenge(published_at=NOW - DAY)
    held = EngagementSession(
        id=3,
        challenge_id="c0123456789ab",
        title="Q&A",
        starts_at=NOW + DAY,
        ends_at=NOW + DAY + timedelta(hours=1),
        mode="online",
        place="https://meet.example/x",
        capacity=2,
        created_at=NOW,
    )
    engagement.check_may_register(published, held, taken=1, now=NOW)
    assert (
        reason_of(engagement.check_may_register, published, held, taken=2, now=NOW)
        == EngagementRule.SESSION_FULL
    )
    assert (
        reason_of(engagement.check_may_register, published, held, taken=0, now=NOW + 2 * DAY)
        == EngagementRule.SESSION_OVER
    )


def fields_of(problems: list[engagement.Problem]) -> list[str]:
    return [p.field for p in problems]


def test_a_challenge_s_problems_each_name_the_field_and_the_fix() -> None:
    assert engagement.challenge_problems(good(), now=NOW) == []
    found = engagement.challenge_problems(
        good(title=" ", problem="", closes_at=NOW - DAY, budget_min=10, budget_max=None), now=NOW
    )
    assert fields_of(found) == ["title", "problem", "closes_at", "budget_max"]
    assert all(p.hint for p in found)
    assert fields_of(engagement.challenge_problems(good(budget_min=50, budget_max=10), now=NOW)) == [
        "budget_max"
    ]
    after = good(questions_close_at=NOW + 20 * DAY)
    assert engagement.challenge_problems(after, now=NOW)[0].message == "is after the closing date"
    naive = good(closes_at=datetime(2030, 1, 1))  # noqa: DTZ001 - a naive time, on purpose
    assert engagement.challenge_problems(naive, now=NOW)[0].message == "has no time zone"
    assert engagement.questions_close(good()) == NOW + 14 * DAY


def test_responses_sessions_and_offers_are_checked() -> None:
    assert engagement.response_problems(ResponseInput("We help", ("demo",))) == []
    assert fields_of(engagement.response_problems(ResponseInput("", (), conflict_declared=True))) == [
        "summary",
        "templates",
        "conflict_detail",
    ]
    assert fields_of(engagement.response_problems(ResponseInput("x", ("a", "a")))) == ["templates"]
    online = SessionInput("Q&A", NOW + DAY, NOW + DAY + timedelta(hours=1), "online", "https://x", 10)
    assert engagement.session_problems(online, now=NOW) == []
    bad = SessionInput("", NOW - DAY, NOW - 2 * DAY, "carrier pigeon", "", 0)
    assert fields_of(engagement.session_problems(bad, now=NOW)) == [
        "title",
        "mode",
        "place",
        "capacity",
        "starts_at",
        "ends_at",
    ]
    assert engagement.offer_problems(OfferInput("It helps", 600, ("Fewer missed",))) == []
    assert fields_of(engagement.offer_problems(OfferInput("", 0, (), max_memory_mib=0))) == [
        "hypothesis",
        "duration_seconds",
        "success_criteria",
        "max_memory_mib",
    ]


def test_the_ceiling_says_what_is_over_it() -> None:
    terms = OfferInput("h", 600, ("c",), max_cpu_millicores=500, max_memory_mib=256)
    assert engagement.over_ceiling(terms, cpu_millicores=500, memory_mib=256) == ""
    words = engagement.over_ceiling(terms, cpu_millicores=1000, memory_mib=512)
    assert "1000 thousandths of a CPU" in words and "512 megabytes" in words
    assert engagement.over_ceiling(OfferInput("h", 600, ("c",)), cpu_millicores=10**6, memory_mib=10**6) == ""


@given(
    published=st.integers(min_value=-30, max_value=30),
    closes=st.integers(min_value=-30, max_value=30),
    closed=st.one_of(st.none(), st.integers(min_value=-30, max_value=30)),
    decided=st.booleans(),
)
def test_exactly_one_stage_allows_responses(
    published: int, closes: int, closed: int | None, decided: bool
) -> None:
    """Whatever the dates, a response is taken exactly when the stage is Published, and the
    stage never goes back to Published once closed."""
    found = challenge(
        published_at=NOW + published * DAY if published <= 0 else None,
        closes_at=NOW + closes * DAY,
        closed_at=NOW + closed * DAY if closed is not None and closed <= 0 else None,
        decided_at=NOW if decided else None,
    )
    current = engagement.stage(found, NOW)
    try:
        engagement.check_open(found, NOW, to="respond")
        taken = True
    except RuleViolation:
        taken = False
    assert taken == (current == Stage.PUBLISHED)
    if current == Stage.CLOSED:
        assert engagement.stage(found, NOW + 365 * DAY) == Stage.CLOSED


def test_text_longer_than_the_tables_keep_is_named_with_its_limit() -> None:
    found = engagement.challenge_problems(good(title="x" * 201, tried="y" * 5001), now=NOW)
    assert [(p.field, p.hint) for p in found] == [
        ("title", "keep it to 200 characters"),
        ("tried", "keep it to 5000 characters"),
    ]
    assert fields_of(engagement.response_problems(ResponseInput("s" * 5001, ("demo",)))) == ["summary"]
    long_criterion = OfferInput("h", 600, ("c" * 501,))
    assert fields_of(engagement.offer_problems(long_criterion)) == ["success_criteria[0]"]
