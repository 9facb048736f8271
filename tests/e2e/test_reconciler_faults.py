"""The reconciler under faults, on both real runtimes: no trial can stall the others.

Among many live trials, one keeps meeting a retryable error in its teardown (injected around
the real driver for that one trial only: a network pool exhausted or a namespace still
terminating look the same to the reconciler) and one template's component accepts
connections but never answers its readiness probe (real: a process in the sandbox that
holds every connection open). Every other trial still begins its teardown within 2 s of its
`expires_at`, and nothing is left on the runtime afterwards.
"""

from __future__ import annotations

import copy
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from sqlmodel import Session, select

from orchestrator import crud, db, startup
from orchestrator.drivers import load_driver
from orchestrator.drivers.base import Driver
from orchestrator.errors import RetryableError
from orchestrator.images import build_all
from orchestrator.lifecycle import Phase
from orchestrator.models import Trial, TrialEvent
from orchestrator.reconciler import Reconciler
from orchestrator.settings import Settings
from tests.e2e.cluster import den_settings, kubeconfig, setting_fields
from tests.e2e.engine import remove_instance
from tests.reliability.runtimes import (
    docker_inventory,
    kubernetes_inventory,
    remove_kubernetes_instance,
)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = "open-data-dashboard"
#: Listens on 8080 and holds every connection open without a word: probes time out.
SILENT = "import socket; s = socket.create_server(('', 8080)); held = [s.accept() for _ in iter(int, 1)]"
ORDINARY = 8
SMALL, SILENT_TEMPLATE = "small-dashboard", "silent-dashboard"


