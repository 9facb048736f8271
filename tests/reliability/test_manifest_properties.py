"""Properties of manifest validation, over generated manifests (hypothesis).

- Whatever the validator accepts runs: its Docker container specs carry every hardening
  setting and its Kubernetes objects pass `check_objects` and would pass the API server's own
  validation of names, labels, ports and mounts (refused only for host-name egress, which the
  Kubernetes runtime cannot express, and then with the field named).
- Random mutations of valid manifests never crash the validator: they validate, or fail with
  `ValidationFailed` whose problems each name a field of the manifest; JSON and YAML agree.
- Round trips: a validated manifest dumped and validated again is the same manifest, with the
  same digest, whatever the key order.

Examples: 60 per property at the CI size, 600 with DEN_RELIABILITY_SCALE=full.
"""

from __future__ import annotations

import copy
import json
import posixpath
import random
import re
from ipaddress import ip_network
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import catalogue
from orchestrator.drivers.base import TrialSpec
from orchestrator.drivers.docker import specs
from orchestrator.drivers.kubernetes import manifests
from orchestrator.errors import ValidationFailed
from orchestrator.manifest import (
    TemplateManifest,
    is_internal_name,
    is_reserved_env,
    never_reason,
    parse_cpu,
    parse_memory,
)
from tests.reliability.conftest import sized

EXAMPLES = settings(
    max_examples=sized(60, 600),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TOP = ("apiVersion", "kind", "metadata", "spec")
# The Kubernetes API server's own rules (apimachinery validation), for what we render.
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")  # IANA_SVC_NAME, with the rules below

# --- a strategy of valid manifests -------------------------------------------------------------

dns = st.from_regex(r"\A[a-z]([a-z0-9-]{0,38}[a-z0-9])?\Z")
short_dns = st.from_regex(r"\A[a-z]([a-z0-9-]{0,8}[a-z0-9])?\Z")
# Generated from the validator's own patterns: whatever it accepts must run.
port_names = st.from_regex(r"\A[a-z]([a-z0-9-]{0,13}[a-z0-9])?\Z").filter(lambda n: "--" not in n)
versions = st.from_regex(
    r"\A(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})"
    r"(-[0-9A-Za-z.-]{1,20})?\Z"
)
env_names = st.from_regex(r"\A[A-Z][A-Z0-9_]{0,20}\Z").filter(lambda n: not is_reserved_env(n))
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60).filter(
    lambda t: t.strip() != ""
)
images = st.from_regex(
    r"\A(localhost(:[0-9]{2,5})?/)?[a-z0-9]{1,10}(/[a-z0-9]{1,10}){0,2}"
    r"(:[a-z0-9][a-z0-9._-]{0,10})?\Z"
)
paths = st.lists(
    st.from_regex(r"\A/[a-z0-9._/-]{1,12}\Z").filter(lambda p: posixpath.normpath(p) == p != "/"),
    max_size=4,
    unique=True,
)
# Proper networks outside what no sandbox may ever reach, and names that are not internal:
# the manifest refuses the others (tests/unit/test_egress.py).
cidrs = st.builds(
    lambda a, b, bits: str(ip_network(f"{a}.{b}.0.0/{bits}", strict=False)),
    st.integers(1, 223),
    st.integers(0, 255),
    st.integers(8, 32),
).filter(lambda cidr: not never_reason(ip_network(cidr)))
hosts = st.from_regex(r"\A(\*\.)?[a-z][a-z0-9]{0,10}(\.[a-z][a-z0-9]{0,10}){1,3}\Z").filter(
    lambda host: not is_internal_name(host)
)


@st.composite
def components(draw: st.DrawFn, name: str) -> dict[str, Any]:
    ports = [
        {"name": port_name, "containerPort": number, "expose": draw(st.booleans())}
        for port_name, number in zip(
            draw(st.lists(port_names, max_size=3, unique=True)),
            draw(st.lists(st.integers(1024, 65535), min_size=3, max_size=3, unique=True)),
            strict=False,
        )
    ]
    component: dict[str, Any] = {
        "name": name,
        "image": draw(images),
        "ports": ports,
        "env": draw(st.dictionaries(env_names, texts, max_size=4)),
        "resources": {
            "cpu": f"{draw(st.integers(10, 1000))}m",
            "memory": f"{draw(st.integers(16, 512))}Mi",
            "pids": draw(st.integers(16, 4096)),
        },
        "writablePaths": draw(paths),
    }
    if draw(st.booleans()):
        component["command"] = draw(st.lists(texts, min_size=1, max_size=4))
    if ports and draw(st.booleans()):
        component["readinessProbe"] = {
            "httpGet": {"path": "/healthz", "port": ports[0]["containerPort"]},
            "periodSeconds": draw(st.floats(0.1, 60)),
            "timeoutSeconds": draw(st.floats(0.1, 30)),
        }
    return component


