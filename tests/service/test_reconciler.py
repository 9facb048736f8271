"""The reconciler against an in-memory driver, with time passed in (no sleeping)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from orchestrator import crud, db, startup
from orchestrator.drivers.base import Observation, Status, TrialSpec
from orchestrator.errors import RetryableError
from orchestrator.lifecycle import Phase
from orchestrator.models import AuditEvent, TemplateVersion, Trial, TrialEvent
from orchestrator.reconciler import Reconciler
from orchestrator.settings import Settings
from tests.conftest import _fresh_postgres, postgres_url, require
from tests.fakes import FakeDriver

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def den(settings: Settings, engine: Engine) -> tuple[Reconciler, FakeDriver]:
    assert settings.templates_dir is not None
    startup.load_catalogue(engine, settings.templates_dir, now=T0)
    startup.bootstrap_admin(engine, "token-" + "y" * 30, now=T0)
    driver = FakeDriver(ready_after=2)
    return Reconciler(engine=engine, driver=driver, settings=settings), driver


def launch(reconciler: Reconciler, *, duration: int = 60, template: str = "demo") -> str:
    with db.session_scope(reconciler.engine) as session:
        admin = crud.ensure_user(session, name="admin", role="platform_engineer", now=T0)
        trial = crud.create_trial(
            session,
            actor=crud.Actor(user=admin),
            settings=reconciler.settings,
            now=T0,
            request=crud.TrialRequest(
                template=template, title="t", hypothesis="h", duration_seconds=duration
            ),
        )
        return trial.id


def trial(reconciler: Reconciler, trial_id: str) -> Trial:
    with Session(reconciler.engine) as session:
        row = session.get(Trial, trial_id)
        assert row is not None
        return row


def history(reconciler: Reconciler, trial_id: str) -> list[tuple[str, str]]:
    with Session(reconciler.engine) as session:
        rows = session.exec(
            select(TrialEvent)
            .where(TrialEvent.trial_id == trial_id)
            .where(TrialEvent.kind == "Transition")
            .order_by(TrialEvent.id)
        )
        return [(e.phase, e.reason) for e in rows]


def test_a_trial_goes_from_requested_to_ready_then_expires_and_is_torn_down(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    trial_id = launch(reconciler, duration=60)
    wake = reconciler.reconcile_once(now=T0)
    assert trial(reconciler, trial_id).phase == Phase.PROVISIONING
    assert wake <= T0 + timedelta(seconds=1)
    reconciler.reconcile_once(now=T0 + timedelta(seconds=1))
    assert trial(reconciler, trial_id).phase == Phase.PROVISIONING
    wake = reconciler.reconcile_once(now=T0 + timedelta(seconds=2))
    ready = trial(reconciler, trial_id)
    assert ready.phase == Phase.READY and ready.endpoints
    assert ready.ready_at == T0 + timedelta(seconds=2)
    # The next wake-up is scheduled at the expiry (or a periodic check before it).
    assert wake <= T0 + timedelta(seconds=60)
    reconciler.reconcile_once(now=T0 + timedelta(seconds=30))
    assert trial(reconciler, trial_id).phase == Phase.READY
    reconciler.reconcile_once(now=T0 + timedelta(seconds=60))
    stopped = trial(reconciler, trial_id)
    assert (stopped.phase, stopped.reason) == (Phase.STOPPED, "Expired")
    assert stopped.endpoints == {} and stopped.ended_at == T0 + timedelta(seconds=60)
    assert driver.resources == {}
    assert history(reconciler, trial_id) == [
        ("Requested", "Created"),
        ("Provisioning", "Starting"),
        ("Ready", "Started"),
        ("Stopping", "Expired"),
        ("Stopped", "Expired"),
    ]


def test_ending_early_stops_with_user_requested(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    trial_id = launch(reconciler)
    for second in range(3):
        reconciler.reconcile_once(now=T0 + timedelta(seconds=second))
    with db.session_scope(reconciler.engine) as session:
        row = session.get(Trial, trial_id)
        admin = crud.ensure_user(session, name="admin", role="platform_engineer", now=T0)
        assert row is not None
        crud.request_end(session, actor=crud.Actor(user=admin), trial=row, now=T0)
    reconciler.reconcile_once(now=T0 + timedelta(seconds=4))
    assert (trial(reconciler, trial_id).phase, trial(reconciler, trial_id).reason) == (
        Phase.STOPPED,
        "UserRequested",
    )
    assert driver.resources == {}


def test_a_slow_start_fails_with_start_timeout_and_is_cleaned(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    driver.ready_after = 10**6
    trial_id = launch(reconciler, duration=3600)
    reconciler.reconcile_once(now=T0)
    late = T0 + timedelta(seconds=reconciler.settings.start_timeout + 1)
    reconciler.reconcile_once(now=late)
    assert trial(reconciler, trial_id).phase == Phase.STOPPED
    assert trial(reconciler, trial_id).reason == "StartTimeout"
    assert "Not ready after" in trial(reconciler, trial_id).message
    assert ("Failed", "StartTimeout") in history(reconciler, trial_id)
    assert driver.resources == {}


def test_a_ready_trial_down_with_no_failure_is_failed_only_after_its_chance_to_come_back(den) -> None:  # type: ignore[no-untyped-def]
    """A pod lost with its node is neither failed nor missing: the trial stays Ready while
    Kubernetes moves it, and fails with a reason once it has had the time to come back."""
    reconciler, driver = den
    trial_id = launch(reconciler, duration=7200)
    for second in range(3):
        reconciler.reconcile_once(now=T0 + timedelta(seconds=second))
    assert trial(reconciler, trial_id).phase == Phase.READY
    limit = reconciler._down_limit()
    assert limit == reconciler.settings.kubernetes_node_loss_seconds + 60 + reconciler.settings.start_timeout
    driver.asleep.add(trial_id)  # its components stop running; poll says PENDING, no failure
    down = T0 + timedelta(seconds=30)
    reconciler.reconcile_once(now=down)
    reconciler.reconcile_once(now=down + timedelta(seconds=limit - 1))
    assert trial(reconciler, trial_id).phase == Phase.READY
    reconciler.reconcile_once(now=down + timedelta(seconds=limit + 30))
    row = trial(reconciler, trial_id)
    assert (row.phase, row.reason) == (Phase.STOPPED, "RuntimeError")
    assert ("Failed", "RuntimeError") in history(reconciler, trial_id)
    assert f"Not running for {limit} s and not started again" in row.message
    assert driver.resources == {}


def test_a_ready_trial_that_comes_back_in_time_stays_ready(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    trial_id = launch(reconciler, duration=7200)
    for second in range(3):
        reconciler.reconcile_once(now=T0 + timedelta(seconds=second))
    limit = reconciler._down_limit()
    driver.asleep.add(trial_id)
    reconciler.reconcile_once(now=T0 + timedelta(seconds=30))
    driver.asleep.discard(trial_id)  # started again on another node
    reconciler.reconcile_once(now=T0 + timedelta(seconds=60))
    assert trial_id not in reconciler._down_since
    driver.asleep.add(trial_id)  # down again later: its wait starts afresh
    reconciler.reconcile_once(now=T0 + timedelta(seconds=90 + limit - 1))
    reconciler.reconcile_once(now=T0 + timedelta(seconds=90 + 2 * limit - 40))
    assert trial(reconciler, trial_id).phase == Phase.READY


def test_vanished_resources_fail_with_runtime_missing(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    trial_id = launch(reconciler)
    for second in range(3):
        reconciler.reconcile_once(now=T0 + timedelta(seconds=second))
    driver.resources.clear()  # someone removed the containers by hand
    reconciler.reconcile_once(now=T0 + timedelta(seconds=30))
    row = trial(reconciler, trial_id)
    assert (row.phase, row.reason) == (Phase.STOPPED, "RuntimeMissing")
    assert ("Failed", "RuntimeMissing") in history(reconciler, trial_id)


def test_an_expired_trial_whose_resources_vanished_ends_expired(den) -> None:  # type: ignore[no-untyped-def]
    """A den restored from a backup inherits trials whose time is up and whose sandboxes an
    earlier instance already removed: their reason is that time is up, never what is missing."""
    reconciler, driver = den
    trial_id = launch(reconciler, duration=60)
    for second in range(3):
        reconciler.reconcile_once(now=T0 + timedelta(seconds=second))
    driver.resources.clear()
    late = T0 + timedelta(seconds=120)
    reconciler._check_liveness(now=late)  # the fleet check may run before the trial's own work
    assert trial(reconciler, trial_id).phase == Phase.READY
    reconciler.reconcile_once(now=late)
    row = trial(reconciler, trial_id)
    assert (row.phase, row.reason) == (Phase.STOPPED, "Expired")
    assert ("Failed", "RuntimeMissing") not in history(reconciler, trial_id)


def test_a_component_failure_ends_failed_then_cleaned(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    driver.fail_with = "web exited with code 1"
    trial_id = launch(reconciler)
    reconciler.reconcile_once(now=T0)
    reconciler.reconcile_once(now=T0 + timedelta(seconds=1))
    row = trial(reconciler, trial_id)
    assert (row.phase, row.reason) == (Phase.STOPPED, "RuntimeError")
    assert "web exited with code 1" in row.message


def test_orphans_are_swept_and_audited(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    driver.resources["tdeadbeef0000"] = {"den-tdeadbeef0000-web"}
    assert reconciler.sweep_orphans(now=T0) == ["tdeadbeef0000"]
    assert driver.resources == {}
    with Session(reconciler.engine) as session:
        removed = session.exec(select(AuditEvent).where(AuditEvent.action == "orphan.remove"))
        assert [(a.actor, a.object_id) for a in removed] == [("system", "tdeadbeef0000")]


def test_a_runtime_outage_changes_no_trial_and_recovers(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    trial_id = launch(reconciler)
    driver.available = False
    reconciler.reconcile_once(now=T0)
    assert not reconciler.runtime_up
    assert trial(reconciler, trial_id).phase == Phase.PROVISIONING  # committed before the call
    driver.calls.clear()
    reconciler.reconcile_once(now=T0 + timedelta(milliseconds=100))
    assert driver.calls == []  # paused: nothing is asked of the runtime during the back-off
    driver.available = True
    for second in range(1, 4):
        reconciler.reconcile_once(now=T0 + timedelta(seconds=second))
    assert reconciler.runtime_up
    assert trial(reconciler, trial_id).phase == Phase.READY


def test_idle_ready_trials_cost_no_runtime_calls_per_pass(den) -> None:  # type: ignore[no-untyped-def]
    reconciler, driver = den
    ids = [launch(reconciler, duration=3600) for _ in range(5)]
    for second in range(3):
        reconciler.reconcile_once(now=T0 + timedelta(seconds=second))
    assert all(trial(reconciler, i).phase == Phase.READY for i in ids)
    driver.calls.clear()
    reconciler.reconcile_once(now=T0 + timedelta(seconds=4))
    assert driver.calls == []  # no per-trial polling of running sandboxes
    reconciler.reconcile_once(now=T0 + timedelta(seconds=20))
    assert driver.calls == ["running"]  # one liveness call, whatever the number of trials


def test_a_stored_version_that_no_longer_validates_fails_its_trial_only(den) -> None:  # type: ignore[no-untyped-def]
    """A version stored before a stricter rule: its trial fails with a clear message, and the
    other trials carry on (the pass is not aborted)."""
    from orchestrator.models import TemplateVersion

    reconciler, _ = den
    broken = launch(reconciler, duration=60)
    healthy = launch(reconciler, duration=60, template="pair")
    with db.session_scope(reconciler.engine) as session:
        version = session.get(TemplateVersion, trial(reconciler, broken).template_version_id)
        assert version is not None
        stored = dict(version.manifest)
        stored["spec"] = {
            **stored["spec"],
            "components": [
                {**c, "ports": [{"name": "a-port-name-far-too-long", "containerPort": 8080}]}
                for c in stored["spec"]["components"]
            ],
        }
        version.manifest, version.digest = stored, "f" * 64
    for second in range(4):
        reconciler.reconcile_once(now=T0 + timedelta(seconds=second))
    failed = trial(reconciler, broken)
    assert failed.phase in (Phase.FAILED, Phase.STOPPING, Phase.STOPPED)
    assert "no longer passes validation" in failed.message or any(
        "no longer passes validation" in m for m in _messages(reconciler, broken)
    )
    assert trial(reconciler, healthy).phase == Phase.READY


def _messages(reconciler: Reconciler, trial_id: str) -> list[str]:
    with Session(reconciler.engine) as session:
        return [e.message for e in session.exec(select(TrialEvent).where(TrialEvent.trial_id == trial_id))]


class StuckTeardown(FakeDriver):
    """One trial's teardown keeps meeting a retryable error (a network still in use)."""

    stuck: str = ""
    stops: int = 0

    def stop(self, trial_id: str) -> None:
        if trial_id == self.stuck:
            self.stops += 1
            raise RetryableError("The trial network is still in use; retrying.", delay=2)
        super().stop(trial_id)


