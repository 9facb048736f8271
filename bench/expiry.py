#!/usr/bin/env python3
"""Benchmark: from a trial's `expires_at` to teardown start and to verified teardown.

A real `den serve` launches `--rounds` trials at once, expiring `--lead` seconds later and
then `--gap` seconds apart, so each expiry is measured on its own while the other trials are
live (the reconciler must wake for it, not find it by polling). For each trial:
- teardown start: its `Stopping` event (written as teardown begins) minus `expires_at`;
- verified teardown: the moment the benchmark, polling the API and the runtime every 20 ms,
  sees the trial `Stopped` and nothing labelled with it left on the runtime, minus
  `expires_at`; and the teardown itself (that moment minus the Stopping event).
Baseline, in the same run and between the expiries: removing the same objects made directly,
without the product (Docker: a container of the template's image on its own internal network,
`remove(force=True)` then the network, until neither is listed; Kubernetes: a namespace with a
Pod of the image, deleted until it is gone). Target: teardown starts within 2 s of expiry.

    .venv/bin/python bench/expiry.py [--rounds 20] [--template open-data-dashboard]
    DEN_TEST_KUBECONFIG=$(scripts/testbed up | tail -n 1) \\
      .venv/bin/python bench/expiry.py --driver kubernetes --rounds 10
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402
    INSTANCE_LABEL,
    NO_CAPS,
    TRIAL_LABEL,
    docker_client,
    docker_objects,
    kubernetes_core,
    kubernetes_env,
    ratio_row,
    row,
    running_server,
)
from bench.launch_docker import first_component  # noqa: E402
from orchestrator.manifest import Component  # noqa: E402
from orchestrator.settings import Settings  # noqa: E402
from tests.e2e.server import Server  # noqa: E402

WATCH = 0.02
#: Per runtime: seconds before the first expiry (all trials must be Ready by then) and between
#: expiries (one teardown and one baseline removal must fit in between).
PACE = {"docker": (30, 3), "kubernetes": (90, 25)}


class Runtime(Protocol):
    def make_bare(self, component: Component) -> str: ...

    def remove_bare(self, handle: str) -> float: ...

    def labelled(self, trial_id: str) -> list[str]: ...


@dataclass
class DockerRuntime:
    instance: str
    client: Any = None

    def __post_init__(self) -> None:
        self.client = docker_client()

    def make_bare(self, component: Component) -> str:
        """The same image, command and environment on an internal network of its own; labelled
        with the server's instance, so the server's clean-up removes it if the run stops."""
        name, labels = f"den-bench-bare-{uuid.uuid4().hex[:8]}", {INSTANCE_LABEL: self.instance}
        network = self.client.networks.create(name, internal=True, labels=labels)
        self.client.containers.run(
            component.image,
            command=component.command,
            detach=True,
            name=name,
            network=network.id,
            labels=labels,
            environment=dict(component.env),
        )
        return name

    def remove_bare(self, handle: str) -> float:
        started = time.monotonic()
        self.client.api.remove_container(handle, force=True, v=True)
        self.client.api.remove_network(handle)
        while self.client.containers.list(all=True, filters={"name": handle}) or self.client.networks.list(
            names=[handle]
        ):
            time.sleep(WATCH)
        return time.monotonic() - started

    def labelled(self, trial_id: str) -> list[str]:
        return docker_objects(self.client, f"{TRIAL_LABEL}={trial_id}")


@dataclass
class KubernetesRuntime:
    instance: str
    core: Any = None

    def __post_init__(self) -> None:
        self.core = kubernetes_core()

    def make_bare(self, component: Component) -> str:
        name = f"den-bench-bare-{uuid.uuid4().hex[:8]}"
        self.core.create_namespace({"metadata": {"name": name, "labels": {INSTANCE_LABEL: self.instance}}})
        self.core.create_namespaced_pod(
            name,
            {
                "metadata": {"name": "bare"},
                "spec": {
                    "containers": [
                        {
                            "name": component.name,
                            "image": component.image,
                            "imagePullPolicy": "Never",
                            "command": component.command,
                            "env": [{"name": k, "value": v} for k, v in component.env.items()],
                        }
                    ]
                },
            },
        )
        deadline = time.monotonic() + 120
        while self.core.read_namespaced_pod("bare", name).status.phase != "Running":
            if time.monotonic() > deadline:
                raise TimeoutError(f"bare pod in {name} not running")
            time.sleep(0.1)
        return name

    def remove_bare(self, handle: str) -> float:
        from kubernetes.client.exceptions import ApiException

        started = time.monotonic()
        self.core.delete_namespace(handle)
        while True:
            try:
                self.core.read_namespace(handle)
            except ApiException as exc:
                if exc.status == 404:
                    return time.monotonic() - started
                raise
            time.sleep(WATCH)

    def labelled(self, trial_id: str) -> list[str]:
        found = self.core.list_namespace(label_selector=f"{TRIAL_LABEL}={trial_id}").items
        return [f"namespace/{n.metadata.name}" for n in found]


@dataclass(frozen=True)
class Expiry:
    start: float  # Stopping event - expires_at
    verified: float  # Stopped and nothing labelled, as observed - expires_at
    teardown: float  # verified - Stopping event


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", choices=("docker", "kubernetes"), default="docker")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--template", default="open-data-dashboard")
    return parser.parse_args()


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def launch_staggered(
    server: Server, template: str, rounds: int, pace: tuple[int, int]
) -> list[dict[str, Any]]:
    """Trials expiring `lead` s from now, then `gap` s apart; all Ready before the first."""
    lead, gap = pace
    trials = [server.launch(template, duration=lead + i * gap) for i in range(rounds)]
    first = seconds(trials[0]["expires_at"])
    for trial in trials:
        ready = server.wait_for(trial["id"], "Ready", "Stopped", timeout=max(1.0, first - time.time() - 1))
        if ready["phase"] != "Ready" or time.time() > first - 1:
            raise RuntimeError(
                f"trial {trial['id']} was not Ready well before the first expiry "
                f"({ready['phase']}: {ready['message']}); try fewer --rounds"
            )
    return trials


def watch_expiry(server: Server, runtime: Runtime, trial: dict[str, Any]) -> Expiry:
    expires = seconds(trial["expires_at"])
    time.sleep(max(0.0, expires - time.time() - 0.5))
    while True:
        phase = server.trial(trial["id"])["phase"]
        left = runtime.labelled(trial["id"])
        if phase == "Stopped" and not left:
            verified = time.time()
            break
        if time.time() > expires + 120:
            raise RuntimeError(f"trial {trial['id']} is {phase} 120 s after expiry; left: {left}")
        time.sleep(WATCH)
    stopping = next(e for e in server.events(trial["id"]) if e["phase"] == "Stopping")
    assert stopping["reason"] == "Expired", stopping
    started = seconds(stopping["at"])
    return Expiry(start=started - expires, verified=verified - expires, teardown=verified - started)


def main() -> None:
    args = arguments()
    component, _ = first_component(args.template)
    env = {
        **NO_CAPS,
        "DEN_POLL_INTERVAL": str(Settings().poll_interval),
        **(kubernetes_env() if args.driver == "kubernetes" else {}),
    }
    results: list[Expiry] = []
    bare: list[float] = []
    with running_server(env) as server:
        runtime: Runtime = (
            DockerRuntime(server.instance) if args.driver == "docker" else KubernetesRuntime(server.instance)
        )
        handles = [runtime.make_bare(component) for _ in range(args.rounds)]
        trials = launch_staggered(server, args.template, args.rounds, PACE[args.driver])
        for trial, handle in zip(trials, handles, strict=True):
            results.append(watch_expiry(server, runtime, trial))
            bare.append(runtime.remove_bare(handle))
    print(f"expiry on {args.driver}, {args.template}, {args.rounds} trials")
    print(row("teardown start (Stopping - expires_at)", [r.start for r in results]))
    print(row("verified teardown (gone - expires_at)", [r.verified for r in results]))
    print(row("teardown itself (gone - Stopping)", [r.teardown for r in results]))
    print(row("baseline: bare removal of the same objects", bare))
    print(ratio_row("ratio verified teardown / bare removal", [r.verified for r in results], bare))
    print(ratio_row("ratio teardown itself / bare removal", [r.teardown for r in results], bare))
    worst = max(r.start for r in results)
    print(
        f"  target: teardown starts within 2 s of expires_at: "
        f"{'met' if worst <= 2 else 'MISSED'} (worst {worst:.3f} s)"
    )


if __name__ == "__main__":
    main()
