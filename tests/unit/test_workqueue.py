"""The reconciler's per-trial scheduling: pure back-off rules and the bounded work queue."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.workqueue import MIN_DELAY, Schedule, WorkQueue, retry_delay

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_retry_delays_double_from_the_errors_own_delay_up_to_the_cap() -> None:
    assert [retry_delay(attempt=n, base=2.0, cap=30.0) for n in range(1, 7)] == [
        2.0,
        4.0,
        8.0,
        16.0,
        30.0,
        30.0,
    ]


@given(attempt=st.integers(1, 200), base=st.floats(0, 1e6), cap=st.floats(0, 1e6))
def test_a_retry_delay_is_never_below_the_minimum_nor_above_the_cap(
    attempt: int, base: float, cap: float
) -> None:
    delay = retry_delay(attempt=attempt, base=base, cap=cap)
    assert MIN_DELAY <= delay <= max(cap, MIN_DELAY)


def test_one_key_backs_off_alone_and_success_resets_it() -> None:
    schedule = Schedule()
    first = schedule.retry("a", now=T0, base=1.0, cap=30.0)
    second = schedule.retry("a", now=first, base=1.0, cap=30.0)
    assert (first - T0, second - first) == (timedelta(seconds=1), timedelta(seconds=2))
    assert not schedule.due("a", now=first)
    assert not schedule.due("a", now=first, polls=False)  # a back-off always holds
    assert schedule.due("b", now=T0)  # every other key goes on
    schedule.done("a", again_at=second)
    assert schedule.attempts == {} and not schedule.due("a", now=first)
    assert schedule.due("a", now=first, polls=False)  # a one-off pass polls it anyway
    assert schedule.retry("a", now=second, base=1.0, cap=30.0) - second == timedelta(seconds=1)


def test_keys_that_need_no_more_work_are_forgotten() -> None:
    schedule = Schedule()
    schedule.retry("gone", now=T0, base=1.0, cap=30.0)
    schedule.done("live", again_at=T0 + timedelta(seconds=5))
    schedule.keep_only({"live"})
    assert (set(schedule.retry_at), set(schedule.poll_at)) == (set(), {"live"})
    assert schedule.earliest(after=T0) == T0 + timedelta(seconds=5)
    assert schedule.earliest(after=T0 + timedelta(seconds=5)) is None


def test_a_key_is_never_worked_on_twice_at_once_and_lanes_do_not_wait_for_each_other() -> None:
    done = threading.Event()
    queue = WorkQueue(lanes={"start": 1, "end": 1}, on_done=done.set)
    release = threading.Event()
    assert queue.submit("slow", lane="start", work=lambda: release.wait(5))
    assert not queue.submit("slow", lane="start", work=lambda: None)  # in flight already
    ended = threading.Event()
    began = time.monotonic()
    assert queue.submit("quick", lane="end", work=ended.set)
    assert ended.wait(1) and time.monotonic() - began < 1  # the slow start held nothing up
    assert queue.in_flight() == {"slow"}
    release.set()
    queue.drain()
    assert queue.in_flight() == set() and done.is_set()
    queue.shutdown()
