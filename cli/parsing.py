"""What `denctl` reads from its command line, as pure functions: durations with a unit,
`TYPE/NAME` references, field selectors, and the `-o jsonpath=...`, `-o custom-columns=...` and
`--sort-by` expressions (JSONPath, by jsonpath-ng). A mistake is a `UsageError` (exit 2)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext.parser import parse as jsonpath_parse


class UsageError(Exception):
    """The command line is wrong; the message says how to put it right."""


# --- durations ---------------------------------------------------------------------------

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def parse_duration(text: str) -> int:
    """`90s`, `30m`, `1h30m`, `2d`, `1d2h3m4s` -> seconds. A bare number is refused: `90`
    could mean seconds or minutes, and an extension spent on the wrong one is gone."""
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        raise UsageError(f"duration {text!r} has no unit: add a unit: {cleaned}s, {cleaned}m, 1h30m")
    match = _DURATION.match(cleaned)
    if not cleaned or match is None or not any(match.groups()):
        raise UsageError(f"bad duration {text!r}: use a number and a unit, e.g. 90s, 30m, 1h30m or 2d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:
        raise UsageError(f"duration {text!r} is zero: give a length of time, e.g. 30m")
    return total


def format_duration(seconds: int) -> str:
    """Seconds -> the exact duration `parse_duration` reads back: 5400 -> `1h30m`."""
    if seconds <= 0:
        return "0s"
    parts, left = [], int(seconds)
    for unit, size in _UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


# --- TYPE/NAME ---------------------------------------------------------------------------


def parse_refs(
    first: str, rest: Sequence[str], *, aliases: Mapping[str, str], allowed: Sequence[str]
) -> tuple[str, list[str]]:
    """kubectl's two spellings: `tr ID ID` or `trials/ID trials/ID` -> ("trials", [ID, ID]).
    Every reference in the slash form must be of the same kind."""
    if "/" not in first:
        kind = _kind(first, aliases, allowed)
        for name in rest:
            if "/" in name:
                raise UsageError(
                    f"{name!r}: give either a type then names (tr ID) or TYPE/NAME each (trials/ID)"
                )
        return kind, list(rest)
    kinds, names = set(), []
    for ref in (first, *rest):
        type_, sep, name = ref.partition("/")
        if not sep or not type_ or not name or "/" in name:
            raise UsageError(f"bad reference {ref!r}: use TYPE/NAME, e.g. trials/t1a2b3c4d5e6")
        kinds.add(_kind(type_, aliases, allowed))
        names.append(name)
    if len(kinds) > 1:
        raise UsageError("name objects of one type at a time, e.g. trials/ID trials/ID")
    return kinds.pop(), names


def _kind(name: str, aliases: Mapping[str, str], allowed: Sequence[str]) -> str:
    kind = aliases.get(name)
    if kind is None or kind not in allowed:
        raise UsageError(f"unknown or unsupported resource {name!r} here; use " + ", ".join(allowed))
    return kind


# --- field selectors ---------------------------------------------------------------------


@dataclass(frozen=True)
class FieldTerm:
    key: str
    equal: bool  # `=`/`==` (True) or `!=` (False)
    value: str

    def matches(self, item: Mapping[str, Any]) -> bool:
        found = item.get(self.key)
        text = "" if found is None else str(found).lower() if isinstance(found, bool) else str(found)
        same = text == self.value
        if self.key == "template" and "@" not in self.value:  # a name matches every version
            same = text.partition("@")[0] == self.value
        return same == self.equal


def parse_field_selector(text: str | None, *, keys: Sequence[str]) -> list[FieldTerm]:
    """`phase=Ready,template!=x` -> terms; `key==value` means `key=value`, as in kubectl."""
    terms = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        match = re.fullmatch(r"([A-Za-z_.]+)\s*(!=|==|=)\s*(.*)", part)
        if match is None:
            raise UsageError(f"bad field selector {part!r}: use key=value or key!=value")
        key, op, value = match.group(1).removeprefix("."), match.group(2), match.group(3).strip()
        if key not in keys:
            raise UsageError(f"bad field selector {part!r}: the fields are " + ", ".join(keys))
        terms.append(FieldTerm(key=key, equal=op != "!=", value=value))
    return terms


def select_fields(items: Sequence[Mapping[str, Any]], terms: Sequence[FieldTerm]) -> list[Any]:
    return [item for item in items if all(term.matches(item) for term in terms)]


# --- JSONPath: -o jsonpath=..., -o custom-columns=..., --sort-by ----------------------------


def _path(expression: str) -> Any:
    """kubectl's relative JSONPath (`.items[*].id`, `{.id}`) -> a compiled jsonpath-ng path."""
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    text = "$" + text if text.startswith((".", "[")) else text if text.startswith("$") else "$." + text
    try:
        return jsonpath_parse(text)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:
        raise UsageError(f"bad JSONPath {expression!r}: {exc}") from exc


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def values(document: Any, expression: str) -> list[Any]:
    return [match.value for match in _path(expression).find(document)]


