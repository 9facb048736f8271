"""The driver contract, run against real runtimes with the bundled templates' real images.

Every test takes the `runtime` fixture: a driver plus the few things the suite needs that the
Driver protocol does not offer (run a command inside a component, break something on purpose,
check the runtime's own hardening record). Every test runs on Docker and on Kubernetes: the
cluster tests/e2e/cluster.py names, which in a full scripts/test run is the multi-node kind
cluster (the single-node test cluster when its variables are unset).

The suite never skips: a runtime that is not there fails it.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.drivers.base import COMPONENT_LABEL, Driver, Observation, Status, TrialSpec
from orchestrator.errors import DenError, PermanentError, RuntimeUnavailable
from orchestrator.manifest import Component, Egress, TemplateManifest
from tests.e2e.outside import EgressHosts, egress_hosts, host_addresses, outside_host

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "sandbox_templates"
SINGLE = "open-data-dashboard"  # one component, `web`, exposed, with a readiness probe
MULTI = "case-management-prototype"  # `api` (not exposed) and `web` (exposed), web calls api
READY_WITHIN = 60.0
# Per run: the final sweep removes this run's leftovers only, never a concurrent run's trials.
TEST_PREFIX = f"ct{uuid.uuid4().hex[:4]}"


@dataclass
class Runtime:
    name: str
    driver: Driver
    exec: Callable[[str, str, list[str]], tuple[int, str]]  # trial, component, argv
    remove_component: Callable[[str, str], None]
    crash_during_start: Callable[[TrialSpec], None]  # leaves what a crash mid-start leaves
    check_hardening: Callable[[TrialSpec], None]  # asserts on the runtime's own record
    unreachable: Callable[[], Driver]  # the same driver aimed at a runtime that is not there
    count_calls: Callable[[Callable[[], object]], int]  # runtime API requests a call makes
    templates: dict[str, TemplateManifest] = field(default_factory=dict)
    resources: Callable[[TrialSpec], int] = lambda spec: len(spec.components) + 1
    first_progress: str = "Network "  # what the first progress step starts with
    image_checked_at_start: bool = True  # False: a missing image shows up as FAILED in poll
    tmp_noexec: bool = True  # writable paths refuse to execute files
    loopback_endpoints_with_egress: bool = True
    # Loses what enforces a trial's egress outside the runtime's own record (Docker: its
    # chain in the host firewall, as a reboot of the host would), for `wake` to restore.
    lose_host_firewall: Callable[[str], None] = lambda trial_id: None


# --- the Docker runtime -------------------------------------------------------------------


def _docker_runtime() -> Iterator[Runtime]:
    import docker

    from orchestrator import images
    from orchestrator.drivers.docker import specs
    from orchestrator.drivers.docker.driver import DockerDriver

    try:
        client = docker.from_env(version="auto")
        client.ping()
    except Exception as exc:  # the suite never skips: no engine is a failure
        pytest.fail(f"The Docker engine is required for the driver contract suite: {exc}")
    log = _BuildLog()
    images.ensure_base_image(client, log=log)
    images.build_template_images(client, TEMPLATES, [SINGLE, MULTI], log=log)
    templates = {name: manifest for name, (_, manifest) in images.load_bundled_templates(TEMPLATES).items()}

    def container(trial_id: str, component: str) -> Any:
        return client.containers.get(specs.container_name(trial_id, component))

    def run(trial_id: str, component: str, argv: list[str]) -> tuple[int, str]:
        code, output = container(trial_id, component).exec_run(argv)
        return int(code), output.decode("utf-8", "replace")

    def crash_during_start(spec: TrialSpec) -> None:
        """The network made and the first container created, never started: then a crash."""
        network = client.networks.create(**specs.network_kwargs(spec))
        first = spec.components[0]
        client.containers.create(
            **specs.container_kwargs(spec, first, network=network.id, publish_host="127.0.0.1")
        )

    def check_hardening(spec: TrialSpec) -> None:
        for component in spec.components:
            _assert_docker_hardening(container(spec.trial_id, component.name).attrs, component)

    requests_made = [0]

    def count(response: Any, *args: Any, **kwargs: Any) -> None:
        requests_made[0] += 1

    client.api.hooks["response"].append(count)  # the API client is a requests.Session

    def count_calls(call: Callable[[], object]) -> int:
        before = requests_made[0]
        call()
        return requests_made[0] - before

    driver = DockerDriver(client=client)
    runtime = Runtime(
        name="docker",
        driver=driver,
        exec=run,
        remove_component=lambda t, c: container(t, c).remove(force=True),
        crash_during_start=crash_during_start,
        check_hardening=check_hardening,
        unreachable=lambda: DockerDriver(base_url="unix:///nonexistent/docker.sock"),
        count_calls=count_calls,
        templates=templates,
        # containers, the network, and the trial's chain in the host firewall
        resources=lambda spec: len(spec.components) + 2,
        lose_host_firewall=driver.firewall.remove,
    )
    yield runtime
    _sweep(runtime.driver)


class _BuildLog:
    """Image build progress, as a callable or a logger-like `.info`, printed for -s."""

    def __call__(self, message: str, **context: Any) -> None:
        print(message, context or "")

    info = __call__


def _assert_docker_hardening(attrs: dict[str, Any], component: Component) -> None:
    from orchestrator.manifest import parse_cpu, parse_memory

    host = attrs["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert attrs["Config"]["User"] == "10001:10001"
    assert host["Privileged"] is False
    assert not host.get("Binds") and attrs["Mounts"] == [], "no binds, volumes or socket"
    assert not host.get("Devices") and not host.get("VolumesFrom")
    assert set(host["Tmpfs"]) == set(component.writable_paths)
    assert all("noexec" in options for options in host["Tmpfs"].values())
    assert host["PidsLimit"] == component.resources.pids
    assert host["Memory"] == parse_memory(component.resources.memory)
    assert host["MemorySwap"] == host["Memory"]
    assert host["NanoCpus"] == parse_cpu(component.resources.cpu) * 1_000_000
    assert host["RestartPolicy"]["Name"] in ("", "no")
    assert host["NetworkMode"] not in ("host", "bridge", "default")
    for bindings in (host.get("PortBindings") or {}).values():
        assert all(b["HostIp"] == "127.0.0.1" for b in bindings)
    for bindings in (attrs["NetworkSettings"].get("Ports") or {}).values():
        assert all(b["HostIp"] == "127.0.0.1" for b in bindings or [])


# --- the Kubernetes runtime ---------------------------------------------------------------


def _kubernetes_runtime() -> Iterator[Runtime]:
    """The Kubernetes driver on the cluster the tests are given (tests/e2e/cluster.py): kind's
    three nodes in a full run, or the single-node test cluster."""
    from kubernetes import client as k8s
    from kubernetes.stream import stream

    from orchestrator.drivers.kubernetes import manifests
    from orchestrator.drivers.kubernetes.driver import KubernetesDriver
    from orchestrator.settings import Settings
    from tests.e2e.cluster import den_settings, setting_fields

    settings = Settings(driver="kubernetes", **setting_fields(den_settings()))  # type: ignore[arg-type]
    driver = KubernetesDriver.from_settings(settings)
    core = k8s.CoreV1Api(driver.api)
    apps = k8s.AppsV1Api(driver.api)
    templates = {m.metadata.name: m for _, m in _bundled()}

    def pod(trial_id: str, component: str) -> Any:
        namespace = manifests.namespace_name(trial_id)
        pods = core.list_namespaced_pod(namespace, label_selector=f"{COMPONENT_LABEL}={component}")
        running = [
            p for p in pods.items if p.status.phase == "Running" and p.metadata.deletion_timestamp is None
        ]
        assert running, f"no running pod for {component}"
        return running[0]

    def run(trial_id: str, component: str, argv: list[str]) -> tuple[int, str]:
        found = pod(trial_id, component)
        answer = stream(
            core.connect_get_namespaced_pod_exec,
            found.metadata.name,
            found.metadata.namespace,
            container=component,
            command=argv,
            stderr=True,
            stdout=True,
            stdin=False,
            tty=False,
            _preload_content=False,
        )
        answer.run_forever(timeout=30)
        output = answer.read_stdout() + answer.read_stderr()
        code = answer.returncode
        answer.close()
        return int(code if code is not None else 1), output

    def remove(trial_id: str, component: str) -> None:
        apps.delete_namespaced_deployment(component, manifests.namespace_name(trial_id))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if component not in {
                d["name"] for d in driver._in("deployments", manifests.namespace_name(trial_id))
            }:
                return
            time.sleep(0.1)

    def crash_during_start(spec: TrialSpec) -> None:
        """The namespace and its policies made, no workload yet: then a crash."""
        for obj in manifests.trial_objects(spec, ingress_from=driver.ingress_from):
            if obj["kind"] == "Deployment":
                break
            driver._create(obj)

    def check_hardening(spec: TrialSpec) -> None:
        namespace = core.read_namespace(manifests.namespace_name(spec.trial_id))
        assert namespace.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
        for component in spec.components:
            _assert_pod_hardening(pod(spec.trial_id, component.name), component)

    requests_made = [0]
    original = driver.api.rest_client.request

    def counting(*args: Any, **kwargs: Any) -> Any:
        requests_made[0] += 1
        return original(*args, **kwargs)

    driver.api.rest_client.request = counting

    def count_calls(call: Callable[[], object]) -> int:
        before = requests_made[0]
        call()
        return requests_made[0] - before

    def unreachable() -> Driver:
        configuration = k8s.Configuration()
        configuration.host = "https://127.0.0.1:1"
        return KubernetesDriver(k8s.ApiClient(configuration), ingress_from=[])

    runtime = Runtime(
        name="kubernetes",
        driver=driver,
        exec=run,
        remove_component=remove,
        crash_during_start=crash_during_start,
        check_hardening=check_hardening,
        unreachable=unreachable,
        count_calls=count_calls,
        templates=templates,
        resources=lambda spec: 1,
        first_progress="Namespace ",
        image_checked_at_start=False,
        tmp_noexec=False,
        loopback_endpoints_with_egress=False,
    )
    yield runtime
    _sweep(runtime.driver)
    driver.close()


def _bundled() -> list[tuple[Path, TemplateManifest]]:
    from orchestrator.catalogue import iter_bundled

    return list(iter_bundled(TEMPLATES))


def _assert_pod_hardening(pod: Any, component: Component) -> None:
    spec = pod.spec
    assert not spec.host_network and not spec.host_pid and not spec.host_ipc
    assert spec.automount_service_account_token is False
    assert all(v.host_path is None for v in spec.volumes or [])
    (container,) = spec.containers
    context = container.security_context
    assert context.read_only_root_filesystem and context.allow_privilege_escalation is False
    assert context.run_as_non_root and context.run_as_user == 10001
    assert context.capabilities.drop == ["ALL"] and not context.capabilities.add
    assert not context.privileged
    assert (context.seccomp_profile or spec.security_context.seccomp_profile).type == "RuntimeDefault"
    assert container.resources.limits == container.resources.requests


RUNTIMES = {"docker": _docker_runtime, "kubernetes": _kubernetes_runtime}


# The Kubernetes runs are `kubernetes` tests, which scripts/test runs on kind, beside the others.
@pytest.fixture(scope="module", params=["docker", pytest.param("kubernetes", marks=pytest.mark.kubernetes)])
def runtime(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    yield from RUNTIMES[request.param]()


def _sweep(driver: Driver) -> None:
    for trial_id in driver.list_trial_ids():
        if trial_id.startswith(TEST_PREFIX + "-"):
            driver.stop(trial_id)


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture
def trial(runtime: Runtime) -> Iterator[Callable[..., TrialSpec]]:
    """Make a TrialSpec from a bundled template; every trial made is torn down afterwards."""
    made: list[str] = []

    def make(
        template: str = SINGLE, *, egress: tuple[Egress, ...] = (), command: list[str] | None = None
    ) -> TrialSpec:
        manifest = runtime.templates[template]
        components = tuple(manifest.spec.components)
        if command is not None:
            components = (components[0].model_copy(update={"command": command}), *components[1:])
        spec = TrialSpec(
            trial_id=f"{TEST_PREFIX}-{uuid.uuid4().hex[:10]}",
            template=manifest.ref,
            components=components,
            egress=egress,
        )
        made.append(spec.trial_id)
        return spec

    yield make
    for trial_id in made:
        runtime.driver.stop(trial_id)
    for trial_id in made:
        gone(runtime, trial_id)


def gone(runtime: Runtime, trial_id: str, within: float = 90.0) -> None:
    """Teardown may take a while (a namespace drains); `remaining` must reach empty."""
    deadline = time.monotonic() + within
    while runtime.driver.remaining(trial_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert runtime.driver.remaining(trial_id) == []


def wait_for(runtime: Runtime, spec: TrialSpec, status: Status, within: float = READY_WITHIN) -> Observation:
    """Start (again: start is idempotent) and poll until `status`."""
    runtime.driver.start(spec)
    return poll_until(runtime, spec, status, within)


def poll_until(
    runtime: Runtime, spec: TrialSpec, status: Status, within: float = READY_WITHIN
) -> Observation:
    """Poll, starting nothing, until `status` (a woken trial must get there by itself)."""
    deadline = time.monotonic() + within
    while True:
        observation = runtime.driver.poll(spec)
        if observation.status is status or time.monotonic() > deadline:
            assert observation.status is status, observation
            return observation
        time.sleep(0.2)


def http_get(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as response:
        return int(response.status)


def answers(url: str) -> bool:
    try:
        return http_get(url) == 200
    except OSError:  # refused, unreachable, timed out
        return False


def eventually(check: Callable[[], bool], within: float = 30.0) -> bool:
    """Whether `check` holds within `within` seconds: the Kubernetes driver's caches and
    pods follow a change a moment after the call that made it returns."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def running(runtime: Runtime, spec: TrialSpec) -> set[str]:
    return runtime.driver.running_components().get(spec.trial_id, set())


