"""Idle sleep against the in-memory runtime, time passed in: a Ready sandbox nobody visits
sleeps after its timeout and leaves the caps, a visit wakes it, the time-box runs on, and a
crash at each step is finished by the next reconciler. The same flows run on Docker and
Kubernetes in tests/e2e/test_idle_and_pools.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from orchestrator import catalogue, crud, db, evaluation, rules, startup
from orchestrator.errors import RuleViolation
from orchestrator.lifecycle import Phase, Reason
from orchestrator.models import Trial
from orchestrator.reconciler import Reconciler
from orchestrator.settings import Settings
from tests.fakes import FakeDriver

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
IDLE = 60


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def den(settings: Settings, engine: Engine) -> tuple[Reconciler, FakeDriver]:
    assert settings.templates_dir is not None
    startup.load_catalogue(engine, settings.templates_dir, now=T0)
    driver = FakeDriver(ready_after=1)
    with Session(engine) as session:
        version = crud.resolve_template(session, ref="demo")
        cpu = rules.reservation(catalogue.stored_manifest(version.manifest, version.digest)).cpu_millicores
    # The den's CPU cap holds one demo sandbox, not two.
    tuned = settings.model_copy(update={"idle_timeout": IDLE, "max_total_cpu": cpu / 1000})
    return Reconciler(engine=engine, driver=driver, settings=tuned), driver


def launch(reconciler: Reconciler, *, user: str = "alice", duration: int = 3600, now: datetime = T0) -> str:
    with db.session_scope(reconciler.engine) as session:
        person = crud.ensure_user(session, name=user, role="civil_servant", now=now)
        trial = crud.create_trial(
            session,
            actor=crud.Actor(user=person),
            settings=reconciler.settings,
            now=now,
            request=crud.TrialRequest(template="demo", title="t", hypothesis="h", duration_seconds=duration),
        )
        return trial.id


def row(reconciler: Reconciler, trial_id: str) -> Trial:
    with Session(reconciler.engine) as session:
        found = session.get(Trial, trial_id)
        assert found is not None
        return found


def visit(reconciler: Reconciler, trial_id: str, *, now: datetime) -> None:
    """What the sandbox origin does for an admitted request."""
    with Session(reconciler.engine) as session:
        trial = session.get(Trial, trial_id)
        assert trial is not None
        if trial.phase == Phase.READY:
            crud.record_visit(session, trial=trial, now=now)
        else:
            crud.request_wake(session, trial=trial, now=now, by="alice")
        session.commit()


def ready(reconciler: Reconciler, *, now: datetime) -> str:
    trial_id = launch(reconciler, now=now)
    reconciler.reconcile_once(now=now)
    reconciler.reconcile_once(now=now)
    assert row(reconciler, trial_id).phase == Phase.READY
    return trial_id


def test_a_sandbox_nobody_visits_sleeps_after_its_timeout_and_a_visit_wakes_it(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    trial_id = ready(reconciler, now=T0)
    trial = row(reconciler, trial_id)
    assert trial.idle_timeout_seconds == IDLE and trial.sleeps_at == at(IDLE)
    # The reconciler wakes itself for the sleep: nothing polls.
    assert reconciler.next_wake(now=at(1)) <= at(IDLE)
    reconciler.reconcile_once(now=at(IDLE - 1))
    assert row(reconciler, trial_id).phase == Phase.READY

    reconciler.reconcile_once(now=at(IDLE))
    asleep = row(reconciler, trial_id)
    assert (asleep.phase, asleep.reason) == (Phase.SLEEPING, Reason.IDLE)
    assert trial_id in driver.asleep and trial_id not in driver.running_components()
    assert trial_id in driver.list_trial_ids()  # kept: the orphan sweep leaves it alone
    assert reconciler.sweep_orphans(now=at(IDLE + 1)) == []

    # Nothing happens to a sleeping sandbox until someone visits.
    reconciler.reconcile_once(now=at(IDLE + 100))
    assert row(reconciler, trial_id).phase == Phase.SLEEPING
    visit(reconciler, trial_id, now=at(IDLE + 200))
    assert crud.is_waking(row(reconciler, trial_id))
    reconciler.reconcile_once(now=at(IDLE + 200))
    waking = row(reconciler, trial_id)
    assert (waking.phase, waking.reason) == (Phase.PROVISIONING, Reason.WAKING)
    assert waking.slept_seconds == 200
    reconciler.reconcile_once(now=at(IDLE + 201))
    awake = row(reconciler, trial_id)
    assert awake.phase == Phase.READY and awake.ready_at == T0  # first readiness is kept
    assert awake.sleeps_at == at(IDLE + 201 + IDLE)
    assert awake.expires_at == at(3600)  # the time-box ran on
    assert driver.calls.count("wake") == 1


def test_visits_keep_a_sandbox_awake_and_are_written_at_most_every_few_seconds(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, _driver = den
    trial_id = ready(reconciler, now=T0)
    with Session(reconciler.engine) as session:
        trial = session.get(Trial, trial_id)
        assert trial is not None
        assert crud.record_visit(session, trial=trial, now=at(30))
        assert not crud.record_visit(session, trial=trial, now=at(31))  # within the interval
        session.commit()
    assert row(reconciler, trial_id).sleeps_at == at(30 + IDLE)
    reconciler.reconcile_once(now=at(IDLE + 1))
    assert row(reconciler, trial_id).phase == Phase.READY
    reconciler.reconcile_once(now=at(30 + IDLE))
    assert row(reconciler, trial_id).phase == Phase.SLEEPING


def test_a_sleeping_sandbox_frees_its_share_of_the_caps_and_waits_for_room_to_wake(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, _driver = den
    first = ready(reconciler, now=T0)
    with pytest.raises(RuleViolation, match="CPU"):
        launch(reconciler, user="bob")
    reconciler.reconcile_once(now=at(IDLE))
    assert row(reconciler, first).phase == Phase.SLEEPING
    second = launch(reconciler, user="bob", now=at(IDLE + 1))  # the sleeper left room
    reconciler.reconcile_once(now=at(IDLE + 1))
    reconciler.reconcile_once(now=at(IDLE + 1))
    assert row(reconciler, second).phase == Phase.READY

    visit(reconciler, first, now=at(IDLE + 2))
    reconciler.reconcile_once(now=at(IDLE + 2))
    waiting = row(reconciler, first)
    assert waiting.phase == Phase.SLEEPING and waiting.message.startswith("Waiting for room to wake")
    with db.session_scope(reconciler.engine) as session:
        bob_trial = session.get(Trial, second)
        assert bob_trial is not None
        bob = crud.get_user(session, name="bob")
        crud.request_end(session, actor=crud.Actor(user=bob), trial=bob_trial, now=at(IDLE + 3))
    reconciler.reconcile_once(now=at(IDLE + 3))
    assert row(reconciler, second).phase == Phase.STOPPED
    reconciler.reconcile_once(now=at(IDLE + 5))
    reconciler.reconcile_once(now=at(IDLE + 6))
    assert row(reconciler, first).phase == Phase.READY


def test_a_sleeping_sandbox_still_expires_and_is_torn_down(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    trial_id = ready(reconciler, now=T0)
    reconciler.reconcile_once(now=at(IDLE))
    assert row(reconciler, trial_id).phase == Phase.SLEEPING
    assert reconciler.next_wake(now=at(IDLE + 1)) <= at(3600)
    reconciler.reconcile_once(now=at(3600))
    ended = row(reconciler, trial_id)
    assert (ended.phase, ended.reason) == (Phase.STOPPED, Reason.EXPIRED)
    assert ended.slept_seconds == 3600 - IDLE
    assert trial_id not in driver.list_trial_ids()


def test_the_evaluation_reports_active_and_sleeping_time(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, _driver = den
    trial_id = ready(reconciler, now=T0)
    reconciler.reconcile_once(now=at(IDLE))
    visit(reconciler, trial_id, now=at(IDLE + 300))
    reconciler.reconcile_once(now=at(IDLE + 300))
    reconciler.reconcile_once(now=at(IDLE + 300))
    with Session(reconciler.engine) as session:
        trial = session.get(Trial, trial_id)
        assert trial is not None and trial.phase == Phase.READY
        measured = evaluation.measure(
            trial, crud.trial_events(session, trial_id=trial_id), now=at(IDLE + 400)
        )
    assert measured.sleeping_seconds == 300
    assert measured.ready_seconds == IDLE + 100
    assert measured.availability == 1.0  # asleep is not unavailable


def test_a_crash_between_committing_sleep_and_the_runtime_call_is_mended(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    trial_id = ready(reconciler, now=T0)
    # As if the process died after committing Sleeping, before the runtime stopped anything.
    with db.session_scope(reconciler.engine) as session:
        trial = session.get(Trial, trial_id)
        assert trial is not None
        crud.record_transition(
            session, trial=trial, to=Phase.SLEEPING, reason=Reason.IDLE, message="x", now=at(IDLE)
        )
    assert trial_id in driver.running_components()
    restarted = Reconciler(engine=reconciler.engine, driver=driver, settings=reconciler.settings)
    restarted.reconcile_once(now=at(IDLE + 1))  # the liveness check finds it running
    assert trial_id in driver.asleep and trial_id not in driver.running_components()


def test_a_crash_between_committing_waking_and_the_runtime_call_is_mended(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    trial_id = ready(reconciler, now=T0)
    reconciler.reconcile_once(now=at(IDLE))
    with db.session_scope(reconciler.engine) as session:
        trial = session.get(Trial, trial_id)
        assert trial is not None
        crud.record_transition(
            session, trial=trial, to=Phase.PROVISIONING, reason=Reason.WAKING, message="x", now=at(IDLE + 5)
        )
    assert trial_id in driver.asleep  # the runtime was never asked
    restarted = Reconciler(engine=reconciler.engine, driver=driver, settings=reconciler.settings)
    restarted.reconcile_once(now=at(IDLE + 6))
    assert trial_id not in driver.asleep
    restarted.reconcile_once(now=at(IDLE + 7))
    assert row(reconciler, trial_id).phase == Phase.READY


def test_a_templates_idle_timeout_overrides_the_dens(settings: Settings, engine: Engine) -> None:
    assert settings.templates_dir is not None
    manifest = settings.templates_dir / "demo" / "template.yaml"
    manifest.write_text(manifest.read_text().replace("spec:\n", "spec:\n  limits: {idleTimeout: 5}\n", 1))
    startup.load_catalogue(engine, settings.templates_dir, now=T0)
    reconciler = Reconciler(
        engine=engine, driver=FakeDriver(), settings=settings.model_copy(update={"idle_timeout": IDLE})
    )
    trial_id = launch(reconciler)
    assert row(reconciler, trial_id).idle_timeout_seconds == 5


def test_without_an_idle_timeout_a_sandbox_never_sleeps(settings: Settings, engine: Engine) -> None:
    assert settings.templates_dir is not None
    startup.load_catalogue(engine, settings.templates_dir, now=T0)
    reconciler = Reconciler(engine=engine, driver=FakeDriver(), settings=settings)
    trial_id = ready(reconciler, now=T0)
    assert row(reconciler, trial_id).sleeps_at is None
    reconciler.reconcile_once(now=at(3000))
    assert row(reconciler, trial_id).phase == Phase.READY
