"""The API and the reconciler as separate processes on PostgreSQL (the Helm chart's shape):
`den db upgrade`, then `den reconcile --health-port` beside `den serve --no-reconciler`, on the
real Docker engine. The reconciler alone moves trials the API accepted; `denctl delete tr --all
--wait` ends them all and returns once each is Stopped with nothing left on the engine.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from orchestrator.drivers.base import INSTANCE_LABEL
from orchestrator.images import build_all
from orchestrator.settings import Settings
from tests.conftest import _fresh_postgres, postgres_url, require
from tests.e2e.engine import remove_instance
from tests.e2e.server import ROOT, TOKEN, Server, free_port

pytestmark = [pytest.mark.docker, pytest.mark.postgres]
TEMPLATE = "open-data-dashboard"


@pytest.fixture
def split(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    require(bool(postgres_url()), "PostgreSQL (scripts/ensure-postgres)")
    client = docker.from_env()
    client.ping()
    build_all(ROOT / "sandbox_templates", [TEMPLATE], settings=Settings(), log=lambda _l: None)
    server = Server(
        data_dir=tmp_path,
        serve_args=("--no-reconciler",),
        env={"DEN_DATABASE_URL": _fresh_postgres(postgres_url()), "DEN_IDLE_WAKEUP": "0.5"},
    )
    upgrade = server.spawn("db", "upgrade", log_name="upgrade.log")
    assert upgrade.wait(timeout=60) == 0, (tmp_path / "upgrade.log").read_text()
    health_port = free_port()
    reconciler = server.spawn(
        "reconcile",
        "--health-port",
        str(health_port),
        "--health-host",
        "127.0.0.1",
        log_name="reconciler.log",
    )
    server.start()
    try:
        yield server, f"http://127.0.0.1:{health_port}"
    finally:
        server.stop()
        reconciler.terminate()
        reconciler.wait(timeout=30)
        remove_instance(client, server.instance)
        client.close()


def _get(url: str, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_reconciler_apart_runs_trials_and_reports_its_health(split: tuple[Server, str]) -> None:
    server, health = split
    alive = _get(f"{health}/healthz")
    assert alive.status_code == 200 and alive.json()["status"] == "alive"
    deadline = time.monotonic() + 15  # the only reconciler leads once its claim is sure
    while _get(f"{health}/readyz").json() != {"status": "ready", "leader": True}:
        assert time.monotonic() < deadline, _get(f"{health}/readyz").text
        time.sleep(0.2)
    assert _get(f"{health}/nowhere").status_code == 404

    first = server.launch(TEMPLATE, duration=600)
    second = server.launch(TEMPLATE, duration=600)
    for trial in (first, second):
        ready = server.wait_for(trial["id"], "Ready", timeout=60)
        assert server.sandbox_get(ready["endpoints"]["web"]).status_code == 200
    assert "den_reconcile_pass_seconds_count" in _get(f"{health}/metrics").text

    done = subprocess.run(
        [sys.executable, "-m", "cli.denctl", "delete", "tr", "--all", "--yes", "--wait", "--timeout", "60"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
        env={
            "DEN_SERVER": server.url,
            "DEN_TOKEN": TOKEN,
            "PATH": "/usr/bin:/bin",
            "DENCTL_CONFIG": str(server.data_dir / "denctl.yaml"),
        },
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for trial in (first, second):
        assert f"trials/{trial['id']} ending" in lines
        assert f"trials/{trial['id']} stopped" in lines
        assert server.trial(trial["id"])["phase"] == "Stopped"
    client = docker.from_env()
    labelled = {"label": f"{INSTANCE_LABEL}={server.instance}"}
    assert client.containers.list(all=True, ignore_removed=True, filters=labelled) == []
    assert client.networks.list(filters=labelled) == []
    client.close()


def test_delete_all_needs_names_or_all_not_both(split: tuple[Server, str]) -> None:
    server, _ = split
    env = {
        "DEN_SERVER": server.url,
        "DEN_TOKEN": TOKEN,
        "PATH": "/usr/bin:/bin",
        "DENCTL_CONFIG": str(server.data_dir / "denctl.yaml"),
    }
    for argv in (
        ["delete", "tr"],
        ["delete", "tr", "t123456789ab", "--all"],
        ["delete", "tr", "t123456789ab", "-l", "phase=Ready"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "cli.denctl", *argv],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
            env=env,
        )
        assert done.returncode == 2, (argv, done.stderr)
        assert "--all" in done.stderr
