"""The parameter subset: what a schema may say (refused at publish with the field and a hint),
and the check of a trial's values (our own, patterns on RE2, sizes before any matching)."""

from __future__ import annotations

import copy
import json
import re
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import catalogue, parameters
from orchestrator.errors import ValidationFailed
from tests.unit.test_catalogue import GOOD


def schema(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def paths(value: Any) -> set[str]:
    return {".".join(str(p) for p in issue.path) for issue in parameters.schema_problems(value)}


def refused_fields(params: dict[str, Any]) -> dict[str, str]:
    """Publish a manifest with these parameters: each refused field and its hint."""
    data = copy.deepcopy(GOOD)
    data["spec"]["parameters"] = params
    with pytest.raises(ValidationFailed) as raised:
        catalogue.validate_manifest(data)
    return {p.field: p.hint for p in raised.value.problems}


# --- the schema, at publish --------------------------------------------------------------------


def test_the_bundled_style_of_schema_is_inside_the_subset() -> None:
    assert (
        parameters.schema_problems(
            {
                "$schema": parameters.DRAFT,
                "type": "object",
                "additionalProperties": False,
                "title": "Settings",
                "required": ["tone"],
                "properties": {
                    "greeting": {
                        "type": "string",
                        "title": "Greeting",
                        "minLength": 1,
                        "maxLength": 200,
                        "default": "Hello",
                        "pattern": "^[A-Za-z !.]+$",
                        "examples": ["Hi!"],
                    },
                    "tone": {"type": "string", "enum": ["friendly", "formal"], "default": "friendly"},
                    "rows": {"type": "integer", "minimum": 1, "maximum": 100, "multipleOf": 5},
                    "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                    "debug": {"type": "boolean", "const": False, "description": "Off in trials."},
                },
            }
        )
        == []
    )
    assert parameters.schema_problems({}) == []


@pytest.mark.parametrize(
    "keyword, value",
    [
        ("$ref", "#/$defs/x"),
        ("allOf", [{"type": "string"}]),
        ("anyOf", [{}]),
        ("oneOf", [{}]),
        ("not", {}),
        ("if", {}),
        ("then", {}),
        ("else", {}),
        ("patternProperties", {}),
        ("dependentRequired", {}),
        ("unevaluatedProperties", False),
        ("contains", {}),
        ("uniqueItems", True),
        ("items", {}),
        ("properties", {}),
        ("format", "email"),
        ("$defs", {}),
        ("x-anything", 1),
    ],
)
def test_a_keyword_outside_the_subset_is_refused_naming_it(keyword: str, value: Any) -> None:
    fields = refused_fields(schema(code={"type": "string", keyword: value}))
    assert f"spec.parameters.properties.code.{keyword}" in fields
    assert all(fields.values()), "every refusal says how to fix it"


@pytest.mark.parametrize("keyword", ["$defs", "allOf", "patternProperties", "if", "definitions"])
def test_a_keyword_outside_the_subset_is_refused_at_the_top_too(keyword: str) -> None:
    assert keyword in paths({"type": "object", "properties": {}, keyword: {}})


@pytest.mark.parametrize("kind", ["object", "array", "null", None, ["string", "null"]])
def test_a_parameter_is_one_scalar_value(kind: Any) -> None:
    spec = {} if kind is None else {"type": kind}
    fields = refused_fields(schema(code=spec))
    assert "environment variable" in fields["spec.parameters.properties.code.type"]


@pytest.mark.parametrize(
    "spec, field",
    [
        ({"type": "integer", "pattern": "x"}, "pattern"),
        ({"type": "boolean", "minimum": 1}, "minimum"),
        ({"type": "string", "multipleOf": 2}, "multipleOf"),
    ],
)
def test_a_keyword_of_another_type_is_refused(spec: dict[str, Any], field: str) -> None:
    problems = parameters.schema_problems(schema(code=spec))
    assert [(i.path, "applies only to" in i.message) for i in problems] == [
        (("properties", "code", field), True)
    ]


@pytest.mark.parametrize(
    "pattern",
    [
        r"(a)\1",
        "(?=a)b",
        "(?!admin).*",
        "(?<=x)y",
        "(?<!x)y",
        "((a{100}){100}){100}",
        "a{1001}",
        r"\Z",
        "(",
        "[z-a]",
    ],
)
def test_a_pattern_re2_refuses_is_refused_at_publish_naming_the_field(pattern: str) -> None:
    fields = refused_fields(schema(code={"type": "string", "pattern": pattern}))
    assert "RE2" in fields["spec.parameters.properties.code.pattern"]


def test_limits_on_the_schema() -> None:
    many = {f"p{i}": {"type": "string"} for i in range(parameters.MAX_PARAMETERS + 1)}
    assert paths(schema(**many)) == {"properties"}
    assert paths(schema(**{f"p{i}": {"type": "string"} for i in range(50)})) == set()
    assert paths(schema(code={"type": "string", "enum": [f"v{i}" for i in range(201)]})) == {
        "properties.code.enum"
    }
    assert paths(schema(code={"type": "string", "maxLength": 4097})) == {"properties.code.maxLength"}
    assert paths(schema(code={"type": "string", "pattern": "a" * 1001})) == {"properties.code.pattern"}
    assert paths(schema(code={"type": "string", "title": "t" * 201})) == {"properties.code.title"}
    assert paths(schema(code={"type": "string", "enum": ["x" * 4097]})) == {"properties.code.enum.0"}
    big = {f"p{i}": {"type": "string", "description": "d" * 4000} for i in range(20)}
    assert len(json.dumps(big)) > parameters.MAX_SCHEMA_BYTES
    (issue,) = parameters.schema_problems(schema(**big))
    assert issue.path == () and "bytes" in issue.message


@pytest.mark.parametrize(
    "spec, field",
    [
        ({"type": "integer", "minimum": 5, "maximum": 1}, "minimum"),
        ({"type": "string", "minLength": 5, "maxLength": 1}, "minLength"),
        ({"type": "integer", "maximum": 10, "default": 30}, "default"),
        ({"type": "string", "enum": ["a", "b"], "examples": ["c"]}, "examples.0"),
        ({"type": "string", "enum": ["a", "a"]}, "enum"),
        ({"type": "integer", "enum": [1, "one"]}, "enum.1"),
        ({"type": "boolean", "enum": [1]}, "enum.0"),
        ({"type": "number", "minimum": float("nan")}, "minimum"),
        ({"type": "number", "multipleOf": 0}, "multipleOf"),
        ({"type": "string", "maxLength": -1}, "maxLength"),
        ({"type": "string", "maxLength": True}, "maxLength"),
    ],
)
def test_keyword_values_that_make_no_sense_are_refused(spec: dict[str, Any], field: str) -> None:
    assert f"properties.code.{field}" in paths(schema(code=spec))


@pytest.mark.parametrize(
    "top, field",
    [
        ({"type": "array"}, "type"),
        ({"required": ["missing"]}, "required.0"),
        ({"required": "code"}, "required"),
        ({"additionalProperties": True}, "additionalProperties"),
        ({"additionalProperties": {"type": "string"}}, "additionalProperties"),
        ({"$schema": "http://json-schema.org/draft-04/schema#"}, "$schema"),
        ({"properties": []}, "properties"),
    ],
)
def test_the_top_level_is_an_object_of_declared_parameters(top: dict[str, Any], field: str) -> None:
    assert field in paths({**schema(code={"type": "string"}), **top})


def test_reserved_and_unsafe_names_are_refused_at_their_own_path() -> None:
    fields = refused_fields(schema(ld_preload={"type": "string"}, **{"../x": {"type": "string"}}))
    assert {"spec.parameters.properties.ld_preload", "spec.parameters.properties.../x"} <= set(fields)


def test_non_json_data_in_a_schema_is_refused_not_crashed_on() -> None:
    assert paths({"type": "object", "properties": {1: {"type": "string"}}}) == set()
    assert refused_fields({"type": "object", "properties": {1: {"type": "string"}}})
    assert paths({"type": "object", "description": object()}) == {""}


# --- values, at request time ---------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "required": ["tone"],
    "properties": {
        "tone": {"type": "string", "enum": ["formal", "friendly"]},
        "code": {"type": "string", "pattern": "^(a+)+$", "maxLength": 4096},
        "rows": {"type": "integer", "minimum": 1, "maximum": 100},
        "ratio": {"type": "number", "exclusiveMaximum": 1, "multipleOf": 0.1},
        "debug": {"type": "boolean"},
    },
}


