"""The reliability suite's knobs: its size, its random seed, and its markers.

`DEN_RELIABILITY_SCALE` sets the size: `ci` (the default: what `scripts/test` runs) or `full`
(the release check: more kill cycles, more runtime restarts). `DEN_RELIABILITY_SEED` replays a
run: every randomised test prints the seed it used when it fails.

Markers: `reliability` on every test here; `slow` on those that restart a runtime or kill the
orchestrator repeatedly (`pytest tests/reliability -m "not slow"` runs the quick ones).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import Server

SCALE = os.environ.get("DEN_RELIABILITY_SCALE", "ci")
if SCALE not in ("ci", "full"):
    raise pytest.UsageError(f"DEN_RELIABILITY_SCALE must be 'ci' or 'full', not {SCALE!r}")


def sized(ci: int, full: int) -> int:
    """A number of cycles or examples for the chosen scale."""
    return full if SCALE == "full" else ci


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reliability: the reliability suite (tests/reliability)")
    config.addinivalue_line("markers", "slow: kills or restarts real processes; minutes, not seconds")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.reliability)


@dataclass
class Seeded:
    """A seeded random source whose seed is reported with any failure of the test."""

    seed: int
    random: random.Random


@pytest.fixture
def seeded(request: pytest.FixtureRequest) -> Iterator[Seeded]:
    seed = int(os.environ.get("DEN_RELIABILITY_SEED") or random.SystemRandom().randrange(2**32))
    request.node.stash[SEED] = seed
    yield Seeded(seed, random.Random(seed))


SEED = pytest.StashKey[int]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    seed = item.stash.get(SEED, None)
    if seed is not None and report.failed:
        report.sections.append(
            ("replay", f"DEN_RELIABILITY_SEED={seed} DEN_RELIABILITY_SCALE={SCALE} pytest '{item.nodeid}'")
        )


# --- real runtimes and real servers ------------------------------------------------------------

#: The bundled templates the runtime tests launch: one and two components.
TEMPLATES = ("open-data-dashboard", "case-management-prototype")


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Any]:
    import docker

    from orchestrator.images import build_all
    from orchestrator.settings import Settings
    from tests.e2e.server import ROOT

    client = docker.from_env()
    client.ping()  # a missing engine fails loudly, never skips
    build_all(ROOT / "sandbox_templates", list(TEMPLATES), settings=Settings(), log=lambda _line: None)
    yield client
    client.close()


@pytest.fixture
def docker_server(tmp_path: Path, docker_engine: Any, request: pytest.FixtureRequest) -> Iterator[Server]:
    """A real `den serve` on the Docker engine; whatever its instance made is removed after."""
    from tests.e2e.engine import remove_instance

    env = getattr(request, "param", {})
    running = Server(data_dir=tmp_path, env=dict(env)).start()
    try:
        yield running
    finally:
        running.stop()
        remove_instance(docker_engine, running.instance)


@pytest.fixture(scope="session")
def kube_core() -> Iterator[Any]:
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    from tests.e2e.cluster import kubeconfig

    api = k8s_config.new_client_from_config(config_file=kubeconfig())
    yield k8s.CoreV1Api(api)
    api.close()


@pytest.fixture
def kube_server(tmp_path: Path, kube_core: Any) -> Iterator[Server]:
    """A real `den serve` on the test cluster; its namespaces are removed after."""
    from tests.e2e.cluster import den_settings
    from tests.reliability.runtimes import remove_kubernetes_instance

    running = Server(data_dir=tmp_path, env={"DEN_DRIVER": "kubernetes", **den_settings()}).start()
    try:
        yield running
    finally:
        running.stop()
        remove_kubernetes_instance(kube_core, running.instance)
