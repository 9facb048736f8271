"""Warm pools and idle sleep end to end: a real `den serve` on the real Docker engine and on
the Kubernetes test cluster, with the bundled templates' real images.

- A pool is kept full with sandboxes that answer; a request it can serve is Ready in the
  answer to its POST, the sandbox answers at once, and the pool refills.
- Requests at the same instant never share a pooled sandbox.
- Quarantining the version tears its pooled sandboxes down, and nothing is left.
- A sandbox nobody visits sleeps after its idle timeout (Docker: its containers stopped;
  Kubernetes: its Deployments at zero replicas, no pod), frees its share of the caps, and the
  next visit through its address wakes it; killing the den while it wakes loses nothing.

Never skipped: scripts/test starts both runtimes first.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from orchestrator import rules
from orchestrator.catalogue import iter_bundled
from tests.e2e.cluster import den_settings, kubeconfig
from tests.e2e.engine import leftovers, remove_instance
from tests.e2e.server import ROOT, Server

TEMPLATE = "open-data-dashboard"
IDLE = 4  # seconds
#: Cores one sandbox of TEMPLATE reserves.
CPU = next(
    rules.reservation(m).cpu_millicores / 1000
    for _, m in iter_bundled(ROOT / "sandbox_templates")
    if m.metadata.name == TEMPLATE
)
RUNTIMES = [
    pytest.param("docker", marks=pytest.mark.docker),
    pytest.param("kubernetes", marks=pytest.mark.kubernetes),
]


def runtime_env(runtime: str) -> dict[str, str]:
    if runtime == "docker":
        return {"DEN_DRIVER": "docker"}
    return {"DEN_DRIVER": "kubernetes", **den_settings()}


@pytest.fixture
def den(
    tmp_path: Path, engine_client: Any, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Server]]:
    """Start a `den serve` on the given runtime with extra settings; cleaned up afterwards."""
    started: list[tuple[str, Server]] = []

    def start(runtime: str, **env: str) -> Server:
        server = Server(data_dir=tmp_path / f"den{len(started)}", env={**runtime_env(runtime), **env})
        server.data_dir.mkdir()
        started.append((runtime, server.start()))
        return server

    yield start
    for runtime, server in started:
        server.stop()
        if runtime == "docker":
            remove_instance(engine_client, server.instance)
        else:
            _remove_namespaces(server.instance)


def _remove_namespaces(instance: str) -> None:
    api = k8s_config.new_client_from_config(config_file=kubeconfig())
    core = k8s.CoreV1Api(api)
    for namespace in core.list_namespace(label_selector=f"innovation-den.io/instance={instance}").items:
        try:
            core.delete_namespace(namespace.metadata.name)
        except ApiException as exc:
            if exc.status != 404:
                raise
    api.close()


def pool_ready(server: Server) -> int:
    """Ready pooled sandboxes of TEMPLATE, as the den's metrics say."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    found = re.search(rf'den_warm_pool_ready{{pool="[^"]+",template="{TEMPLATE}"}} (\S+)', text)
    return int(float(found.group(1))) if found else 0


def wait_until(check: Callable[[], bool], *, within: float, what: str, server: Server) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}\n{server.log_tail()}")
        time.sleep(0.2)


def answers(server: Server, trial: dict[str, Any]) -> int:
    try:
        return server.sandbox_get(trial["endpoints"]["web"]).status_code
    except httpx.HTTPError:
        return 0


def nothing_left(runtime: str, engine_client: Any, trial_id: str) -> bool:
    if runtime == "docker":
        return leftovers(engine_client, trial_id) == []
    api = k8s_config.new_client_from_config(config_file=kubeconfig())
    try:
        k8s.CoreV1Api(api).read_namespace(f"den-{trial_id}")
        return False
    except ApiException as exc:
        return exc.status == 404
    finally:
        api.close()


