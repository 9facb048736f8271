"""What the benchmarks share: percentiles and tables, a real `den serve` that always cleans up
after itself, the runtimes seen from outside the product (to build the baselines and to check
that nothing labelled is left), and a counting proxy in front of a runtime's API.

Each benchmark is a script (`.venv/bin/python bench/<name>.py --help`); run from the checkout,
so this package and the product import from the working tree.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.server import Server  # noqa: E402

POLL = 0.01
TRIAL_LABEL = "innovation-den.io/trial-id"
INSTANCE_LABEL = "innovation-den.io/instance"
#: Caps high enough that a benchmark's own trials never hit them.
NO_CAPS = {
    "DEN_MAX_ACTIVE_TRIALS": "100000",
    "DEN_MAX_ACTIVE_TRIALS_PER_USER": "100000",
    "DEN_MAX_ACTIVE_TRIALS_PER_DEPARTMENT": "100000",
    "DEN_MAX_TOTAL_CPU": "100000",
    "DEN_MAX_TOTAL_MEMORY_MIB": "100000000",
}


# --- figures -----------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def row(name: str, values: list[float], unit: str = "s", width: int = 44) -> str:
    """One line of a table: p50, p95 and the worst of `values`."""
    return (
        f"  {name:<{width}} p50 {percentile(values, 0.5):8.3f} {unit}   "
        f"p95 {percentile(values, 0.95):8.3f} {unit}   max {max(values):8.3f} {unit}"
    )


def ratio_row(
    name: str, product: list[float], baseline: list[float], target: str = "", width: int = 44
) -> str:
    p50 = percentile(product, 0.5) / percentile(baseline, 0.5)
    p95 = percentile(product, 0.95) / percentile(baseline, 0.95)
    return f"  {name:<{width}} p50 {p50:8.2f}     p95 {p95:8.2f}     {target}".rstrip()


#: One client for every poll: `httpx.get` builds a client (and its TLS context) per call, tens
#: of milliseconds here, which would be counted in every figure a poll ends.
_POLLING = httpx.Client(timeout=1, limits=httpx.Limits(max_connections=200, max_keepalive_connections=200))


def wait_200(url: str, deadline: float, fetch: Callable[[str], httpx.Response] | None = None) -> None:
    """Poll until `url` answers 200; `fetch` gets it another way (a sandbox's own origin:
    `Server.sandbox_get`)."""
    get = fetch or _POLLING.get
    while time.monotonic() < deadline:
        try:
            if get(url).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(POLL)
    raise TimeoutError(url)


# --- a real server -----------------------------------------------------------------------


@contextlib.contextmanager
def running_server(
    env: dict[str, str], serve_args: tuple[str, ...] = (), start_timeout: float = 30
) -> Iterator[Server]:
    """A real `den serve` (given `serve_args` beyond its port) in a temporary data directory,
    answering within `start_timeout` seconds. Whatever happens (a failure, Ctrl-C), the server
    is stopped and every runtime object labelled with its instance is removed."""
    # Ctrl-C, and a plain `kill` too, end the run through the clean-up below (a shell that
    # starts a job in the background makes it ignore SIGINT: restore the default).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="den-bench-") as data_dir:
        server = Server(data_dir=Path(data_dir), env=env, serve_args=serve_args)
        try:
            server.start(timeout=start_timeout)
            yield server
        finally:
            server.stop()
            if env.get("DEN_DRIVER", "docker") == "docker":
                remove_docker_objects(server.instance)
            else:
                remove_namespaces(kubernetes_core(), server.instance)


def kubernetes_env() -> dict[str, str]:
    """Settings of a server that runs its sandboxes on the test cluster."""
    from tests.e2e.cluster import host_cidr, kubeconfig

    return {
        "DEN_DRIVER": "kubernetes",
        "DEN_KUBECONFIG": kubeconfig(),
        "DEN_KUBERNETES_HOST_CIDR": host_cidr(),
    }


def trial_body(template: str, duration: int, title: str = "benchmark") -> dict[str, Any]:
    return {
        "template": template,
        "title": title,
        "hypothesis": "It answers in time",
        "duration_seconds": duration,
    }


def metric(server: Server, name: str) -> float:
    """One sample of the server's Prometheus metrics (0 when absent)."""
    text = server.call("GET", "/metrics").text
    match = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else 0.0


def process_pss_mib(pid: int) -> float:
    """Proportional set size: pages shared by several processes (worker processes forked from
    one parent) counted once in all, split between them."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^Pss:\s+(\d+) kB", rollup, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else 0.0


def process_tree(pid: int) -> list[int]:
    """`pid` and every live process below it (a server's worker processes), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(children.get(current, []))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and every live process below it (processes that end meanwhile are
    lost: sample a tree whose processes live through the window)."""
    total = 0.0
    for member in process_tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += process_cpu_seconds(member)
    return total


# --- the runtimes, seen from outside the product -----------------------------------------


def docker_client() -> Any:
    return docker.from_env(timeout=120)


def docker_objects(client: Any, label: str) -> list[str]:
    """Containers, networks and volumes carrying `label` (key=value)."""
    filters = {"label": label}
    return (
        [f"container/{c.name}" for c in client.containers.list(all=True, sparse=True, filters=filters)]
        + [f"network/{n.name}" for n in client.networks.list(filters=filters)]
        + [f"volume/{v.name}" for v in client.volumes.list(filters=filters)]
    )


def remove_docker_objects(instance: str, attempts: int = 6) -> None:
    """Remove everything an orchestrator instance made (in parallel: there may be thousands).
    The engine may be restarting (other test suites restart it): wait for it, then finish."""
    label = f"{INSTANCE_LABEL}={instance}"
    for attempt in range(attempts):
        try:
            client = docker_client()
            _remove_labelled(client, {"label": label})
            if not docker_objects(client, label):
                return
        except (docker.errors.DockerException, OSError):
            pass
        time.sleep(10 * (attempt + 1))
    print(f"could not remove everything labelled {label}", file=sys.stderr)


def _remove_labelled(client: Any, label: dict[str, str]) -> None:
    api = client.api
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda c: _quietly(api.remove_container, c.id, force=True, v=True),
                client.containers.list(all=True, sparse=True, filters=label),
            )
        )
        list(pool.map(lambda n: _quietly(api.remove_network, n.id), client.networks.list(filters=label)))
        list(
            pool.map(
                lambda v: _quietly(api.remove_volume, v.name, force=True), client.volumes.list(filters=label)
            )
        )


def _quietly(remove: Any, *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
        remove(*args, **kwargs)


def kubernetes_core() -> Any:
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    from tests.e2e.cluster import kubeconfig

    new_client: Any = k8s_config.new_client_from_config  # untyped in the client
    return k8s.CoreV1Api(new_client(config_file=kubeconfig()))


def remove_namespaces(core: Any, instance: str) -> None:
    from kubernetes.client.exceptions import ApiException

    for namespace in core.list_namespace(label_selector=f"{INSTANCE_LABEL}={instance}").items:
        with contextlib.suppress(ApiException):
            core.delete_namespace(namespace.metadata.name, grace_period_seconds=0)


def fresh_postgres() -> str:
    """A new, empty database on the PostgreSQL server that `scripts/ensure-postgres` starts."""
    from tests.conftest import _fresh_postgres

    url = (
        subprocess.run(
            [str(ROOT / "scripts" / "ensure-postgres")], check=True, capture_output=True, text=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    return _fresh_postgres(url)
