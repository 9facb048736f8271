"""Per-trial work for the reconciler: each trial is its own work item, retried alone.

Modelled on a controller's work queue (agent-sandbox's per-key rate-limited queue, kopf's
`TemporaryError(delay=...)` outcome per handler):

- a key (a trial id) is never worked on by two threads at once;
- a key whose work failed with a retryable error waits its own delay, exponential from the
  error's `delay` and capped, while every other key goes on (`Schedule`, pure: no clock, no
  threads);
- work runs in bounded thread pools, one per lane: starting sandboxes (polls and readiness
  probes, which can take seconds each) and ending them (teardowns, decisions) never wait for
  each other, so a template whose components are slow to answer cannot delay another trial's
  expiry. The fleet-wide checks (liveness, the orphan sweep) have a lane of their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

#: The shortest wait before a key is worked on again, whatever happened: nothing spins.
MIN_DELAY = 0.05


def retry_delay(*, attempt: int, base: float, cap: float) -> float:
    """Pure: seconds before retry number `attempt` (1, 2, ...): base, 2 base, 4 base, ...,
    never more than `cap` and never less than `MIN_DELAY`."""
    growth: float = 2.0 ** max(0, attempt - 1)
    return max(MIN_DELAY, min(cap, max(base, MIN_DELAY) * growth))


@dataclass
class Schedule:
    """When each key may next be worked on: after a retryable error, not before its back-off
    (`retry_at`); after success, at its next poll (`poll_at`, which a one-off pass may
    ignore); and how many retries in a row it has met."""

    retry_at: dict[str, datetime] = field(default_factory=dict)
    poll_at: dict[str, datetime] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)

    def due(self, key: str, *, now: datetime, polls: bool = True) -> bool:
        times = [self.retry_at.get(key), self.poll_at.get(key) if polls else None]
        return all(when is None or when <= now for when in times)

    def done(self, key: str, *, again_at: datetime) -> None:
        """The work succeeded; look again at `again_at` (if the key still needs work then)."""
        self.attempts.pop(key, None)
        self.retry_at.pop(key, None)
        self.poll_at[key] = again_at

    def retry(self, key: str, *, now: datetime, base: float, cap: float) -> datetime:
        """The work met a retryable error: back off this key alone."""
        attempt = self.attempts[key] = self.attempts.get(key, 0) + 1
        when = self.retry_at[key] = now + timedelta(seconds=retry_delay(attempt=attempt, base=base, cap=cap))
        self.poll_at.pop(key, None)
        return when

    def forget(self, key: str) -> None:
        for table in (self.retry_at, self.poll_at, self.attempts):
            table.pop(key, None)

    def keep_only(self, keys: set[str]) -> None:
        """Forget keys that no longer need work (their trial ended)."""
        for key in (set(self.retry_at) | set(self.poll_at)) - keys:
            self.forget(key)

    def earliest(self, *, after: datetime) -> datetime | None:
        later = [when for table in (self.retry_at, self.poll_at) for when in table.values() if when > after]
        return min(later, default=None)


class WorkQueue:
    """Bounded pools, one per lane; at most one piece of work per key in flight."""

    def __init__(self, *, lanes: dict[str, int], on_done: Callable[[], None]) -> None:
        self._pools = {
            lane: ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"rec-{lane}")
            for lane, size in lanes.items()
        }
        self._in_flight: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._on_done = on_done

    def submit(self, key: str, *, lane: str, work: Callable[[], None]) -> bool:
        """Start `work` for `key` unless that key is already in flight."""
        with self._lock:
            if key in self._in_flight:
                return False
            future = self._pools[lane].submit(work)
            self._in_flight[key] = future
        future.add_done_callback(lambda _: self._finished(key))
        return True

    def _finished(self, key: str) -> None:
        with self._lock:
            self._in_flight.pop(key, None)
        self._on_done()

    def in_flight(self) -> set[str]:
        with self._lock:
            return set(self._in_flight)

    def drain(self) -> None:
        """Wait until nothing is in flight, including work submitted by work."""
        while True:
            with self._lock:
                futures = list(self._in_flight.values())
            if not futures:
                return
            wait(futures)

    def shutdown(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=False)
