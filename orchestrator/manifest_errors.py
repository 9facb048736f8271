"""Manifest problems as a supplier reads them: the field as they wrote it, the line it is on,
what is wrong in plain words and what to write instead.

The validator (pydantic) speaks of `spec.components.1.image` and "Input should be a valid
string"; a supplier wrote line 14 of a YAML file. So each validation error is reworded here by
its kind (never pydantic's own text), its path is written the way the manifest reads (keys joined
by dots, list items counted from 1 in words: `spec.components, item 2, image`), and the line is
found by composing the manifest's YAML node tree (JSON is YAML too) and walking it along the
path. A field that is missing is placed on the line of the mapping it belongs in.

Every problem has a hint; the hints send suppliers to the den's own guide (`GUIDE`), never to a
file in a repository.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic_core import ErrorDetails

from orchestrator.errors import Problem
from orchestrator.parameters import GUIDE

Path = tuple[str | int, ...]
_MANIFEST_GUIDE = f"the template guide, {GUIDE}"


@dataclass(frozen=True)
class ManifestProblem(Problem):
    """A problem with a manifest. `field` stays the path for programs (dotted, items counted
    from 0, as every `Problem` has it); `where` is the field as the supplier wrote it and
    `line` (1-based) where it is, when the manifest's text is known."""

    where: str = ""
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "where": self.where or self.field, "line": self.line}


def dotted(path: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in path) or "(document)"


# --- the field, as a supplier writes it ----------------------------------------------------


def where(path: Sequence[str | int]) -> str:
    """`("spec", "components", 1, "image")` -> "spec.components, item 2, image"."""
    if not path:
        return "the manifest"
    text, after_item = "", False
    for part in path:
        if isinstance(part, int):
            text, after_item = f"{text}, item {part + 1}", True
            continue
        if part == "[key]":
            text += " (the name)"
        else:
            text += (", " if after_item else "." if text else "") + part
        after_item = False
    return text


def path_of(field: str) -> Path:
    """A dotted path with items counted from 0 (the core's `Problem.field`) as parts."""
    if field.startswith("("):
        return ()
    return tuple(int(part) if part.isascii() and part.isdigit() else part for part in field.split("."))


# --- lines ---------------------------------------------------------------------------------


def line_finder(text: str | bytes, loader: type[yaml.SafeLoader]) -> Callable[[Path], int | None]:
    """A function from a path to its 1-based line in `text` (None when the text is not YAML
    or the path leads nowhere: the problem is then about the whole manifest)."""
    try:
        root = yaml.compose(text, Loader=loader)
    except yaml.YAMLError:
        root = None

    def find(path: Path) -> int | None:
        return _line(root, path) if root is not None else None

    return find


def _line(node: yaml.Node, path: Path) -> int | None:
    line = node.start_mark.line + 1
    for part in path:
        if part == "[key]":
            return line
        child = _child(node, part)
        if child is None:
            return line  # a missing field: the mapping it belongs in
        line, node = child
    return line


