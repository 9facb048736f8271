"""`denctl describe`: one object in full, as labelled lines and tables on standard output."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from cli import render


def shown(value: object) -> str:
    """A value as people read it: Yes/No, "-" for nothing, lists joined; never Python's
    `None`, `True` or `False`."""
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def field(label: str, value: object) -> None:
    sys.stdout.write(f"{label + ':':<19} {shown(value)}\n")


def when(value: str | None, now: datetime) -> str:
    """`2026-03-01 09:00 UTC (5m ago)`, or `-`."""
    if not value:
        return "-"
    at = render.parse_when(value).astimezone(UTC)
    gap = (at - now).total_seconds()
    relative = f"in {render.human_duration(gap)}" if gap > 0 else f"{render.human_duration(-gap)} ago"
    return f"{at:%Y-%m-%d %H:%M} UTC ({relative})"


def trial(
    trial: dict[str, Any], events: list[dict[str, Any]], evaluation: dict[str, Any] | None, *, now: datetime
) -> None:
    for label, value in (
        ("Id", trial["id"]),
        ("Name", trial.get("name")),
        ("Title", trial["title"]),
        ("Template", trial["template"]),
        ("Owner", trial["owner"]),
        ("Department", trial["department"]),
        ("Phase", trial["phase"]),
        ("Reason", trial["reason"]),
        ("Message", trial["message"]),
        ("Created", when(trial["created_at"], now)),
        ("Ready", when(trial["ready_at"], now)),
        ("Expires", when(trial["expires_at"], now) if trial["phase"] != "Stopped" else None),
        ("Ended", when(trial["ended_at"], now) if trial["ended_at"] else None),
        ("Last visit", when(trial["last_activity_at"], now) if trial.get("last_activity_at") else None),
        ("Sleeps", when(trial["sleeps_at"], now) if trial.get("sleeps_at") else None),
        (
            "Asleep for",
            render.human_duration(trial["sleeping_seconds"]) if trial.get("sleeping_seconds") else None,
        ),
        ("Duration", render.human_duration(trial["duration_seconds"])),
        ("Extensions", trial["extension_count"]),
        ("Shared with department", trial["shared_with_department"]),
        ("Hypothesis", trial["hypothesis"]),
        ("Success criteria", trial.get("success_criteria")),
        ("Parameters", trial.get("parameters")),
    ):
        if label in ("Name", "Ended", "Parameters", "Last visit", "Sleeps", "Asleep for") and value in (
            None,
            "",
            {},
        ):
            continue
        field(label, value)
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
    for component, url in trial["endpoints"].items() or [("-", "")]:
        sys.stdout.write(f"  {component}  {url}\n".rstrip() + "\n")
    if evaluation is not None:
        measured = evaluation["measured"]
        ready = measured.get("time_to_ready_seconds")
        field(
            "Evaluation",
            f"{shown(evaluation.get('decision'))} (by {shown(evaluation.get('recorded_by'))}); "
            f"time to ready {render.human_duration(ready) if ready is not None else '-'}, "
            f"availability {shown(measured.get('availability'))}, "
            f"active {shown(measured.get('ready_seconds'))} s, "
            f"asleep {shown(measured.get('sleeping_seconds') or 0)} s, "
            f"teardown verified {shown(measured.get('teardown_verified'))}",
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
