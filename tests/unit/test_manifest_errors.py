"""Each kind of manifest problem in a supplier's words: the field as written, the line, a hint,
and never the validator's own text."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from orchestrator import catalogue
from orchestrator.errors import ValidationFailed
from orchestrator.manifest_errors import ManifestProblem, where
from tests.unit.test_catalogue import GOOD


def problems(data: Any) -> list[ManifestProblem]:
    text = yaml.safe_dump(data, sort_keys=False)
    with pytest.raises(ValidationFailed) as raised:
        catalogue.parse_manifest_text(text)
    found = raised.value.problems
    assert all(isinstance(p, ManifestProblem) for p in found)
    return found  # type: ignore[return-value]


def changed(path: str, value: Any, *, remove: bool = False) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = data
    for part in parents:
        node = node[part]
    if remove:
        del node[last]
    else:
        node[last] = value
    return data


def test_fields_are_written_as_the_manifest_reads_with_items_counted_from_one() -> None:
    assert where(("spec", "components", 1, "image")) == "spec.components, item 2, image"
    assert where(("spec", "components", 0, "resources", "cpu")) == "spec.components, item 1, resources.cpu"
    assert where(("metadata", "version")) == "metadata.version"
    assert where(()) == "the manifest"


@pytest.mark.parametrize(
    "path, value, message, hint",
    [
        ("metadata.version", 1.1, "metadata.version must be text", 'put it in quotes, like version: "1.1"'),
        ("metadata.version", "one", "metadata.version must be a version number", "a version such as 1.2.0"),
        ("metadata.name", "Bad Name", "metadata.name must be a name", "lower-case letters, digits and '-'"),
        ("metadata.supplier", "A", "metadata.supplier must be a supplier's slug", "your supplier's slug"),
        ("metadata.problemAreas", [], "metadata.problemAreas must be a list of at least 1 item(s)", "change"),
        (
            "metadata.problemAreas",
            ["Open Data"],
            "metadata.problemAreas, item 1 must be in the right form",
            "like open-data",
        ),
        ("metadata.summary", "x" * 201, "metadata.summary must be 200 characters or fewer", "change summary"),
        ("metadata.tags", "x", "metadata.tags must be a list", "starting with '- '"),
        ("metadata", "x", "metadata must be a mapping", "indented"),
        ("metadata.colour", "red", "metadata.colour is not a field of the manifest", "/guide/templates"),
        (
            "spec.dataClassification",
            "secret",
            "spec.dataClassification must be synthetic or open",
            "write dataClassification: synthetic",
        ),
        (
            "spec.components.0.image",
            "Not An Image",
            "spec.components, item 1, image must be an image reference",
            "registry.example",
        ),
        (
            "spec.components.0.ports.0.containerPort",
            80,
            "spec.components, item 1, ports, item 1, containerPort must be 1024 or more",
            "change containerPort to 1024 or more",
        ),
        (
            "spec.components.0.ports.0.containerPort",
            "http",
            "spec.components, item 1, ports, item 1, containerPort must be a whole number",
            "digits only",
        ),
        (
            "spec.components.0.ports.0.expose",
            "maybe",
            "spec.components, item 1, ports, item 1, expose must be true or false",
            "expose: true",
        ),
        (
            "spec.components.0.privileged",
            True,
            "spec.components, item 1, privileged is not allowed: sandboxes never get host access",
            "unprivileged",
        ),
        (
            "spec.components.0.env",
            {"lower": "x"},
            "spec.components, item 1, env.lower (the name) is not a name allowed here",
            "like PORT",
        ),
        (
            "spec.components.0.resources",
            {"cpu": "lots"},
            "spec.components, item 1, resources.cpu: 'lots' is not a CPU quantity",
            'cpu: "0.5"',
        ),
        (
            "spec.components.0.readinessProbe",
            {"httpGet": {"port": 9090}},
            "spec.components, item 1: readinessProbe port 9090 is not one of the component's ports",
            "probe one of",
        ),
        (
            "spec.limits",
            {"maxExtensions": 1.5},
            "spec.limits.maxExtensions must be a whole number",
            "drop the decimal point",
        ),
        (
            "spec.limits",
            {"maxExtensions": 11},
            "spec.limits.maxExtensions must be 10 or less",
            "change maxExtensions to 10 or less",
        ),
        (
            "spec.limits",
            {"defaultDuration": 10, "maxDuration": 5},
            "spec.limits: defaultDuration must not be longer than maxDuration",
            "at most maxDuration",
        ),
        (
            "spec.egress",
            [{"host": "metadata.internal"}],
            "spec.egress, item 1, host: 'metadata.internal' is an internal name",
            "public destination",
        ),
    ],
)
def test_each_kind_of_problem_in_words(path: str, value: Any, message: str, hint: str) -> None:
    (problem,) = problems(changed(path, value))
    assert problem.message.startswith(message), problem.message
    assert hint in problem.hint, problem.hint
    assert problem.line is not None


def test_a_missing_field_is_placed_on_the_line_of_its_mapping() -> None:
    (problem,) = problems(changed("metadata.summary", None, remove=True))
    assert (problem.message, problem.line) == ("metadata.summary is missing", 3)
    assert problem.hint == "add summary: under metadata (the template guide, /guide/templates)"


def test_lines_follow_the_text_as_written() -> None:
    text = """\
apiVersion: innovation-den.io/v1
kind: SandboxTemplate
metadata: {name: demo, version: 1.0.0, supplier: acme, summary: A demo, problemAreas: [testing]}
spec:
  dataClassification: synthetic

  components:
    - name: web
      image: ok/web:1

    - name: api
      image: "NOT OK"
"""
    with pytest.raises(ValidationFailed) as raised:
        catalogue.parse_manifest_text(text)
    (problem,) = raised.value.problems
    assert isinstance(problem, ManifestProblem) and problem.line == 12
    assert problem.as_dict()["where"] == "spec.components, item 2, image"
    assert problem.as_dict()["field"] == "spec.components.1.image"  # the path for programs


def test_json_text_has_lines_too() -> None:
    data = changed("spec.components.0.image", "NOT OK")
    text = json.dumps(data, indent=2)
    with pytest.raises(ValidationFailed) as raised:
        catalogue.validate_manifest(json.loads(text), text=text)
    (problem,) = raised.value.problems
    assert isinstance(problem, ManifestProblem)
    assert text.splitlines()[(problem.line or 0) - 1].strip().startswith('"image"')


def test_invalid_yaml_gives_its_line() -> None:
    with pytest.raises(ValidationFailed) as raised:
        catalogue.parse_manifest_text("a: 1\nb: [unclosed\n")
    (problem,) = raised.value.problems
    assert isinstance(problem, ManifestProblem) and problem.line == 3
    assert problem.message.startswith("The manifest is not valid YAML")


def test_no_problem_uses_the_validators_words_or_a_repository_path() -> None:
    bad = copy.deepcopy(GOOD)
    bad["metadata"].update(version=1.1, name=3, tags="x", extra=1)
    bad["spec"]["components"][0].update(ports="x", env=[], command="x", resources={"pids": "many"})
    bad["spec"]["limits"] = {"cpu": 1, "defaultDuration": True}
    for problem in problems(bad):
        text = problem.message + problem.hint
        assert problem.hint, problem
        for words in ("Input should", "valid string", "sandbox_templates", "Value error", "[type="):
            assert words not in text, problem