def _child(node: yaml.Node, part: str | int) -> tuple[int, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key.start_mark.line + 1, value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item = node.value[part]
        return item.start_mark.line + 1, item
    return None


def located(problems: Sequence[Problem], find: Callable[[Path], int | None]) -> list[ManifestProblem]:
    """Each problem with its line and its field as a supplier writes it (a core problem such
    as `spec.egress.0.host` from the publishing rules is written the same way)."""
    found = []
    for problem in problems:
        path = path_of(problem.field)
        line = problem.line if isinstance(problem, ManifestProblem) and problem.line else None
        found.append(
            ManifestProblem(
                problem.field,
                problem.message,
                problem.hint or f"see {_MANIFEST_GUIDE}",
                where=where(path) if path else "the manifest",
                line=line or (find(path) if path else None),
            )
        )
    return found


# --- what is wrong, in words ---------------------------------------------------------------

_SECURITY_FIELDS = frozenset(
    {
        "privileged",
        "hostPath",
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "capabilities",
        "securityContext",
        "volumes",
        "volumeMounts",
        "runAsUser",
        "user",
        "devices",
    }
)
_PATTERN_HINTS = {
    "name": ("a name", "lower-case letters, digits and '-', starting with a letter, at most 40 characters"),
    "supplier": ("a supplier's slug", "your supplier's slug: lower-case letters, digits and '-'"),
    "version": ("a version number", "a version such as 1.2.0 (three numbers joined by dots)"),
    "image": (
        "an image reference",
        "an image reference such as registry.example/team/app:1.0, "
        "with no spaces, quotes or shell characters",
    ),
    "path": ("a path", "an absolute URL path such as /healthz"),
    "host": ("a host", "a DNS name such as api.example.org (or *.example.org), or an IPv4 CIDR"),
}
_KINDS = {
    "string_type": ("text", 'put it in quotes, like {key}: "{value}"'),
    "int_type": ("a whole number", "write digits only, with no quotes or decimal point, like {key}: 3"),
    "int_parsing": ("a whole number", "write digits only, with no quotes or decimal point, like {key}: 3"),
    "int_from_float": ("a whole number", "drop the decimal point: write {key}: 3, not {key}: 3.5"),
    "float_type": ("a number", "write a number with no quotes, like {key}: 1.5"),
    "float_parsing": ("a number", "write a number with no quotes, like {key}: 1.5"),
    "bool_type": ("true or false", "write {key}: true or {key}: false"),
    "bool_parsing": ("true or false", "write {key}: true or {key}: false"),
    "dict_type": ("a mapping", "put its fields on the lines below it, indented, each as 'name: value'"),
    "model_type": ("a mapping", "put its fields on the lines below it, indented, each as 'name: value'"),
    "model_attributes_type": (
        "a mapping",
        "put its fields on the lines below it, indented, each as 'name: value'",
    ),
    "list_type": ("a list", "put each item on its own line below it, starting with '- '"),
}
#: Hints for our own validators' messages (orchestrator/manifest.py), by what they say.
_VALUE_HINTS = (
    ("readinessProbe port", "probe one of the component's ports, or add that port under ports"),
    ("port names must be unique", "give each port of the component a different name"),
    ("port name", "use at most 15 characters with a letter and no '--', such as http"),
    ("component names must be unique", "give each component a different name"),
    ("CPU quantity", 'write CPU in cores, like cpu: "0.5" or cpu: 500m'),
    ("CPU must be", 'write CPU in cores, like cpu: "0.5" or cpu: 500m'),
    ("over limits.cpu", "raise limits.cpu, or give the components less CPU"),
    ("limits.memory", "raise limits.memory, or give the components less memory"),
    ("memory", "write memory with a unit, like memory: 256Mi or memory: 1Gi"),
    ("path", "write plain absolute paths such as /tmp, each once"),
    ("defaultDuration", "make defaultDuration at most maxDuration (both in seconds)"),
    ("reach", "reach a public destination: a DNS name such as api.example.org, or a public CIDR"),
    ("address", "write an address as a CIDR such as 203.0.113.10/32"),
    ("network", "write a network as a CIDR such as 203.0.113.0/24"),
)


def problem_of(error: ErrorDetails) -> ManifestProblem:
    """One validation error as a supplier reads it (field, message, hint; no line yet)."""
    path: Path = tuple(error["loc"])
    named = [p for p in path if isinstance(p, str) and p != "[key]"]
    key = named[-1] if named else "the manifest"
    subject = where(path)
    message, hint = _words(error, key=key, subject=subject, path=path)
    return ManifestProblem(dotted(path), message, hint or f"see {_MANIFEST_GUIDE}", where=subject)


def _words(error: ErrorDetails, *, key: str, subject: str, path: Path) -> tuple[str, str]:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "parameter_schema":  # orchestrator/parameters.py worded it
        message = str(ctx.get("message", ""))
        return (f"{key} {message}" if message.startswith("must ") else message), str(ctx.get("hint", ""))
    if kind == "missing":
        return f"{subject} is missing", f"add {key}: under {where(path[:-1])} ({_MANIFEST_GUIDE})"
    if kind == "extra_forbidden":
        if key in _SECURITY_FIELDS:
            return (
                f"{subject} is not allowed: sandboxes never get host access or extra privileges",
                "remove it: every container runs unprivileged, read-only, with no capabilities",
            )
        return (
            f"{subject} is not a field of the manifest",
            f"remove it, or check its spelling and indentation against {_MANIFEST_GUIDE}",
        )
    if kind in _KINDS:
        what, hint = _KINDS[kind]
        return f"{subject} must be {what}", hint.format(key=key, value=_shown(error.get("input")))
    if kind == "string_pattern_mismatch":
        if path and path[-1] == "[key]":
            return f"{subject} is not a name allowed here", _name_hint(path)
        what, hint = _PATTERN_HINTS.get(key, ("", ""))
        return (
            f"{subject} must be {what or 'in the right form'}",
            hint or _name_hint(path) or f"see {_MANIFEST_GUIDE}",
        )
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        choices = expected.replace(" or ", ", ").split(", ")
        return f"{subject} must be {expected}", f"write {key}: {choices[0]}"
    return _bounded(kind, ctx, key=key, subject=subject, error=error)


def _bounded(
    kind: str, ctx: Mapping[str, Any], *, key: str, subject: str, error: ErrorDetails
) -> tuple[str, str]:
    bounds = {
        "greater_than_equal": ("{ge} or more", "ge"),
        "greater_than": ("more than {gt}", "gt"),
        "less_than_equal": ("{le} or less", "le"),
        "less_than": ("less than {lt}", "lt"),
        "string_too_short": ("at least {min_length} characters long", "min_length"),
        "string_too_long": ("{max_length} characters or fewer", "max_length"),
        "too_short": ("a list of at least {min_length} item(s)", "min_length"),
        "too_long": ("a list of at most {max_length} items", "max_length"),
    }
    if kind in bounds:
        words, name = bounds[kind]
        shown = words.format(**{name: _number(ctx.get(name))})
        return f"{subject} must be {shown}", f"change {key} to {shown}"
    if kind in ("value_error", "assertion_error"):
        message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        hint = next((hint for words, hint in _VALUE_HINTS if words in message), f"see {_MANIFEST_GUIDE}")
        return f"{subject}: {message}", hint
    return f"{subject} is not a value allowed here", f"check {key} against {_MANIFEST_GUIDE}"


def _name_hint(path: Path) -> str:
    if "env" in path:
        return "environment variable names are upper-case letters, digits and '_', like PORT"
    if "tags" in path or "problemAreas" in path:
        return "lower-case words joined by '-', like open-data"
    return ""


def _shown(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
