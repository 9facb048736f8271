"""Load and validate template manifests.

`parse_manifest_text` turns untrusted YAML or JSON into a `TemplateManifest` or raises
`ValidationFailed` listing *every* problem with its field path and a hint. YAML is read with a
safe loader that also refuses anchors and aliases (so an alias bomb cannot expand), more than
one document, deep nesting and oversized input. Manifest text is data: nothing here renders it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from orchestrator.errors import PermanentError, Problem, ValidationFailed
from orchestrator.manifest import TemplateManifest
from orchestrator.manifest_errors import ManifestProblem, line_finder, located, problem_of

MAX_MANIFEST_BYTES = 256 * 1024
MAX_DEPTH = 20


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
        mark = getattr(exc, "problem_mark", None)
        raise ValidationFailed(
            [
                ManifestProblem(
                    "(document)",
                    f"The manifest is not valid YAML: {_yaml_message(exc)}",
                    hint,
                    where="the manifest",
                    line=mark.line + 1 if mark else None,
                )
            ]
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
            problems = "; ".join(p.message for p in map(problem_of, exc.errors()))
            raise PermanentError(
                f"template version {digest[:12]} no longer passes validation ({problems}); "
                "publish a corrected version",
                reason="TemplateVersionInvalid",
            ) from exc
        if len(_STORED) >= _STORED_MAX:
            _STORED.clear()
        _STORED[digest] = found
    return found


def validate_manifest(data: Any, *, text: str | bytes | None = None) -> TemplateManifest:
    """`data` as a manifest, or ValidationFailed with every problem worded for the supplier
    (orchestrator/manifest_errors.py); with the `text` it was read from, each has its line."""
    if not isinstance(data, dict):
        raise ValidationFailed(
            [
                Problem(
                    "(document)",
                    "A manifest must be a mapping of fields, starting with apiVersion",
                    "start with 'apiVersion: innovation-den.io/v1'",
                )
            ]
        )
    check_nesting(data)
    try:
        return TemplateManifest.model_validate(data)
    except ValidationError as exc:
        problems: list[Problem] = [problem_of(error) for error in exc.errors()]
        raise ValidationFailed(with_lines(problems, text)) from exc


def with_lines(problems: list[Problem], text: str | bytes | None) -> list[Problem]:
    """The problems with the line of each in `text` (when it is known) and each field written
    as the supplier wrote it: for problems found after parsing (the publishing rules) too."""
    return list(located(problems, line_finder(text, StrictSafeLoader) if text is not None else _nowhere))


def _nowhere(_path: tuple[str | int, ...]) -> None:
    return None


def parse_manifest_text(text: str | bytes) -> TemplateManifest:
    return validate_manifest(load_yaml(text), text=text)


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


# --- search: the techmap's words -----------------------------------------------------------------
#
# People type a few words the way they think of the problem ("pollution dashboards"), not the
# supplier's exact phrase. So a template matches when *any* word matches, words compare
# without case and without a plural ending ("dashboards" finds "dashboard", "queries" finds
# "query"), and the templates that match more of the words come first. Both sides go through
# the same `stem`, so an ending it strips too eagerly ("analysis" -> "analysi") still matches.

_WORD = re.compile(r"[a-z0-9]+")
T = TypeVar("T")


def stem(word: str) -> str:
    """A word without its plural ending: -ies -> -y, -es after s/x/z/ch/sh, else -s (not -ss).
    Words of three letters or fewer are kept as they are ("gas", "bus")."""
    word = word.lower()
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def search_words(text: str) -> frozenset[str]:
    """The distinct stemmed words of a text: letters and digits, split at anything else
    ("air-quality" is "air" and "quality")."""
    return frozenset(stem(w) for w in _WORD.findall(text.lower()))


def words_matched(query: str, text: str) -> int:
    """How many of the query's distinct words the text contains."""
    return len(search_words(query) & search_words(text))


def ranked(items: Sequence[T], query: str, *, text: Callable[[T], str]) -> list[T]:
    """The items any word of `query` matches, those matching more words first (else in their
    given order); every item, in order, for a query with no words."""
    if not search_words(query):
        return list(items)
    scored = [(words_matched(query, text(item)), index, item) for index, item in enumerate(items)]
    return [item for score, _i, item in sorted(scored, key=lambda s: (-s[0], s[1])) if score]
