"""Egress that means what it says, on the real Docker engine and the real kernel.

Two test hosts in network namespaces of our own (A, listening on two ports, and B) stand in for
the internet, and a listener on this machine itself (on 0.0.0.0) for every service of the
host (tests/e2e/outside.py). A sandbox tries them all from inside; the host firewall
(orchestrator/drivers/docker/firewall.py) must let through exactly what the trial declared,
and never anything on the host, while the den goes on reaching and serving the sandbox.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from orchestrator import images
from orchestrator.drivers.base import Status, TrialSpec
from orchestrator.drivers.docker import firewall, specs
from orchestrator.drivers.docker.driver import DockerDriver
from orchestrator.errors import PermanentError
from orchestrator.manifest import Egress
from tests.e2e.engine import leftovers, remove_instance
from tests.e2e.outside import EgressHosts, egress_hosts, host_addresses
from tests.e2e.server import ROOT, Server

pytestmark = pytest.mark.docker

TEMPLATE = "open-data-dashboard"
UNPRIVILEGED_NFT = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "nft")
PROBE = """
import json, socket, sys, threading
result = {}
def tcp(host, port):
    s = socket.socket()
    s.settimeout(3)
    result[f"{host}:{port}"] = s.connect_ex((host, port)) == 0
threads = [threading.Thread(target=tcp, args=t, daemon=True) for t in json.loads(sys.argv[1])]
for t in threads:
    t.start()
for t in threads:
    t.join(4)
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    engine = docker.from_env(version="auto")
    engine.ping()  # a missing engine fails loudly, never skips
    images.ensure_base_image(engine, log=lambda *_a, **_k: None)
    images.build_template_images(engine, ROOT / "sandbox_templates", [TEMPLATE], log=lambda *_a, **_k: None)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def hosts() -> Iterator[EgressHosts]:
    with egress_hosts() as made:
        yield made


@pytest.fixture
def instance(client: Any) -> Iterator[str]:
    name = f"eg{uuid.uuid4().hex[:8]}"
    yield name
    driver = DockerDriver(client=client, instance=name)
    for trial_id in driver.list_trial_ids():
        driver.stop(trial_id)
    remove_instance(client, name)


@pytest.fixture
def driver(client: Any, instance: str) -> DockerDriver:
    return DockerDriver(client=client, instance=instance)


@pytest.fixture
def trial(instance: str) -> Callable[..., TrialSpec]:
    from orchestrator.catalogue import iter_bundled

    manifest = next(m for _, m in iter_bundled(ROOT / "sandbox_templates") if m.metadata.name == TEMPLATE)

    def make(*egress: Egress) -> TrialSpec:
        return TrialSpec(
            trial_id=f"{instance}-{uuid.uuid4().hex[:8]}",
            template=manifest.ref,
            components=tuple(manifest.spec.components),
            egress=egress,
            instance=instance,
        )

    return make


def ready(driver: DockerDriver, spec: TrialSpec) -> dict[str, str]:
    driver.start(spec)
    deadline = time.monotonic() + 60
    while (observed := driver.poll(spec)).status is not Status.READY:
        assert time.monotonic() < deadline and observed.status is Status.PENDING, observed
        time.sleep(0.2)
    return dict(observed.endpoints)


def reached(client: Any, trial_id: str, targets: list[tuple[str, int]]) -> dict[str, bool]:
    """Which of `targets` the sandbox's `web` component opens a TCP connection to."""
    container = client.containers.get(specs.container_name(trial_id, "web"))
    code, output = container.exec_run(["python3", "-c", PROBE, json.dumps(targets)])
    assert code == 0, output
    answered = json.loads(output.decode().strip().splitlines()[-1])
    return {f"{h}:{p}": bool(answered.get(f"{h}:{p}")) for h, p in targets}


def gateway(client: Any, trial_id: str) -> str:
    network = client.networks.get(specs.network_name(trial_id))
    return str(network.attrs["IPAM"]["Config"][0]["Gateway"])