def test_one_trials_retryable_error_retries_that_trial_alone_after_its_own_delay(
    settings: Settings, engine: Engine
) -> None:
    assert settings.templates_dir is not None
    startup.load_catalogue(engine, settings.templates_dir, now=T0)
    driver = StuckTeardown(ready_after=1)
    reconciler = Reconciler(engine=engine, driver=driver, settings=settings)
    ids = [launch(reconciler, duration=60) for _ in range(4)]
    driver.stuck = ids[1]
    for second in range(3):
        reconciler.reconcile_once(now=T0 + timedelta(seconds=second))
    expiry = T0 + timedelta(seconds=60)
    reconciler.reconcile_once(now=expiry)
    phases = {i: trial(reconciler, i).phase for i in ids}
    assert phases == {**dict.fromkeys(ids, Phase.STOPPED), ids[1]: Phase.STOPPING}
    assert reconciler.runtime_up  # one trial's trouble is not an outage
    assert driver.stops == 1
    # Its own delay (2 s), then doubled; nobody else waits for it.
    reconciler.reconcile_once(now=expiry + timedelta(seconds=1))
    assert driver.stops == 1
    reconciler.reconcile_once(now=expiry + timedelta(seconds=2))
    assert driver.stops == 2
    reconciler.reconcile_once(now=expiry + timedelta(seconds=5))
    assert driver.stops == 2
    wake = reconciler.reconcile_once(now=expiry + timedelta(seconds=6))
    assert driver.stops == 3 and wake <= expiry + timedelta(seconds=14)
    other = launch(reconciler, duration=3600)  # new work is not held back either
    reconciler.reconcile_once(now=expiry + timedelta(seconds=7))
    assert trial(reconciler, other).phase == Phase.PROVISIONING
    driver.stuck = ""
    reconciler.reconcile_once(now=expiry + timedelta(seconds=14))
    assert trial(reconciler, ids[1]).phase == Phase.STOPPED


