"""The parameter subset of JSON Schema: what a template's `spec.parameters` may say, and the
check of a trial's values against it.

Why a subset: validating one trial request must take time linear in its size for every schema a
supplier can publish, because it runs in the process that serves every page and reconciles
every trial. Full JSON Schema cannot promise that (a backtracking `pattern` such as `^(a+)+$`,
nested `anyOf`, `uniqueItems` over a huge array, references), so a parameter is a flat scalar
with a few bounded keywords, refused at publish otherwise (`schema_problems`, each problem with
its path below `spec.parameters` and a hint). Values are checked by our own code
(`value_problems`): sizes first, and a `pattern` only ever runs on RE2, whose matching is linear
in the value (no backtracking, so no backreferences or look-around either). Nothing here uses
Python's `re` on a supplier's pattern. The rules are documented in the template guide
(`GUIDE`, "Parameters"); `published_schema` is the same subset as a JSON Schema for the manifest's schema.

Longer than most modules (the house says about 150 lines): the subset's rules at publish and at
request time belong together, so that one cannot drift from the other.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import re2

from orchestrator.errors import Problem

MAX_PARAMETERS = 50
MAX_SCHEMA_BYTES = 64 * 1024
MAX_ENUM = 200
MAX_EXAMPLES = 20
#: Values become environment variables: no string value is ever longer than this.
MAX_VALUE_LENGTH = 4096
MAX_PATTERN_LENGTH = 1000
MAX_TITLE = 200
MAX_DESCRIPTION = 5000
#: The largest magnitude of a number (parameter values and schema bounds alike).
MAX_NUMBER = 1e308
MAX_ISSUES = 50
DRAFT = "https://json-schema.org/draft/2020-12/schema"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
#: Where suppliers read the rules: the den's own guide page (never a path in a repository).
GUIDE = "/guide/templates"
DOCS = f"see 'Parameters' in the template guide, {GUIDE}#parameters"

SCALAR_TYPES = ("string", "integer", "number", "boolean")
_COMMON = frozenset({"type", "enum", "const", "default", "title", "description", "examples"})
_NUMERIC = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
_STRING = frozenset({"minLength", "maxLength", "pattern"})
_ANY_TYPE = _COMMON | _NUMERIC | _STRING
_BY_TYPE = {
    "string": _COMMON | _STRING,
    "integer": _COMMON | _NUMERIC,
    "number": _COMMON | _NUMERIC,
    "boolean": _COMMON,
}
_TOP_LEVEL = frozenset(
    {"$schema", "type", "title", "description", "properties", "required", "additionalProperties"}
)

_FLAT = "parameters are flat: declare each one under spec.parameters.properties"
_SCALAR = "a parameter is one value (string, integer, number or boolean): it becomes an environment variable"
_REFUSED_HINTS = {
    **dict.fromkeys(
        (
            "$ref",
            "$defs",
            "definitions",
            "$dynamicRef",
            "$dynamicAnchor",
            "$anchor",
            "$id",
            "$vocabulary",
            "$recursiveRef",
        ),
        "write each parameter out in full: references are never followed",
    ),
    **dict.fromkeys(
        ("allOf", "anyOf", "oneOf", "not", "if", "then", "else"),
        "use enum for a choice between values, or one pattern",
    ),
    **dict.fromkeys(
        (
            "properties",
            "patternProperties",
            "additionalProperties",
            "required",
            "dependentRequired",
            "dependentSchemas",
            "dependencies",
            "propertyNames",
            "unevaluatedProperties",
            "minProperties",
            "maxProperties",
        ),
        _FLAT,
    ),
    **dict.fromkeys(
        (
            "items",
            "prefixItems",
            "additionalItems",
            "contains",
            "minContains",
            "maxContains",
            "uniqueItems",
            "minItems",
            "maxItems",
            "unevaluatedItems",
        ),
        _SCALAR,
    ),
    "format": "use a pattern (RE2 syntax) for the form of the value",
}

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    """One problem with a parameters schema: where below `spec.parameters`, what, how to fix."""

    path: Path
    message: str
    hint: str = ""


# --- the schema, at publish --------------------------------------------------------------------


def schema_problems(schema: Any) -> list[Issue]:
    """Every way `schema` leaves the subset (empty when it is inside it)."""
    if not isinstance(schema, dict):
        return [
            Issue(
                (),
                "parameters must be a mapping: a JSON Schema of type 'object'",
                "start with 'type: object' and 'properties:'",
            )
        ]
    size = _serialised_size(schema)
    if size is None:
        return [
            Issue(
                (),
                "parameters must be JSON data (strings, numbers, true/false, lists "
                "and mappings with text keys)",
                "quote dates and other special values",
            )
        ]
    if size > MAX_SCHEMA_BYTES:
        return [
            Issue(
                (),
                f"the parameters schema is {size} bytes as JSON, over {MAX_SCHEMA_BYTES}",
                "shorten descriptions and enums, or use fewer parameters",
            )
        ]
    issues = _top_level_problems(schema)
    properties = schema.get("properties", {})
    if isinstance(properties, dict):
        for name, spec in properties.items():
            issues += parameter_problems(("properties", _key(name)), spec)
    return issues[:MAX_ISSUES]


def _serialised_size(schema: dict[str, Any]) -> int | None:
    try:
        return len(json.dumps(schema, ensure_ascii=False).encode("utf-8", "replace"))
    except (TypeError, ValueError):
        return None


def _key(key: Any) -> str:
    return str(key)[:60]


def _top_level_problems(schema: dict[str, Any]) -> list[Issue]:
    issues = _unknown_keywords((), schema, _TOP_LEVEL, where="at the top of parameters")
    if schema.get("type", "object") != "object":
        issues.append(
            Issue(
                ("type",),
                "parameters must be a JSON Schema of type 'object'",
                "use 'type: object' and declare each parameter under properties",
            )
        )
    if "$schema" in schema and schema["$schema"] != DRAFT:
        issues.append(
            Issue(("$schema",), f"only {DRAFT} is understood", "remove $schema, or use the 2020-12 draft")
        )
    issues += _text_problems((), schema)
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        issues.append(
            Issue(
                ("properties",),
                "properties must be a mapping of parameter names",
                "write 'properties: {tone: {type: string}}'",
            )
        )
    elif len(properties) > MAX_PARAMETERS:
        issues.append(
            Issue(
                ("properties",),
                f"{len(properties)} parameters, over {MAX_PARAMETERS}",
                "use fewer parameters",
            )
        )
    issues += _required_problems(schema.get("required", []), properties)
    if schema.get("additionalProperties", False) is not False:
        issues.append(
            Issue(
                ("additionalProperties",),
                "additionalProperties may only be false",
                "remove it: parameters not declared are always refused",
            )
        )
    return issues


def _required_problems(required: Any, properties: Any) -> list[Issue]:
    names = properties if isinstance(properties, dict) else {}
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return [
            Issue(("required",), "required must be a list of parameter names", "write 'required: [tone]'")
        ]
    if len(set(required)) != len(required):
        return [Issue(("required",), "required names a parameter twice", "name each once")]
    return [
        Issue(
            ("required", index),
            f"{name[:60]!r} is required but not declared",
            "declare it under properties, or remove it from required",
        )
        for index, name in enumerate(required)
        if name not in names
    ][:MAX_ISSUES]


def _unknown_keywords(
    path: Path, node: dict[str, Any], allowed: frozenset[str], *, where: str
) -> list[Issue]:
    return [_refused(path, key, allowed, where=where) for key in node if key not in allowed]


def _refused(path: Path, key: Any, allowed: frozenset[str], *, where: str) -> Issue:
    return Issue(
        (*path, _key(key)),
        f"{_key(key)!r} is not allowed {where}: parameters use a small subset of JSON Schema",
        _REFUSED_HINTS.get(str(key)) or f"use only {', '.join(sorted(allowed))} ({DOCS})",
    )


def _text_problems(path: Path, node: dict[str, Any]) -> list[Issue]:
    issues = []
    for key, limit in (("title", MAX_TITLE), ("description", MAX_DESCRIPTION)):
        if key in node and not (isinstance(node[key], str) and len(node[key]) <= limit):
            issues.append(
                Issue((*path, key), f"{key} must be text of at most {limit} characters", "shorten it")
            )
    return issues


def parameter_problems(path: Path, spec: Any) -> list[Issue]:
    """What is wrong with one parameter's schema (`path` is where it is)."""
    if not isinstance(spec, dict):
        return [Issue(path, "a parameter is a mapping such as {type: string}", "give the parameter a type")]
    kind = spec.get("type")
    if not isinstance(kind, str) or kind not in SCALAR_TYPES:
        wrong = f"not {_shown(kind)}" if "type" in spec else "and is missing"
        issues = _unknown_keywords(path, spec, _ANY_TYPE, where="in a parameter")
        issues.append(
            Issue((*path, "type"), f"type must be one of {', '.join(SCALAR_TYPES)}, {wrong}", _SCALAR)
        )
        return issues
    allowed = _BY_TYPE[kind]
    issues = [
        _wrong_type_keyword(path, key, kind)
        if key in _ANY_TYPE
        else _refused(path, key, allowed, where="in a parameter")
        for key in spec
        if key not in allowed
    ]
    issues += _text_problems(path, spec)
    for key, check in _KEYWORD_CHECKS.items():
        if key in spec:
            issues += [
                Issue((*path, key, *sub), message, hint) for sub, message, hint in check(spec[key], kind)
            ]
    # Only a parameter whose keywords are each well formed can be checked as a whole.
    return issues or _bounds_problems(path, spec) or _sample_problems(path, spec)