def running(runtime: str, engine_client: Any, trial_id: str) -> int:
    """How many of the trial's workloads run: containers up, or pods not terminating."""
    if runtime == "docker":
        found = engine_client.containers.list(filters={"label": f"innovation-den.io/trial-id={trial_id}"})
        return len(found)
    api = k8s_config.new_client_from_config(config_file=kubeconfig())
    try:
        pods = k8s.CoreV1Api(api).list_namespaced_pod(f"den-{trial_id}").items
        return sum(1 for pod in pods if pod.metadata.deletion_timestamp is None)
    finally:
        api.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_pooled_sandbox_is_ready_in_the_answer_and_the_pool_refills(
    den: Callable[..., Server], engine_client: Any, runtime: str
) -> None:
    server = den(runtime, DEN_WARM_POOLS=f'{{"{TEMPLATE}": 2}}')
    wait_until(lambda: pool_ready(server) == 2, within=120, what="the pool filled", server=server)
    started = time.monotonic()
    trial = server.launch(TEMPLATE)
    status = answers(server, trial)
    took = time.monotonic() - started
    assert trial["phase"] == "Ready", trial
    assert status == 200, f"the pooled sandbox answered {status}"
    assert took < 5, f"{took:.2f} s from request to the sandbox's answer"
    assert trial["owner"] == "admin" and trial["title"] == f"e2e {TEMPLATE}"
    wait_until(lambda: pool_ready(server) == 2, within=120, what="the pool refilled", server=server)
    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert re.search(rf'den_warm_pool_requests_total{{outcome="hit",template="{TEMPLATE}"}} 1\.0', metrics)
    assert server.call("POST", f"/api/v1/trials/{trial['id']}/end").status_code == 202
    server.wait_for(trial["id"], "Stopped", timeout=120)
    assert nothing_left(runtime, engine_client, trial["id"])


def test_requests_at_the_same_instant_never_share_a_pooled_sandbox(
    den: Callable[..., Server], engine_client: Any
) -> None:
    server = den("docker", DEN_WARM_POOLS=f'{{"{TEMPLATE}": 2}}', DEN_MAX_ACTIVE_TRIALS_PER_USER="20")
    wait_until(lambda: pool_ready(server) == 2, within=120, what="the pool filled", server=server)
    with ThreadPoolExecutor(max_workers=6) as pool:
        trials = list(pool.map(lambda _n: server.launch(TEMPLATE), range(6)))
    ids = [t["id"] for t in trials]
    assert len(set(ids)) == 6
    assert sum(t["phase"] == "Ready" for t in trials) == 2  # the pool's two, once each
    for trial in trials:
        server.wait_for(trial["id"], "Ready", timeout=120)
    names = {
        c.name
        for c in engine_client.containers.list(
            filters={"label": f"innovation-den.io/instance={server.instance}"}
        )
    }
    for trial_id in ids:  # each trial has its own sandbox
        assert any(trial_id in name for name in names), (trial_id, names)