def faults(values: dict[str, Any]) -> dict[str, str]:
    return {p.field: p.message for p in parameters.value_problems(SCHEMA, values)}


def test_good_values_pass() -> None:
    assert faults({"tone": "formal", "code": "aaa", "rows": 100, "ratio": 0.3, "debug": True}) == {}


@pytest.mark.parametrize(
    "name, value",
    [
        ("tone", "rude"),
        ("tone", 1),
        ("code", "aab"),
        ("code", ["a"]),
        ("code", {"a": 1}),
        ("code", "a" * 4097),
        ("code", "a\x00"),
        ("code", "\ud800"),
        ("rows", 0),
        ("rows", 101),
        ("rows", 1.5),
        ("rows", True),
        ("rows", 10**400),
        ("ratio", 1),
        ("ratio", 0.35),
        ("ratio", float("inf")),
        ("ratio", float("nan")),
        ("debug", "yes"),
        ("debug", 1),
    ],
)
def test_bad_values_are_refused_at_parameters_dot_name(name: str, value: Any) -> None:
    found = parameters.value_problems(SCHEMA, {"tone": "formal", name: value})
    assert [p.field for p in found] == [f"parameters.{name}"]
    assert all(p.message[0].isupper() and p.hint for p in found)


def test_missing_required_and_undeclared_names_are_refused() -> None:
    assert faults({}) == {"parameters.tone": "Select tone"}
    found = parameters.value_problems(SCHEMA, {"PATH": "/evil", "tone": "formal"})
    assert [(p.field, p.message) for p in found] == [
        ("parameters", "This template has no parameter called 'PATH'")
    ]
    assert "code, debug, ratio, rows, tone" in found[0].hint


