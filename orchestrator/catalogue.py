"""Load and validate template manifests.

`parse_manifest_text` turns untrusted YAML or JSON into a `TemplateManifest` or raises
`ValidationFailed` listing *every* problem with its field path and a hint. YAML is read with a
safe loader that also refuses anchors and aliases (so an alias bomb cannot expand), more than
one document, deep nesting and oversized input. Manifest text is data: nothing here renders it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from orchestrator.errors import PermanentError, Problem, ValidationFailed
from orchestrator.manifest import TemplateManifest

MAX_MANIFEST_BYTES = 256 * 1024
MAX_DEPTH = 20

_HINTS = {
    "extra_forbidden": "remove this field: it is not part of the manifest format "
    "(see sandbox_templates/README.md)",
    "missing": "add this field",
    "string_pattern_mismatch": "use the allowed characters and form",
    "literal_error": "use one of the allowed values",
    "greater_than_equal": "use a larger value",
    "less_than_equal": "use a smaller value",
    "too_short": "add at least the minimum number of items",
    "too_long": "use fewer items or characters",
    "string_too_long": "shorten the text",
    "int_parsing": "use a whole number",
    "dict_type": "use a mapping (key: value)",
    "list_type": "use a list",
}
_PATTERN_HINTS = {
    "name": "lower-case letters, digits and '-', starting with a letter, at most 40 characters",
    "supplier": "the supplier's slug: lower-case letters, digits and '-'",
    "version": "a semantic version such as 1.2.0",
    "image": "an image reference such as registry.example/team/app:1.0, with no spaces, "
    "quotes or shell characters",
    "path": "an absolute URL path such as /healthz",
    "host": "a DNS name such as api.example.org (optionally *.example.org) or an IPv4 CIDR",
}
_SECURITY_FIELDS = {
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


@dataclass(frozen=True)
class Supplier:
    slug: str
    name: str
    size: str
    contact: str
    description: str
    problem_areas: tuple[str, ...]


class StrictSafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors/aliases and deep nesting."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.constructor.ConstructorError(
                None, None, "YAML anchors and aliases are not allowed", event.start_mark
            )
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if getattr(event, "anchor", None):
            raise yaml.constructor.ConstructorError(
                None, None, "YAML anchors and aliases are not allowed", event.start_mark
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.constructor.ConstructorError(
                    None, None, f"nesting deeper than {MAX_DEPTH} levels", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str | bytes) -> Any:
    """Parse one YAML (or JSON) document safely; raise ValidationFailed on anything odd."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_MANIFEST_BYTES:
        raise ValidationFailed(
            [
                Problem(
                    "(document)",
                    f"the manifest is {size} bytes, over {MAX_MANIFEST_BYTES}",
                    "keep template.yaml small: demo data belongs in the image, not the manifest",
                )
            ]
        )
    try:
        documents = list(yaml.load_all(text, Loader=StrictSafeLoader))
    except yaml.YAMLError as exc:
        hint = (
            "write the values out in full"
            if "alias" in str(exc)
            else "check indentation and quoting near that line"
        )
        raise ValidationFailed(
            [Problem("(document)", f"not valid YAML: {_yaml_message(exc)}", hint)]
        ) from exc
    if len(documents) != 1:
        raise ValidationFailed(
            [
                Problem(
                    "(document)",
                    f"expected exactly one YAML document, found {len(documents)}",
                    "put one template in each manifest",
                )
            ]
        )
    return _joined_surrogates(documents[0])