class SlowToAnswer(FakeDriver):
    """The components of template `pair` never answer their probes: each poll of one of its
    trials takes a second (the drivers cap a probe at 2 s) and says Pending."""

    def poll(self, spec: TrialSpec) -> Observation:
        if spec.template.startswith("pair@"):
            time.sleep(1.0)
            return Observation(Status.PENDING, progress=("Waiting for the probe",))
        return super().poll(spec)


def test_slow_trials_never_delay_another_trials_teardown(settings: Settings, engine: Engine) -> None:
    """Real time, the real loop: four trials whose probes never answer are starting while six
    ordinary trials run out their time; each ordinary one begins its teardown within 2 s of
    its `expires_at`."""
    assert settings.templates_dir is not None
    startup.load_catalogue(engine, settings.templates_dir, now=T0)
    fast = settings.model_copy(
        update={"liveness_interval": 1.0, "idle_wakeup": 30.0, "max_active_trials_per_user": 20}
    )
    reconciler = Reconciler(engine=engine, driver=SlowToAnswer(ready_after=1), settings=fast)
    with running(reconciler):
        slow = [launch_now(reconciler, duration=600, template="pair") for _ in range(4)]
        ordinary = [launch_now(reconciler, duration=3 + n % 3) for n in range(6)]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            trial(reconciler, i).phase != Phase.STOPPED for i in ordinary
        ):
            time.sleep(0.2)
    for trial_id in ordinary:
        row = trial(reconciler, trial_id)
        assert row.phase == Phase.STOPPED and row.expires_at is not None
        began = teardown_began(reconciler, trial_id)
        assert began - _aware(row.expires_at) <= timedelta(seconds=2), (trial_id, began)
    assert all(trial(reconciler, i).phase == Phase.PROVISIONING for i in slow)


