"""Leadership: which claim a setting means, the keeper's rules (a flag that is a deadline, lost
at once, a grace before acting, a loser that waits), the file lock on a real file, and the
Lease's pure decisions."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from cli.health import serve_health
from orchestrator.drivers.kubernetes.lease import (
    Seen,
    claimed,
    lease_name,
    may_take,
    micro_time,
    wait_before_taking,
)
from orchestrator.errors import PermanentError
from orchestrator.leadership import Always, FileLock, Leadership, build, choose
from orchestrator.settings import Settings
from tests.e2e.server import free_port

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
PG = "postgresql+psycopg://den@db.example/den"


# --- which claim ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "in_cluster", "kind"),
    [
        ({}, False, "sqlite"),
        ({}, True, "sqlite"),  # the Docker driver: a pod of its own is not a reason for a Lease
        ({"driver": "kubernetes"}, True, "kubernetes"),
        ({"driver": "kubernetes"}, False, "sqlite"),
        ({"database_url": PG}, False, "postgres"),
        ({"database_url": PG, "driver": "kubernetes"}, False, "postgres"),
        ({"database_url": PG, "driver": "kubernetes"}, True, "kubernetes"),
        ({"database_url": "sqlite://"}, False, "none"),
        ({"database_url": PG, "leader_election": "none"}, True, "none"),
        ({"database_url": PG, "leader_election": "postgres", "driver": "kubernetes"}, True, "postgres"),
        ({"leader_election": "kubernetes"}, False, "kubernetes"),
    ],
)
def test_auto_picks_the_lease_in_a_cluster_then_postgres_then_the_file(
    env: dict[str, str], in_cluster: bool, kind: str
) -> None:
    assert choose(Settings(**env), in_cluster=in_cluster) == kind  # type: ignore[arg-type]


def test_postgres_election_on_sqlite_is_refused_naming_the_settings() -> None:
    with pytest.raises(PermanentError, match="DEN_LEADER_ELECTION=postgres needs a PostgreSQL"):
        choose(Settings(leader_election="postgres"), in_cluster=False)


def test_a_lease_renewed_less_than_twice_per_duration_is_refused() -> None:
    with pytest.raises(ValidationError, match="DEN_LEADER_LEASE_SECONDS must be at least twice"):
        Settings(leader_lease_seconds=5, leader_renew_interval=3)


def test_sqlite_locks_a_file_beside_the_database(tmp_path: Path) -> None:
    leadership = build(Settings(data_dir=tmp_path), in_cluster=False)
    assert isinstance(leadership.claim, FileLock)
    assert leadership.claim.path == (tmp_path / "den.db.leader").resolve()


# --- the keeper ----------------------------------------------------------------------------


@dataclass
class Scripted:
    """A claim whose answers the test gives, one per call ("raise" raises)."""

    grace: float = 0.0
    validity: float = 3.0
    acquire_answers: list[object] = field(default_factory=list)
    renew_answers: list[object] = field(default_factory=list)
    released: int = 0
    name: str = "scripted"

    def describe(self) -> str:
        return "scripted"

    def _answer(self, answers: list[object]) -> bool:
        answer = answers.pop(0)
        if answer == "raise":
            raise ConnectionError("no answer")
        return bool(answer)

    def acquire(self, *, now: datetime, at: float) -> bool:
        return self._answer(self.acquire_answers)

    def renew(self, *, now: datetime, at: float) -> bool:
        return self._answer(self.renew_answers)

    def release(self) -> None:
        self.released += 1

    def retry_in(self, *, at: float) -> float | None:
        return None


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def keeper(claim: Scripted, clock: Clock, gains: list[float] | None = None) -> Leadership:
    return Leadership(
        claim=claim,
        interval=1.0,
        monotonic=clock,
        wall=lambda: NOW,
        on_gain=lambda: (gains if gains is not None else []).append(clock.t),
    )


def test_a_confirmed_claim_keeps_the_flag_and_a_lost_one_drops_it_at_once() -> None:
    clock, gains = Clock(), []
    claim = Scripted(acquire_answers=[True], renew_answers=[True, False])
    leadership = keeper(claim, clock, gains)
    assert leadership.tick() == 1.0 and leadership.is_leader() and gains == [100.0]
    clock.t = 101.0
    leadership.tick()
    clock.t = 102.0
    assert leadership.is_leader()
    leadership.tick()  # the claim is gone: down before anything else
    assert not leadership.is_leader() and claim.released == 1
    assert gains == [100.0]


def test_the_flag_is_a_deadline_a_stuck_keeper_cannot_extend() -> None:
    clock = Clock()
    leadership = keeper(Scripted(acquire_answers=[True], validity=3.0), clock)
    leadership.tick()
    clock.t = 102.9
    assert leadership.is_leader()
    clock.t = 103.0  # no confirmation since 100.0 (the keeper hung): not the leader any more
    assert not leadership.is_leader()


def test_renewals_that_cannot_tell_keep_the_flag_until_its_deadline_then_lose() -> None:
    clock = Clock()
    claim = Scripted(acquire_answers=[True], renew_answers=["raise", "raise", "raise"])
    leadership = keeper(claim, clock)
    leadership.tick()
    for t, leading in ((101.0, True), (102.0, True)):
        clock.t = t
        leadership.tick()
        assert leadership.is_leader() is leading
    clock.t = 103.0
    leadership.tick()
    assert not leadership.is_leader() and claim.released == 1


def test_a_new_holder_waits_its_grace_before_acting() -> None:
    clock, gains = Clock(), []
    claim = Scripted(grace=3.0, acquire_answers=[True], renew_answers=[True, True, True])
    leadership = keeper(claim, clock, gains)
    assert leadership.tick() == 1.0 and not leadership.is_leader()
    clock.t = 102.0
    assert leadership.tick() == 1.0 and not leadership.is_leader()
    clock.t = 102.5
    assert leadership.tick() == 0.5
    clock.t = 103.0
    leadership.tick()
    assert leadership.is_leader() and gains == [103.0]


def test_a_loser_waits_an_extra_interval_before_trying_again() -> None:
    clock = Clock()
    claim = Scripted(acquire_answers=[True, True], renew_answers=[False])
    leadership = keeper(claim, clock)
    leadership.tick()
    clock.t = 101.0
    leadership.tick()  # lost
    clock.t = 102.0
    assert leadership.tick() == pytest.approx(1.0) and claim.acquire_answers == [True]
    clock.t = 103.0
    leadership.tick()
    assert leadership.is_leader()


def test_a_standby_whose_claim_cannot_be_reached_keeps_trying() -> None:
    clock = Clock()
    claim = Scripted(acquire_answers=["raise", False, True])
    leadership = keeper(claim, clock)
    for t in (100.0, 101.0):
        clock.t = t
        assert leadership.tick() == 1.0 and not leadership.is_leader()
    clock.t = 102.0
    leadership.tick()
    assert leadership.is_leader()


def test_none_always_leads() -> None:
    leadership = Leadership(claim=Always(), interval=1.0).start()
    try:
        assert leadership.is_leader() and leadership.claim.validity == math.inf
    finally:
        leadership.stop()
    assert not leadership.is_leader()


# --- the file lock, on real files ------------------------------------------------------------


def test_a_second_process_on_the_same_sqlite_file_stands_by_and_takes_over(tmp_path: Path) -> None:
    lock = tmp_path / "den.db.leader"
    first = Leadership(claim=FileLock(lock), interval=0.2).start()
    second = Leadership(claim=FileLock(lock), interval=0.2).start()
    try:
        assert first.is_leader() and not second.is_leader()
        assert str(os.getpid()) in lock.read_text()
        first.stop()
        assert not first.is_leader()
        second.tick()
        assert second.is_leader()
    finally:
        first.stop()
        second.stop()


def test_a_replaced_lock_file_is_a_lost_lock(tmp_path: Path) -> None:
    lock = tmp_path / "den.db.leader"
    leadership = Leadership(claim=FileLock(lock), interval=60).start()
    try:
        assert leadership.is_leader()
        lock.unlink()
        lock.write_text("someone else's\n")
        leadership.tick()
        assert not leadership.is_leader()
    finally:
        leadership.stop()


# --- the Lease's decisions -----------------------------------------------------------------


def test_a_lease_is_taken_when_free_ours_or_unchanged_for_its_duration() -> None:
    seen = Seen(holder="pod-a", version="41", duration=10.0, at=50.0)
    assert not may_take(seen, identity="pod-b", at=59.9)
    assert may_take(seen, identity="pod-b", at=60.0)
    assert may_take(seen, identity="pod-a", at=50.0)
    assert may_take(Seen(holder="", version="42", duration=1.0, at=50.0), identity="pod-b", at=50)
    assert wait_before_taking(seen, identity="pod-b", at=55.0) == 5.0
    assert wait_before_taking(None, identity="pod-b", at=55.0) is None


@dataclass
class Spec:
    holder_identity: str | None
    lease_transitions: int | None
    acquire_time: datetime | None


def test_taking_a_lease_counts_a_transition_and_renewing_keeps_the_acquire_time() -> None:
    first = claimed(None, identity="pod-a", duration=10, now=NOW)
    assert first == {
        "holderIdentity": "pod-a",
        "leaseDurationSeconds": 10,
        "renewTime": "2026-05-01T12:00:00.000000Z",
        "acquireTime": "2026-05-01T12:00:00.000000Z",
        "leaseTransitions": 0,
    }
    later = NOW.replace(second=7, microsecond=123456)
    renewed = claimed(Spec("pod-a", 0, NOW), identity="pod-a", duration=10, now=later)
    assert renewed["acquireTime"] == first["acquireTime"]
    assert renewed["renewTime"] == "2026-05-01T12:00:07.123456Z"
    assert renewed["leaseTransitions"] == 0
    taken = claimed(Spec("pod-a", 3, NOW), identity="pod-b", duration=10, now=later)
    assert taken["acquireTime"] == taken["renewTime"] and taken["leaseTransitions"] == 4
    given_up = claimed(Spec(None, 4, NOW), identity="pod-b", duration=10, now=later)
    assert given_up["leaseTransitions"] == 4


def test_micro_time_always_has_six_digits_in_utc() -> None:
    assert micro_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000Z"
    assert lease_name("prod") == "den-leader-prod"


# --- what the health server says of a standby ----------------------------------------------


def test_a_standby_is_alive_and_ready_and_says_it_does_not_lead() -> None:
    port, leading = free_port(), [False]
    server = serve_health(
        "127.0.0.1",
        port,
        last_turn=time.monotonic,
        database_ok=lambda: None,
        stale_after=120.0,
        leader=lambda: leading[0],
    )
    try:
        alive = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert alive.status_code == 200 and alive.json()["leader"] is False
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json() == {"status": "ready", "leader": False}
        leading[0] = True
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()["leader"] is True
    finally:
        server.shutdown()
        server.server_close()