@st.composite
def valid_manifests(
    draw: st.DrawFn, *, destinations: st.SearchStrategy[str] = cidrs | hosts, egress: tuple[int, int] = (0, 2)
) -> dict[str, Any]:
    names = draw(st.lists(dns, min_size=1, max_size=4, unique=True))
    parts = [draw(components(name)) for name in names]
    cpu = sum(parse_cpu(c["resources"]["cpu"]) for c in parts)
    memory = sum(parse_memory(c["resources"]["memory"]) for c in parts)
    maximum = draw(st.integers(60, 10**6))
    parameters = draw(
        st.lists(
            st.from_regex(r"\A[a-z][a-z0-9_]{0,15}\Z").filter(lambda n: not is_reserved_env(n.upper())),
            max_size=4,
            unique=True,
        )
    )
    return {
        "apiVersion": "innovation-den.io/v1",
        "kind": "SandboxTemplate",
        "metadata": {
            "name": draw(dns),
            "version": draw(versions),
            "supplier": draw(dns),
            "summary": draw(texts),
            "problemAreas": draw(st.lists(short_dns, min_size=1, max_size=3)),
        },
        "spec": {
            "dataClassification": draw(st.sampled_from(["synthetic", "open"])),
            "components": parts,
            "parameters": {
                "type": "object",
                "properties": {name: {"type": "string", "maxLength": 100} for name in parameters},
            },
            "limits": {
                "defaultDuration": draw(st.integers(1, maximum)),
                "maxDuration": maximum,
                "cpu": f"{cpu}m",
                "memory": str(memory),
            },
            "egress": [
                {"host": draw(destinations), "ports": [443]} for _ in range(draw(st.integers(*egress)))
            ],
            "successCriteria": draw(st.lists(texts, max_size=3)),
        },
    }


def spec_of(manifest: TemplateManifest, parameters: dict[str, str]) -> TrialSpec:
    return TrialSpec(
        trial_id="tabc123def456",
        template=manifest.ref,
        components=tuple(manifest.spec.components),
        parameters_env=parameters,
        egress=tuple(manifest.spec.egress),
        instance="reliability",
    )


def parameters_for(manifest: TemplateManifest, value: str) -> dict[str, str]:
    return {name.upper(): value for name in manifest.spec.parameters.get("properties", {})}


# --- accepted manifests run, hardened ----------------------------------------------------------


@EXAMPLES
@given(valid_manifests(), texts)
def test_an_accepted_manifest_gives_hardened_docker_specs(data: dict[str, Any], value: str) -> None:
    manifest = catalogue.validate_manifest(data)
    spec = spec_of(manifest, parameters_for(manifest, value))
    specs.validate(spec)
    assert specs.network_kwargs(spec)["internal"] is (not manifest.spec.egress)
    for component in manifest.spec.components:
        made = specs.container_kwargs(spec, component, network="n", publish_host="127.0.0.1")
        assert {key: made[key] for key in specs.hardening()} == specs.hardening()
        assert made["privileged"] is False and made["cap_drop"] == ["ALL"]
        assert not {"volumes", "mounts", "devices", "binds", "network_mode", "pid_mode"} & set(made)
        assert all(host == "127.0.0.1" for host, _ in made["ports"].values())
        mounts = list(made["tmpfs"])
        normalised = [posixpath.normpath(path) for path in mounts]
        assert "/" not in normalised and len(set(normalised)) == len(mounts), mounts
        assert made["environment"]["DEN_TRIAL_ID"] == spec.trial_id


@EXAMPLES
@given(valid_manifests(destinations=cidrs), texts)
def test_an_accepted_manifest_gives_kubernetes_objects_the_cluster_accepts(
    data: dict[str, Any], value: str
) -> None:
    manifest = catalogue.validate_manifest(data)
    spec = spec_of(manifest, parameters_for(manifest, value))
    objects = manifests.trial_objects(spec, ingress_from=[])  # runs check_objects
    for obj in objects:
        meta = obj["metadata"]
        assert DNS_LABEL.match(meta["name"]) and len(meta["name"]) <= 63, meta["name"]
        for key, label in meta["labels"].items():
            assert len(label) <= 63 and LABEL_VALUE.match(label), (key, label)
        if obj["kind"] == "Deployment":
            pod = obj["spec"]["template"]["spec"]
            assert manifests.pod_problems(pod, where="pod") == []
            (container,) = pod["containers"]
            for port in container["ports"]:
                name = port["name"]
                assert (
                    len(name) <= 15
                    and PORT_NAME.match(name)
                    and "--" not in name
                    and re.search("[a-z]", name)
                ), name
            mounts = [m["mountPath"] for m in container["volumeMounts"]]
            assert len(set(mounts)) == len(mounts) and "/" not in mounts, mounts


