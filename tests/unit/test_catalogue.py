"""Manifest validation: every problem reported with its field, hostile YAML refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import catalogue
from orchestrator.errors import ValidationFailed
from orchestrator.manifest import parse_cpu, parse_memory

GOOD: dict[str, Any] = {
    "apiVersion": "innovation-den.io/v1",
    "kind": "SandboxTemplate",
    "metadata": {
        "name": "demo",
        "version": "1.0.0",
        "supplier": "acme",
        "summary": "A demo",
        "problemAreas": ["testing"],
    },
    "spec": {
        "dataClassification": "synthetic",
        "components": [
            {
                "name": "web",
                "image": "innovation-den/demo:1.0.0",
                "ports": [{"containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
            }
        ],
        "parameters": {"type": "object", "properties": {"greeting": {"type": "string"}}},
    },
}


def fields(exc: pytest.ExceptionInfo[ValidationFailed]) -> set[str]:
    return {p.field for p in exc.value.problems}


def with_change(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = value
    return data


def test_a_good_manifest_validates_and_its_digest_ignores_formatting() -> None:
    manifest = catalogue.validate_manifest(GOOD)
    assert manifest.ref == "demo@1.0.0"
    reparsed = catalogue.parse_manifest_text(yaml.safe_dump(GOOD, sort_keys=True))
    assert catalogue.digest(manifest) == catalogue.digest(reparsed)


def test_every_mistake_is_listed_at_once_with_its_field_and_a_hint() -> None:
    data = with_change("metadata.name", "Bad Name")
    data["metadata"]["version"] = "one"
    data["spec"]["dataClassification"] = "personal"
    data["spec"]["components"][0]["image"] = "evil$(reboot)"
    with pytest.raises(ValidationFailed) as exc:
        catalogue.validate_manifest(data)
    assert fields(exc) == {
        "metadata.name",
        "metadata.version",
        "spec.dataClassification",
        "spec.components.0.image",
    }
    assert all(p.hint for p in exc.value.problems)


@pytest.mark.parametrize(
    "field",
    ["privileged", "hostPath", "hostNetwork", "hostPID", "capabilities", "securityContext", "volumes"],
)
def test_requests_for_host_access_or_privilege_are_refused_by_name(field: str) -> None:
    data = with_change(f"spec.components.0.{field}", True)
    with pytest.raises(ValidationFailed) as exc:
        catalogue.validate_manifest(data)
    (problem,) = exc.value.problems
    assert problem.field == f"spec.components.0.{field}"
    assert "not allowed" in problem.message


@pytest.mark.parametrize(
    "image",
    [
        "a b",
        "x;rm -rf /",
        "x|y",
        "`id`",
        "$(id)",
        "x\ny",
        "UPPER/case",
        "x:tag with space",
        "../../etc/passwd",
    ],
)
def test_image_references_with_shell_metacharacters_are_refused(image: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        catalogue.validate_manifest(with_change("spec.components.0.image", image))
    assert fields(exc) == {"spec.components.0.image"}


@pytest.mark.parametrize("name", ["../etc", "a/b", "-x", "x" * 41, "A", "x_y", ""])
def test_names_that_could_traverse_paths_or_break_labels_are_refused(name: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        catalogue.validate_manifest(with_change("metadata.name", name))
    assert "metadata.name" in fields(exc)


def test_privileged_ports_and_undeclared_probe_ports_are_refused() -> None:
    data = with_change("spec.components.0.ports", [{"containerPort": 80}])
    with pytest.raises(ValidationFailed) as exc:
        catalogue.validate_manifest(data)
    assert "spec.components.0.ports.0.containerPort" in fields(exc)
    data = with_change("spec.components.0.readinessProbe", {"httpGet": {"port": 9090}})
    with pytest.raises(ValidationFailed, match="readinessProbe port 9090"):
        catalogue.validate_manifest(data)


def test_resources_must_fit_the_template_limits() -> None:
    data = with_change("spec.components.0.resources", {"cpu": "4", "memory": "256Mi"})
    with pytest.raises(ValidationFailed, match="CPU"):
        catalogue.validate_manifest(data)


def test_parameters_must_be_an_object_schema_with_env_safe_names() -> None:
    data = with_change("spec.parameters", {"type": "object", "properties": {"Bad-Name": {}}})
    with pytest.raises(ValidationFailed, match="environment variable"):
        catalogue.validate_manifest(data)
    data = with_change("spec.parameters", {"type": "array"})
    with pytest.raises(ValidationFailed, match="type 'object'"):
        catalogue.validate_manifest(data)


def test_yaml_alias_bombs_are_refused_before_they_expand() -> None:
    bomb = (
        "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    )
    with pytest.raises(ValidationFailed, match="anchors and aliases"):
        catalogue.parse_manifest_text(bomb)


@pytest.mark.parametrize(
    "text, message",
    [
        ("!!python/object/apply:os.system ['id']", "not valid YAML"),
        ("a: !custom 1", "not valid YAML"),
        ("a: 1\n---\nb: 2\n", "exactly one YAML document"),
        ("[" * 50 + "]" * 50, "nesting deeper"),
        ("just a string", "must be a mapping"),
        ("a: [unclosed", "not valid YAML"),
    ],
)
def test_hostile_or_malformed_yaml_gets_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        catalogue.parse_manifest_text(text)


def test_oversized_manifests_are_refused_with_the_size() -> None:
    text = "a: '" + "x" * (catalogue.MAX_MANIFEST_BYTES + 1) + "'"
    with pytest.raises(ValidationFailed, match="bytes, over"):
        catalogue.parse_manifest_text(text)


def test_supplier_text_is_data_and_is_never_rendered() -> None:
    data = with_change("metadata.summary", "{{ 7*7 }} {% for x in range(10) %}x{% endfor %}")
    manifest = catalogue.validate_manifest(data)
    assert manifest.metadata.summary == "{{ 7*7 }} {% for x in range(10) %}x{% endfor %}"


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=30,
    )
)
@settings(max_examples=200)
def test_any_input_either_validates_or_fails_with_field_problems(data: Any) -> None:
    try:
        catalogue.validate_manifest(data)
    except ValidationFailed as exc:
        assert exc.problems
        assert all(p.field and p.message for p in exc.problems)


@pytest.mark.parametrize("key", ["¹", "٣", "²³"])
def test_a_key_of_digits_that_are_not_ascii_is_a_field_problem(key: str) -> None:
    """`"¹".isdigit()` is true but `int("¹")` fails: such a key once crashed the locator."""
    with pytest.raises(ValidationFailed) as refused:
        catalogue.validate_manifest({key: 1})
    assert refused.value.problems


@given(st.text(max_size=300))
@settings(max_examples=200)
def test_any_text_either_parses_or_fails_cleanly(text: str) -> None:
    try:
        catalogue.parse_manifest_text(text)
    except ValidationFailed as exc:
        assert exc.problems


@pytest.mark.parametrize("text, millicores", [("0.5", 500), ("500m", 500), ("2", 2000)])
def test_cpu_quantities(text: str, millicores: int) -> None:
    assert parse_cpu(text) == millicores


@pytest.mark.parametrize("text, size", [("256Mi", 256 * 2**20), ("1Gi", 2**30), ("500M", 5 * 10**8)])
def test_memory_quantities(text: str, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize("name", ["path", "home", "ld_preload", "den_trial_id", "pythonpath"])
def test_parameters_that_would_set_reserved_variables_are_refused(name: str) -> None:
    data = with_change("spec.parameters", {"type": "object", "properties": {name: {}}})
    with pytest.raises(ValidationFailed, match="reserved variable"):
        catalogue.validate_manifest(data)