# Each keyword a value can break, with the GOV.UK message it gets: the parameter named by its
# title (or its name made readable), what a good value is, and never the value typed.
GREETING = {"type": "string", "title": "Greeting", "minLength": 3, "maxLength": 200}


@pytest.mark.parametrize(
    "spec, value, message",
    [
        (GREETING, "x" * 300, "Greeting must be 200 characters or fewer"),
        (GREETING, "hi", "Greeting must be 3 characters or more"),
        ({"type": "string", "title": "Greeting"}, "x" * 5000, "Greeting must be 4096 characters or fewer"),
        (
            {"type": "string", "title": "Reference", "pattern": "^[A-Z]{3}$"},
            "abcd",
            "Enter reference in the right format",
        ),
        (
            {"type": "string", "title": "Colour", "enum": ["red", "blue"]},
            "green",
            "Select colour from the list",
        ),
        ({"type": "string", "title": "Mode", "const": "demo"}, "live", "Mode must be 'demo'"),
        (
            {"type": "integer", "title": "Number of users", "maximum": 10},
            11,
            "Number of users must be 10 or less",
        ),
        (
            {"type": "integer", "title": "Number of users", "minimum": 1},
            0,
            "Number of users must be 1 or more",
        ),
        ({"type": "number", "title": "Ratio", "exclusiveMaximum": 1.0}, 1, "Ratio must be less than 1"),
        ({"type": "number", "title": "Ratio", "exclusiveMinimum": 0}, 0, "Ratio must be more than 0"),
        ({"type": "number", "title": "Step", "multipleOf": 0.5}, 0.7, "Step must be a multiple of 0.5"),
        ({"type": "integer", "title": "Rows"}, 1.5, "Rows must be a whole number"),
        ({"type": "integer", "title": "Rows"}, 10**400, "Rows must be between -1e+308 and 1e+308"),
        ({"type": "number", "title": "Ratio"}, "half", "Ratio must be a number"),
        ({"type": "boolean", "title": "Debug"}, "yes", "Debug must be true or false"),
        ({"type": "string", "title": "Greeting"}, 5, "Greeting must be text"),
        ({"type": "string", "title": "Greeting"}, "a\x00", "Greeting must not contain null characters"),
        (
            {"type": "string", "title": "Greeting"},
            "\ud800",
            "Greeting must be ordinary text (it holds a broken character)",
        ),
    ],
)
def test_each_keyword_has_a_plain_message(spec: dict[str, Any], value: Any, message: str) -> None:
    fault = parameters.value_fault(spec, value, name="greeting")
    assert fault is not None and fault[0] == message and fault[1]


def test_the_name_is_made_readable_when_there_is_no_title() -> None:
    fault = parameters.value_fault({"type": "integer", "maximum": 10}, 11, name="number_of_users")
    assert fault is not None and fault[0] == "Number of users must be 10 or less"