def the_host(client: Any, trial_id: str, hosts: EgressHosts) -> list[tuple[str, int]]:
    """The host listener at the trial's gateway and at every other address of this machine."""
    addresses = [gateway(client, trial_id), *host_addresses()]
    return [(address, hosts.host_port) for address in dict.fromkeys(addresses)]


def host_reaches(host: str, port: int) -> bool:
    import socket

    try:
        socket.create_connection((host, port), timeout=3).close()
        return True
    except OSError:
        return False


def test_the_probe_works_from_the_host(client: Any, hosts: EgressHosts) -> None:
    """Without this, every 'not reached' below could be a broken test host."""
    for target in [
        (hosts.a, hosts.port),
        (hosts.a, hosts.other_port),
        (hosts.b, hosts.port),
        *[(address, hosts.host_port) for address in host_addresses()],
    ]:
        assert host_reaches(*target), target


def test_declared_egress_reaches_the_declared_port_of_the_declared_host_only(
    client: Any, driver: DockerDriver, trial: Callable[..., TrialSpec], hosts: EgressHosts
) -> None:
    spec = trial(Egress(host=f"{hosts.a}/32", ports=[hosts.port]))
    endpoints = ready(driver, spec)
    declared = f"{hosts.a}:{hosts.port}"
    result = reached(
        client,
        spec.trial_id,
        [
            (hosts.a, hosts.port),
            (hosts.a, hosts.other_port),
            (hosts.b, hosts.port),
            *the_host(client, spec.trial_id, hosts),
        ],
    )
    assert result.pop(declared), "the declared destination is reachable"
    assert not any(result.values()), result
    assert driver.poll(spec).status is Status.READY and endpoints, "the den still reaches it"


def test_without_egress_neither_outside_nor_the_host_is_reached(
    client: Any, driver: DockerDriver, trial: Callable[..., TrialSpec], hosts: EgressHosts
) -> None:
    spec = trial()
    ready(driver, spec)
    result = reached(
        client,
        spec.trial_id,
        [(hosts.a, hosts.port), (hosts.b, hosts.port), *the_host(client, spec.trial_id, hosts)],
    )
    assert not any(result.values()), result


def test_a_declared_name_is_resolved_at_start_and_written_into_the_sandbox(
    client: Any, instance: str, trial: Callable[..., TrialSpec], hosts: EgressHosts
) -> None:
    """The name resolves inside the sandbox (its DNS cannot look outside) to the address the
    den resolved it to, which is all it opens; a restarted den keeps the same addresses."""
    asked: list[str] = []

    def resolve(name: str) -> list[str]:
        asked.append(name)
        return [f"{hosts.a}/32"]

    driver = DockerDriver(client=client, instance=instance, resolve=resolve)
    spec = trial(Egress(host="data.example.org", ports=[hosts.port]))
    ready(driver, spec)
    assert reached(
        client,
        spec.trial_id,
        [("data.example.org", hosts.port), ("data.example.org", hosts.other_port), (hosts.b, hosts.port)],
    ) == {
        f"data.example.org:{hosts.port}": True,
        f"data.example.org:{hosts.other_port}": False,
        f"{hosts.b}:{hosts.port}": False,
    }
    restarted = DockerDriver(
        client=client, instance=instance, resolve=lambda name: pytest.fail("resolved again")
    )
    restarted.start(spec)
    assert asked == ["data.example.org"]
    assert reached(client, spec.trial_id, [(hosts.a, hosts.port)]) == {f"{hosts.a}:{hosts.port}": True}


def test_a_name_resolving_to_a_forbidden_address_never_starts(
    client: Any, instance: str, trial: Callable[..., TrialSpec]
) -> None:
    driver = DockerDriver(client=client, instance=instance, resolve=lambda name: ["169.254.169.254/32"])
    spec = trial(Egress(host="metadata.example.org", ports=[80]))
    with pytest.raises(PermanentError) as raised:
        driver.start(spec)
    assert raised.value.reason == "EgressRefused" and "169.254.169.254" in raised.value.detail
    assert leftovers(client, spec.trial_id) == [] and driver.remaining(spec.trial_id) == []


