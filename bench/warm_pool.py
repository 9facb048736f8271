#!/usr/bin/env python3
"""Benchmark: warm pools and waking from sleep, against a bare container / Pod of the same image.

Every figure is the time from a request being sent to the sandbox's first HTTP 200, measured
against real `den serve` processes (product polling defaults, caps raised out of the way) on
each runtime of `--runtimes`, beside a baseline measured in the same run:

- pooled, steady: a den with `DEN_WARM_POOLS={"<template>": --pool}`; once the pool metric
  (`den_warm_pool_ready`) shows it full, `--steady` requests at `--rate` per second, open loop
  (each sent at its due time, in its own thread): POST /api/v1/trials with the template's
  default parameters, then GET its endpoint (through the den, with `X-Den-Token`, as a script
  does) until 200. The trials are ended afterwards and the pool must fill again;
- pooled, burst: `--burst` such requests at the same instant, same measure;
- pooled, one at a time: `--isolated` such requests, each alone to a full pool with no refill
  running (for reference: what a hand-out costs without the others' load; no target);
- cold: a den with no pool, `--cold` requests one after another, same measure (the trial is
  polled until Ready, then its endpoint until 200);
- bare: the same image run directly, `--bare` rounds (Docker: `containers.run` with a published
  loopback port; Kubernetes: a plain Pod, polled on its address), alternated with the cold
  requests so drift in the machine's load hits both alike;
- wake: a den with `DEN_IDLE_TIMEOUT=--idle`; for each of `--wakes` rounds a trial is launched,
  left unvisited until it is `Sleeping` and its workloads are gone, then timed from the first
  request through its address (a 503 `SandboxWaking`) to the first 200, polling every 50 ms.

A pooled figure is one only if its requests were served from the pool: the den's
`den_warm_pool_requests_total` counter (`hit` / `miss`) is read around each scenario, and each
answer's phase (Ready in the POST's answer) and trial id (one of the pool's, never twice) are
checked. Everything made (dens, their sandboxes, bare containers and Pods, temp dirs) is
removed at the end, after a failure or Ctrl-C too.

Targets: pooled launch (steady and burst), all hits: p50 <= 100 ms and p99 <= 400 ms.

    .venv/bin/python bench/warm_pool.py [--runtimes docker,kubernetes] [--pool 20] [--steady 20]
        [--burst 20] [--isolated 5] [--cold 5] [--bare 5] [--wakes 5] [--workers 1] [--logs DIR]
    DEN_TEST_KUBECONFIG=$(scripts/testbed up | tail -n 1) \\
      .venv/bin/python bench/warm_pool.py --runtimes kubernetes --pool 7 --steady 7 --burst 7

The Kubernetes test cluster's node has 2 cores and each sandbox of open-data-dashboard
requests 0.25 of one: 7 fit beside the cluster's own pods, and a pool larger than that never
fills (the rest wait unscheduled and fail with StartTimeout); the trials handed out keep their
share until ended, so the refills wait for them. `--workers N` serves the API in N processes
with the reconciler apart. Every figure includes whatever else the machine runs: the load
average as each scenario began is printed beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402
    INSTANCE_LABEL,
    NO_CAPS,
    POLL,
    TRIAL_LABEL,
    docker_client,
    docker_objects,
    kubernetes_core,
    kubernetes_env,
    percentile,
    running_server,
    trial_body,
)
from bench.launch_docker import first_component, launch_bare  # noqa: E402
from bench.launch_kubernetes import launch_bare_pod  # noqa: E402
from orchestrator.images import build_all  # noqa: E402
from orchestrator.manifest import Component, HttpProbe  # noqa: E402
from orchestrator.settings import Settings  # noqa: E402
from tests.e2e.server import TOKEN, Server  # noqa: E402

WAKE_POLL = 0.05
TIMEOUT = 180.0  # seconds: longest wait for one request's first 200, a pool to fill, a sleep
TARGET_P50, TARGET_P99 = 0.100, 0.400  # seconds, pooled launch


class Stopped(Exception):
    """The run is ending (a failure elsewhere, Ctrl-C): a request's thread gives up."""


class TimedOut(RuntimeError):
    """Something did not happen in time; `log` is the end of the den's log then."""

    def __init__(self, message: str, log: str) -> None:
        super().__init__(message)
        self.log = log


