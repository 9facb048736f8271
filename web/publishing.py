"""Publishing from the supplier pages: try an upload out, say what will be published, and the
template guide's content.

`try_out` runs the one publishing rule (`crud.publish_template`: the supplier's own template,
the egress rules, an existing version with the same or other content, review or published at
once) in a transaction of its own that is always rolled back, so the check page says exactly
what "Publish this version" will do, and no rule is written twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from orchestrator import crud
from orchestrator.manifest import TemplateManifest
from orchestrator.parameters import display_name
from orchestrator.presenting import duration_words

#: The bundled template the guide shows in full (the others are listed by name).
EXAMPLE = "citizen-enquiry-assistant"
_BUNDLED = Path(__file__).resolve().parent.parent / "sandbox_templates"


@dataclass(frozen=True)
class Outcome:
    """What publishing the manifest would do: nothing (the same manifest is that version
    already), or store it with this status."""

    unchanged: bool
    status: str
    status_reason: str


def try_out(
    engine: Engine,
    *,
    manifest: TemplateManifest,
    actor: crud.Actor,
    publishing: crud.Publishing,
    now: datetime,
) -> Outcome:
    """Publish `manifest` and roll it back; the rules' errors are raised as publishing raises
    them."""
    with Session(engine, expire_on_commit=False) as scratch:
        try:
            version, created = crud.publish_template(
                scratch, manifest=manifest, now=now, actor=actor, publishing=publishing
            )
            return Outcome(unchanged=not created, status=version.status, status_reason=version.status_reason)
        finally:
            scratch.rollback()


def preview(manifest: TemplateManifest, *, status: str, status_reason: str) -> dict[str, Any]:
    """The check page: what will be published, in the words of the template page."""
    meta, spec = manifest.metadata, manifest.spec
    limits = spec.limits
    required = set(spec.parameters.get("required", []))
    return {
        "name": meta.name,
        "version": meta.version,
        "supplier": meta.supplier,
        "summary": meta.summary,
        "problem_areas": list(meta.problem_areas),
        "data_classification": spec.data_classification,
        "components": [
            {
                "name": c.name,
                "image": c.image,
                "ports": [p.container_port for p in c.ports if p.expose],
                "cpu": c.resources.cpu,
                "memory": c.resources.memory,
            }
            for c in spec.components
        ],
        "egress": [f"{e.host} (ports {', '.join(map(str, e.ports))})" for e in spec.egress],
        "limits": {
            "default_duration": duration_words(limits.default_duration),
            "max_duration": duration_words(limits.max_duration),
            "max_extensions": limits.max_extensions,
            "cpu": limits.cpu,
            "memory": limits.memory,
        },
        "parameters": [
            {
                "name": name,
                "title": display_name(name, schema),
                "type": schema.get("type", ""),
                "default": schema.get("default", ""),
                "required": name in required,
            }
            for name, schema in spec.parameters.get("properties", {}).items()
        ],
        "success_criteria": list(spec.success_criteria),
        "reviewed": status == "PendingReview",
        "status": status,
        "status_reason": status_reason,
    }


def guide(templates_dir: Path | None) -> dict[str, Any]:
    """The guide's example: a bundled template's manifest, as it is."""
    for folder in (templates_dir, _BUNDLED):
        path = folder / EXAMPLE / "template.yaml" if folder else None
        if path is not None and path.is_file():
            return {"example": path.read_text(encoding="utf-8"), "example_name": EXAMPLE}
    return {"example": "", "example_name": EXAMPLE}