@EXAMPLES
@given(valid_manifests(destinations=hosts, egress=(1, 2)))
def test_host_name_egress_is_refused_on_kubernetes_naming_the_field(data: dict[str, Any]) -> None:
    manifest = catalogue.validate_manifest(data)
    try:
        manifests.trial_objects(spec_of(manifest, {}), ingress_from=[])
    except ValidationFailed as exc:
        assert all(re.fullmatch(r"spec\.egress\.\d+\.host", p.field) for p in exc.problems)
    else:
        raise AssertionError("a host name reached a NetworkPolicy")


# --- mutations never crash the validator -------------------------------------------------------

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(
        ["../../etc/passwd", "{{ 7*7 }}", "$(id)", "0", "", "privileged", "\u0000", "a" * 5000, "-1", "1e309"]
    ),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in children:
        found += _paths(child, (*prefix, key))
    return found


def mutate(data: dict[str, Any], rng: random.Random, replacement: Any) -> tuple[Any, ...]:
    """One random change somewhere in `data`; returns where."""
    path = rng.choice(_paths(data))
    parent: Any = data
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    action = rng.choice(
        ["replace", "delete", "add", "rename"] if isinstance(parent, dict) else ["replace", "delete"]
    )
    if action == "replace":
        parent[last] = replacement
    elif action == "delete":
        del parent[last]
    elif action == "add":
        parent[rng.choice(["privileged", "hostPath", "x", "securityContext", "volumes"])] = replacement
    else:
        parent[str(replacement)[:20]] = parent.pop(last)
    return path


def outcome(run: Any, data: Any) -> tuple[str, ...] | TemplateManifest:
    """The validated manifest, or the fields of the problems (any other exception fails).
    Each field is under a part of the manifest, or is an unknown key of `data` itself."""
    try:
        return run()  # type: ignore[no-any-return]
    except ValidationFailed as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.message, problem
            top = {*TOP, *(map(str, data) if isinstance(data, dict) else ())}
            assert problem.field == "(document)" or any(
                problem.field == key or problem.field.startswith(f"{key}.") for key in top
            ), problem
        return tuple(sorted(p.field for p in exc.problems))


@EXAMPLES
@given(valid_manifests(), st.lists(junk, min_size=1, max_size=3), st.randoms(use_true_random=False))
def test_mutated_manifests_validate_or_fail_naming_fields_in_json_and_yaml_alike(
    data: dict[str, Any], replacements: list[Any], rng: random.Random
) -> None:
    mutated = copy.deepcopy(data)
    for replacement in replacements:
        if _paths(mutated):
            mutate(mutated, rng, replacement)
    from_data = outcome(lambda: catalogue.validate_manifest(mutated), mutated)
    try:
        text = json.dumps(mutated, allow_nan=False)
    except ValueError:  # NaN and infinities are not JSON; YAML still carries them
        text = yaml.safe_dump(mutated)
    assert outcome(lambda: catalogue.parse_manifest_text(text), mutated) == from_data


# --- round trips -------------------------------------------------------------------------------


@EXAMPLES
@given(valid_manifests(), st.randoms(use_true_random=False))
def test_a_validated_manifest_round_trips_with_the_same_digest(
    data: dict[str, Any], rng: random.Random
) -> None:
    manifest = catalogue.validate_manifest(data)
    dumped = manifest.model_dump(mode="json", by_alias=True)
    again = catalogue.validate_manifest(dumped)
    assert again == manifest and catalogue.digest(again) == catalogue.digest(manifest)
    shuffled = _shuffled(dumped, rng)
    for text in (yaml.safe_dump(shuffled, sort_keys=False), json.dumps(shuffled)):
        parsed = catalogue.parse_manifest_text(text)
        assert parsed == manifest and catalogue.digest(parsed) == catalogue.digest(manifest)


def _shuffled(node: Any, rng: random.Random) -> Any:
    """The same data with every mapping's keys in another order."""
    if isinstance(node, dict):
        keys = list(node)
        rng.shuffle(keys)
        return {key: _shuffled(node[key], rng) for key in keys}
    if isinstance(node, list):
        return [_shuffled(item, rng) for item in node]
    return node
