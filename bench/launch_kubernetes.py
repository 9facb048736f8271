#!/usr/bin/env python3
"""Benchmark: launch to ready on Kubernetes, against a bare Pod of the same image.

Needs the test cluster (`scripts/testbed up`, images loaded through TESTBED_IMAGES). For each
of N rounds, alternating:
- product: POST /api/v1/trials to a real `den serve --driver kubernetes`, then poll until the
  trial's endpoint answers HTTP 200 through the orchestrator (namespace, quota, policies,
  service account, Deployment and Service are all created inside that time);
- baseline: create a bare Pod of the same image in a plain namespace and poll its address
  until the same readiness path answers HTTP 200.
Prints p50/p95/p99 of each and the ratios (product target: p99 <= 5 s, excluding image pull:
the images are already on the node).

    DEN_TEST_KUBECONFIG=... .venv/bin/python bench/launch_kubernetes.py [--rounds 20]
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import kubernetes_core, kubernetes_env, percentile, running_server, wait_200  # noqa: E402
from bench.launch_docker import arguments, first_component, launch_product  # noqa: E402
from orchestrator.settings import Settings  # noqa: E402

BARE_NAMESPACE = "den-bench-bare"


def launch_bare_pod(core: Any, image: str, port: int, path: str, namespace: str = BARE_NAMESPACE) -> float:
    name = f"bare-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    core.create_namespaced_pod(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "env": [{"name": "PORT", "value": str(port)}],
                    }
                ],
                "terminationGracePeriodSeconds": 0,
            },
        },
    )
    try:
        deadline = started + 120
        address = None
        while address is None and time.monotonic() < deadline:
            address = core.read_namespaced_pod(name, namespace).status.pod_ip
            time.sleep(0.01 if address is None else 0)
        wait_200(f"http://{address}:{port}{path}", deadline)
        return time.monotonic() - started
    finally:
        core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    component, probe = first_component(args.template)
    core = kubernetes_core()
    try:
        core.create_namespace({"metadata": {"name": BARE_NAMESPACE}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    product: list[float] = []
    bare: list[float] = []
    with running_server(
        {
            **kubernetes_env(),
            "DEN_MAX_ACTIVE_TRIALS_PER_USER": "1000",
            "DEN_POLL_INTERVAL": str(Settings().poll_interval),
        }
    ) as server:
        launch_product(server, args.template)  # warm-up, not counted
        for _ in range(args.rounds):
            bare.append(launch_bare_pod(core, component.image, probe.port, probe.path))
            product.append(launch_product(server, args.template))
    print(f"launch to ready on Kubernetes, {args.template}, {args.rounds} rounds")
    for name, values in (("product (API -> endpoint 200)", product), ("bare Pod -> 200", bare)):
        print(
            f"  {name:<32} p50 {statistics.median(values):6.3f} s   "
            f"p95 {percentile(values, 0.95):6.3f} s   p99 {percentile(values, 0.99):6.3f} s"
        )
    print(
        f"  {'ratio product/bare Pod':<32} p50 "
        f"{statistics.median(product) / statistics.median(bare):6.2f}     p95 "
        f"{percentile(product, 0.95) / percentile(bare, 0.95):6.2f}   "
        f"(target: product p99 <= 5 s)"
    )


if __name__ == "__main__":
    main()
