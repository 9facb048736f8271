"""Warm pools against the in-memory runtime, time passed in: the reconciler keeps each pool
full with sandboxes owned by nobody, a matching request gets one at once, none is ever handed
out twice (requests at the same instant, on SQLite and PostgreSQL), and pooled sandboxes are
replaced when their version is quarantined or they grow old. The same flows run on Docker
and Kubernetes in tests/e2e/test_idle_and_pools.py."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from api.main import create_app
from orchestrator import catalogue, crud, db, rules, startup
from orchestrator.crud.pool_upkeep import STARTING_AT_ONCE
from orchestrator.crud.pools import POOL_USER
from orchestrator.drivers.base import Usage
from orchestrator.errors import DenError
from orchestrator.lifecycle import Phase, Reason
from orchestrator.models import Trial
from orchestrator.reconciler import Reconciler
from orchestrator.settings import Settings
from tests.fakes import FakeDriver
from tests.service.conftest import AUTH

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def den_with(settings: Settings, engine: Engine, **changes: Any) -> tuple[Reconciler, FakeDriver]:
    assert settings.templates_dir is not None
    startup.load_catalogue(engine, settings.templates_dir, now=T0)
    driver = FakeDriver(ready_after=1)
    tuned = settings.model_copy(update={"warm_pools": {"demo": 2}, **changes})
    return Reconciler(engine=engine, driver=driver, settings=tuned), driver


@pytest.fixture
def den(settings: Settings, engine: Engine) -> tuple[Reconciler, FakeDriver]:
    return den_with(settings, engine)


def fill(reconciler: Reconciler, *, now: datetime) -> None:
    """Upkeep starts the pool's trials (at most once a second); more passes make them Ready."""
    for step in range(8):
        reconciler.reconcile_once(now=now + timedelta(seconds=step * 1.5))


def pooled(reconciler: Reconciler, *, phase: Phase | None = Phase.READY) -> list[Trial]:
    with Session(reconciler.engine) as session:
        query = select(Trial).where(col(Trial.pooled).is_(True))
        if phase is not None:
            query = query.where(Trial.phase == phase)
        return list(session.exec(query.order_by(col(Trial.created_at))).all())


def ask(
    reconciler: Reconciler,
    *,
    user: str = "alice",
    now: datetime = T0,
    template: str = "demo",
    parameters: dict[str, Any] | None = None,
) -> Trial:
    with db.session_scope(reconciler.engine) as session:
        person = crud.ensure_user(session, name=user, role="civil_servant", now=now)
        trial = crud.create_trial(
            session,
            actor=crud.Actor(user=person),
            settings=reconciler.settings,
            now=now,
            request=crud.TrialRequest(
                template=template,
                title="Try it",
                hypothesis="h",
                duration_seconds=600,
                parameters=parameters or {},
            ),
        )
        session.flush()
        session.expunge(trial)
        return trial