@pytest.fixture(scope="module")
def outside() -> Iterator[tuple[str, int]]:
    """An HTTP listener outside every sandbox network, on this machine (tests/e2e/outside.py)."""
    with outside_host() as address:
        yield address


@pytest.fixture(scope="module")
def hosts() -> Iterator[EgressHosts]:
    """Two outside test hosts (A on two ports, B) and a listener on this machine itself."""
    with egress_hosts() as made:
        yield made


def host_reaches(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=3).close()
        return True
    except OSError:
        return False


REACH_SCRIPT = """
import json, socket, sys, threading
targets, names = json.loads(sys.argv[1]), json.loads(sys.argv[2])
result = {}
def tcp(host, port):
    s = socket.socket()
    s.settimeout(3)
    result[f"{host}:{port}"] = s.connect_ex((host, port)) == 0
def dns(name):
    try:
        socket.getaddrinfo(name, 443)
        result[name] = True
    except OSError:
        result[name] = False
threads = [threading.Thread(target=tcp, args=t, daemon=True) for t in targets]
threads += [threading.Thread(target=dns, args=(n,), daemon=True) for n in names]
for t in threads:
    t.start()
for t in threads:
    t.join(4)
print(json.dumps(result))
"""


def reaches(
    runtime: Runtime,
    spec: TrialSpec,
    component: str,
    targets: list[tuple[str, int]],
    names: Sequence[str] = (),
) -> dict[str, bool]:
    """What `component` reaches: bounded TCP connection attempts and name lookups, at once.

    A lookup that has not answered within 4 s counts as not resolved.
    """
    code, output = runtime.exec(
        spec.trial_id,
        component,
        ["python3", "-c", REACH_SCRIPT, json.dumps(targets), json.dumps(list(names))],
    )
    assert code == 0, output
    answered = json.loads(output.strip().splitlines()[-1])
    keys = [f"{host}:{port}" for host, port in targets] + list(names)
    return {key: bool(answered.get(key)) for key in keys}


