"""The real runtimes, for the reliability suite: what one orchestrator instance has made in
them, how to remove it, and how to restart the Docker engine and the Kubernetes API server the
way the project's own scripts start them.

Restarting a runtime disturbs everything else on this machine that uses it, so only the tests
that are about a restart do it, and they always bring the runtime back (see `engine_down`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
from kubernetes.client.exceptions import ApiException

from orchestrator.drivers.base import INSTANCE_LABEL, TRIAL_LABEL

ROOT = Path(__file__).resolve().parents[2]
DOCKER_PID = Path("/var/run/docker.pid")


# --- what an instance made ---------------------------------------------------------------------


def docker_inventory(client: Any, instance: str) -> dict[str, list[str]]:
    """Trial id -> every container, network and volume labelled with `instance`."""
    selector = {"label": f"{INSTANCE_LABEL}={instance}"}
    found: dict[str, list[str]] = {}
    # Sparse: the list call's own summaries, so a container removed meanwhile is no error.
    containers = client.containers.list(all=True, sparse=True, filters=selector)
    for kind, items in (
        ("container", containers),
        ("network", client.networks.list(filters=selector)),
        ("volume", client.volumes.list(filters=selector)),
    ):
        for item in items:
            labels = item.attrs.get("Labels") or {}
            name = (item.attrs.get("Names") or ["?"])[0] if kind == "container" else item.name
            found.setdefault(labels.get(TRIAL_LABEL, "(none)"), []).append(f"{kind}/{name}")
    return found


def kubernetes_inventory(core: Any, instance: str) -> dict[str, list[str]]:
    """Trial id -> the namespaces labelled with `instance` (everything else lives inside)."""
    found: dict[str, list[str]] = {}
    for namespace in core.list_namespace(label_selector=f"{INSTANCE_LABEL}={instance}").items:
        trial = (namespace.metadata.labels or {}).get(TRIAL_LABEL, "(none)")
        found.setdefault(trial, []).append(f"namespace/{namespace.metadata.name}")
    return found


def remove_kubernetes_instance(core: Any, instance: str) -> None:
    for namespace in core.list_namespace(label_selector=f"{INSTANCE_LABEL}={instance}").items:
        try:
            core.delete_namespace(namespace.metadata.name)
        except ApiException as exc:
            if exc.status != 404:
                raise


# --- the Docker engine -------------------------------------------------------------------------


def engine_answers() -> bool:
    try:
        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (docker.errors.DockerException, OSError):
        return False


def stop_dockerd(timeout: float = 120) -> None:
    """SIGTERM the engine (by the pid it wrote) and wait until it has exited."""
    pid = int(DOCKER_PID.read_text().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    raise AssertionError(f"dockerd (pid {pid}) did not stop within {timeout} s")


def start_dockerd(timeout: float = 600) -> None:
    """Start the engine exactly as CI does, and wait until it answers: that script waits a
    minute, but an engine with many containers to clean up after a stop takes longer."""
    deadline = time.monotonic() + timeout
    subprocess.run([str(ROOT / "scripts" / "ensure-docker")], capture_output=True, timeout=timeout)
    while not engine_answers():
        assert time.monotonic() < deadline, f"the Docker engine did not answer within {timeout} s"
        time.sleep(1)


@contextlib.contextmanager
def engine_down() -> Iterator[None]:
    """The Docker engine is stopped inside the block, and running again after it, whatever
    happens inside."""
    stop_dockerd()
    try:
        yield
    finally:
        start_dockerd()


# --- the Kubernetes API server -----------------------------------------------------------------


def restart_apiserver(*, down_for: float = 0) -> subprocess.Popen[bytes]:
    """Stop kube-apiserver, keep it down `down_for` seconds, start it as `scripts/testbed up`
    does and wait for /readyz: in the background, so the caller can watch meanwhile."""
    return subprocess.Popen(
        [str(ROOT / "scripts" / "testbed"), "restart-apiserver", str(down_for)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finished(process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    try:
        _, errors = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 0, errors.decode(errors="replace")[-2000:]
