"""The local Kubernetes test cluster (`scripts/testbed`), for tests that need one.

`scripts/test` brings it up and exports DEN_TEST_KUBECONFIG; a test run without it fails in CI
(never skips) and skips on a developer's machine that has no cluster.
"""

from __future__ import annotations

import os
import subprocess

from tests.conftest import require


def kubeconfig() -> str:
    path = os.environ.get("DEN_TEST_KUBECONFIG", "")
    require(bool(path) and os.path.exists(path), "the Kubernetes test cluster (scripts/testbed up)")
    return path


SERVICE_IP = "10.96.0.1"  # the testbed's `kubernetes` Service (scripts/testbed)
POD_GATEWAY = "10.244.0.1"  # the node's address on the pod bridge (scripts/testbed)


def host_cidr() -> str:
    """Where the host's traffic to pods comes from, so the orchestrator running on the host may
    reach the sandboxes' exposed ports: the pod bridge's address (direct to a pod) and the
    address the host uses towards Services (a ClusterIP is routed like any outside address)."""
    route = subprocess.run(
        ["ip", "-4", "route", "get", SERVICE_IP], capture_output=True, text=True, check=True
    ).stdout.split()
    source = route[route.index("src") + 1] if "src" in route else POD_GATEWAY
    return os.environ.get("DEN_TEST_KUBERNETES_HOST_CIDR", f"{POD_GATEWAY}/32,{source}/32")