def connects(runtime: Runtime, spec: TrialSpec, component: str, host: str, port: int) -> bool:
    return reaches(runtime, spec, component, [(host, port)])[f"{host}:{port}"]


def connects_soon(runtime: Runtime, spec: TrialSpec, component: str, host: str, port: int) -> bool:
    """Whether `component` reaches `host:port` within 20 s. A pod that has just become Ready
    may wait a moment for the network policy enforcer to add its address to the rules of the
    trial's other pods (kube-router resyncs on pod events); what must not connect is asked once.
    """
    return eventually(lambda: connects(runtime, spec, component, host, port), within=20.0)


def endpoint_address(url: str) -> tuple[str, int]:
    host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    return host.strip("[]"), int(port)


# --- the contract -------------------------------------------------------------------------


def test_ping_answers_and_an_unreachable_runtime_is_retryable(runtime: Runtime) -> None:
    runtime.driver.ping()
    with pytest.raises(RuntimeUnavailable):
        runtime.unreachable().ping()


def test_start_is_idempotent(runtime: Runtime, trial: Callable[..., TrialSpec]) -> None:
    spec = trial()
    runtime.driver.start(spec)
    made = runtime.driver.remaining(spec.trial_id)
    runtime.driver.start(spec)
    assert runtime.driver.remaining(spec.trial_id) == made
    assert len(made) == runtime.resources(spec)


