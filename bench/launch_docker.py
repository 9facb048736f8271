#!/usr/bin/env python3
"""Benchmark: launch to ready on Docker, against a bare container of the same image.

For each of N rounds (alternating, so drift in the machine's load hits both alike):
- product: POST /api/v1/trials to a real `den serve`, then poll until the trial's endpoint
  (the sandbox's own origin, served by the orchestrator; a script's token) answers HTTP 200;
- baseline: start the same image with the Docker SDK (`containers.run`, a published loopback
  port, the same readiness path) and poll until it answers HTTP 200.
- the same baseline with the limits and hardening the product applies to that component.
Prints p50/p95 of each and the ratios product/baseline (target: p95 ratio <= 1.5).

    .venv/bin/python bench/launch_docker.py [--rounds 20] [--template open-data-dashboard]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import docker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import POLL, percentile, running_server, wait_200  # noqa: E402
from orchestrator.catalogue import parse_manifest_text  # noqa: E402
from orchestrator.images import build_all  # noqa: E402
from orchestrator.manifest import Component, HttpProbe, parse_cpu, parse_memory  # noqa: E402
from orchestrator.settings import Settings  # noqa: E402
from tests.e2e.server import Server  # noqa: E402


def launch_product(server: Server, template: str) -> float:
    started = time.monotonic()
    trial = server.launch(template, duration=600)
    deadline = started + 120
    while True:
        body = server.trial(trial["id"])
        if body["phase"] == "Ready":
            break
        if body["phase"] in ("Stopped", "Failed") or time.monotonic() > deadline:
            raise RuntimeError(f"trial ended {body['phase']}: {body['message']}")
        time.sleep(POLL)
    wait_200(
        next(iter(body["endpoints"].values())), deadline, fetch=lambda url: server.sandbox_get(url, timeout=1)
    )
    elapsed = time.monotonic() - started
    server.call("POST", f"/api/v1/trials/{trial['id']}/end")
    server.wait_for(trial["id"], "Stopped", timeout=60)
    return elapsed


def launch_bare(client: Any, image: str, port: int, path: str, limits: dict[str, Any]) -> float:
    started = time.monotonic()
    container = client.containers.run(
        image,
        detach=True,
        ports={f"{port}/tcp": ("127.0.0.1", None)},
        environment={"PORT": str(port)},
        **limits,
    )
    try:
        container.reload()
        host_port = container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"][0]["HostPort"]
        wait_200(f"http://127.0.0.1:{host_port}{path}", started + 120)
        return time.monotonic() - started
    finally:
        container.remove(force=True)


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--template", default="open-data-dashboard")
    return parser.parse_args()


def first_component(template: str) -> tuple[Component, HttpProbe]:
    """The bundled template's first component and its readiness probe (both benchmarks
    measure readiness the same way the product does)."""
    manifest = parse_manifest_text((ROOT / "sandbox_templates" / template / "template.yaml").read_bytes())
    component = manifest.spec.components[0]
    assert component.readiness_probe is not None, "the first component needs a readiness probe"
    return component, component.readiness_probe.http_get


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    component, probe = first_component(args.template)
    build_all(ROOT / "sandbox_templates", [args.template], settings=Settings(), log=lambda _: None)
    client = docker.from_env()
    product: list[float] = []
    bare: list[float] = []
    limited: list[float] = []
    # The same image with the same constraints the product applies (CPU, memory, PIDs,
    # read-only root, no capabilities): what a careful operator's own `docker run` would be.
    same_limits = {
        "read_only": True,
        "tmpfs": {"/tmp": "size=16m"},
        "user": "10001:10001",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "nano_cpus": parse_cpu(component.resources.cpu) * 1_000_000,
        "mem_limit": parse_memory(component.resources.memory),
        "pids_limit": component.resources.pids,
    }
    # The product's own polling defaults, not the faster ones the tests use.
    with running_server(
        {"DEN_MAX_ACTIVE_TRIALS_PER_USER": "1000", "DEN_POLL_INTERVAL": str(Settings().poll_interval)}
    ) as server:
        launch_product(server, args.template)  # warm-up, not counted
        for _ in range(args.rounds):
            bare.append(launch_bare(client, component.image, probe.port, probe.path, {}))
            limited.append(launch_bare(client, component.image, probe.port, probe.path, same_limits))
            product.append(launch_product(server, args.template))
    rows = [
        ("product (API -> endpoint 200)", product),
        ("bare container (SDK run -> 200)", bare),
        ("bare container, same limits", limited),
    ]
    print(f"launch to ready, {args.template}, {args.rounds} rounds")
    for name, values in rows:
        print(f"  {name:<34} p50 {statistics.median(values):6.3f} s   p95 {percentile(values, 0.95):6.3f} s")
    for name, baseline in (("ratio product/bare", bare), ("ratio product/bare same limits", limited)):
        p50 = statistics.median(product) / statistics.median(baseline)
        p95 = percentile(product, 0.95) / percentile(baseline, 0.95)
        print(f"  {name:<34} p50 {p50:6.2f}     p95 {p95:6.2f}   (target p95 <= 1.5)")


if __name__ == "__main__":
    main()