def test_the_reconciler_keeps_the_pool_full_with_sandboxes_owned_by_nobody(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    fill(reconciler, now=T0)
    waiting = pooled(reconciler)
    assert len(waiting) == 2
    assert {t.id for t in waiting} <= driver.list_trial_ids()  # each has its id from birth
    with Session(reconciler.engine) as session:
        owner = crud.get_user(session, name=POOL_USER)
        assert owner.disabled_at is not None  # nobody signs in as the pool
        admin = crud.ensure_user(session, name="pat", role="platform_engineer", now=T0)
        assert crud.list_trials(session, user=admin) == []  # nobody's trials yet
        den_wide, _ = crud.usage(session, user=admin, template="demo")
    assert den_wide.trials == 0 and den_wide.of_user == 0  # against no person
    assert den_wide.cpu_millicores == 2 * waiting[0].cpu_millicores  # but in the total caps
    reconciler.reconcile_once(now=at(5))
    assert len(pooled(reconciler, phase=None)) == 2  # full: nothing more started


def test_a_request_the_pool_can_serve_is_ready_at_once_and_the_pool_refills(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    fill(reconciler, now=T0)
    oldest = pooled(reconciler)[0]
    trial = ask(reconciler, now=at(100))
    assert trial.id == oldest.id  # the oldest first
    assert (trial.phase, trial.reason) == (Phase.READY, Reason.STARTED)
    assert not trial.pooled and trial.title == "Try it"
    assert trial.created_at == at(100) and trial.ready_at == at(100)
    assert trial.expires_at == at(700)
    with Session(reconciler.engine) as session:
        alice = crud.get_user(session, name="alice")
        assert trial.owner_id == alice.id
        assert [t.id for t in crud.list_trials(session, user=alice)] == [trial.id]
    assert trial.endpoints  # already answering
    fill(reconciler, now=at(101))
    assert len(pooled(reconciler)) == 2 and trial.id not in {t.id for t in pooled(reconciler)}
    assert driver.calls.count("start") == 3


def test_a_request_with_other_parameters_starts_cold(settings: Settings, engine: Engine) -> None:
    reconciler, _driver = den_with(
        settings, engine, warm_pools={"pair": {"size": 1, "parameters": {"tone": "formal"}}}
    )
    fill(reconciler, now=T0)
    assert len(pooled(reconciler)) == 1
    cold = ask(reconciler, template="pair", parameters={"tone": "friendly"})
    assert cold.phase == Phase.REQUESTED
    preset = ask(reconciler, template="pair", parameters={"tone": "formal"}, user="bob")
    assert preset.phase == Phase.READY and preset.parameters == {"tone": "formal"}


def test_no_pooled_sandbox_is_ever_handed_out_twice(den) -> None:  # type: ignore[no-untyped-def]
    """Eight requests at the same instant for a pool of two: two get pooled sandboxes, each a
    different one, and the other six start cold."""
    reconciler, _driver = den
    fill(reconciler, now=T0)
    waiting = {t.id for t in pooled(reconciler)}
    got: list[Trial] = []
    failed: list[BaseException] = []
    start = threading.Barrier(8)

    def request(n: int) -> None:
        start.wait()
        try:
            got.append(ask(reconciler, user=f"person{n}", now=at(10)))
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=request, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failed, failed
    handed = [t.id for t in got if t.id in waiting]
    assert sorted(handed) == sorted(waiting)  # each pooled sandbox once
    assert len({t.id for t in got}) == 8
    assert sum(t.phase == Phase.READY for t in got) == 2
    with Session(reconciler.engine) as session:
        owners = {t.id: t.owner_id for t in session.exec(select(Trial)).all()}
    assert len({owners[t] for t in handed}) == 2


def test_a_quarantined_version_s_pooled_sandboxes_are_torn_down_and_not_replaced_by_it(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    fill(reconciler, now=T0)
    old = {t.id for t in pooled(reconciler)}
    with db.session_scope(reconciler.engine) as session:
        admin = crud.ensure_user(session, name="pat", role="platform_engineer", now=T0)
        crud.set_version_status(
            session,
            actor=crud.Actor(user=admin),
            name="demo",
            version="1.0.0",
            status="Quarantined",
            reason="a flaw",
            now=at(10),
        )
    fill(reconciler, now=at(11))
    with Session(reconciler.engine) as session:
        ended = [session.get(Trial, trial_id) for trial_id in old]
    assert all(t is not None and t.phase == Phase.STOPPED for t in ended)
    assert not old & driver.list_trial_ids()
    assert pooled(reconciler, phase=None) == [] or all(
        t.phase == Phase.STOPPED for t in pooled(reconciler, phase=None)
    )
    # No published version is left to pool; a request gets the refusal as before.
    with pytest.raises(DenError):
        ask(reconciler, now=at(12))


def test_a_newer_version_replaces_the_pool_and_old_sandboxes_reach_their_maximum_age(
    settings: Settings, engine: Engine
) -> None:
    reconciler, driver = den_with(settings, engine, warm_pool_max_age=600)
    fill(reconciler, now=T0)
    first = {t.id for t in pooled(reconciler)}
    assert all(t.expires_at == at(600) for t in pooled(reconciler))
    fill(reconciler, now=at(600))  # expired at their maximum age: torn down and replaced
    second = {t.id for t in pooled(reconciler)}
    assert len(second) == 2 and not first & second
    assert not first & driver.list_trial_ids()
    # Near its maximum age a pooled sandbox is no longer handed out: it may be ending.
    late = ask(reconciler, now=at(1199))
    assert late.id not in second and late.phase == Phase.REQUESTED


def test_the_pool_never_passes_the_dens_cpu_cap(settings: Settings, engine: Engine) -> None:
    assert settings.templates_dir is not None
    startup.load_catalogue(engine, settings.templates_dir, now=T0)
    with Session(engine) as session:
        version = crud.resolve_template(session, ref="demo")
        cpu = rules.reservation(catalogue.stored_manifest(version.manifest, version.digest)).cpu_millicores
    capped, _ = den_with(settings, engine, warm_pools={"demo": 5}, max_total_cpu=3 * cpu / 1000)
    fill(capped, now=T0)
    assert len(pooled(capped, phase=None)) == 3
    with pytest.raises(DenError, match="CPU"):  # and a cold request finds no room either
        ask(capped, template="pair")


def test_a_hand_out_rolled_back_leaves_the_sandbox_in_the_pool(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, _driver = den
    fill(reconciler, now=T0)
    with Session(reconciler.engine) as session:
        person = crud.ensure_user(session, name="alice", role="civil_servant", now=T0)
        session.commit()
        trial = crud.create_trial(
            session,
            actor=crud.Actor(user=person),
            settings=reconciler.settings,
            now=at(5),
            request=crud.TrialRequest(template="demo", title="t", hypothesis="h", duration_seconds=600),
        )
        assert trial.phase == Phase.READY
        session.rollback()  # the request died before its commit
    assert len(pooled(reconciler)) == 2
    assert ask(reconciler, now=at(6)).phase == Phase.READY


def test_a_crash_after_the_pool_s_trials_are_written_is_finished_by_the_next_reconciler(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    with Session(reconciler.engine) as session:
        done = crud.pool_upkeep(session, settings=reconciler.settings, now=T0)
        session.commit()
    assert len(done.started) == 2 and not driver.list_trial_ids()  # nothing started yet
    restarted = Reconciler(engine=reconciler.engine, driver=driver, settings=reconciler.settings)
    fill(restarted, now=at(1))
    assert len(pooled(restarted)) == 2


def test_the_platform_page_shows_each_pool_and_how_full_it_is(
    settings: Settings, fake_driver: FakeDriver
) -> None:
    tuned = settings.model_copy(
        update={"warm_pools": {"demo": 2, "pair": {"size": 1, "parameters": {"tone": "formal"}}}}
    )
    app = create_app(tuned, with_reconciler=False, driver=fake_driver)
    with TestClient(app) as client:
        fill(Reconciler(engine=app.state.engine, driver=fake_driver, settings=tuned), now=datetime.now(UTC))
        pools = client.get("/platform.json", headers=AUTH).json()["pools"]
    assert pools == [
        {"template": "demo", "parameters": {}, "size": 2, "ready": 2},
        {"template": "pair", "parameters": {"tone": "formal"}, "size": 1, "ready": 1},
    ]


def test_a_pool_is_refilled_a_few_sandboxes_at_a_time(settings: Settings, engine: Engine) -> None:
    """Starting sandboxes for the pool never takes the machine from the requests it serves."""
    reconciler, _driver = den_with(settings, engine, warm_pools={"demo": 5})
    with Session(reconciler.engine) as session:
        first = crud.pool_upkeep(session, settings=reconciler.settings, now=T0)
        session.commit()
        again = crud.pool_upkeep(session, settings=reconciler.settings, now=at(1))
        session.commit()
    assert len(first.started) == STARTING_AT_ONCE and again.started == []  # two still starting
    fill(reconciler, now=at(2))
    fill(reconciler, now=at(20))
    assert len(pooled(reconciler)) == 5


def test_a_pooled_sandbox_s_use_is_the_trial_s_from_its_hand_out(den) -> None:  # type: ignore[no-untyped-def]
    """While pooled it is no one's trial: not read, nothing counted; once handed out it is
    read like any trial, its running time from the hand-out."""
    reconciler, driver = den
    fill(reconciler, now=T0)
    for sandbox in pooled(reconciler):
        driver.usage_figures[sandbox.id] = Usage(cpu_seconds=5.0, memory_bytes=10 * 2**20)
    reconciler.reconcile_once(now=at(60))  # a turn that reads every running trial's use
    assert [(t.cpu_seconds, t.peak_memory_bytes) for t in pooled(reconciler)] == [(0.0, 0), (0.0, 0)]
    trial = ask(reconciler, now=at(100))
    assert (trial.cpu_seconds, trial.running_seconds, trial.usage_sampled_at) == (0.0, 0.0, at(100))
    reconciler.reconcile_once(now=at(200))
    with Session(reconciler.engine) as session:
        read = session.get(Trial, trial.id)
        assert read is not None
        assert (read.cpu_seconds, read.peak_memory_bytes) == (5.0, 10 * 2**20)
        assert read.running_seconds == 100.0