def test_a_commit_that_changes_intent_wakes_the_reconciler(settings: Settings, engine: Engine) -> None:
    """Quarantining a version ends its trials at once, with no route waking anything and a
    reconciler that would otherwise sleep for a minute."""
    assert settings.templates_dir is not None
    startup.load_catalogue(engine, settings.templates_dir, now=T0)
    lazy = settings.model_copy(
        update={"liveness_interval": 60.0, "idle_wakeup": 60.0, "sweep_interval": 60.0}
    )
    reconciler = Reconciler(engine=engine, driver=FakeDriver(ready_after=1), settings=lazy)
    with running(reconciler):
        time.sleep(0.3)  # the loop is asleep now
        trial_id = launch_now(reconciler, duration=3600)
        assert wait_for(lambda: trial(reconciler, trial_id).phase == Phase.READY, 3.0)
        row = trial(reconciler, trial_id)
        with db.session_scope(engine) as session:
            admin = crud.ensure_user(session, name="admin", role="platform_engineer", now=T0)
            version = session.get(TemplateVersion, row.template_version_id)
            assert version is not None
            crud.set_version_status(
                session,
                actor=crud.Actor(user=admin),
                name=row.template_name,
                version=version.version,
                status="Quarantined",
                reason="a test",
                now=datetime.now(UTC),
            )
        assert wait_for(lambda: trial(reconciler, trial_id).phase == Phase.STOPPED, 2.0)
        assert trial(reconciler, trial_id).reason == "TemplateQuarantined"


