"""Rows -> the plain data a page shows (and its JSON twin returns). Pure: no I/O, no clock.

A trial is the REST API's own rendering (`orchestrator.presenting`), so a script reading a
`.json` twin meets the API's fields with the API's meanings; a page adds only fields of its own
beside them. The rest is only what a page needs, named as the REST API names it. Private
notes never pass through here unless the caller may see them
(`orchestrator.access.sees_private_notes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from orchestrator import catalogue, cost, presenting, rules
from orchestrator import evaluation as evaluation_scheme
from orchestrator.evaluation import DIMENSIONS, Measured, Summary
from orchestrator.manifest import TemplateManifest
from orchestrator.models import Evaluation, Supplier, TemplateVersion, Trial, TrialEvent
from orchestrator.sandbox_hosts import SandboxAddress
from orchestrator.settings import RateCard, Settings

DIMENSION_NAMES = evaluation_scheme.DIMENSION_NAMES
DECISIONS = {
    "adopt": ("Adopt", "Take it forward: it met the need."),
    "iterate": ("Iterate", "Promising: try again with changes."),
    "stop": ("Stop", "Do not take it forward."),
}
#: How long before expiry the trial page warns that the sandbox will be deleted.
WARN_BEFORE_SECONDS = 300


def trial(
    row: Trial, *, owner: str, now: datetime, sandboxes: SandboxAddress, rate_card: RateCard | None = None
) -> dict[str, Any]:
    """The API's trial (`presenting.trial`: every field the same name and meaning), and what
    only the pages use: the template's name and version apart, when to warn of expiry, and its
    resource use and cost in words."""
    shown = presenting.trial(row, owner=owner, now=now, sandboxes=sandboxes, rate_card=rate_card)
    return {
        **shown.model_dump(),
        "template_name": row.template_name,
        "template_version": row.template_version,
        "warn_before_seconds": WARN_BEFORE_SECONDS,
        "usage_words": usage_words(cpu_seconds=row.cpu_seconds, peak_memory_bytes=row.peak_memory_bytes),
        "cost_words": None
        if shown.cost is None
        else {
            "forecast": cost.money(shown.cost.forecast, shown.cost.currency),
            "so_far": cost.money(shown.cost.so_far, shown.cost.currency),
        },
    }


def trial_forecast_words(row: Trial, *, extra_seconds: int = 0, rate_card: RateCard | None) -> str | None:
    """The most the trial can cost over its length (and `extra_seconds` more: an extension
    asked for), as the pages say it; None without a rate card."""
    if rate_card is None:
        return None
    amount = cost.forecast(
        cpu_millicores=row.cpu_millicores,
        memory_mib=row.memory_mib,
        duration_seconds=row.duration_seconds + extra_seconds,
        card=rate_card,
    )
    return cost.money(amount, rate_card.currency)


def usage_words(*, cpu_seconds: float, peak_memory_bytes: int) -> dict[str, str]:
    """'12.5 seconds' of processing, '48 megabytes' at most: how the pages say what a sandbox
    used (`cost.processing_words`, `cost.memory_words`)."""
    return {"cpu": cost.processing_words(cpu_seconds), "memory": cost.memory_words(peak_memory_bytes)}


def forecast_words(
    manifest: TemplateManifest, *, duration_seconds: int, rate_card: RateCard | None
) -> str | None:
    """The most a trial of `manifest` can cost over `duration_seconds`, as the pages say it;
    None without a rate card."""
    if rate_card is None or duration_seconds <= 0:
        return None
    held = rules.reservation(manifest)
    amount = cost.forecast(
        cpu_millicores=held.cpu_millicores,
        memory_mib=held.memory_mib,
        duration_seconds=duration_seconds,
        card=rate_card,
    )
    return cost.money(amount, rate_card.currency)


def trials(
    rows: Iterable[Trial], *, owners: Mapping[int, str], now: datetime, sandboxes: SandboxAddress
) -> list[dict[str, Any]]:
    return [trial(row, owner=owners.get(row.owner_id, ""), now=now, sandboxes=sandboxes) for row in rows]


def event(row: TrialEvent) -> dict[str, Any]:
    return presenting.event(row).model_dump()


def template(version: TemplateVersion, supplier: Supplier, settings: Settings) -> dict[str, Any]:
    manifest = catalogue.stored_manifest(version.manifest, version.digest)
    meta, spec = manifest.metadata, manifest.spec
    return {
        "name": meta.name,
        "version": meta.version,
        "summary": meta.summary,
        "description": meta.description,
        "problem_areas": list(meta.problem_areas),
        "tags": list(meta.tags),
        "status": version.status,
        "status_reason": version.status_reason,
        "published_at": version.published_at,
        "supplier": supplier_view(supplier),
        "data_classification": spec.data_classification,
        "components": [
            {
                "name": c.name,
                "cpu": c.resources.cpu,
                "memory": c.resources.memory,
                "exposed": any(p.expose for p in c.ports),
            }
            for c in spec.components
        ],
        "limits": {
            "default_duration": spec.limits.default_duration,
            "longest_duration": rules.longest_duration(manifest, settings),
            "self_service_duration": rules.self_service_limit(settings, meta.name),
            "max_extensions": spec.limits.max_extensions,
            "cpu": spec.limits.cpu,
            "memory": spec.limits.memory,
        },
        "egress": [{"host": e.host, "ports": list(e.ports)} for e in spec.egress],
        "parameters": spec.parameters,
        "success_criteria": list(spec.success_criteria),
    }


def supplier_view(row: Supplier) -> dict[str, Any]:
    return {
        "slug": row.slug,
        "name": row.name,
        "size": row.size,
        "contact": row.contact,
        "description": row.description,
        "problem_areas": list(row.problem_areas),
    }


def evaluation(row: Evaluation, *, author: str, measured: Measured, show_private: bool) -> dict[str, Any]:
    return {
        "status": row.status,
        "hypothesis_held": row.hypothesis_held,
        "hypothesis_evidence": row.hypothesis_evidence,
        "criteria_results": [dict(r) for r in row.criteria_results],
        "publish_evidence": row.publish_evidence,
        "scores": {d: dict(row.scores.get(d) or {}) for d in DIMENSIONS},
        "decision": row.decision,
        "lessons_learned": row.lessons_learned,
        "private_notes": row.private_notes if show_private else None,
        "recorded_by": author,
        "recorded_at": row.recorded_at,
        "measured": vars(measured),
    }


def summary(row: Summary) -> dict[str, Any]:
    return {
        "key": row.key,
        "trials": row.trials,
        "decisions": row.decisions,
        "hypothesis_held": row.hypothesis_held,
        "criteria_met": row.criteria_met,
        "criteria_total": row.criteria_total,
        "mean_scores": row.mean_scores,
        "mean_time_to_ready_seconds": row.mean_time_to_ready_seconds,
        "mean_availability": row.mean_availability,
    }