def _wrong_type_keyword(path: Path, key: str, kind: str) -> Issue:
    fits = "string" if key in _STRING else "integer and number"
    return Issue(
        (*path, key),
        f"{key!r} applies only to {fits} parameters, not {kind}",
        f"remove it, or change the type ({DOCS})",
    )


Found = list[tuple[Path, str, str]]  # (path below the keyword, message, hint)


def _check_enum(value: Any, kind: str) -> Found:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ENUM:
        return [((), f"enum must be a list of 1 to {MAX_ENUM} values", "list the choices")]
    found: Found = [
        (
            (index,),
            f"{_shown(item)} is not a {kind} of at most {MAX_VALUE_LENGTH} characters",
            f"use {kind} values only",
        )
        for index, item in enumerate(value)
        if _type_fault(kind, item)
    ]
    seen = {_identity(item) for item in value}
    if not found and len(seen) != len(value):
        found.append(((), "enum lists a value twice", "list each choice once"))
    return found[:MAX_ISSUES]


def _check_const(value: Any, kind: str) -> Found:
    return [((), f"const must be a {kind}", f"use a {kind} value")] if _type_fault(kind, value) else []


def _check_examples(value: Any, kind: str) -> Found:
    if not isinstance(value, list) or len(value) > MAX_EXAMPLES:
        return [((), f"examples must be a list of at most {MAX_EXAMPLES} values", "list fewer")]
    return [
        ((index,), f"example {_shown(item)} is not a {kind}", f"use {kind} values only")
        for index, item in enumerate(value)
        if _type_fault(kind, item)
    ]