# --- a den, seen through one HTTP client -------------------------------------------------


class Den:
    """A running `den serve`, called through one shared client: `httpx.request` builds a
    client per call (tens of milliseconds here), which would be counted in every figure."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = httpx.Client(
            timeout=30, limits=httpx.Limits(max_connections=200, max_keepalive_connections=200)
        )
        self.api = {"Authorization": f"Bearer {TOKEN}"}

    def close(self) -> None:
        self.http.close()

    def post_trial(self, template: str) -> httpx.Response:
        return self.http.post(
            f"{self.server.url}/api/v1/trials", json=trial_body(template, 3600), headers=self.api
        )

    def trial(self, trial_id: str) -> dict[str, Any]:
        answer = self.http.get(f"{self.server.url}/api/v1/trials/{trial_id}", headers=self.api)
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    def end(self, trial_id: str) -> None:
        answer = self.http.post(f"{self.server.url}/api/v1/trials/{trial_id}/end", headers=self.api)
        if answer.status_code not in (202, 409):  # 409: ending already
            raise RuntimeError(f"ending {trial_id}: {answer.status_code} {answer.text}")

    def visit(self, url: str, timeout: float = 5) -> httpx.Response:
        """`url` on a sandbox's own origin, as `tests.e2e.server.sandbox_get` fetches it: sent
        to the den's address with the sandbox's name as Host, and a script's `X-Den-Token`."""
        parts = urlsplit(url)
        target = f"{self.server.url}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
        return self.http.get(
            target,
            headers={"host": parts.netloc, "x-den-token": TOKEN},
            timeout=timeout,
            follow_redirects=False,
        )

    def metrics(self) -> str:
        return self.http.get(f"{self.server.url}/metrics", timeout=10).text


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of metric `name` in a Prometheus exposition, with its labels."""
    found = []
    for match in re.finditer(rf"^{re.escape(name)}(?:{{([^}}]*)}})? (\S+)$", text, re.MULTILINE):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        found.append((labels, float(match.group(2))))
    return found


def metric_sum(text: str, name: str, **labels: str) -> float:
    return sum(
        value
        for have, value in metric_samples(text, name)
        if all(have.get(key) == wanted for key, wanted in labels.items())
    )


def pool_ready(den: Den, template: str) -> int:
    return int(metric_sum(den.metrics(), "den_warm_pool_ready", template=template))


def pool_requests(den: Den, template: str) -> dict[str, int]:
    text = den.metrics()
    return {
        outcome: int(metric_sum(text, "den_warm_pool_requests_total", template=template, outcome=outcome))
        for outcome in ("hit", "miss")
    }


def histogram_mean(den: Den, name: str) -> tuple[int, float]:
    """How many observations, and their mean (0 when none)."""
    text = den.metrics()
    count, total = metric_sum(text, f"{name}_count"), metric_sum(text, f"{name}_sum")
    return int(count), (total / count if count else 0.0)


def until(
    check: Callable[[], bool],
    *,
    within: float,
    what: str | Callable[[], str],
    den: Den,
    stop: threading.Event,
    every: float = 0.2,
) -> float:
    """Wait for `check`; the seconds it took. A timeout says `what` (called then, if it is a
    function) and shows the end of the den's log."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within:
            said = what() if callable(what) else what
            raise TimedOut(f"not within {within:.0f} s: {said}", den.server.log_tail())
        if stop.wait(every):
            raise Stopped
    return time.monotonic() - started


def wait_stopped(den: Den, trial_ids: list[str], stop: threading.Event) -> None:
    until(
        lambda: all(den.trial(trial_id)["phase"] == "Stopped" for trial_id in trial_ids),
        within=TIMEOUT,
        what=lambda: f"trials stopped: {[(t, den.trial(t)['phase']) for t in trial_ids]}",
        den=den,
        stop=stop,
        every=0.2,
    )


# --- one request --------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    seconds: float  # POST sent -> the endpoint's first 200
    answer: float  # POST sent -> its answer
    phase: str  # the trial's phase in the POST's answer
    first_status: int  # the endpoint's first answer (0: no answer)
    first_answer: str  # its status and the start of its body, or the error
    trial_id: str
    late: float  # seconds the POST was sent after its due time


