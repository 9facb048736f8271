"""The Docker driver's pure builders: what every sandbox container and network is made with.

The rules both runtimes share (environment, tmpfs sizes, labels, endpoints) are tested once, on
both runtimes' builders, in test_driver_common.py."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.drivers.base import (
    COMPONENT_LABEL,
    MANAGED_LABEL,
    MANAGED_VALUE,
    TRIAL_LABEL,
    TrialSpec,
)
from orchestrator.drivers.docker import specs
from orchestrator.errors import PermanentError, ValidationFailed
from orchestrator.manifest import Component, Egress, parse_memory

PUBLISH = "127.0.0.1"


def component(**overrides: Any) -> Component:
    data: dict[str, Any] = {
        "name": "web",
        "image": "innovation-den/demo:1.0.0",
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": {"PORT": "8080"},
        "resources": {"cpu": "250m", "memory": "128Mi", "pids": 64},
    }
    data.update(overrides)
    return Component.model_validate(data)


def trial(
    *components: Component, params: dict[str, str] | None = None, egress: tuple[Egress, ...] = ()
) -> TrialSpec:
    return TrialSpec(
        trial_id="t-123",
        template="demo@1.0.0",
        components=components or (component(),),
        parameters_env=params or {},
        egress=egress,
    )


def kwargs_for(c: Component, spec: TrialSpec | None = None, **extra: Any) -> dict[str, Any]:
    return specs.container_kwargs(spec or trial(c), c, network="net-id", publish_host=PUBLISH, **extra)


names = st.from_regex(r"\A[a-z]([a-z0-9-]{0,10}[a-z0-9])?\Z")
cpus = st.integers(10, 8000).map(lambda m: f"{m}m")
memories = st.integers(16, 4096).map(lambda mi: f"{mi}Mi")
paths = st.lists(st.from_regex(r"\A/[a-z][a-z0-9]{0,8}\Z"), max_size=5, unique=True)


@st.composite
def components(draw: st.DrawFn) -> Component:
    return component(
        name=draw(names),
        resources={"cpu": draw(cpus), "memory": draw(memories), "pids": draw(st.integers(16, 4096))},
        writablePaths=draw(paths),
        ports=[
            {"name": f"p{i}", "containerPort": 8000 + i, "expose": e}
            for i, e in enumerate(draw(st.lists(st.booleans(), max_size=4)))
        ],
    )


@given(components())
def test_hardening_is_always_set_whatever_the_component(c: Component) -> None:
    kw = kwargs_for(c)
    assert kw["read_only"] is True
    assert kw["cap_drop"] == ["ALL"]
    assert "cap_add" not in kw
    assert kw["security_opt"] == ["no-new-privileges"]
    assert kw["user"] == "10001:10001"
    assert kw["privileged"] is False
    assert kw["restart_policy"] == {"Name": "no"}
    for forbidden in (
        "volumes",
        "mounts",
        "devices",
        "volumes_from",
        "pid_mode",
        "network_mode",
        "userns_mode",
        "cgroup_parent",
        "sysctls",
    ):
        assert forbidden not in kw
    assert "docker.sock" not in repr(kw)


@given(components())
def test_limits_come_from_the_manifest_resources(c: Component) -> None:
    kw = kwargs_for(c)
    assert kw["nano_cpus"] == int(c.resources.cpu.removesuffix("m")) * 1_000_000
    assert kw["mem_limit"] == parse_memory(c.resources.memory)
    assert kw["memswap_limit"] == kw["mem_limit"], "swap must be off"
    assert kw["pids_limit"] == c.resources.pids


@given(components())
def test_writable_paths_are_small_noexec_tmpfs(c: Component) -> None:
    tmpfs = kwargs_for(c)["tmpfs"]
    assert list(tmpfs) == c.writable_paths
    for options in tmpfs.values():
        assert {"noexec", "nosuid", "nodev"} <= set(options.split(","))
        size = int(next(o for o in options.split(",") if o.startswith("size="))[5:])
        assert 0 < size <= min(64 * 2**20, parse_memory(c.resources.memory) // 4)


def test_image_volumes_are_covered_by_tmpfs_not_docker_volumes() -> None:
    kw = kwargs_for(component(), image_volumes=["/var/lib/app"])
    assert set(kw["tmpfs"]) == {"/tmp", "/var/lib/app"}
    assert "noexec" in kw["tmpfs"]["/var/lib/app"]


@given(components())
def test_every_resource_is_labelled_with_the_trial(c: Component) -> None:
    spec = trial(c)
    container_labels = kwargs_for(c, spec)["labels"]
    network_labels = specs.network_kwargs(spec)["labels"]
    for labels in (container_labels, network_labels):
        assert labels[TRIAL_LABEL] == "t-123"
        assert labels[MANAGED_LABEL] == MANAGED_VALUE
    assert container_labels[COMPONENT_LABEL] == c.name


@given(components())
def test_only_exposed_ports_are_published_on_loopback_with_ephemeral_host_ports(c: Component) -> None:
    ports = kwargs_for(c)["ports"]
    assert set(ports) == {f"{p.container_port}/tcp" for p in c.ports if p.expose}
    assert all(binding == (PUBLISH, None) for binding in ports.values())


def test_names_aliases_and_network() -> None:
    c = component(name="api")
    kw = kwargs_for(c)
    assert kw["name"] == "den-t-123-api"
    assert kw["hostname"] == "api"
    assert kw["network"] == "net-id"
    assert kw["networking_config"] == {"net-id": {"Aliases": ["api"]}}
    assert specs.network_name("t-123") == "den-t-123"


@pytest.mark.parametrize("bad", ["", "-x", "a b", "a/b", "x" * 64, "a;rm"])
def test_a_trial_id_that_cannot_name_docker_objects_is_refused(bad: str) -> None:
    with pytest.raises(PermanentError):
        specs.network_name(bad)


def test_the_network_is_internal_unless_the_template_declares_egress() -> None:
    assert specs.network_kwargs(trial())["internal"] is True
    egress = (Egress(host="api.example.org"),)
    assert specs.network_kwargs(trial(egress=egress))["internal"] is False


def test_validate_refuses_a_bad_spec_before_anything_is_made() -> None:
    specs.validate(trial())
    with pytest.raises(ValidationFailed):
        specs.validate(trial(params={"PATH": "/evil"}))
    with pytest.raises(PermanentError):
        specs.validate(replace(trial(), trial_id="no spaces"))


def test_list_filters_select_one_trial_or_any_of_this_instance() -> None:
    assert specs.trial_filter("t-1") == {"label": [f"{TRIAL_LABEL}=t-1"]}
    assert specs.trial_filter(instance="blue") == {"label": [TRIAL_LABEL, "innovation-den.io/instance=blue"]}


def test_every_resource_names_the_instance_that_made_it() -> None:
    spec = TrialSpec(
        trial_id="t-1",
        template="x@1.0.0",
        instance="blue",
        components=(Component(name="web", image="x/y:1"),),
    )
    assert specs.network_kwargs(spec)["labels"]["innovation-den.io/instance"] == "blue"


def test_the_builders_are_pure() -> None:
    tree = ast.parse(Path(specs.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        (node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    }
    assert not imported & {"docker", "requests", "subprocess", "socket", "os"}
