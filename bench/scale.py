#!/usr/bin/env python3
"""Benchmark: what idle trials cost the orchestrator, few against many, in one run.

A real `den serve` runs its sandboxes through a counting proxy in front of the runtime's API
(bench/counting_proxy.py), so every runtime call it makes is counted on the wire. The
benchmark launches `--few` trials of a sandbox that only sleeps (bench/templates/idle*), waits
until they are Ready and measures a quiet window; then launches up to `--trials` and measures
the same window again. For each size it prints, per reconcile pass (`den_reconcile_pass_*`
from /metrics): the server process's CPU time, the pass's wall time and the runtime API calls,
plus the calls per minute and the server's RSS. The ratios many/few are the result: the
product's target is a reconcile cost proportional to changes, not to the number of trials.

    .venv/bin/python bench/scale.py [--trials 1000] [--few 10] [--window 60]
    DEN_TEST_KUBECONFIG=$(scripts/testbed up | tail -n 1) \\
      .venv/bin/python bench/scale.py --driver kubernetes --trials 12 --few 3

On Kubernetes a pod requests the CPU it is limited to, and a trial's LimitRange cannot go
below 0.1 CPU, so the 2-core test cluster holds about 15 idle trials (its kubelet's 110 pods
would allow about 100). Everything the run creates is removed at the end, after a failure,
Ctrl-C or `kill` too.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ssl
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402
    NO_CAPS,
    kubernetes_env,
    metric,
    process_cpu_seconds,
    process_rss_mib,
    running_server,
    trial_body,
)
from bench.counting_proxy import CountingProxy  # noqa: E402
from orchestrator.settings import Settings  # noqa: E402
from tests.e2e.server import Server  # noqa: E402

BATCH = 50  # trials asked for at once; the next batch waits until these are Ready
PASSES = "den_reconcile_pass_seconds_count"


@dataclass(frozen=True)
class Sample:
    trials: int
    seconds: float
    passes: float
    cpu: float  # seconds of server CPU in the window
    wall: float  # seconds spent inside reconcile passes
    calls: Counter[str]
    rss_mib: float

    def per_pass(self, value: float) -> float:
        return value / max(self.passes, 1)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", choices=("docker", "kubernetes"), default="docker")
    parser.add_argument("--trials", type=int, default=1000, help="the large size")
    parser.add_argument("--few", type=int, default=10, help="the small size (the baseline)")
    parser.add_argument("--template", default="bench-idle", help="one of bench/templates")
    parser.add_argument(
        "--window",
        type=float,
        default=60.0,
        help="seconds measured at each size (a multiple of the 60 s sweep)",
    )
    return parser.parse_args()


@contextlib.contextmanager
def proxied_runtime(driver: str) -> Iterator[tuple[CountingProxy, dict[str, str]]]:
    """A counting proxy in front of the runtime, and the server settings that use it."""
    with tempfile.TemporaryDirectory(prefix="den-bench-proxy-") as folder:
        if driver == "docker":
            proxy = CountingProxy.to_unix("/var/run/docker.sock")
            proxy.serve_unix(Path(folder) / "docker.sock")
            env = {"DEN_DOCKER_HOST": f"unix://{folder}/docker.sock"}
        else:
            env = kubernetes_env()
            proxy, env["DEN_KUBECONFIG"] = _kubernetes_proxy(env["DEN_KUBECONFIG"], Path(folder))
        try:
            yield proxy, env
        finally:
            proxy.close()


def _kubernetes_proxy(kubeconfig: str, folder: Path) -> tuple[CountingProxy, str]:
    """The proxy speaks TLS to the API server with the kubeconfig's client certificate; the
    orchestrator gets a kubeconfig pointing at the proxy's plain-HTTP loopback address."""
    config = yaml.safe_load(Path(kubeconfig).read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    for name, key in (
        ("ca.crt", "certificate-authority-data"),
        ("client.crt", "client-certificate-data"),
        ("client.key", "client-key-data"),
    ):
        source = cluster if key.startswith("certificate-authority") else user
        (folder / name).write_bytes(base64.b64decode(source[key]))
    context = ssl.create_default_context(cafile=str(folder / "ca.crt"))
    context.load_cert_chain(folder / "client.crt", folder / "client.key")
    host, port = cluster["server"].removeprefix("https://").rsplit(":", 1)
    proxy = CountingProxy.to_tls(host, int(port), context)
    local = folder / "proxy.kubeconfig"
    local.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "proxy",
                "clusters": [
                    {"name": "proxy", "cluster": {"server": f"http://127.0.0.1:{proxy.serve_tcp()}"}}
                ],
                "users": [{"name": "proxy", "user": {}}],
                "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "proxy"}}],
            }
        )
    )
    return proxy, str(local)