@contextmanager
def running(reconciler: Reconciler) -> Iterator[None]:
    """The reconciler's real loop in a thread, on the real clock, for the body's duration."""
    stop = threading.Event()
    loop = threading.Thread(target=reconciler.run, args=(stop,), daemon=True)
    loop.start()
    try:
        yield
    finally:
        stop.set()
        reconciler.wake.set()
        loop.join(timeout=10)


def launch_now(reconciler: Reconciler, *, duration: int, template: str = "demo") -> str:
    with db.session_scope(reconciler.engine) as session:
        admin = crud.ensure_user(session, name="admin", role="platform_engineer", now=T0)
        return crud.create_trial(
            session,
            actor=crud.Actor(user=admin),
            settings=reconciler.settings,
            now=datetime.now(UTC),
            request=crud.TrialRequest(
                template=template, title="t", hypothesis="h", duration_seconds=duration
            ),
        ).id


def teardown_began(reconciler: Reconciler, trial_id: str) -> datetime:
    with Session(reconciler.engine) as session:
        event = session.exec(
            select(TrialEvent).where(TrialEvent.trial_id == trial_id, TrialEvent.phase == Phase.STOPPING)
        ).first()
        assert event is not None
        return _aware(event.at)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.postgres
def test_another_processes_commit_reaches_a_listening_reconciler(templates_dir: Path, tmp_path: Path) -> None:
    """PostgreSQL: an API in another process (here: another engine, its own connections)
    wakes the reconciler by NOTIFY on commit, and a rolled-back change wakes nobody."""
    require(bool(postgres_url()), "PostgreSQL (DEN_TEST_POSTGRES_URL)")
    settings = Settings(
        database_url=_fresh_postgres(postgres_url()),
        data_dir=tmp_path,
        templates_dir=templates_dir,
        min_trial_duration=1,
    )
    engine = db.make_engine(settings.effective_database_url)
    db.upgrade(engine)
    assert settings.templates_dir is not None
    startup.load_catalogue(engine, settings.templates_dir, now=T0)
    woken, stop = threading.Event(), threading.Event()
    listener = crud.listen_for_intent(engine, woken.set, stop)
    assert listener is not None
    try:
        assert woken.wait(5)  # woken once on connecting: a change may have been missed
        time.sleep(0.2)
        woken.clear()
        other = db.make_engine(settings.effective_database_url)
        unregister = crud.on_intent_change(lambda: None)
        try:
            with Session(other) as session:
                row = session.exec(select(Trial)).first()
                assert row is None
                admin = crud.ensure_user(session, name="admin", role="platform_engineer", now=T0)
                crud.create_trial(
                    session,
                    actor=crud.Actor(user=admin),
                    settings=settings,
                    now=T0,
                    request=crud.TrialRequest(
                        template="demo", title="t", hypothesis="h", duration_seconds=60
                    ),
                )
                session.rollback()
            assert not woken.wait(1.0)
            with db.session_scope(other) as session:
                admin = crud.ensure_user(session, name="admin", role="platform_engineer", now=T0)
                crud.create_trial(
                    session,
                    actor=crud.Actor(user=admin),
                    settings=settings,
                    now=T0,
                    request=crud.TrialRequest(
                        template="demo", title="t", hypothesis="h", duration_seconds=60
                    ),
                )
            assert woken.wait(2.0)
        finally:
            unregister()
            other.dispose()
    finally:
        stop.set()
        listener.join(timeout=5)
        engine.dispose()