def test_a_required_parameter_asks_to_enter_select_or_choose_yes_or_no() -> None:
    schema = {
        "type": "object",
        "required": ["greeting", "colour", "debug", "api_url"],
        "properties": {
            "greeting": {"type": "string", "title": "Greeting"},
            "colour": {"type": "string", "enum": ["red"]},
            "debug": {"type": "boolean", "title": "Debug mode"},
            "api_url": {"type": "string", "title": "URL of the API"},
        },
    }
    assert [p.message for p in parameters.value_problems(schema, {})] == [
        "Enter greeting",
        "Select colour",
        "Select yes or no for debug mode",
        "Enter URL of the API",
    ]


def test_a_pattern_hint_gives_the_examples_when_there_are_some() -> None:
    spec = {"type": "string", "pattern": "^[A-Z]{3}$", "examples": ["ABC"]}
    assert parameters.value_fault(spec, "x", name="code") == (
        "Enter code in the right format",
        "for example 'ABC' (see the template's parameters)",
    )


def test_no_message_repeats_the_value_typed() -> None:
    typed = "SECRET-" + "y" * 400
    for spec in (GREETING, {"type": "string", "pattern": "^a$"}, {"type": "string", "enum": ["a"]}):
        fault = parameters.value_fault(spec, typed, name="greeting")
        assert fault is not None and "SECRET" not in fault[0] + fault[1] and len(fault[0]) < 80


def test_json_equality_true_is_not_one_and_one_is_one_point_zero() -> None:
    spec = {"type": "number", "enum": [1, 2.5]}
    assert parameters.value_fault(spec, 1.0) is None
    assert parameters.value_fault({"type": "integer", "const": 1}, 1) is None
    assert parameters.value_fault({"type": "boolean", "enum": [True]}, True) is None
    assert parameters.value_fault(spec, 3) is not None


def test_pattern_is_an_unanchored_search_as_in_json_schema() -> None:
    spec = {"type": "string", "pattern": "[0-9]"}
    assert parameters.value_fault(spec, "abc1def") is None
    assert parameters.value_fault(spec, "abc") is not None


def test_an_adversarial_value_is_judged_in_linear_time() -> None:
    """`^(a+)+$` on 'aaa...!' takes Python's re longer than the age of the universe; RE2 does
    not backtrack. The bound is generous on purpose: machines are noisy."""
    spec = {"type": "string", "pattern": "^(a+)+$"}
    started = time.monotonic()
    for _ in range(100):
        assert parameters.value_fault(spec, "a" * 4095 + "!") is not None
    assert time.monotonic() - started < 5


def test_a_long_value_is_refused_before_any_pattern_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*_args: Any) -> bool:
        raise AssertionError("matched a value over the length cap")

    monkeypatch.setattr(parameters, "matches", never)
    fault = parameters.value_fault({"type": "string", "pattern": "^a+$"}, "a" * 100_000)
    assert fault is not None and "4096 characters or fewer" in fault[0]


@given(st.text(max_size=50))
@settings(max_examples=200)
def test_re2_search_agrees_with_re_on_a_simple_pattern(text: str) -> None:
    """The same answer as JSON Schema's (ECMA-262) semantics for the patterns both share."""
    pattern = "^[a-z]+-[0-9]{2,4}$|^x"
    assert parameters.matches(pattern, text) == (re.search(pattern, text) is not None)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "type",
                        "enum",
                        "pattern",
                        "maxLength",
                        "minimum",
                        "default",
                        "properties",
                        "required",
                        "code",
                        "allOf",
                        "const",
                        "multipleOf",
                    ]
                ),
                children,
                max_size=4,
            )
        ),
        max_leaves=20,
    )
)
@settings(max_examples=300)
def test_any_schema_either_passes_or_fails_with_paths_and_hints(data: Any) -> None:
    for issue in parameters.schema_problems(data):
        assert issue.message and issue.hint


@given(
    st.dictionaries(
        st.sampled_from(["tone", "code", "rows", "ratio", "debug", "other"]),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=20)
        | st.lists(st.integers(), max_size=2),
    )
)
@settings(max_examples=300)
def test_any_values_either_pass_or_fail_with_the_field_named(values: dict[str, Any]) -> None:
    for problem in parameters.value_problems(SCHEMA, values):
        assert problem.field.startswith("parameters") and problem.message and problem.hint