def launch(den: Den, template: str, stop: threading.Event, *, due: float | None = None) -> Sample:
    """POST a trial, then poll it until Ready (a pooled one is Ready in the answer) and its
    endpoint until 200."""
    if due is not None and stop.wait(max(0.0, due - time.monotonic())):
        raise Stopped
    sent = time.monotonic()
    answer = den.post_trial(template)
    answered = time.monotonic()
    if answer.status_code != 201:
        raise RuntimeError(f"POST /api/v1/trials answered {answer.status_code}: {answer.text}")
    trial: dict[str, Any] = answer.json()
    phase, deadline = trial["phase"], sent + TIMEOUT
    while trial["phase"] != "Ready":
        if trial["phase"] in ("Stopped", "Failed") or time.monotonic() > deadline:
            raise RuntimeError(f"trial {trial['id']} is {trial['phase']}: {trial['message']}")
        if stop.wait(POLL):
            raise Stopped
        trial = den.trial(trial["id"])
    url = next(iter(trial["endpoints"].values()))
    first: int | None = None
    first_answer = ""
    while True:
        try:
            got = den.visit(url)  # its default 5 s: a busy den may take over 1 s
            status, said = got.status_code, f"{got.status_code} {got.text[:120]!r}"
        except httpx.HTTPError as exc:
            status, said = 0, repr(exc)
        if first is None:
            first, first_answer = status, said
        if status == 200:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"trial {trial['id']}'s endpoint {url} answered {status}, never 200")
        if stop.wait(POLL):
            raise Stopped
    return Sample(
        seconds=time.monotonic() - sent,
        answer=answered - sent,
        phase=phase,
        first_status=first,
        first_answer=first_answer,
        trial_id=trial["id"],
        late=0.0 if due is None else sent - due,
    )


def open_loop(den: Den, template: str, count: int, rate: float, stop: threading.Event) -> list[Sample]:
    """`count` requests, each in its own thread and sent at its due time (`rate` per second;
    infinite: all at the same instant), whatever the others' progress."""
    start = time.monotonic() + 0.5  # every thread is waiting before the first is due
    dues = [start + (0 if math.isinf(rate) else i / rate) for i in range(count)]
    pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="request")
    try:
        futures = [pool.submit(launch, den, template, stop, due=due) for due in dues]
        return [future.result() for future in futures]
    finally:
        stop.set()  # the others give up if one failed (no-op when all are done)
        pool.shutdown(wait=True)
        stop.clear()


# --- the runtimes, seen from outside the product ------------------------------------------


class Runtime(Protocol):
    name: str

    def trial_ids(self, instance: str) -> set[str]:
        """Trials that have objects on the runtime, of the den `instance`."""
        ...

    def running(self, trial_id: str) -> int:
        """The trial's workloads that run (or still exist, stopping)."""
        ...

    def bare(self, component: Component, probe: HttpProbe, instance: str) -> float:
        """The image run directly, to its first 200; labelled so that `instance`'s clean-up
        removes it if the run stops half-way."""
        ...

    def leftovers(self, instance: str) -> list[str]: ...


@dataclass
class DockerRuntime:
    name: str = "docker"
    client: Any = field(default_factory=docker_client)

    def trial_ids(self, instance: str) -> set[str]:
        found = self.client.containers.list(filters={"label": f"{INSTANCE_LABEL}={instance}"})
        return {c.labels[TRIAL_LABEL] for c in found if TRIAL_LABEL in c.labels}

    def running(self, trial_id: str) -> int:
        return len(self.client.containers.list(filters={"label": f"{TRIAL_LABEL}={trial_id}"}))

    def bare(self, component: Component, probe: HttpProbe, instance: str) -> float:
        labels = {"labels": {INSTANCE_LABEL: instance}}
        return launch_bare(self.client, component.image, probe.port, probe.path, labels)

    def leftovers(self, instance: str) -> list[str]:
        return docker_objects(self.client, f"{INSTANCE_LABEL}={instance}")