def _check_number(value: Any, _kind: str) -> Found:
    if not _is_number(value):
        return [
            (
                (),
                f"must be a number between -{MAX_NUMBER:g} and {MAX_NUMBER:g}",
                "use a plain number such as 10",
            )
        ]
    return []


def _check_multiple_of(value: Any, kind: str) -> Found:
    if _check_number(value, kind) or value <= 0:
        return [((), "multipleOf must be a number greater than 0", "use e.g. 1 or 0.5")]
    return []


def _check_length(value: Any, _kind: str) -> Found:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VALUE_LENGTH:
        return [
            (
                (),
                f"must be a whole number from 0 to {MAX_VALUE_LENGTH}",
                f"values become environment variables: at most {MAX_VALUE_LENGTH} characters",
            )
        ]
    return []


def _check_pattern(value: Any, _kind: str) -> Found:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_PATTERN_LENGTH:
        return [((), f"pattern must be text of 1 to {MAX_PATTERN_LENGTH} characters", "shorten the pattern")]
    fault = pattern_fault(value)
    if fault:
        return [
            (
                (),
                f"RE2 cannot compile this pattern: {fault}"[:300],
                "patterns use RE2 syntax, matched in linear time: no backreferences, "
                "look-ahead or look-behind; repetition counts of at most 1000 (nested ones "
                "multiplied); write \\z, not \\Z",
            )
        ]
    return []


