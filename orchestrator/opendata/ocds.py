"""An OCDS 1.1 release package for a challenge: one planning release (parties, planning, tender,
relatedProcesses) and the equal sandbox offer's evaluations in our extension's `denEvaluations`
(extension/). Pure: the caller passes the publisher, the URI and ocid prefixes and `now`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from importlib.resources import files
from typing import Any

from orchestrator.evaluation import DIMENSIONS
from orchestrator.opendata.inputs import ChallengeFacts, TrialFacts

OCDS_VERSION = "1.1"


def _extension_file(name: str) -> dict[str, Any]:
    """One JSON file of our extension (extension/), shipped as package data."""
    return json.loads(files("orchestrator.opendata").joinpath("extension", name).read_text())  # type: ignore[no-any-return]


def extension_metadata() -> dict[str, Any]:
    return _extension_file("extension.json")


def extension_patch() -> dict[str, Any]:
    """The extension's release schema patch (a JSON Merge Patch)."""
    return _extension_file("release-schema.json")


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _buyer_id(challenge: ChallengeFacts) -> str:
    return f"buyer-{_slug(challenge.department)}"


def _slug(text: str) -> str:
    out = "".join(c.lower() if c.isalnum() else "-" for c in text)
    return "-".join(p for p in out.split("-") if p) or "unnamed"


def _parties(challenge: ChallengeFacts, trials: Sequence[TrialFacts]) -> list[dict[str, Any]]:
    parties: list[dict[str, Any]] = [
        {
            "id": _buyer_id(challenge),
            "name": challenge.department,
            "roles": ["buyer"],
            "contactPoint": {"name": challenge.owner_name, "email": challenge.owner_email},
        }
    ]
    seen: set[str] = set()
    for trial in trials:
        supplier = trial.supplier
        if supplier.slug in seen:
            continue
        seen.add(supplier.slug)
        parties.append(
            {
                "id": f"supplier-{supplier.slug}",
                "name": supplier.name,
                "identifier": {"scheme": "X-INNOVATION-DEN", "id": supplier.slug, "legalName": supplier.name},
                "roles": ["interestedParty"],
            }
        )
    return parties


def _budget(challenge: ChallengeFacts) -> dict[str, Any] | None:
    amount = challenge.budget_max if challenge.budget_max is not None else challenge.budget_min
    if amount is None:
        return None
    budget: dict[str, Any] = {"amount": {"amount": amount, "currency": "GBP"}}
    if challenge.budget_min is not None and challenge.budget_max is not None:
        budget["description"] = f"Estimated £{challenge.budget_min:,} to £{challenge.budget_max:,}"
    return budget


def _evaluation(trial: TrialFacts) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": trial.trial_id,
        "title": trial.title,
        "supplierId": f"supplier-{trial.supplier.slug}",
        "template": trial.template,
        "templateVersion": trial.version,
        "status": trial.phase,
        "scores": [{"dimension": d, "score": trial.scores[d]} for d in DIMENSIONS if d in trial.scores],
    }
    if trial.decision is not None:
        entry["decision"] = trial.decision
    if trial.ended_at is not None:
        entry["endDate"] = _stamp(trial.ended_at)
    return entry


def release_package(
    challenge: ChallengeFacts,
    trials: Sequence[TrialFacts],
    *,
    now: datetime,
    publisher_name: str,
    uri_prefix: str,
    ocid_prefix: str,
    extension_url: str | None = None,
) -> dict[str, Any]:
    """`extension_url` is where our extension's extension.json is served; by default beside the
    package under `uri_prefix`."""
    ocid = f"{ocid_prefix}-{challenge.reference}"
    base = uri_prefix.rstrip("/")
    planning: dict[str, Any] = {
        "rationale": challenge.problem,
        "documents": [
            {"id": d.id, "documentType": d.kind, "title": d.title, "url": d.url} for d in challenge.documents
        ],
        "denEvaluations": [_evaluation(t) for t in trials],
    }
    if (budget := _budget(challenge)) is not None:
        planning["budget"] = budget
    tender: dict[str, Any] = {
        "id": challenge.reference,
        "title": challenge.title,
        "description": challenge.problem,
        "status": "planning",
        "enquiryPeriod": {"endDate": _stamp(challenge.questions_close_at)},
        "tenderPeriod": {"endDate": _stamp(challenge.closes_at)},
    }
    release: dict[str, Any] = {
        "ocid": ocid,
        "id": f"{ocid}-planning-{now.strftime('%Y%m%dT%H%M%SZ')}",
        "date": _stamp(now),
        "tag": ["planning"],
        "initiationType": "tender",
        "language": "en",
        "parties": _parties(challenge, trials),
        "buyer": {"id": _buyer_id(challenge), "name": challenge.department},
        "planning": planning,
        "tender": tender,
        "relatedProcesses": [
            {
                "id": "challenge",
                "relationship": ["planning"],
                "title": challenge.title,
                "scheme": "ocid",
                "identifier": ocid,
                "uri": challenge.public_url,
            }
        ],
    }
    return {
        "uri": f"{base}/api/v1/challenges/{challenge.reference}/ocds",
        "version": OCDS_VERSION,
        "extensions": [extension_url or f"{base}/ocds/extension.json"],
        "publishedDate": _stamp(now),
        "publisher": {"name": publisher_name},
        "releases": [release],
    }
