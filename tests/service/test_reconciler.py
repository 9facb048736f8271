"""The reconciler against an in-memory driver, with time passed in (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from orchestrator import crud, db, startup
from orchestrator.lifecycle import Phase
from orchestrator.models import AuditEvent, Trial, TrialEvent
from orchestrator.reconciler import Reconciler
from orchestrator.settings import Settings
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
    from orchestrator.errors import RuntimeUnavailable

    reconciler, driver = den
    trial_id = launch(reconciler)
    driver.available = False
    with pytest.raises(RuntimeUnavailable):
        reconciler.reconcile_once(now=T0)
    assert trial(reconciler, trial_id).phase == Phase.PROVISIONING  # committed before the call
    driver.available = True
    for second in range(1, 4):
        reconciler.reconcile_once(now=T0 + timedelta(seconds=second))
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