_KEYWORD_CHECKS: dict[str, Callable[[Any, str], Found]] = {
    "enum": _check_enum,
    "const": _check_const,
    "examples": _check_examples,
    "minimum": _check_number,
    "maximum": _check_number,
    "exclusiveMinimum": _check_number,
    "exclusiveMaximum": _check_number,
    "multipleOf": _check_multiple_of,
    "minLength": _check_length,
    "maxLength": _check_length,
    "pattern": _check_pattern,
}


def _bounds_problems(path: Path, spec: dict[str, Any]) -> list[Issue]:
    issues = []
    for low, high in (("minLength", "maxLength"), ("minimum", "maximum")):
        if low in spec and high in spec and spec[low] > spec[high]:
            issues.append(
                Issue((*path, low), f"{low} is more than {high}: no value fits", f"make {low} at most {high}")
            )
    return issues


def _sample_problems(path: Path, spec: dict[str, Any]) -> list[Issue]:
    """A default or an example that the parameter itself refuses misleads whoever reads it."""
    samples: list[tuple[Path, Any]] = [(("default",), spec["default"])] if "default" in spec else []
    samples += [(("examples", i), item) for i, item in enumerate(spec.get("examples", []))]
    issues = []
    for sub, sample in samples:
        fault = value_fault(spec, sample, name=str(path[-1]) if path else "")
        if fault:
            which = "the default" if sub[0] == "default" else f"example {int(sub[1]) + 1}"
            issues.append(
                Issue(
                    (*path, *sub),
                    f"{which} is not a value this parameter accepts: {fault[0]}",
                    "make it a value the parameter accepts",
                )
            )
    return issues


# --- patterns: RE2 only --------------------------------------------------------------------


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the supplier's error, reported to them
    options.never_capture = True
    return options


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern, _options())


def pattern_fault(pattern: str) -> str | None:
    """Why RE2 refuses `pattern`, or None when it compiles."""
    try:
        pattern.encode("utf-8")
        _compiled(pattern)
    except UnicodeEncodeError:
        return "it is not valid Unicode text"
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "refused"
        return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    return None


def matches(pattern: str, value: str) -> bool:
    """JSON Schema's `pattern`: an unanchored search, on RE2 (linear in the value)."""
    return _compiled(pattern).search(value) is not None


# --- values, at request time ---------------------------------------------------------------
#
# Messages follow the GOV.UK pattern for errors: they name the parameter by its title (or its
# name made readable), say what a good value is, and never repeat the value typed (a long one
# would run off the page, and it may be something its author would rather not see echoed).

_SEE = "see the template's parameters"


def display_name(name: str, spec: Mapping[str, Any]) -> str:
    """What people call a parameter: its title, else its name made readable."""
    title = spec.get("title") if isinstance(spec, Mapping) else None
    if isinstance(title, str) and title.strip():
        return title.strip()
    words = str(name).replace("_", " ").strip()
    return (words[:1].upper() + words[1:]) if words else "The value"


def _lowered(title: str) -> str:
    """A title in the middle of a sentence ("Enter number of users"); an acronym such as "URL"
    keeps its capitals."""
    return title if title[1:2].isupper() else title[:1].lower() + title[1:]


def value_problems(schema: Mapping[str, Any], values: Mapping[str, Any]) -> list[Problem]:
    """Every problem with a trial's parameter values, each at `parameters.<name>`. Only
    declared names are accepted: each becomes an environment variable, and only the declared
    names were checked to be safe ones."""
    declared = schema.get("properties", {})
    undeclared = sorted(str(name) for name in values if name not in declared)
    if undeclared:
        return [
            Problem(
                "parameters",
                f"This template has no parameter called {name[:60]!r}",
                "use one of its parameters: " + (", ".join(sorted(declared)) or "it has none"),
            )
            for name in undeclared[:10]
        ]
    problems = [
        Problem(f"parameters.{name}", *missing_fault(name, declared.get(name, {})))
        for name in schema.get("required", [])
        if name not in values
    ]
    for name, value in values.items():
        fault = value_fault(declared[name], value, name=name)
        if fault:
            problems.append(Problem(f"parameters.{name}", *fault))
    return problems