def jsonpath_text(document: Any, template: str) -> str:
    """kubectl's `-o jsonpath=TEMPLATE`: each `{expression}` is replaced by its values, space
    separated; the text around them is kept (`\\n` and `\\t` too)."""
    if "{" not in template:
        template = "{" + template + "}"
    out, position = [], 0
    for match in re.finditer(r"\{([^{}]*)\}", template):
        out.append(template[position : match.start()])
        expression = match.group(1).strip()
        if len(expression) >= 2 and expression[0] == expression[-1] and expression[0] in "'\"":
            out.append(expression[1:-1])  # a literal, as in kubectl's {"\n"}
        else:
            out.append(" ".join(_show(v) for v in values(document, expression)))
        position = match.end()
    out.append(template[position:])
    return "".join(out).replace("\\n", "\n").replace("\\t", "\t")


def custom_columns(spec: str) -> list[tuple[str, str]]:
    """`ID:.id,PHASE:.phase` -> [("ID", ".id"), ("PHASE", ".phase")], each path checked."""
    columns = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        header, sep, expression = part.partition(":")
        if not sep or not header or not expression:
            raise UsageError(f"bad custom column {part!r}: use HEADER:.field, e.g. ID:.id,PHASE:.phase")
        _path(expression)
        columns.append((header, expression))
    if not columns:
        raise UsageError("custom-columns needs at least one HEADER:.field")
    return columns


def column_cells(item: Any, columns: Sequence[tuple[str, str]]) -> list[str]:
    cells = []
    for _header, expression in columns:
        found = [v for v in values(item, expression) if v is not None]
        cells.append(",".join(_show(v) for v in found) if found else "<none>")
    return cells


def sort_by(items: Sequence[Any], expression: str) -> list[Any]:
    """Items ordered by the first value of `expression`; those without one come first."""
    path = _path(expression)

    def key(item: Any) -> tuple[int, Any]:
        found = [m.value for m in path.find(item)]
        value = found[0] if found else None
        if value is None:
            return (0, "")
        return (1, value) if isinstance(value, int | float) else (2, _show(value))

    return sorted(items, key=key)


def parse_output(text: str, *, formats: Sequence[str]) -> tuple[str, str]:
    """`-o` -> (format, argument): `yaml` -> ("yaml", ""), `jsonpath={.id}` -> ("jsonpath",
    "{.id}"), `custom-columns=ID:.id` -> ("custom-columns", "ID:.id")."""
    name, sep, argument = text.partition("=")
    if name in ("jsonpath", "custom-columns"):
        if not sep or not argument:
            raise UsageError(
                f"-o {name} needs an expression: -o {name}="
                + ("'{.items[*].id}'" if name == "jsonpath" else "ID:.id,PHASE:.phase")
            )
        if name == "custom-columns":
            custom_columns(argument)
        else:
            jsonpath_text({}, argument)
        return name, argument
    if sep or name not in formats:
        raise UsageError(
            f"unknown output format {text!r}; use {', '.join(formats)}, jsonpath=... or custom-columns=..."
        )
    return name, ""