def test_poll_reaches_ready_and_every_endpoint_answers(
    runtime: Runtime, trial: Callable[..., TrialSpec]
) -> None:
    spec = trial()
    observation = wait_for(runtime, spec, Status.READY)
    assert set(observation.endpoints) == {"web"}
    assert all(http_get(url) == 200 for url in observation.endpoints.values())
    assert "web is ready" in observation.progress
    assert observation.progress[0].startswith(runtime.first_progress)
    again = runtime.driver.poll(spec)
    assert again.progress == observation.progress, "progress is stable across polls"


def test_stop_is_idempotent_and_leaves_nothing(runtime: Runtime, trial: Callable[..., TrialSpec]) -> None:
    spec = trial()
    runtime.driver.start(spec)
    assert spec.trial_id in runtime.driver.list_trial_ids()
    runtime.driver.stop(spec.trial_id)
    runtime.driver.stop(spec.trial_id)
    gone(runtime, spec.trial_id)
    assert spec.trial_id not in runtime.driver.list_trial_ids()
    assert runtime.driver.poll(spec).status is Status.MISSING


def test_stop_of_a_trial_that_never_existed_is_success(runtime: Runtime) -> None:
    runtime.driver.stop(f"{TEST_PREFIX}-never-{uuid.uuid4().hex[:6]}")