@dataclass
class KubernetesRuntime:
    name: str = "kubernetes"
    core: Any = field(default_factory=kubernetes_core)

    def trial_ids(self, instance: str) -> set[str]:
        found = self.core.list_namespace(label_selector=f"{INSTANCE_LABEL}={instance},{TRIAL_LABEL}").items
        return {n.metadata.labels[TRIAL_LABEL] for n in found if n.metadata.deletion_timestamp is None}

    def running(self, trial_id: str) -> int:
        from kubernetes.client.exceptions import ApiException

        try:
            return len(self.core.list_namespaced_pod(f"den-{trial_id}").items)
        except ApiException as exc:
            if exc.status == 404:
                return 0
            raise

    def bare(self, component: Component, probe: HttpProbe, instance: str) -> float:
        from kubernetes.client.exceptions import ApiException

        namespace = f"den-bench-bare-{instance}"
        try:
            labels = {INSTANCE_LABEL: instance}
            self.core.create_namespace({"metadata": {"name": namespace, "labels": labels}})
        except ApiException as exc:
            if exc.status != 409:  # made by an earlier round
                raise
        return launch_bare_pod(self.core, component.image, probe.port, probe.path, namespace=namespace)

    def leftovers(self, instance: str) -> list[str]:
        found = self.core.list_namespace(label_selector=f"{INSTANCE_LABEL}={instance}").items
        return [f"namespace/{n.metadata.name}" for n in found]


# --- the scenarios -----------------------------------------------------------------------


@dataclass
class Figures:
    """What one runtime's run measured: seconds by scenario, and notes to print."""

    runtime: str
    rows: dict[str, list[float]] = field(default_factory=dict)
    pooled: dict[str, tuple[int, int, list[Sample]]] = field(default_factory=dict)  # hits, misses
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    load: list[str] = field(default_factory=list)  # the machine's load as each scenario began

    def loaded(self, scenario: str) -> None:
        self.load.append(f"{scenario} {os.getloadavg()[0]:.1f}")


@contextlib.contextmanager
def den_on(runtime: Runtime, env: dict[str, str], name: str, args: argparse.Namespace) -> Iterator[Den]:
    """A den on `runtime` with the product's polling defaults, caps out of the way, and `env`;
    its log copied to `--logs` at the end, and nothing of it left on the runtime."""
    settings = {
        **NO_CAPS,
        "DEN_POLL_INTERVAL": str(Settings().poll_interval),
        **(kubernetes_env() if runtime.name == "kubernetes" else {}),
        **env,
    }
    instance = ""
    try:
        serve_args = ("--workers", str(args.workers)) if args.workers > 1 else ()
        # A busy machine (each process imports the product) may take a while to start it.
        with running_server(settings, serve_args, start_timeout=120) as server:
            instance = server.instance
            den = Den(server)
            try:
                yield den
            finally:
                den.close()
                if args.logs:
                    args.logs.mkdir(parents=True, exist_ok=True)
                    log = server.data_dir / "server.log"
                    if log.exists():
                        shutil.copy(log, args.logs / f"{runtime.name}-{name}-server.log")
    finally:
        # running_server asked for everything labelled with the instance to go, whatever
        # happened; see that it is gone (Kubernetes takes a while to delete a namespace).
        if instance:
            gone_or_warn(runtime, instance, name)


def gone_or_warn(runtime: Runtime, instance: str, name: str) -> None:
    deadline = time.monotonic() + 300
    while (left := runtime.leftovers(instance)) and time.monotonic() < deadline:
        time.sleep(1)
    if left:
        print(f"  left behind by the {name} den ({instance}): {', '.join(left)}", file=sys.stderr)


