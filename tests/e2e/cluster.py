"""The Kubernetes cluster the end-to-end tests run on, for tests that need one.

`scripts/test` runs the Kubernetes tests on the multi-node kind cluster: `eval "$(scripts/kind
test-env)"` exports DEN_TEST_KUBECONFIG and the cluster's addresses as DEN_TEST_KUBERNETES_*
variables. With those unset, the addresses are the single-node test cluster's (`scripts/testbed
up`, which the reliability tests use). A test run without a cluster fails in CI (never skips) and
skips on a developer's machine that has none.
"""

from __future__ import annotations

import os
import subprocess

from tests.conftest import require


def kubeconfig() -> str:
    path = os.environ.get("DEN_TEST_KUBECONFIG", "")
    require(bool(path) and os.path.exists(path), "a Kubernetes cluster (scripts/kind up, scripts/testbed up)")
    return path


def _setting(name: str, testbed: str) -> str:
    return os.environ.get(name, "") or testbed


# The cluster's `kubernetes` Service (the first address of its Service range).
SERVICE_IP = _setting("DEN_TEST_KUBERNETES_SERVICE_IP", "10.96.0.1")
# The host's address as pods see it: where a pod reaches a server the host runs (PostgreSQL,
# the OpenID provider) and a node's NodePorts. The testbed's pod bridge; kind's Docker network
# gateway.
HOST_ADDRESS = _setting("DEN_TEST_KUBERNETES_HOST_ADDRESS", "10.244.0.1")
# Where pods' traffic to the host comes from (comma-separated CIDRs): the pod range, and on kind
# the nodes' network too (a node masquerades what leaves the pod range).
POD_SOURCES = _setting("DEN_TEST_KUBERNETES_POD_SOURCES", "10.244.0.0/16")
POD_CIDR = _setting("DEN_TEST_KUBERNETES_POD_CIDR", "10.244.0.0/16")
SERVICE_CIDR = _setting("DEN_TEST_KUBERNETES_SERVICE_CIDR", "10.96.0.0/12")
# The largest number of processes a pod may run (the kubelet's podPidsLimit).
NODE_PIDS_LIMIT = int(_setting("DEN_TEST_KUBERNETES_POD_PIDS_LIMIT", "1024"))


def host_cidr() -> str:
    """Where the host's traffic to pods comes from, so the orchestrator running on the host may
    reach the sandboxes' exposed ports: the address it uses straight to a pod, and the one it
    uses towards Services (a ClusterIP is routed like any outside address)."""
    explicit = os.environ.get("DEN_TEST_KUBERNETES_HOST_CIDR", "")
    if explicit:
        return explicit
    route = subprocess.run(
        ["ip", "-4", "route", "get", SERVICE_IP], capture_output=True, text=True, check=True
    ).stdout.split()
    source = route[route.index("src") + 1] if "src" in route else HOST_ADDRESS
    return f"{HOST_ADDRESS}/32,{source}/32"


def den_settings() -> dict[str, str]:
    """A den on the host needs these to drive this cluster."""
    return {
        "DEN_KUBECONFIG": kubeconfig(),
        "DEN_KUBERNETES_HOST_CIDR": host_cidr(),
        "DEN_KUBERNETES_POD_CIDR": POD_CIDR,
        "DEN_KUBERNETES_SERVICE_CIDR": SERVICE_CIDR,
    }


def setting_fields(settings: dict[str, str]) -> dict[str, str]:
    """DEN_* environment settings as `Settings` field names (DEN_KUBECONFIG -> kubeconfig)."""
    return {key.removeprefix("DEN_").lower(): value for key, value in settings.items()}