def test_start_after_a_crash_midway_converges(runtime: Runtime, trial: Callable[..., TrialSpec]) -> None:
    spec = trial(MULTI)
    runtime.crash_during_start(spec)
    assert runtime.driver.poll(spec).status is Status.MISSING  # second container never made
    wait_for(runtime, spec, Status.READY)
    assert len(runtime.driver.remaining(spec.trial_id)) == runtime.resources(spec)


def test_a_removed_component_is_missing(runtime: Runtime, trial: Callable[..., TrialSpec]) -> None:
    spec = trial()
    wait_for(runtime, spec, Status.READY)
    runtime.remove_component(spec.trial_id, "web")
    observation = runtime.driver.poll(spec)
    assert observation.status is Status.MISSING
    assert "web" in observation.message


def test_a_component_that_exits_fails_with_its_code_and_last_logs(
    runtime: Runtime, trial: Callable[..., TrialSpec]
) -> None:
    spec = trial(command=["python3", "-c", "import sys; print('cannot load cases'); sys.exit(3)"])
    observation = wait_for(runtime, spec, Status.FAILED)
    assert "3" in observation.message and "cannot load cases" in observation.message
    assert "cannot load cases" in list(runtime.driver.logs(spec.trial_id, "web"))


def test_a_missing_image_is_a_permanent_error_naming_it(
    runtime: Runtime, trial: Callable[..., TrialSpec]
) -> None:
    spec = trial()
    missing = spec.components[0].model_copy(update={"image": "innovation-den/no-such:0.0.1"})
    spec = replace(spec, components=(missing,))
    if not runtime.image_checked_at_start:
        assert "innovation-den/no-such:0.0.1" in wait_for(runtime, spec, Status.FAILED).message
        return
    with pytest.raises(PermanentError) as raised:
        runtime.driver.start(spec)
    assert "innovation-den/no-such:0.0.1" in raised.value.detail
    assert "den images build" in raised.value.detail


def test_list_trial_ids_sees_every_trial_at_a_cost_independent_of_their_number(
    runtime: Runtime, trial: Callable[..., TrialSpec]
) -> None:
    first = trial()
    runtime.driver.start(first)
    cost_with_one = runtime.count_calls(runtime.driver.list_trial_ids)
    specs = [first, trial(MULTI), trial()]
    for spec in specs:
        runtime.driver.start(spec)
    assert {s.trial_id for s in specs} <= runtime.driver.list_trial_ids()
    assert runtime.count_calls(runtime.driver.list_trial_ids) == cost_with_one
    assert cost_with_one <= 3, "at most one list call per kind of resource (0: a watch cache)"


def test_polling_a_ready_trial_is_cheap(runtime: Runtime, trial: Callable[..., TrialSpec]) -> None:
    spec = trial(MULTI)
    wait_for(runtime, spec, Status.READY)
    assert runtime.count_calls(lambda: runtime.driver.poll(spec)) <= 2