def pooled(runtime: Runtime, args: argparse.Namespace, figures: Figures, stop: threading.Event) -> None:
    template, size = args.template, args.pool
    env = {"DEN_WARM_POOLS": f'{{"{template}": {size}}}'}
    with den_on(runtime, env, "pooled", args) as den:
        took = until(
            lambda: pool_ready(den, template) >= size,
            within=args.fill_timeout,
            what=lambda: f"the pool of {size} filled (it has {pool_ready(den, template)} Ready)",
            den=den,
            stop=stop,
            every=0.5,
        )
        figures.notes.append(f"pool of {size} full {took:.1f} s after the den answered")
        # Warm-up, not counted: a process's first requests pay for what it loads once.
        refill(den, [launch(den, template, stop)], size, args, stop)
        scenarios = [
            ("steady", args.steady, args.rate),
            ("burst", args.burst, math.inf),
            ("isolated", args.isolated, 0.0),
        ]
        for name, count, rate in scenarios:
            if count <= 0:
                continue
            time.sleep(2)  # the last refill's containers settled
            figures.loaded(name)
            before = pool_requests(den, template)
            waiting: set[str] = set()
            if name == "isolated":  # each alone, to a full pool and a quiet den
                samples = []
                for _ in range(count):
                    waiting |= runtime.trial_ids(den.server.instance)
                    samples.append(launch(den, template, stop))
                    refill(den, samples[-1:], size, args, stop)
                    time.sleep(2)
            else:
                waiting = runtime.trial_ids(den.server.instance)
                samples = open_loop(den, template, count, rate, stop)
            after = pool_requests(den, template)
            hits, misses = after["hit"] - before["hit"], after["miss"] - before["miss"]
            label = {
                "steady": f"pooled, steady ({rate:g}/s)",
                "burst": "pooled, burst",
                "isolated": "pooled, one at a time",
            }[name]
            figures.rows[label] = [s.seconds for s in samples]
            figures.pooled[name] = (hits, misses, samples)
            check_handouts(name, samples, waiting, hits, misses, figures)
            answered = percentile([s.answer for s in samples], 0.5) * 1000
            first_get = percentile([s.seconds - s.answer for s in samples], 0.5) * 1000
            figures.notes.append(
                f"{name}: POST answered p50 {answered:.1f} ms, then the endpoint's first 200 p50 "
                f"{first_get:.1f} ms; sent at most {max(s.late for s in samples) * 1000:.1f} ms "
                "after its due time"
            )
            if name != "isolated":
                full, stopped = refill(den, samples, size, args, stop)
                figures.notes.append(
                    f"{name}: pool full again {full:.1f} s after its trials were ended, all "
                    f"{len(samples)} Stopped {stopped:.1f} s after"
                )
        count, mean = histogram_mean(den, "den_warm_pool_handout_seconds")
        figures.notes.append(f"den_warm_pool_handout_seconds: {count} hand-outs, mean {mean * 1000:.2f} ms")


def refill(
    den: Den, samples: list[Sample], size: int, args: argparse.Namespace, stop: threading.Event
) -> tuple[float, float]:
    """End the trials of `samples`, then wait for the pool to be full again and for them to be
    Stopped: the seconds each took, from the ends."""
    for sample in samples:
        den.end(sample.trial_id)
    ended = time.monotonic()
    until(
        lambda: pool_ready(den, args.template) >= size,
        within=args.fill_timeout,
        what=lambda: f"the pool of {size} refilled (it has {pool_ready(den, args.template)} Ready)",
        den=den,
        stop=stop,
    )
    full = time.monotonic() - ended
    wait_stopped(den, [s.trial_id for s in samples], stop)
    return full, time.monotonic() - ended


def check_handouts(
    name: str, samples: list[Sample], waiting: set[str], hits: int, misses: int, figures: Figures
) -> None:
    """Each request served from the pool: Ready in its answer, answering at once, one of the
    pool's sandboxes (never one handed out twice)."""
    ready = sum(s.phase == "Ready" for s in samples)
    at_once = sum(s.phase == "Ready" and s.first_status == 200 for s in samples)
    ids = [s.trial_id for s in samples]
    from_pool = sum(s.trial_id in waiting for s in samples)
    figures.notes.append(
        f"{name}: {hits} hits, {misses} misses (den_warm_pool_requests_total); Ready in the POST's "
        f"answer {ready}/{len(samples)}; first GET 200 {at_once}/{len(samples)}; sandboxes that were "
        f"running before the requests {from_pool}/{len(samples)}; distinct trials {len(set(ids))}"
    )
    if misses or hits != len(samples):
        figures.failures.append(
            f"{name}: {misses} of {len(samples)} requests were misses (started cold), "
            f"{hits} hits: the figure is not all pooled"
        )
    if len(set(ids)) != len(ids):
        figures.failures.append(f"{name}: a pooled sandbox was handed out twice: {sorted(ids)}")
    if ready != hits or at_once != ready or from_pool != ready:
        slow = [
            f"{s.trial_id}: {s.first_answer}" for s in samples if s.phase == "Ready" and s.first_status != 200
        ]
        figures.failures.append(
            f"{name}: of {hits} hits, {ready} were Ready in the POST's answer, {at_once} answered "
            f"200 at the first GET, {from_pool} were sandboxes running before the requests"
            + (f"; first GET answered {', '.join(slow)}" if slow else "")
        )