def missing_fault(name: str, spec: Mapping[str, Any]) -> tuple[str, str]:
    """A required parameter with no value: "Enter ..." or "Select ..." as GOV.UK asks."""
    title = _lowered(display_name(name, spec))
    if isinstance(spec, Mapping) and spec.get("type") == "boolean":
        return f"Select yes or no for {title}", f"give true or false ({_SEE})"
    if isinstance(spec, Mapping) and "enum" in spec:
        return f"Select {title}", _choices(spec)
    return f"Enter {title}", f"it is required ({_SEE})"


def value_fault(spec: Mapping[str, Any], value: Any, *, name: str = "") -> tuple[str, str] | None:
    """The first thing wrong with one value (message, hint), cheapest checks first: the type
    and size before any comparison, the length before any pattern. `name` is the parameter's,
    for its title when the schema gives none."""
    title = display_name(name, spec)
    kind = spec.get("type")
    fault = _type_fault(kind, value)
    if fault:
        return f"{title} {fault}", _type_hint(kind, value)
    if "enum" in spec and _identity(value) not in {_identity(item) for item in spec["enum"]}:
        return f"Select {_lowered(title)} from the list", _choices(spec)
    if "const" in spec and _identity(value) != _identity(spec["const"]):
        return f"{title} must be {_shown(spec['const'])}", f"it can only be {_shown(spec['const'])} ({_SEE})"
    if kind == "string":
        return _string_fault(spec, value, title)
    if kind in ("integer", "number"):
        return _number_fault(spec, value, title)
    return None


def _choices(spec: Mapping[str, Any]) -> str:
    items = spec.get("enum", [])
    more = f" (and {len(items) - 20} more)" if len(items) > 20 else ""
    return "choose one of " + ", ".join(_shown(item) for item in items[:20]) + more


def _type_hint(kind: Any, value: Any) -> str:
    if isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
        return f"shorten it ({_SEE})"
    words = {
        "string": "give ordinary text",
        "integer": "give a whole number, such as 10",
        "number": "give a number, such as 10 or 2.5",
        "boolean": "give true or false",
    }
    return f"{words.get(str(kind), 'ask the supplier to fix the template')} ({_SEE})"


def _type_fault(kind: Any, value: Any) -> str | None:
    """What is wrong with the type of `value`, worded to follow the parameter's title."""
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "string":
        return _text_fault(value)
    if kind == "integer" and not (_is_number(value) and isinstance(value, int)):
        return _magnitude(value) or "must be a whole number"
    if kind == "number" and not _is_number(value):
        return _magnitude(value) or "must be a number"
    return None if kind in SCALAR_TYPES else "cannot be set: the template gives it no usable type"


def _magnitude(value: Any) -> str | None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and (isinstance(value, int) or math.isfinite(value)) and abs(value) > MAX_NUMBER:
        return f"must be between -{MAX_NUMBER:g} and {MAX_NUMBER:g}"
    return None