def grow_to(server: Server, template: str, size: int, launched: int, *, deadline: float) -> int:
    """Ask for trials in batches until `size` are Ready; a failed trial stops the benchmark."""
    while launched < size:
        batch = min(BATCH, size - launched)
        for _ in range(batch):
            answer = server.call("POST", "/api/v1/trials", json=trial_body(template, 14400))
            answer.raise_for_status()
        launched += batch
        started = time.monotonic()
        while (ready := metric(server, 'den_trials{phase="Ready"}')) < launched:
            stopped = metric(server, 'den_trials{phase="Stopped"}')
            failed = metric(server, 'den_trials{phase="Failed"}')
            if stopped or failed or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{ready:.0f} of {launched} trials Ready, {failed + stopped:.0f} "
                    f"failed (see {server.data_dir}/server.log):\n{server.log_tail()}"
                )
            time.sleep(0.5)
        print(
            f"  {launched:5d} trials Ready (last {batch} in {time.monotonic() - started:5.1f} s)", flush=True
        )
    return launched


def measure(server: Server, proxy: CountingProxy, trials: int, window: float) -> Sample:
    assert server.process is not None
    pid = server.process.pid
    time.sleep(5)  # let the last batch's polling end
    passes, wall = metric(server, PASSES), metric(server, "den_reconcile_pass_seconds_sum")
    cpu, calls, started = process_cpu_seconds(pid), proxy.snapshot(), time.monotonic()
    time.sleep(window)
    return Sample(
        trials=trials,
        seconds=time.monotonic() - started,
        passes=metric(server, PASSES) - passes,
        cpu=process_cpu_seconds(pid) - cpu,
        wall=metric(server, "den_reconcile_pass_seconds_sum") - wall,
        calls=proxy.snapshot() - calls,
        rss_mib=process_rss_mib(pid),
    )


def report(driver: str, few: Sample, many: Sample) -> None:
    print(f"\nidle trials on {driver}: {few.trials} against {many.trials}, {few.seconds:.0f} s windows")
    print(f"  {'':<34}{few.trials:>10} {many.trials:>10} {'ratio':>8}")
    rows = [
        ("reconcile passes", few.passes, many.passes, "{:10.0f}"),
        (
            "server CPU per pass (ms)",
            few.per_pass(few.cpu) * 1000,
            many.per_pass(many.cpu) * 1000,
            "{:10.2f}",
        ),
        ("pass wall time (ms)", few.per_pass(few.wall) * 1000, many.per_pass(many.wall) * 1000, "{:10.2f}"),
        (
            "server CPU (% of one core)",
            few.cpu / few.seconds * 100,
            many.cpu / many.seconds * 100,
            "{:10.2f}",
        ),
        (
            "runtime API calls per pass",
            few.per_pass(few.calls.total()),
            many.per_pass(many.calls.total()),
            "{:10.3f}",
        ),
        (
            "runtime API calls per minute",
            few.calls.total() / few.seconds * 60,
            many.calls.total() / many.seconds * 60,
            "{:10.1f}",
        ),
        ("server RSS (MiB)", few.rss_mib, many.rss_mib, "{:10.1f}"),
    ]
    for name, small, large, form in rows:
        ratio = f"{large / small:8.2f}" if small else "       -"
        print(f"  {name:<34}{form.format(small)} {form.format(large)} {ratio}")
    for sample in (few, many):
        kinds = ", ".join(f"{key} x{count}" for key, count in sample.calls.most_common(6))
        print(f"  calls at {sample.trials}: {kinds or 'none'}")


def main() -> None:
    args = arguments()
    template = args.template
    env = {
        **NO_CAPS,
        "DEN_TEMPLATES_DIR": str(ROOT / "bench" / "templates"),
        "DEN_POLL_INTERVAL": str(Settings().poll_interval),
        "DEN_LOG_LEVEL": "WARNING",
        "DEN_START_TIMEOUT": "600",
    }
    deadline = time.monotonic() + 30 * 60
    with (
        proxied_runtime(args.driver) as (proxy, runtime_env),
        running_server({**env, **runtime_env}) as server,
    ):
        print(f"launching {args.few} trials of {template} on {args.driver}", flush=True)
        launched = grow_to(server, template, args.few, 0, deadline=deadline)
        few = measure(server, proxy, args.few, args.window)
        print(f"launching up to {args.trials}", flush=True)
        grow_to(server, template, args.trials, launched, deadline=deadline)
        many = measure(server, proxy, args.trials, args.window)
        print("removing every sandbox the run made", flush=True)
    report(args.driver, few, many)


if __name__ == "__main__":
    main()