def cold_and_bare(
    runtime: Runtime, args: argparse.Namespace, figures: Figures, stop: threading.Event
) -> None:
    component, probe = first_component(args.template)
    cold: list[float] = []
    bare: list[float] = []
    with den_on(runtime, {}, "cold", args) as den:
        den.end(launch(den, args.template, stop).trial_id)  # warm-up, not counted
        figures.loaded("cold and bare")
        for round_ in range(max(args.cold, args.bare)):
            if round_ < args.bare:
                bare.append(runtime.bare(component, probe, den.server.instance))
            if round_ < args.cold:
                sample = launch(den, args.template, stop)
                cold.append(sample.seconds)
                den.end(sample.trial_id)
                wait_stopped(den, [sample.trial_id], stop)
    if cold:
        figures.rows["cold (no pool)"] = cold
    if bare:
        figures.rows["bare " + ("container" if runtime.name == "docker" else "Pod")] = bare


def wakes(runtime: Runtime, args: argparse.Namespace, figures: Figures, stop: threading.Event) -> None:
    woken: list[float] = []
    with den_on(runtime, {"DEN_IDLE_TIMEOUT": str(args.idle)}, "wake", args) as den:
        figures.loaded("wake")
        for _ in range(args.wakes):
            woken.append(wake_once(runtime, den, args, figures, stop))
        count, mean = histogram_mean(den, "den_trial_wake_seconds")
        figures.notes.append(
            f"wake: den_trial_wake_seconds (Waking -> Ready, in the den): {count} wakes, "
            f"mean {mean * 1000:.0f} ms"
        )
    figures.rows[f"wake from sleep (idle {args.idle} s)"] = woken


def wake_once(
    runtime: Runtime, den: Den, args: argparse.Namespace, figures: Figures, stop: threading.Event
) -> float:
    answer = den.post_trial(args.template)
    if answer.status_code != 201:
        raise RuntimeError(f"POST /api/v1/trials answered {answer.status_code}: {answer.text}")
    trial_id = answer.json()["id"]
    # Only the API is read meanwhile: a request through the sandbox's address is a visit.
    until(
        lambda: den.trial(trial_id)["phase"] in ("Ready", "Sleeping"),
        within=TIMEOUT,
        what=f"trial {trial_id} Ready",
        den=den,
        stop=stop,
        every=0.1,
    )
    until(
        lambda: den.trial(trial_id)["phase"] == "Sleeping",
        within=args.idle + 60,
        what=f"trial {trial_id} Sleeping",
        den=den,
        stop=stop,
        every=0.1,
    )
    asleep = den.trial(trial_id)
    until(
        lambda: runtime.running(trial_id) == 0,
        within=60,
        what=f"trial {trial_id}'s workloads gone while it sleeps",
        den=den,
        stop=stop,
    )
    url = next(iter(asleep["endpoints"].values()))
    started = time.monotonic()
    first = den.visit(url)
    status = first.status_code
    while status != 200:
        if time.monotonic() - started > TIMEOUT:
            raise RuntimeError(f"trial {trial_id} did not answer 200 within {TIMEOUT:.0f} s of a visit")
        if stop.wait(WAKE_POLL):
            raise Stopped
        try:
            status = den.visit(url).status_code
        except httpx.HTTPError:
            status = 0
    took = time.monotonic() - started
    reason = None
    with contextlib.suppress(ValueError):
        reason = first.json().get("reason") if first.status_code == 503 else None
    if first.status_code != 503 or reason != "SandboxWaking" or asleep["reason"] != "Idle":
        figures.failures.append(
            f"wake: trial {trial_id} slept with reason {asleep['reason']}; the first visit "
            f"answered {first.status_code} {reason or ''}, not 503 SandboxWaking"
        )
    den.end(trial_id)
    wait_stopped(den, [trial_id], stop)
    return took


# --- the report --------------------------------------------------------------------------