def _text_fault(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be text"
    if len(value) > MAX_VALUE_LENGTH:
        return f"must be {MAX_VALUE_LENGTH} characters or fewer"
    if "\x00" in value:
        return "must not contain null characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be ordinary text (it holds a broken character)"
    return None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    # An int is compared exactly (one too large for a float must not raise).
    return (
        abs(value) <= MAX_NUMBER
        if isinstance(value, int)
        else math.isfinite(value) and abs(value) <= MAX_NUMBER
    )


def _string_fault(spec: Mapping[str, Any], value: str, title: str) -> tuple[str, str] | None:
    if len(value) > spec.get("maxLength", MAX_VALUE_LENGTH):
        return f"{title} must be {spec['maxLength']} characters or fewer", f"shorten it ({_SEE})"
    if len(value) < spec.get("minLength", 0):
        return f"{title} must be {spec['minLength']} characters or more", f"lengthen it ({_SEE})"
    if "pattern" in spec and not (pattern_fault(spec["pattern"]) is None and matches(spec["pattern"], value)):
        examples = [e for e in spec.get("examples", []) if isinstance(e, str)][:3]
        hint = (
            "for example " + " or ".join(_shown(e) for e in examples)
            if examples
            else f"it must match the pattern {spec['pattern'][:100]!r}"
        )
        return f"Enter {_lowered(title)} in the right format", f"{hint} ({_SEE})"
    return None


_BOUNDS: tuple[tuple[str, Callable[[float, float], bool], str], ...] = (
    ("minimum", lambda v, b: v < b, "{title} must be {bound} or more"),
    ("exclusiveMinimum", lambda v, b: v <= b, "{title} must be more than {bound}"),
    ("maximum", lambda v, b: v > b, "{title} must be {bound} or less"),
    ("exclusiveMaximum", lambda v, b: v >= b, "{title} must be less than {bound}"),
)


def _number_fault(spec: Mapping[str, Any], value: float, title: str) -> tuple[str, str] | None:
    for key, fails, words in _BOUNDS:
        if key in spec and fails(value, spec[key]):
            return words.format(title=title, bound=_number(spec[key])), f"give another number ({_SEE})"
    step = spec.get("multipleOf")
    if step is not None and (Fraction(repr(value)) / Fraction(repr(step))).denominator != 1:
        return (
            f"{title} must be a multiple of {_number(step)}",
            f"give a number in steps of {_number(step)} ({_SEE})",
        )
    return None


def _number(value: float) -> str:
    """A bound as people write it: 10, not 10.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _identity(value: Any) -> tuple[str, Any]:
    """JSON equality: true is not 1, and 1 is 1.0."""
    if isinstance(value, bool):
        return "boolean", value
    if isinstance(value, int | float):
        return "number", value
    return type(value).__name__, value if isinstance(value, str) else repr(value)


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- the subset as a JSON Schema -----------------------------------------------------------


def published_schema() -> dict[str, Any]:
    """The subset as a JSON Schema (for the manifest's published schema and editors); the
    checks above are the authority (they also refuse what this cannot say, such as a pattern
    RE2 refuses)."""
    scalar = {"type": ["string", "number", "boolean"]}
    length = {"type": "integer", "minimum": 0, "maximum": MAX_VALUE_LENGTH}
    parameter = {
        "type": "object",
        "additionalProperties": False,
        "required": ["type"],
        "properties": {
            "type": {"enum": list(SCALAR_TYPES)},
            "title": {"type": "string", "maxLength": MAX_TITLE},
            "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
            "enum": {"type": "array", "items": scalar, "minItems": 1, "maxItems": MAX_ENUM},
            "const": scalar,
            "default": scalar,
            "examples": {"type": "array", "items": scalar, "maxItems": MAX_EXAMPLES},
            **{key: {"type": "number"} for key in sorted(_NUMERIC - {"multipleOf"})},
            "multipleOf": {"type": "number", "exclusiveMinimum": 0},
            "minLength": length,
            "maxLength": length,
            "pattern": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_PATTERN_LENGTH,
                "description": "RE2 syntax; an unanchored search, as in JSON Schema",
            },
        },
    }
    return {
        "title": "Parameters",
        "type": "object",
        "additionalProperties": False,
        "description": "A subset of JSON Schema (2020-12): flat scalar parameters whose values "
        f"reach the workload as environment variables ({DOCS}).",
        "properties": {
            "$schema": {"const": DRAFT},
            "type": {"const": "object"},
            "title": {"type": "string", "maxLength": MAX_TITLE},
            "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
            "properties": {
                "type": "object",
                "maxProperties": MAX_PARAMETERS,
                "propertyNames": {"pattern": NAME_PATTERN},
                "additionalProperties": parameter,
            },
            "required": {
                "type": "array",
                "items": {"type": "string"},
                "maxItems": MAX_PARAMETERS,
                "uniqueItems": True,
            },
            "additionalProperties": {"const": False},
        },
    }
