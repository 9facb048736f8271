"""The hostile corpus: manifests a supplier might send to break out of a sandbox, break the
orchestrator or smuggle code into a page, and what each must be refused for.

Each file in `hostile/` starts with `# refused: <field>`: the field the refusal must name.
Payloads that are valid input (template injection in free text) are not refused: they must be
stored and shown literally, so their evaluated forms must never appear anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HOSTILE = Path(__file__).resolve().parent / "hostile"

#: Template-injection payloads and what each would become if anything evaluated it.
INJECTIONS = {
    "{{ 'jinja' ~ 'ran' }}": "jinjaran",
    "{% for x in 'ab' %}looped{% endfor %}": "loopedlooped",
    "{{ ''.__class__.__mro__ }}": "<class 'str'>",
    "${'dollar' + 'ran'} <%= 'erb' + 'ran' %>": "dollarran",
}
PAYLOAD = " ".join(INJECTIONS)


@dataclass(frozen=True)
class Hostile:
    name: str
    text: str
    field: str  # the field the refusal must name

    @property
    def data(self) -> Any:
        """The manifest as data, for the JSON form of the request (aliases kept by reference,
        which is how a client would build it)."""
        return yaml.safe_load(self.text)

    @property
    def has_aliases(self) -> bool:
        return "&" in self.text and "*" in self.text


def corpus(kind: str = "SandboxTemplate") -> list[Hostile]:
    found = []
    for path in sorted(HOSTILE.glob("*.yaml")):
        text = path.read_text()
        first = text.splitlines()[0]
        assert first.startswith("# refused: "), f"{path.name} must say what it is refused for"
        if f"kind: {kind}" in text:
            found.append(Hostile(path.stem, text, first.removeprefix("# refused: ")))
    return found


def fields_of(body: dict[str, Any]) -> set[str]:
    return {p["field"] for p in body.get("problems", [])}


def never_evaluated(text: str) -> None:
    """No evaluated form of any payload appears in `text`."""
    for payload, evaluated in INJECTIONS.items():
        if payload not in text:
            assert evaluated not in text, f"{payload!r} was evaluated to {evaluated!r}"