def report(figures: Figures, args: argparse.Namespace) -> None:
    bare_name = next((name for name in figures.rows if name.startswith("bare")), None)
    bare_p50 = percentile(figures.rows[bare_name], 0.5) if bare_name else None
    workers = f", den serve --workers {args.workers}" if args.workers > 1 else ""
    print(
        f"\n{figures.runtime}: {args.template}, pool {args.pool}{workers}, "
        "time from request to first 200 (ms)"
    )
    print(f"  {'scenario':<30} {'n':>3} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}  p50/bare")
    for name, values in figures.rows.items():
        p50 = percentile(values, 0.5)
        ratio = f"{p50 / bare_p50:8.2f}" if bare_p50 else "       -"
        print(
            f"  {name:<30} {len(values):>3} {p50 * 1000:8.1f} {percentile(values, 0.9) * 1000:8.1f} "
            f"{percentile(values, 0.99) * 1000:8.1f} {max(values) * 1000:8.1f}  {ratio}"
        )
    for note in figures.notes:
        print(f"  {note}")
    if figures.load:
        print(
            f"  load average (1 min, {os.cpu_count()} cores) as each scenario began: "
            + ", ".join(figures.load)
        )
    for name in ("steady", "burst"):
        if name not in figures.pooled:
            continue
        hits, misses, samples = figures.pooled[name]
        values = [s.seconds for s in samples]
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        met = p50 <= TARGET_P50 and p99 <= TARGET_P99
        all_hits = misses == 0 and hits == len(samples)
        verdict = "PASS" if met and all_hits else "FAIL"
        why = "" if all_hits else f" (but {misses} of {len(samples)} were misses: not a pooled figure)"
        print(
            f"  {verdict} {figures.runtime} pooled {name}: p50 {p50 * 1000:.1f} ms (target <= "
            f"{TARGET_P50 * 1000:.0f}), p99 {p99 * 1000:.1f} ms (target <= {TARGET_P99 * 1000:.0f}){why}"
        )
    for failure in figures.failures:
        print(f"  PROBLEM {failure}")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", default="docker,kubernetes", help="comma separated: docker, kubernetes")
    parser.add_argument("--template", default="open-data-dashboard")
    parser.add_argument("--pool", type=int, default=20, help="warm pool size")
    parser.add_argument("--steady", type=int, default=20, help="requests at --rate per second")
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--burst", type=int, default=20, help="requests at the same instant")
    parser.add_argument(
        "--isolated",
        type=int,
        default=5,
        help="pooled requests one at a time, each to a full pool (no refill running): the "
        "hand-out's own cost, apart from the load of the others",
    )
    parser.add_argument("--cold", type=int, default=5, help="requests to a den with no pool")
    parser.add_argument("--bare", type=int, default=5, help="bare container / Pod rounds")
    parser.add_argument("--wakes", type=int, default=5, help="rounds of sleep then wake")
    parser.add_argument("--idle", type=int, default=3, help="DEN_IDLE_TIMEOUT of the waking den")
    parser.add_argument("--fill-timeout", type=float, default=600, help="seconds for the pool to fill")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="`den serve --workers`: above 1, the API in that many processes and the reconciler in "
        "one of its own",
    )
    parser.add_argument("--logs", type=Path, help="copy each den's server.log into this directory")
    args = parser.parse_args()
    args.runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    unknown = set(args.runtimes) - {"docker", "kubernetes"}
    if unknown:
        parser.error(f"unknown runtimes: {', '.join(sorted(unknown))}")
    return args


def main() -> None:
    args = arguments()
    # Ctrl-C and a plain `kill` end the run through every clean-up (a shell that starts a job
    # in the background makes it ignore SIGINT: restore the default).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    build_all(ROOT / "sandbox_templates", [args.template], settings=Settings(), log=lambda _: None)
    stop = threading.Event()
    reports: list[Figures] = []
    for name in args.runtimes:
        runtime: Runtime = DockerRuntime() if name == "docker" else KubernetesRuntime()
        figures = Figures(name)
        reports.append(figures)
        for scenario, wanted in (
            (pooled, args.pool > 0 and (args.steady > 0 or args.burst > 0 or args.isolated > 0)),
            (cold_and_bare, args.cold > 0 or args.bare > 0),
            (wakes, args.wakes > 0),
        ):
            if not wanted:
                continue
            try:
                scenario(runtime, args, figures, stop)
            except (RuntimeError, httpx.HTTPError, TimeoutError) as exc:
                figures.failures.append(f"{scenario.__name__} not measured: {exc}")
                log = f"\n  the den's log then:\n{exc.log}" if isinstance(exc, TimedOut) else ""
                print(f"{name} {scenario.__name__}: {exc}{log}", file=sys.stderr)
        report(figures, args)
    if any(f.failures for f in reports):
        sys.exit(1)


if __name__ == "__main__":
    main()
