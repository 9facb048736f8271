"""The lifecycle table, exhaustively, and random walks through it (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.lifecycle import (
    LIVE_PHASES,
    TERMINAL_PHASES,
    TRANSITIONS,
    IllegalTransition,
    Phase,
    Reason,
    can_transition,
    check_transition,
    down_too_long,
    is_expired,
    time_left,
)

ALLOWED = {
    (Phase.PENDING_APPROVAL, Phase.REQUESTED),
    (Phase.PENDING_APPROVAL, Phase.STOPPED),
    (Phase.REQUESTED, Phase.PROVISIONING),
    (Phase.REQUESTED, Phase.STOPPING),
    (Phase.REQUESTED, Phase.FAILED),
    (Phase.PROVISIONING, Phase.READY),
    (Phase.PROVISIONING, Phase.STOPPING),
    (Phase.PROVISIONING, Phase.FAILED),
    (Phase.READY, Phase.SLEEPING),
    (Phase.READY, Phase.STOPPING),
    (Phase.READY, Phase.FAILED),
    # Idle sleep: a visit wakes it through Provisioning (reason Waking); its time may run out.
    (Phase.SLEEPING, Phase.PROVISIONING),
    (Phase.SLEEPING, Phase.STOPPING),
    (Phase.STOPPING, Phase.STOPPED),
    (Phase.STOPPING, Phase.FAILED),
    (Phase.FAILED, Phase.STOPPING),
}
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("source", list(Phase))
@pytest.mark.parametrize("target", list(Phase))
def test_every_pair_of_phases_is_decided_by_the_table(source: Phase, target: Phase) -> None:
    assert can_transition(source, target) == ((source, target) in ALLOWED)
    if (source, target) in ALLOWED:
        check_transition(source, target)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(source, target)


def test_phase_and_reason_spellings_are_the_contract() -> None:
    assert [p.value for p in Phase] == [
        "PendingApproval",
        "Requested",
        "Provisioning",
        "Ready",
        "Sleeping",
        "Stopping",
        "Stopped",
        "Failed",
    ]
    for token in (
        "Expired",
        "UserRequested",
        "StartTimeout",
        "RuntimeMissing",
        "QuotaExceeded",
        "Idle",
        "Waking",
    ):
        assert Reason(token).value == token


def test_stopped_is_the_only_terminal_phase_and_every_live_phase_can_reach_it() -> None:
    assert {Phase.STOPPED} == TERMINAL_PHASES
    assert TRANSITIONS[Phase.STOPPED] == frozenset()
    for phase in LIVE_PHASES:
        seen, frontier = set(), {phase}
        while frontier:
            current = frontier.pop()
            seen.add(current)
            frontier |= set(TRANSITIONS[current]) - seen
        assert Phase.STOPPED in seen, phase


@given(st.lists(st.sampled_from(list(Phase)), max_size=30))
def test_random_walks_only_follow_the_table(steps: list[Phase]) -> None:
    current = Phase.REQUESTED
    for target in steps:
        if can_transition(current, target):
            check_transition(current, target)
            current = target
        else:
            with pytest.raises(IllegalTransition):
                check_transition(current, target)
    # From wherever the walk ended, teardown is always still reachable.
    assert (
        current == Phase.STOPPED
        or Phase.STOPPING in TRANSITIONS[current]
        or Phase.STOPPED in TRANSITIONS[current]
    )


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_time_left_is_never_negative(offset: int) -> None:
    left = time_left(now=NOW, expires_at=NOW + timedelta(seconds=offset))
    assert left == timedelta(seconds=max(offset, 0))
    assert is_expired(now=NOW, expires_at=NOW + timedelta(seconds=offset)) == (offset <= 0)


def test_time_left_handles_other_timezones_and_refuses_naive_times() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert time_left(now=NOW, expires_at=datetime(2026, 1, 1, 15, 0, tzinfo=plus_two)) == timedelta(hours=1)
    assert time_left(now=NOW, expires_at=None) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        time_left(now=datetime(2026, 1, 1), expires_at=None)  # noqa: DTZ001


def test_down_too_long_counts_from_when_it_went_down() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    assert not down_too_long(now=since + timedelta(seconds=270), down_since=since, limit_seconds=270)
    assert down_too_long(now=since + timedelta(seconds=271), down_since=since, limit_seconds=270)
    with pytest.raises(ValueError, match="down_since must be timezone-aware"):
        down_too_long(now=since, down_since=since.replace(tzinfo=None), limit_seconds=1)