def test_components_are_hardened(runtime: Runtime, trial: Callable[..., TrialSpec]) -> None:
    spec = trial(MULTI)
    wait_for(runtime, spec, Status.READY)
    runtime.check_hardening(spec)
    script = (
        "import os, subprocess, sys\n"
        "assert os.getuid() == 10001 and os.getgid() == 10001, 'uid'\n"
        "status = open('/proc/self/status').read()\n"
        "assert 'NoNewPrivs:\\t1' in status, 'no-new-privileges'\n"
        "assert 'CapBnd:\\t0000000000000000' in status, 'capabilities'\n"
        "mounts = [line.split() for line in open('/proc/mounts')]\n"
        "root = [m for m in mounts if m[1] == '/'][-1]\n"
        "assert 'ro' in root[3].split(','), 'root filesystem is writable'\n"
        "open('/tmp/ok.sh', 'w').write('#!/bin/sh\\nexit 0\\n')\n"
        f"noexec = {runtime.tmp_noexec}\n"
        "os.chmod('/tmp/ok.sh', 0o755)\n"
        "try:\n"
        "    subprocess.run(['/tmp/ok.sh'])\n"
        "    assert not noexec, '/tmp allows exec'\n"
        "except PermissionError:\n"
        "    pass\n"
        "assert not os.path.exists('/var/run/docker.sock'), 'docker socket'\n"
    )
    for component in spec.components:
        code, output = runtime.exec(spec.trial_id, component.name, ["python3", "-c", script])
        assert code == 0, f"{component.name}: {output}"


def test_components_reach_each_other_by_name(runtime: Runtime, trial: Callable[..., TrialSpec]) -> None:
    spec = trial(MULTI)
    observation = wait_for(runtime, spec, Status.READY)
    assert set(observation.endpoints) == {"web"}, "api exposes no port"
    assert connects_soon(runtime, spec, "web", "api", 8081)
    assert connects_soon(runtime, spec, "api", "web", 8080)
    assert http_get(observation.endpoints["web"]) == 200  # web's /  reads cases from api


def test_two_trials_cannot_reach_each_other(runtime: Runtime, trial: Callable[..., TrialSpec]) -> None:
    one, other = trial(), trial()
    endpoints = [wait_for(runtime, s, Status.READY).endpoints["web"] for s in (one, other)]
    assert all(http_get(url) == 200 for url in endpoints), "the host reaches both"
    assert connects_soon(runtime, one, "web", "web", 8080), "a trial reaches its own component"
    for spec, peer in ((one, endpoints[1]), (other, endpoints[0])):
        assert not connects(runtime, spec, "web", *endpoint_address(peer))


def test_without_declared_egress_nothing_outside_is_reachable(
    runtime: Runtime, trial: Callable[..., TrialSpec], outside: tuple[str, int]
) -> None:
    assert host_reaches(*outside), "the host itself reaches the outside test host"
    closed = trial()
    wait_for(runtime, closed, Status.READY)
    reached = reaches(runtime, closed, "web", [outside], ["example.org"])
    assert not any(reached.values()), reached
    if runtime.name == "kubernetes":
        assert not connects(runtime, closed, "web", "kubernetes.default.svc", 443), (
            "the API server is not reachable from a sandbox"
        )
    # The probe itself works: a trial that declares egress reaches the same listener.
    open_ = trial(egress=(Egress(host=f"{outside[0]}/32", ports=[outside[1]]),))
    wait_for(runtime, open_, Status.READY)
    assert connects_soon(runtime, open_, "web", *outside)


def test_declared_egress_still_publishes_on_loopback_only(
    runtime: Runtime, trial: Callable[..., TrialSpec], outside: tuple[str, int]
) -> None:
    spec = trial(egress=(Egress(host=f"{outside[0]}/32", ports=[outside[1]]),))
    observation = wait_for(runtime, spec, Status.READY)
    host, _ = endpoint_address(observation.endpoints["web"])
    assert host == "127.0.0.1" or not runtime.loopback_endpoints_with_egress
    assert http_get(observation.endpoints["web"]) == 200
    runtime.check_hardening(spec)


def test_logs_of_an_unknown_component_is_an_error(runtime: Runtime, trial: Callable[..., TrialSpec]) -> None:
    spec = trial()
    runtime.driver.start(spec)
    with pytest.raises(DenError):
        list(runtime.driver.logs(spec.trial_id, "nope"))


