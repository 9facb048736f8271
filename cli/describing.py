"""`denctl describe`: one object in full, as labelled lines and tables on standard output."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from cli import render


def field(label: str, value: object) -> None:
    sys.stdout.write(f"{label + ':':<20}{value if value not in (None, '') else '<none>'}\n")


def trial(
    trial: dict[str, Any], events: list[dict[str, Any]], evaluation: dict[str, Any] | None, *, now: datetime
) -> None:
    for key in (
        "id",
        "title",
        "template",
        "owner",
        "department",
        "phase",
        "reason",
        "message",
        "created_at",
        "ready_at",
        "expires_at",
        "ended_at",
        "duration_seconds",
        "extension_count",
        "shared_with_department",
        "hypothesis",
    ):
        field(key.replace("_", " ").capitalize(), trial[key])
    if trial["approved_by"] or trial["rejected_by"]:
        field(
            "Approved by" if trial["approved_by"] else "Rejected by",
            trial["approved_by"] or f"{trial['rejected_by']}: {trial['rejection_reason']}",
        )
    if trial["pending_extension_seconds"]:
        field(
            "Pending extension",
            f"{render.human_duration(trial['pending_extension_seconds'])}"
            f" asked by {trial['extension_requested_by']}, waiting for an approver",
        )
    sys.stdout.write("Endpoints:\n")
    for component, url in trial["endpoints"].items() or [("<none>", "")]:
        sys.stdout.write(f"  {component}  {url}\n".rstrip() + "\n")
    if evaluation is not None:
        measured = evaluation["measured"]
        field(
            "Evaluation",
            f"{evaluation['decision']} (by {evaluation['recorded_by']}); "
            f"time to ready {measured['time_to_ready_seconds']} s, availability "
            f"{measured['availability']}, teardown verified {measured['teardown_verified']}",
        )
    sys.stdout.write("Events:\n")
    sys.stdout.write(render.render("events", events, "table", now=now))


def template(detail: dict[str, Any], *, now: datetime) -> None:
    newest = detail["versions"][0]
    field("Name", detail["name"])
    field("Supplier", f"{newest['supplier']} ({newest['supplier_name']})")
    for key in ("summary", "problem_areas", "components", "data_classification", "limits"):
        value = newest[key]
        field(
            key.replace("_", " ").capitalize(),
            ", ".join(map(str, value))
            if isinstance(value, list)
            else ", ".join(f"{k}={v}" for k, v in value.items())
            if isinstance(value, dict)
            else value,
        )
    sys.stdout.write("Versions:\n")
    sys.stdout.write(
        render.table(
            ["VERSION", "STATUS", "REASON", "AGE"],
            [
                [v["version"], v["status"], v.get("status_reason") or "", render.age(v["published_at"], now)]
                for v in detail["versions"]
            ],
        )
    )


def review(found: dict[str, Any]) -> None:
    version = found["version"]
    field("Name", f"{version['name']}@{version['version']}")
    field("Supplier", f"{version['supplier']} ({version['supplier_name']})")
    field("Status", version["status"] + (f": {version['status_reason']}" if version["status_reason"] else ""))
    field("Reviewed by", version.get("reviewed_by"))
    field("Compared with", found["previous_version"] or "nothing (first version)")
    for reason in found["review_reasons"] if version["status"] == "PendingReview" else []:
        field("Needs review", reason)
    sys.stdout.write("Changes:\n")
    sys.stdout.write(
        render.table(
            ["AREA", "FIELD", "BEFORE", "NOW"],
            [
                [c["area"], c["field"], c["before"] or "<new>", c["after"] or "<removed>"]
                for c in found["changes"]
            ],
        )
        if found["changes"]
        else "  <none>\n"
    )
    for component, image in version.get("pinned_images", {}).items():
        field(f"Pinned {component}", image)
