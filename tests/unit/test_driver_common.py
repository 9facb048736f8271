"""The rules both runtimes share (orchestrator/drivers/common.py), checked on what each
runtime's builders really make: a sandbox gets the same environment, the same writable space
and the same labels on Docker as on Kubernetes."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.drivers import common, probe
from orchestrator.drivers.base import TrialSpec
from orchestrator.drivers.docker import specs
from orchestrator.drivers.kubernetes import manifests
from orchestrator.errors import ValidationFailed
from orchestrator.manifest import Component, ReadinessProbe, is_reserved_env, parse_memory
from tests.unit.test_docker_specs import component

Env = dict[str, str]


def trial(c: Component, params: Env | None = None) -> TrialSpec:
    return TrialSpec(
        trial_id="t-123", template="demo@1.0.0", components=(c,), parameters_env=params or {}, instance="blue"
    )


def docker_env(spec: TrialSpec, c: Component) -> Env:
    kwargs = specs.container_kwargs(spec, c, network="net-id", publish_host="127.0.0.1")
    env: Env = kwargs["environment"]
    return env


def kubernetes_env(spec: TrialSpec, c: Component) -> Env:
    container = manifests.deployment(spec, c)["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"]}


RUNTIMES: dict[str, Callable[[TrialSpec, Component], Env]] = {
    "docker": docker_env,
    "kubernetes": kubernetes_env,
}

env_names = st.from_regex(r"\A[A-Z][A-Z0-9_]{0,8}\Z").filter(lambda name: not is_reserved_env(name))
values = st.text(st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=10)
paths = st.lists(st.from_regex(r"\A/[a-z][a-z0-9]{0,8}\Z"), max_size=5, unique=True)


@st.composite
def cases(draw: st.DrawFn) -> tuple[TrialSpec, Component]:
    env = draw(st.dictionaries(env_names | st.just("HOME"), values, max_size=4))
    c = component(
        env=env,
        writablePaths=draw(paths),
        resources={"cpu": "250m", "memory": f"{draw(st.integers(16, 4096))}Mi"},
    )
    return trial(c, draw(st.dictionaries(env_names, values, max_size=4))), c


@given(cases())
def test_both_runtimes_give_a_sandbox_the_same_environment(case: tuple[TrialSpec, Component]) -> None:
    spec, c = case
    assert docker_env(spec, c) == kubernetes_env(spec, c) == common.environment(spec, c)


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_parameters_override_component_env_and_den_variables_override_both(runtime: str) -> None:
    c = component(env={"PORT": "8080", "GREETING": "hello", "DEN_TRIAL_ID": "forged"})
    env = RUNTIMES[runtime](trial(c, params={"GREETING": "bonjour"}), c)
    assert (env["GREETING"], env["PORT"]) == ("bonjour", "8080")
    assert (env["DEN_TRIAL_ID"], env["DEN_COMPONENT"]) == ("t-123", "web")


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
@pytest.mark.parametrize(
    ("writable", "env", "home"),
    [
        (["/tmp"], {}, "/tmp"),  # uid 10001 has no home of its own: its first writable path
        (["/data", "/tmp"], {}, "/data"),
        (["/tmp"], {"HOME": "/srv/app"}, "/srv/app"),  # the supplier's choice stands
        ([], {}, None),  # nowhere is writable: the image's own HOME stands
    ],
)
def test_home_is_the_first_writable_path_unless_the_component_sets_one(
    runtime: str, writable: list[str], env: Env, home: str | None
) -> None:
    c = component(writablePaths=writable, env=env)
    assert RUNTIMES[runtime](trial(c), c).get("HOME") == home


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
@pytest.mark.parametrize(
    "name", ["DEN_TRIAL_ID", "den_anything", "PATH", "LD_PRELOAD", "PYTHONPATH", "HOME", "https_proxy"]
)
def test_a_parameter_cannot_set_a_reserved_variable(runtime: str, name: str) -> None:
    c = component()
    with pytest.raises(ValidationFailed) as raised:
        RUNTIMES[runtime](trial(c, params={name: "x"}), c)
    assert raised.value.problems[0].field == f"parameters.{name}"
    assert "reserved" in raised.value.problems[0].message


def test_a_reserved_parameter_is_refused_before_anything_is_made() -> None:
    c = component()
    with pytest.raises(ValidationFailed):
        specs.validate(trial(c, params={"LD_PRELOAD": "x"}))
    with pytest.raises(ValidationFailed):
        manifests.trial_objects(trial(c, params={"LD_PRELOAD": "x"}), ingress_from=[])


@given(st.integers(16, 4096), paths)
def test_writable_paths_are_the_same_size_on_both_runtimes(memory_mi: int, writable: list[str]) -> None:
    c = component(writablePaths=writable, resources={"memory": f"{memory_mi}Mi"})
    size = common.tmpfs_bytes(c)
    assert 0 < size <= min(64 * 2**20, parse_memory(c.resources.memory) // 4)
    tmpfs = specs.tmpfs_mounts(c)
    volumes = manifests.deployment(trial(c), c)["spec"]["template"]["spec"]["volumes"]
    assert [f"size={size}" in options.split(",") for options in tmpfs.values()] == [True] * len(writable)
    assert [v["emptyDir"] for v in volumes] == [{"medium": "Memory", "sizeLimit": str(size)}] * len(writable)


def test_every_resource_carries_the_same_labels_on_both_runtimes() -> None:
    c = component(name="api")
    spec = trial(c)
    shared = common.labels(spec, "api")
    assert shared == {
        "innovation-den.io/trial-id": "t-123",
        "innovation-den.io/managed-by": "innovation-den",
        "innovation-den.io/instance": "blue",
        "innovation-den.io/template": "demo@1.0.0",
        "innovation-den.io/component": "api",
    }
    container = specs.container_kwargs(spec, c, network="n", publish_host="127.0.0.1")
    assert container["labels"] == shared
    pod = manifests.deployment(spec, c)["spec"]["template"]["metadata"]["labels"]
    # Kubernetes label values cannot hold '@': the template is name-version there.
    assert pod == {**shared, "innovation-den.io/template": "demo-1.0.0"}


def test_the_first_exposed_port_is_keyed_by_component_the_others_by_port_name() -> None:
    c = component(
        ports=[
            {"name": "admin", "containerPort": 9000, "expose": False},
            {"name": "http", "containerPort": 8080},
            {"name": "metrics", "containerPort": 9100},
        ]
    )
    assert [(k, p.container_port) for k, p in common.exposed_ports(c)] == [
        ("web", 8080),
        ("web-metrics", 9100),
    ]
    reached: dict[int, tuple[str, int] | None] = {8080: ("10.0.0.7", 8080), 9100: None}
    assert common.endpoints(c, reached.__getitem__) == {"web": "http://10.0.0.7:8080/"}, (
        "a port not reached yet has no endpoint"
    )


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", 32768, "http://127.0.0.1:32768/"),
        ("0.0.0.0", 80, "http://127.0.0.1:80/"),
        ("172.18.0.2", 8080, "http://172.18.0.2:8080/"),
        ("::1", 8080, "http://[::1]:8080/"),
        ("fd00:10:96::1a", 8080, "http://[fd00:10:96::1a]:8080/"),  # a dual-stack cluster's IP
    ],
)
def test_endpoint_urls(host: str, port: int, expected: str) -> None:
    assert common.url(host, port) == expected


def test_a_failure_ends_with_the_last_log_lines_within_a_trial_message() -> None:
    assert common.with_last_lines("web exited with code 3", "") == "web exited with code 3"
    assert common.with_last_lines("web exited with code 3", "\n  \n") == "web exited with code 3"
    output = "\n".join(f"line {i}" for i in range(30)) + "\n"
    message = common.with_last_lines("web exited with code 3", output)
    assert message == "web exited with code 3; last log lines:\n" + "\n".join(
        f"line {i}" for i in range(20, 30)
    )
    flood = common.with_last_lines("web exited", "\n".join("x" * 5000 for _ in range(10)))
    assert len(flood) == common.MESSAGE_CHARS
    assert all(len(line) <= common.LOG_LINE_CHARS for line in flood.splitlines())


@pytest.mark.parametrize(("declared", "waited"), [(0.5, 0.5), (2.0, 2.0), (30.0, 2.0)])
def test_a_probe_waits_at_most_the_cap_whatever_the_manifest_says(declared: float, waited: float) -> None:
    check = ReadinessProbe.model_validate({"httpGet": {"port": 8080}, "timeoutSeconds": declared})
    assert probe.timeout(check) == waited


def test_the_shared_rules_are_pure() -> None:
    tree = ast.parse(Path(common.__file__).read_text())
    imported: set[str] = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        (node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    }
    assert not imported & {"docker", "kubernetes", "requests", "subprocess", "socket", "os", "http"}
