"""A runtime restarted under a running orchestrator: the Docker engine (dockerd stopped and
started again as scripts/ensure-docker starts it) and the Kubernetes API server (stopped and
started again as scripts/testbed starts it).

While the runtime is away the orchestrator keeps serving (it answers, accepts requests and
reports the runtime down in its metrics); once it is back every trial converges: it recovers,
or it is marked failed with a reason and a message that says what happened; trials asked for
before, during and after the outage start; and every trial is torn down with nothing left.

These restart a runtime that everything on this machine shares, so they are marked `slow`
and always bring it back, even when they fail.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.e2e.server import Server
from tests.reliability.conftest import sized
from tests.reliability.runtimes import (
    docker_inventory,
    engine_down,
    finished,
    kubernetes_inventory,
    restart_apiserver,
)

pytestmark = pytest.mark.slow
#: What a trial that did not survive the outage must say, and why.
LOST = {"RuntimeError", "RuntimeMissing"}


def runtime_up(server: Server) -> float:
    found = re.search(r"^den_runtime_up (\S+)$", server.call("GET", "/metrics").text, re.M)
    return float(found.group(1)) if found else -1.0


def eventually(check: Any, what: str, server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}\n{server.log_tail()}"
        time.sleep(0.25)


def keeps_serving(server: Server) -> dict[str, Any]:
    """The API answers and takes a new request while the runtime is away."""
    assert server.call("GET", "/readyz").status_code == 200
    assert server.call("GET", "/api/v1/trials").status_code == 200
    return server.launch("open-data-dashboard", duration=600)


def converged(server: Server, trial_id: str, *, timeout: float = 120) -> dict[str, Any]:
    """Ready and answering, or Stopped with a reason for the loss and a message saying it."""
    trial = server.wait_for(trial_id, "Ready", "Stopped", timeout=timeout)
    if trial["phase"] == "Ready":
        for url in trial["endpoints"].values():
            assert server.sandbox_get(url, timeout=10).status_code == 200, (trial_id, url)
    else:
        assert trial["reason"] in LOST and "nothing remains:" in trial["message"], trial
    print(f"{trial_id}: {trial['phase']} ({trial['reason']}): {trial['message']}")
    return trial


def end_all(server: Server, timeout: float = 120) -> None:
    for trial_id in server.launched:
        server.call("POST", f"/api/v1/trials/{trial_id}/end")
    for trial_id in server.launched:
        server.wait_for(trial_id, "Stopped", timeout=timeout)


@pytest.mark.docker
@pytest.mark.parametrize("docker_server", [{"DEN_LIVENESS_INTERVAL": "2"}], indirect=True)
def test_the_docker_engine_restarting_mid_run_is_survived(docker_server: Server, docker_engine: Any) -> None:
    server = docker_server
    for _ in range(sized(1, 3)):
        running = server.launch("case-management-prototype", duration=600)
        server.wait_for(running["id"], "Ready")
        expiring = server.launch("open-data-dashboard", duration=20)
        starting = server.launch("case-management-prototype", duration=600)
        with engine_down():
            during = keeps_serving(server)
            eventually(lambda: runtime_up(server) == 0, "the runtime reported down", server)
        eventually(lambda: runtime_up(server) == 1, "the runtime reported up again", server)
        for trial in (running, starting):
            converged(server, trial["id"])
        assert server.wait_for(during["id"], "Ready")["endpoints"]
        after = server.launch("open-data-dashboard", duration=600)
        server.wait_for(after["id"], "Ready")
        stopped = server.wait_for(expiring["id"], "Stopped", timeout=90)
        assert stopped["reason"] in {"Expired", *LOST}, stopped
        end_all(server)
        assert docker_inventory(docker_engine, server.instance) == {}


@pytest.mark.kubernetes
def test_the_kubernetes_api_server_restarting_mid_run_is_survived(
    kube_server: Server, kube_core: Any
) -> None:
    server = kube_server
    before, ending = (server.launch("open-data-dashboard", duration=600) for _ in range(2))
    for trial in (before, ending):
        server.wait_for(trial["id"], "Ready", timeout=120)
    server.call("POST", f"/api/v1/trials/{ending['id']}/end")
    restart = restart_apiserver(down_for=sized(3, 15))
    try:
        time.sleep(1)  # the API server is going or gone
        during = keeps_serving(server)
    finally:
        finished(restart)
    # Trials asked for during and after the outage start: the watches were re-established.
    after = server.launch("open-data-dashboard", duration=600)
    for trial in (during, after):
        server.wait_for(trial["id"], "Ready", timeout=180)
    assert converged(server, before["id"])["phase"] == "Ready"
    server.wait_for(ending["id"], "Stopped", timeout=180)
    end_all(server, timeout=180)
    assert kubernetes_inventory(kube_core, server.instance) == {}
