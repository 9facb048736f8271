"""Crash safety: `den serve` killed with SIGKILL at random points of launch, end and expiry,
on the real Docker engine and the real Kubernetes test cluster (see chaos.py for what is
checked after each restart). Cycles: 10 on Docker and 3 on Kubernetes at the CI size, 50 and
10 with DEN_RELIABILITY_SCALE=full; DEN_RELIABILITY_SEED replays a failed run.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.server import Server
from tests.reliability.chaos import Chaos
from tests.reliability.conftest import TEMPLATES, Seeded, sized
from tests.reliability.runtimes import docker_inventory, kubernetes_inventory

pytestmark = pytest.mark.slow


@pytest.mark.docker
def test_kill_9_at_random_points_on_docker_loses_nothing_and_leaves_nothing(
    docker_server: Server, docker_engine: Any, seeded: Seeded
) -> None:
    chaos = Chaos(
        docker_server,
        lambda: docker_inventory(docker_engine, docker_server.instance),
        seeded.random,
        TEMPLATES,
    )
    for number in range(sized(10, 50)):
        chaos.cycle(number)
    chaos.finish()


@pytest.mark.kubernetes
def test_kill_9_at_random_points_on_kubernetes_loses_nothing_and_leaves_nothing(
    kube_server: Server, kube_core: Any, seeded: Seeded
) -> None:
    chaos = Chaos(
        kube_server,
        lambda: kubernetes_inventory(kube_core, kube_server.instance),
        seeded.random,
        ("open-data-dashboard",),
        expiring=(5, 15),
        max_live=2,
        kill_within=4.0,
        settle=60.0,
    )
    for number in range(sized(3, 10)):
        chaos.cycle(number)
    chaos.finish(timeout=180)