@dataclass
class StuckTeardown:
    """The real driver, except that one trial's teardown keeps raising a retryable error."""

    real: Driver
    stuck: str = ""
    refusals: list[float] = field(default_factory=list)

    def stop(self, trial_id: str) -> None:
        if trial_id == self.stuck:
            self.refusals.append(time.monotonic())
            raise RetryableError("The trial network is still in use; retrying.", delay=1)
        self.real.stop(trial_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def templates(tmp_path: Path) -> Path:
    """Two copies of the bundled dashboard asking for a tenth of a CPU each (so that a dozen
    fit on a two-core test node): `small-dashboard` as it is, and `silent-dashboard`, whose
    component never answers."""
    target = tmp_path / "templates"
    target.mkdir()
    shutil.copy(ROOT / "sandbox_templates" / "suppliers.yaml", target / "suppliers.yaml")
    bundled = yaml.safe_load((ROOT / "sandbox_templates" / DASHBOARD / "template.yaml").read_text())
    for name in (SMALL, SILENT_TEMPLATE):
        manifest = copy.deepcopy(bundled)
        manifest["metadata"]["name"] = name
        component = manifest["spec"]["components"][0]
        component["resources"]["cpu"] = "0.1"
        if name == SILENT_TEMPLATE:
            component["command"] = ["python3", "-c", SILENT]
            component["readinessProbe"]["timeoutSeconds"] = 5  # the drivers cap it at 2 s
        (target / name).mkdir()
        (target / name / "template.yaml").write_text(yaml.safe_dump(manifest))
    return target


@pytest.fixture(
    params=[
        pytest.param("docker", marks=pytest.mark.docker),
        pytest.param("kubernetes", marks=pytest.mark.kubernetes),
    ]
)
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    instance = "faults-" + uuid.uuid4().hex[:8]
    base = Settings(
        database_url=f"sqlite:///{tmp_path / 'den.db'}",
        templates_dir=templates(tmp_path),
        data_dir=tmp_path / "data",
        instance=instance,
        min_trial_duration=1,
        liveness_interval=2.0,
        max_active_trials=20,
        max_active_trials_per_user=20,
    )
    if request.param == "docker":
        client = docker.from_env()
        client.ping()  # a missing engine fails loudly, never skips
        build_all(ROOT / "sandbox_templates", [DASHBOARD], settings=Settings(), log=lambda _line: None)
        yield base
        remove_instance(client, instance)
        client.close()
        return
    settings = base.model_copy(update={"driver": "kubernetes", **setting_fields(den_settings())})
    api = k8s_config.new_client_from_config(config_file=kubeconfig())
    yield settings
    remove_kubernetes_instance(k8s.CoreV1Api(api), instance)
    api.close()


def launch(settings: Settings, engine: Any, template: str, duration: int) -> str:
    with db.session_scope(engine) as session:
        admin = crud.ensure_user(session, name="admin", role="platform_engineer", now=datetime.now(UTC))
        return crud.create_trial(
            session,
            actor=crud.Actor(user=admin),
            settings=settings,
            now=datetime.now(UTC),
            request=crud.TrialRequest(
                template=template, title="fault", hypothesis="h", duration_seconds=duration
            ),
        ).id


def phase(engine: Any, trial_id: str) -> Trial:
    with Session(engine) as session:
        row = session.get(Trial, trial_id)
        assert row is not None
        return row


def was_ready(engine: Any, trial_id: str) -> bool:
    with Session(engine) as session:
        return (
            session.exec(
                select(TrialEvent.id).where(TrialEvent.trial_id == trial_id, TrialEvent.phase == Phase.READY)
            ).first()
            is not None
        )


def ready_after(engine: Any, trial_id: str) -> float:
    with Session(engine) as session:
        row = session.get(Trial, trial_id)
        assert row is not None and row.ready_at is not None
        return (_aware(row.ready_at) - _aware(row.created_at)).total_seconds()


def teardown_delay(engine: Any, trial_id: str) -> float:
    """Seconds from the trial's `expires_at` to its Stopping transition."""
    with Session(engine) as session:
        row = session.get(Trial, trial_id)
        began = session.exec(
            select(TrialEvent.at).where(TrialEvent.trial_id == trial_id, TrialEvent.phase == Phase.STOPPING)
        ).first()
    assert row is not None and row.expires_at is not None and began is not None
    return (_aware(began) - _aware(row.expires_at)).total_seconds()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def wait_until(condition: Any, *, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return bool(condition())


def test_a_stuck_trial_and_a_silent_template_delay_no_other_trials_expiry(runtime: Settings) -> None:
    engine = startup.prepare(runtime)
    driver = StuckTeardown(load_driver(runtime))
    reconciler = Reconciler(engine=engine, driver=driver, settings=runtime)  # type: ignore[arg-type]
    stop = threading.Event()
    loop = threading.Thread(target=reconciler.run, args=(stop,), daemon=True)
    loop.start()
    try:
        # Long enough for every sandbox to be Ready first (pods start in seconds, not at once).
        base = 30 if runtime.driver == "docker" else 45
        stuck = launch(runtime, engine, SMALL, duration=base - 5)
        driver.stuck = stuck
        silent = [launch(runtime, engine, SILENT_TEMPLATE, duration=600) for _ in range(2)]
        ordinary = [launch(runtime, engine, SMALL, duration=base + 2 * n) for n in range(ORDINARY)]
        assert wait_until(lambda: all(phase(engine, i).phase == Phase.STOPPED for i in ordinary), within=180)
        never = {
            i: (phase(engine, i).reason, phase(engine, i).message)
            for i in [stuck, *ordinary]
            if not was_ready(engine, i)
        }
        assert never == {}
        assert all(phase(engine, i).phase == Phase.PROVISIONING for i in silent)
        delays = {i: teardown_delay(engine, i) for i in ordinary}
        assert all(0 <= d <= 2 for d in delays.values()), delays
        # The stuck trial is retried alone, each time after a longer wait, and never given up.
        assert phase(engine, stuck).phase == Phase.STOPPING
        gaps = [b - a for a, b in zip(driver.refusals, driver.refusals[1:], strict=False)]
        assert len(driver.refusals) >= 3 and gaps[-1] > gaps[0], driver.refusals
        assert reconciler.runtime_up
        driver.stuck = ""
        end_requested = datetime.now(UTC)
        with db.session_scope(engine) as session:
            admin = crud.ensure_user(session, name="admin", role="platform_engineer", now=end_requested)
            for trial_id in silent:
                row = session.get(Trial, trial_id)
                assert row is not None
                crud.request_end(session, actor=crud.Actor(user=admin), trial=row, now=end_requested)
        assert wait_until(
            lambda: all(phase(engine, i).phase == Phase.STOPPED for i in [stuck, *silent]), within=90
        )
    finally:
        stop.set()
        reconciler.wake.set()
        loop.join(timeout=30)
    inventory = (
        docker_inventory(docker.from_env(), runtime.instance)
        if runtime.driver == "docker"
        else kubernetes_inventory(
            k8s.CoreV1Api(k8s_config.new_client_from_config(config_file=kubeconfig())), runtime.instance
        )
    )
    assert inventory == {}, inventory
    print(
        f"slowest time to Ready {max(ready_after(engine, i) for i in ordinary):.1f} s; "
        f"teardown delays on {runtime.driver}: "
        f"max {max(delays.values()):.2f} s, {sorted(round(d, 2) for d in delays.values())}"
    )
    engine.dispose()