def _joined_surrogates(node: Any) -> Any:
    """YAML reads the escaped UTF-16 pair of a character beyond the first 65,536 (how JSON
    writers escape an emoji: "\\ud83d\\ude00") as two halves; join them, as JSON does."""
    if isinstance(node, str) and any("\ud800" <= c <= "\udfff" for c in node):
        try:
            return node.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            return node  # a lone half: the validator names the field
    if isinstance(node, dict):
        return {_joined_surrogates(k): _joined_surrogates(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_joined_surrogates(item) for item in node]
    return node


def _yaml_message(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def too_deep() -> ValidationFailed:
    return ValidationFailed(
        [
            Problem(
                "(document)",
                f"nesting deeper than {MAX_DEPTH} levels",
                "a manifest is a few levels deep: flatten the structure",
            )
        ]
    )


def check_nesting(data: Any) -> None:
    """The YAML loader's depth limit, for data parsed another way (a JSON body), so deep input
    is refused with a clear error before validation walks it recursively."""
    pending = [(data, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise too_deep()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        pending.extend((child, depth + 1) for child in children)


#: Parsed manifests of stored versions, by digest. A published version never changes (its
#: digest proves it), and parsing one checks its parameter schema (RE2 compiles each pattern):
#: listing the catalogue did that for every template on every request.
_STORED: dict[str, TemplateManifest] = {}
_STORED_MAX = 2048


def stored_manifest(manifest: dict[str, Any], digest: str) -> TemplateManifest:
    """The manifest of a stored template version, parsed once per process."""
    found = _STORED.get(digest)
    if found is None:
        try:
            found = TemplateManifest.model_validate(manifest)
        except ValidationError as exc:  # stored before a rule that now refuses it
            problems = "; ".join(f"{p.field}: {p.message}" for p in map(_problem, exc.errors()))
            raise PermanentError(
                f"template version {digest[:12]} no longer passes validation ({problems}); "
                "publish a corrected version",
                reason="TemplateVersionInvalid",
            ) from exc
        if len(_STORED) >= _STORED_MAX:
            _STORED.clear()
        _STORED[digest] = found
    return found


def validate_manifest(data: Any) -> TemplateManifest:
    if not isinstance(data, dict):
        raise ValidationFailed(
            [
                Problem(
                    "(document)",
                    "a manifest must be a mapping",
                    "start with 'apiVersion: innovation-den.io/v1'",
                )
            ]
        )
    check_nesting(data)
    try:
        return TemplateManifest.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed([_problem(error) for error in exc.errors()]) from exc


def parse_manifest_text(text: str | bytes) -> TemplateManifest:
    return validate_manifest(load_yaml(text))


def _problem(error: ErrorDetails) -> Problem:
    path = ".".join(str(part) for part in error["loc"]) or "(document)"
    last = str(error["loc"][-1]) if error["loc"] else ""
    message = error["msg"].removeprefix("Value error, ")
    hint = _HINTS.get(error["type"], "")
    if error["type"] == "parameter_schema":  # orchestrator/parameters.py says how to fix it
        hint = str(error.get("ctx", {}).get("hint", ""))
    if error["type"] == "string_pattern_mismatch":
        message = f"{error['input']!r} is not allowed here"[:300]
        hint = _PATTERN_HINTS.get(last, "") or _env_or_tag_hint(error["loc"]) or hint
    if error["type"] == "extra_forbidden" and last in _SECURITY_FIELDS:
        message = f"'{last}' is not allowed: sandboxes never get host access or extra privileges"
        hint = "remove it; every container runs unprivileged, read-only, with no capabilities"
    return Problem(path, message, hint)


def _env_or_tag_hint(loc: tuple[int | str, ...]) -> str:
    if "env" in loc:
        return "environment variable names are upper case letters, digits and '_'"
    if "tags" in loc or "problemAreas" in loc:
        return "lower-case words joined by '-'"
    return ""


def digest(manifest: TemplateManifest) -> str:
    """A content digest of the manifest, stable across key order and formatting."""
    canonical = json.dumps(manifest.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def iter_bundled(templates_dir: Path) -> Iterator[tuple[Path, TemplateManifest]]:
    for path in sorted(templates_dir.glob("*/template.yaml")):
        yield path, parse_manifest_text(path.read_bytes())


def load_suppliers(templates_dir: Path) -> list[Supplier]:
    path = templates_dir / "suppliers.yaml"
    if not path.exists():
        return []
    rows = load_yaml(path.read_bytes()) or []
    return [
        Supplier(
            slug=r["slug"],
            name=r["name"],
            size=r.get("size", "sme"),
            contact=r.get("contact", ""),
            description=r.get("description", ""),
            problem_areas=tuple(r.get("problem_areas", [])),
        )
        for r in rows
    ]