# --- sleep and wake -----------------------------------------------------------------------


def test_sleep_stops_the_sandbox_and_wake_brings_it_back_ready(
    runtime: Runtime, trial: Callable[..., TrialSpec]
) -> None:
    spec = trial()
    before = wait_for(runtime, spec, Status.READY).endpoints["web"]
    made = runtime.driver.remaining(spec.trial_id)
    runtime.driver.sleep(spec)
    assert eventually(lambda: not running(runtime, spec)), running(runtime, spec)
    assert spec.trial_id in runtime.driver.list_trial_ids(), "a sleeping trial is still there"
    assert runtime.driver.remaining(spec.trial_id) == made, "sleep removes nothing"
    assert eventually(lambda: not answers(before)), "a sleeping sandbox does not answer"
    runtime.driver.poll(spec)  # observing a sleeping trial is no error, whatever it reports
    started = time.monotonic()
    runtime.driver.wake(spec)
    woken = poll_until(runtime, spec, Status.READY)
    print(f"{runtime.name}: woken to READY in {time.monotonic() - started:.1f}s")
    assert set(woken.endpoints) == {"web"}
    assert http_get(woken.endpoints["web"]) == 200, "the endpoint (perhaps a new one) answers"
    assert eventually(lambda: running(runtime, spec) == {"web"}), running(runtime, spec)


def test_sleep_and_wake_are_idempotent_and_wake_every_component(
    runtime: Runtime, trial: Callable[..., TrialSpec]
) -> None:
    spec = trial(MULTI)
    wait_for(runtime, spec, Status.READY)
    started = time.monotonic()
    runtime.driver.sleep(spec)
    print(f"{runtime.name}: two components put to sleep in {time.monotonic() - started:.1f}s")
    runtime.driver.sleep(spec)
    assert eventually(lambda: not running(runtime, spec)), running(runtime, spec)
    runtime.driver.wake(spec)
    runtime.driver.wake(spec)
    observation = poll_until(runtime, spec, Status.READY)
    assert eventually(lambda: running(runtime, spec) == {"api", "web"}), running(runtime, spec)
    assert connects_soon(runtime, spec, "web", "api", 8081), "the components find each other again"
    assert http_get(observation.endpoints["web"]) == 200  # web's / reads cases from api
    runtime.driver.wake(spec)  # an awake trial is left alone
    assert runtime.driver.poll(spec).status is Status.READY


def test_sleep_and_wake_of_a_trial_that_does_not_exist_are_success(
    runtime: Runtime, trial: Callable[..., TrialSpec]
) -> None:
    spec = trial()
    runtime.driver.sleep(spec)
    runtime.driver.wake(spec)
    assert spec.trial_id not in runtime.driver.list_trial_ids()
    assert runtime.driver.poll(spec).status is Status.MISSING


def test_a_woken_sandbox_reaches_exactly_its_declared_egress(
    runtime: Runtime, trial: Callable[..., TrialSpec], hosts: EgressHosts
) -> None:
    """A restarted container may get a new address: the egress rules must follow it, and be
    back even if the host lost them while the trial slept."""
    spec = trial(egress=(Egress(host=f"{hosts.a}/32", ports=[hosts.port]),))
    wait_for(runtime, spec, Status.READY)
    runtime.driver.sleep(spec)
    runtime.lose_host_firewall(spec.trial_id)
    runtime.driver.wake(spec)
    poll_until(runtime, spec, Status.READY)
    declared = (hosts.a, hosts.port)
    undeclared = [(hosts.a, hosts.other_port), (hosts.b, hosts.port)]
    undeclared += [(address, hosts.host_port) for address in host_addresses()]
    reached = reaches(runtime, spec, "web", [declared, *undeclared])
    assert reached.pop(f"{hosts.a}:{hosts.port}"), "the declared destination is reachable"
    assert not any(reached.values()), reached
    assert len(runtime.driver.remaining(spec.trial_id)) == runtime.resources(spec)


def test_stop_removes_a_sleeping_trial(runtime: Runtime, trial: Callable[..., TrialSpec]) -> None:
    spec = trial()
    wait_for(runtime, spec, Status.READY)
    runtime.driver.sleep(spec)
    runtime.driver.stop(spec.trial_id)
    gone(runtime, spec.trial_id)
    assert spec.trial_id not in runtime.driver.list_trial_ids()
