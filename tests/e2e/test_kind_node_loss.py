"""Losing a node, on the multi-node kind cluster (scripts/kind): a worker that runs trial pods
is stopped mid-trial, as a machine that is switched off.

Each trial on it comes back on the other worker (Kubernetes evicts its pod after the den's
`DEN_KUBERNETES_NODE_LOSS_SECONDS` and its Deployment starts another), stays Ready with its
record whole, and answers through the den again; once the node is back and the trials end,
nothing of them is left on any node.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from orchestrator.drivers.base import MANAGED_LABEL, MANAGED_VALUE
from tests.e2e import kind
from tests.e2e.server import Server, on_kubernetes

pytestmark = pytest.mark.kind
NODE_LOSS_SECONDS = 10
# Kubernetes notices a silent node after 40-50 s, evicts after NODE_LOSS_SECONDS, then the
# replacement pod starts: well within this on an idle machine, with room for a busy one.
COME_BACK_WITHIN = 240


@pytest.fixture(scope="module")
def core() -> Iterator[Any]:
    api = k8s_config.new_client_from_config(config_file=kind.kubeconfig())
    yield k8s.CoreV1Api(api)
    api.close()


@pytest.fixture
def server(tmp_path: Path, core: Any) -> Iterator[Server]:
    env = {
        "DEN_KUBECONFIG": kind.kubeconfig(),
        "DEN_KUBERNETES_NODE_LOSS_SECONDS": str(NODE_LOSS_SECONDS),
        **kind.den_settings(),
    }
    with on_kubernetes(tmp_path, core, env) as running:
        yield running


def pods_of(core: Any, trial_id: str) -> list[Any]:
    pods = core.list_namespaced_pod(f"den-{trial_id}").items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def answers(server: Server, trial: dict[str, Any]) -> bool:
    try:
        urls = trial["endpoints"].values()
        return all(server.sandbox_get(url, timeout=3).status_code == 200 for url in urls)
    except httpx.HTTPError:  # the den's proxy waits on a pod that is gone
        return False


def test_a_lost_worker_s_trials_come_back_on_the_other_and_nothing_is_left(server: Server, core: Any) -> None:
    workers = sorted(n.metadata.name for n in core.list_node().items if "worker" in n.metadata.name)
    assert len(workers) == 2, workers
    trials = [server.launch("open-data-dashboard", duration=1800) for _ in range(3)]
    ready = {t["id"]: server.wait_for(t["id"], "Ready", timeout=180) for t in trials}
    placed = {trial_id: {p.spec.node_name for p in pods_of(core, trial_id)} for trial_id in ready}
    assert all(nodes <= set(workers) for nodes in placed.values()), f"on the control plane: {placed}"
    lost = max(workers, key=lambda w: sum(w in nodes for nodes in placed.values()))
    survivor = next(w for w in workers if w != lost)
    moved = [trial_id for trial_id, nodes in placed.items() if lost in nodes]
    assert moved, placed

    kind.run("stop-node", lost)
    try:
        deadline = time.monotonic() + COME_BACK_WITHIN
        back: set[str] = set()
        while back != set(moved):
            assert time.monotonic() < deadline, (
                f"not back on {survivor} within {COME_BACK_WITHIN} s: {sorted(set(moved) - back)}\n"
                f"{server.log_tail()}"
            )
            for trial_id in set(moved) - back:
                row = server.trial(trial_id)
                assert row["phase"] == "Ready", f"{trial_id} is {row['phase']}: {row['message']}"
                running = [p for p in pods_of(core, trial_id) if p.spec.node_name == survivor]
                statuses = [c for p in running for c in p.status.container_statuses or []]
                if running and all(c.ready for c in statuses) and answers(server, row):
                    back.add(trial_id)
            time.sleep(1)
        for trial_id in ready:  # none failed, none lost its record
            row = server.trial(trial_id)
            assert (row["phase"], row["title"]) == ("Ready", "e2e open-data-dashboard"), row
            assert answers(server, row), trial_id
    finally:
        kind.run("start-node", lost)

    for trial_id in ready:
        assert server.call("POST", f"/api/v1/trials/{trial_id}/end").status_code == 202
    for trial_id in ready:
        stopped = server.wait_for(trial_id, "Stopped", timeout=180)
        assert stopped["reason"] == "UserRequested"
    managed = core.list_namespace(label_selector=f"{MANAGED_LABEL}={MANAGED_VALUE}").items
    assert [n.metadata.name for n in managed if n.metadata.deletion_timestamp is None] == []
    leftovers = [
        p.metadata.name
        for p in core.list_pod_for_all_namespaces().items
        if p.metadata.namespace in {f"den-{t}" for t in ready}
    ]
    assert leftovers == [], f"pods of ended trials still on a node: {leftovers}"
