"""`den serve --workers 2` on SQLite and the real Docker engine: two API processes and exactly
one reconciler process. The workers' commits wake the reconciler at once (its idle wake-up is
set far away, so only the wake socket can start the trial in time); `/metrics` adds up every
process; a token revoked through one worker stops working in the other within a second; a
reconciler that dies is started again; SIGTERM ends every process.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from orchestrator.images import build_all
from orchestrator.settings import Settings
from tests.e2e.engine import remove_instance
from tests.e2e.server import ROOT, Server

pytestmark = pytest.mark.docker
TEMPLATE = "open-data-dashboard"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module; the last test stops it."""
    tmp_path = tmp_path_factory.mktemp("workers")
    client = docker.from_env()
    client.ping()
    build_all(ROOT / "sandbox_templates", [TEMPLATE], settings=Settings(), log=lambda _l: None)
    server = Server(data_dir=tmp_path, serve_args=("--workers", "2"), env={"DEN_IDLE_WAKEUP": "120"})
    server.start(timeout=60)
    try:
        yield server
    finally:
        server.stop()
        remove_instance(client, server.instance)
        client.close()


def _children(pid: int) -> list[tuple[int, str]]:
    """The processes `pid` started (pid, command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append((int(entry.name), command))
    return found


def _reconcilers(server: Server) -> list[int]:
    assert server.process is not None
    return [pid for pid, command in _children(server.process.pid) if "cli.den reconcile" in command]


def _workers(server: Server) -> list[int]:
    assert server.process is not None
    return [pid for pid, command in _children(server.process.pid) if "multiprocessing.spawn" in command]


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _metric(server: Server, name: str) -> float:
    for line in server.call("GET", "/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_workers_serve_beside_one_reconciler_that_their_commits_wake(served: Server) -> None:
    assert len(_workers(served)) == 2, _children(served.process.pid)  # type: ignore[union-attr]
    _wait(lambda: len(_reconcilers(served)) == 1, 15, "one reconciler process")
    _wait(lambda: _metric(served, "den_reconciler_leader") == 1, 30, "the reconciler leads")

    started = time.monotonic()
    trial = served.launch(TEMPLATE, duration=600)
    served.wait_for(trial["id"], "Ready", timeout=60)
    # Its idle wake-up is two minutes away: only a wake-up from the worker started it.
    assert time.monotonic() - started < 30

    # Both processes' figures: the reconciler's transitions and a worker's trial requests.
    exposed = served.call("GET", "/metrics").text.splitlines()
    assert any(
        line.startswith("den_trial_transitions_total{") and 'phase="Ready"' in line for line in exposed
    )
    assert any(line.startswith("den_trial_requests_total{") for line in exposed)

    assert served.call("POST", f"/api/v1/trials/{trial['id']}/end").status_code == 202
    served.wait_for(trial["id"], "Stopped", timeout=60)


def test_a_revoked_token_stops_working_in_every_worker_within_a_second(served: Server) -> None:
    made = served.call("POST", "/api/v1/users", json={"name": "wendy", "role": "civil_servant"})
    assert made.status_code == 201, made.text
    issued = served.call("POST", "/api/v1/users/wendy/tokens", json={"name": "load"}).json()
    auth = {"Authorization": f"Bearer {issued['token']}"}
    with httpx.Client(base_url=served.url, headers=auth, timeout=10) as wendy:
        for _ in range(40):  # new connections each time reach both workers
            assert httpx.get(f"{served.url}/api/v1/trials", headers=auth, timeout=10).status_code == 200
        revoked = served.call("DELETE", f"/api/v1/users/wendy/tokens/{issued['id']}")
        assert revoked.status_code in (200, 204), revoked.text
        time.sleep(1.1)
        answers = {
            httpx.get(f"{served.url}/api/v1/trials", headers=auth, timeout=10).status_code for _ in range(40)
        }
        assert answers == {401}
        assert wendy.get("/api/v1/trials").status_code == 401


def test_a_reconciler_that_dies_is_started_again_and_sigterm_ends_every_process(served: Server) -> None:
    _wait(lambda: len(_reconcilers(served)) == 1, 15, "one reconciler process")
    first = _reconcilers(served)[0]
    os.kill(first, signal.SIGKILL)
    _wait(lambda: _reconcilers(served) not in ([], [first]), 20, "a new reconciler process")
    assert len(_reconcilers(served)) == 1

    trial = served.launch(TEMPLATE, duration=600)
    served.wait_for(trial["id"], "Ready", timeout=60)

    everyone = [served.process.pid, *(pid for pid, _ in _children(served.process.pid))]  # type: ignore[union-attr]
    served.stop()
    assert served.process is not None and served.process.returncode is not None
    _wait(lambda: not any(Path(f"/proc/{pid}").exists() for pid in everyone), 20, "every process ended")