def test_a_wildcard_name_is_refused_on_docker_and_nothing_is_made(
    client: Any, driver: DockerDriver, trial: Callable[..., TrialSpec]
) -> None:
    spec = trial(Egress(host="*.example.org", ports=[443]))
    with pytest.raises(PermanentError) as raised:
        driver.start(spec)
    assert raised.value.reason == "EgressRefused" and "wildcard" in raised.value.detail
    assert driver.remaining(spec.trial_id) == []


@pytest.mark.parametrize("nft", [UNPRIVILEGED_NFT, ("/nonexistent/nft",)], ids=["not-root", "no-nft"])
def test_a_den_that_cannot_install_the_rules_starts_no_sandbox(
    client: Any, instance: str, trial: Callable[..., TrialSpec], nft: tuple[str, ...]
) -> None:
    driver = DockerDriver(client=client, instance=instance, nft=nft)
    spec = trial()
    with pytest.raises(PermanentError) as raised:
        driver.start(spec)
    assert raised.value.reason == "HostFirewallUnavailable"
    assert ("CAP_NET_ADMIN" if nft == UNPRIVILEGED_NFT else "nftables") in raised.value.detail
    assert leftovers(client, spec.trial_id) == [], "nothing of the sandbox was made"
    driver.stop(spec.trial_id)  # teardown is not blocked by it either


def test_rules_outlast_the_den_and_the_sweep_removes_those_of_trials_that_are_gone(
    client: Any, driver: DockerDriver, instance: str, trial: Callable[..., TrialSpec], hosts: EgressHosts
) -> None:
    spec = trial()
    ready(driver, spec)
    restarted = DockerDriver(client=client, instance=instance)
    assert f"nftables/{firewall.bridge_name(spec.trial_id)}" in restarted.remaining(spec.trial_id)
    assert not any(reached(client, spec.trial_id, the_host(client, spec.trial_id, hosts)).values())
    for container in client.containers.list(all=True, filters={"name": spec.trial_id}):
        container.remove(force=True)
    client.networks.get(specs.network_name(spec.trial_id)).remove()
    assert leftovers(client, spec.trial_id) == [f"nftables/{firewall.bridge_name(spec.trial_id)}"]
    assert spec.trial_id in restarted.list_trial_ids(), "a chain alone is still found"
    assert spec.trial_id not in DockerDriver(client=client, instance="other").list_trial_ids()
    restarted.stop(spec.trial_id)
    assert restarted.remaining(spec.trial_id) == [] == leftovers(client, spec.trial_id)
    assert firewall.bridge_name(spec.trial_id) not in _ruleset()


def _ruleset() -> str:
    return subprocess.run(
        ["nft", "list", "table", *firewall.TABLE.split()], check=True, capture_output=True, text=True
    ).stdout


# --- through the den --------------------------------------------------------------------


@pytest.fixture
def den(tmp_path: Path, client: Any) -> Iterator[Server]:
    """A den listening on every address of the host (so a sandbox could find it if the host
    were open), with its real reconciler."""
    running = Server(
        data_dir=tmp_path, env={"DEN_DEV_SIGN_IN": "false"}, serve_args=("--host", "0.0.0.0")
    ).start()
    yield running
    running.stop()
    leftover = DockerDriver(client=client, instance=running.instance)
    for trial_id in leftover.list_trial_ids():
        leftover.stop(trial_id)
    remove_instance(client, running.instance)


def test_a_sandbox_never_reaches_the_den_which_keeps_serving_it(
    den: Server, client: Any, hosts: EgressHosts
) -> None:
    trial = den.launch(TEMPLATE)
    endpoints = den.wait_for(trial["id"], "Ready")["endpoints"]
    targets = [(address, den.port) for address, _ in the_host(client, trial["id"], hosts)]
    result = reached(client, trial["id"], targets + the_host(client, trial["id"], hosts))
    assert not any(result.values()), result
    assert den.call("GET", "/readyz").status_code == 200
    assert all(den.sandbox_get(url).status_code == 200 for url in endpoints.values())
    assert den.call("POST", f"/api/v1/trials/{trial['id']}/end").status_code == 202
    den.wait_for(trial["id"], "Stopped", timeout=60)
    assert firewall.bridge_name(trial["id"]) not in _ruleset()