def test_quarantining_the_version_tears_its_pooled_sandboxes_down(
    den: Callable[..., Server], engine_client: Any
) -> None:
    server = den("docker", DEN_WARM_POOLS=f'{{"{TEMPLATE}": 2}}')
    wait_until(lambda: pool_ready(server) == 2, within=120, what="the pool filled", server=server)
    pooled = {
        c.labels["innovation-den.io/trial-id"]
        for c in engine_client.containers.list(
            filters={"label": f"innovation-den.io/instance={server.instance}"}
        )
    }
    assert len(pooled) == 2
    version = server.call("GET", f"/api/v1/templates/{TEMPLATE}").json()["versions"][0]["version"]
    answer = server.call(
        "POST",
        f"/api/v1/templates/{TEMPLATE}/versions/{version}/status",
        json={"status": "Quarantined", "reason": "a flaw was found"},
    )
    assert answer.status_code == 200, answer.text
    wait_until(
        lambda: all(nothing_left("docker", engine_client, t) for t in pooled),
        within=60,
        what="the pooled sandboxes were removed",
        server=server,
    )
    time.sleep(2)  # and none is started of the quarantined version
    assert pool_ready(server) == 0


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_an_idle_sandbox_sleeps_frees_the_caps_and_a_visit_wakes_it(
    den: Callable[..., Server], engine_client: Any, runtime: str
) -> None:
    # The den's CPU cap holds one sandbox of the template, not two.
    server = den(runtime, DEN_IDLE_TIMEOUT=str(IDLE), DEN_LIVENESS_INTERVAL="1", DEN_MAX_TOTAL_CPU=str(CPU))
    trial = server.launch(TEMPLATE, duration=900)
    ready = server.wait_for(trial["id"], "Ready", timeout=120)
    assert answers(server, ready) == 200  # a visit: the idle clock starts again
    refused = server.call(
        "POST", "/api/v1/trials", json={"template": TEMPLATE, "title": "t", "hypothesis": "h"}
    )
    assert refused.status_code == 422 or refused.status_code == 409, refused.text
    assert "CPU" in refused.text
    asleep = server.wait_for(trial["id"], "Sleeping", timeout=IDLE + 30)
    assert asleep["reason"] == "Idle"
    wait_until(
        lambda: running(runtime, engine_client, trial["id"]) == 0,
        within=60,
        what="its workloads stopped",
        server=server,
    )
    assert not nothing_left(runtime, engine_client, trial["id"])  # asleep, not removed
    # Its CPU is free: another trial fits now, and ends before the sleeper wakes.
    other = server.launch(TEMPLATE, duration=900)
    server.wait_for(other["id"], "Ready", timeout=120)
    assert server.call("POST", f"/api/v1/trials/{other['id']}/end").status_code == 202
    server.wait_for(other["id"], "Stopped", timeout=120)
    # A visit through its address wakes it: a script is told to wait, then it answers.
    first = server.sandbox_get(asleep["endpoints"]["web"])
    assert first.status_code == 503 and first.json()["reason"] == "SandboxWaking"
    woken = server.wait_for(trial["id"], "Ready", timeout=120)
    assert woken["ready_at"] == ready["ready_at"] and woken["expires_at"] == ready["expires_at"]
    wait_until(lambda: answers(server, woken) == 200, within=30, what="it answered again", server=server)
    events = [e["reason"] for e in server.events(trial["id"]) if e["kind"] == "Transition"]
    assert events[-3:] == ["Idle", "Waking", "Started"], events
    assert server.trial(trial["id"])["sleeping_seconds"] >= 0


def test_killing_the_den_while_a_sandbox_wakes_loses_nothing(
    den: Callable[..., Server], engine_client: Any
) -> None:
    server = den("docker", DEN_IDLE_TIMEOUT=str(IDLE), DEN_LIVENESS_INTERVAL="1")
    trial = server.launch(TEMPLATE, duration=900)
    server.wait_for(trial["id"], "Ready", timeout=120)
    asleep = server.wait_for(trial["id"], "Sleeping", timeout=IDLE + 30)
    assert server.sandbox_get(asleep["endpoints"]["web"]).status_code == 503
    server.kill()  # at once: the wake may or may not have reached the engine
    server.start()
    woken = server.wait_for(trial["id"], "Ready", timeout=120)
    wait_until(lambda: answers(server, woken) == 200, within=30, what="it answered", server=server)
    # Killed while asleep: the restarted den leaves it asleep until the next visit.
    server.wait_for(trial["id"], "Sleeping", timeout=IDLE + 30)
    server.kill()
    server.start()
    # Killed as the phase was written, the stop may not have reached the engine, or may still
    # be under way there (a container gets the driver's stop timeout to exit): the restarted
    # den's liveness check finishes the sleep, and never wakes it.
    wait_until(
        lambda: running("docker", engine_client, trial["id"]) == 0,
        within=30,
        what="its containers stopped",
        server=server,
    )
    assert server.trial(trial["id"])["phase"] == "Sleeping"
    transitions = [e["reason"] for e in server.events(trial["id"]) if e["kind"] == "Transition"]
    assert transitions[-1] == "Idle", transitions  # not woken by the restart
    assert server.call("POST", f"/api/v1/trials/{trial['id']}/end").status_code == 202
    server.wait_for(trial["id"], "Stopped", timeout=120)
    assert nothing_left("docker", engine_client, trial["id"])
