"""The standard evaluation scheme (PRODUCT.md section 6) and the comparable trial report.

Pure: no I/O and no clock. Every trial is scored on the same eight dimensions, 1 to 5 with
evidence, plus a decision and lessons learned; beside what people say sits what the
orchestrator measured itself from the trial's timeline (`measure`). The report has one row per
evaluated trial, the same columns in CSV and JSON, and a versioned schema documented column by
column in docs/report-schema.md (a test keeps the two in step). It never holds private notes,
the owner's name, nor anything that opens the trial (a row is numbered within its export, not
named by the trial's id): it is meant to be published. Suppliers get their templates' rows
without the civil servant's own words (`for_supplier`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from orchestrator.lifecycle import Phase
from orchestrator.models import Evaluation, Supplier, Trial, TrialEvent

REPORT_SCHEMA = "innovation-den.io/trial-report/v2"
DIMENSIONS = (
    "user_need",
    "accessibility",
    "security",
    "privacy",
    "interoperability",
    "performance",
    "cost_value",
    "ease_of_adoption",
)


class Decision(StrEnum):
    ADOPT = "adopt"
    ITERATE = "iterate"
    STOP = "stop"


@dataclass(frozen=True)
class Measured:
    """Evidence the orchestrator recorded itself, from the trial's row and timeline."""

    time_to_ready_seconds: float | None
    ready_seconds: float | None
    availability: float | None
    teardown_verified: bool | None


def measure(trial: Trial, events: Sequence[TrialEvent], *, now: datetime) -> Measured:
    """`events` is the trial's timeline, oldest first."""
    transitions = [(e.at, Phase(e.phase)) for e in events if e.kind == "Transition"]
    ready = _ready_seconds(transitions, now=now)
    return Measured(
        time_to_ready_seconds=_time_to_ready(trial),
        ready_seconds=None if ready is None else round(ready, 3),
        availability=_availability(trial, ready, now=now),
        teardown_verified=_teardown_verified(transitions),
    )


def _time_to_ready(trial: Trial) -> float | None:
    return seconds_to_ready(
        created_at=trial.created_at, approved_at=trial.approved_at, ready_at=trial.ready_at
    )


def seconds_to_ready(
    *, created_at: datetime, approved_at: datetime | None, ready_at: datetime | None
) -> float | None:
    """From the request (or its approval: waiting for an approver is not the runtime's time)
    to Ready; None when it never became ready."""
    if ready_at is None:
        return None
    return round((ready_at - (approved_at or created_at)).total_seconds(), 3)


def _ready_seconds(transitions: list[tuple[datetime, Phase]], *, now: datetime) -> float | None:
    spans = [
        ((transitions[i + 1][0] if i + 1 < len(transitions) else now) - at).total_seconds()
        for i, (at, phase) in enumerate(transitions)
        if phase is Phase.READY
    ]
    return sum(spans) if spans else None


def _availability(trial: Trial, ready: float | None, *, now: datetime) -> float | None:
    """Time Ready over the time it was booked to be Ready: from Ready to the earliest of its
    expiry, the owner's request to end it, and now. A sandbox that failed while running (and
    was found so by the liveness check) scores below 1. Measured at the liveness interval."""
    if ready is None or trial.ready_at is None:
        return None
    ends = [t for t in (trial.expires_at, trial.end_requested_at, now) if t is not None]
    booked = (min(ends) - trial.ready_at).total_seconds()
    return 1.0 if booked <= 0 else round(min(ready / booked, 1.0), 4)


def _teardown_verified(transitions: list[tuple[datetime, Phase]]) -> bool | None:
    """True once Stopped after a teardown: the reconciler records Stopped only when the runtime
    reports nothing labelled with the trial remains. None when there was nothing to tear down
    (never started) or the trial has not stopped yet."""
    phases = [phase for _at, phase in transitions]
    if not phases or phases[-1] is not Phase.STOPPED:
        return None
    return True if Phase.STOPPING in phases else None


# --- the report --------------------------------------------------------------------------

#: The report's columns, in order; docs/report-schema.md documents each one.
COLUMNS: tuple[str, ...] = (
    "schema",
    "row",
    "title",
    "problem_statement",
    "hypothesis",
    "success_criteria",
    "department",
    "template",
    "template_version",
    "supplier",
    "supplier_name",
    "supplier_size",
    "problem_areas",
    "created_at",
    "ready_at",
    "ended_at",
    "duration_seconds",
    "extension_count",
    "outcome_reason",
    *(f"{d}_{part}" for d in DIMENSIONS for part in ("score", "evidence")),
    "decision",
    "lessons_learned",
    "evaluated_at",
    "time_to_ready_seconds",
    "ready_seconds",
    "availability",
    "teardown_verified",
    "cpu_millicores",
    "memory_mib",
)


#: The civil servant's own words about their trial: left empty in the rows a supplier gets.
SUPPLIER_HIDDEN = ("title", "problem_statement", "hypothesis", "success_criteria", "department")


@dataclass(frozen=True)
class ReportInput:
    row: int  # this row's number in its export, from 1: never the trial's id
    trial: Trial
    evaluation: Evaluation
    supplier: Supplier
    problem_areas: list[str]
    measured: Measured


def report_row(data: ReportInput) -> dict[str, Any]:
    trial, evaluation = data.trial, data.evaluation
    row: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "row": data.row,
        "title": trial.title,
        "problem_statement": trial.problem_statement,
        "hypothesis": trial.hypothesis,
        "success_criteria": list(trial.success_criteria),
        "department": trial.department,
        "template": trial.template_name,
        "template_version": trial.template_version,
        "supplier": data.supplier.slug,
        "supplier_name": data.supplier.name,
        "supplier_size": data.supplier.size,
        "problem_areas": list(data.problem_areas),
        "created_at": _iso(trial.created_at),
        "ready_at": _iso(trial.ready_at),
        "ended_at": _iso(trial.ended_at),
        "duration_seconds": trial.duration_seconds,
        "extension_count": trial.extension_count,
        "outcome_reason": trial.reason if trial.phase == Phase.STOPPED else "",
    }
    for dimension in DIMENSIONS:
        score = evaluation.scores.get(dimension, {})
        row[f"{dimension}_score"] = score.get("score")
        row[f"{dimension}_evidence"] = score.get("evidence", "")
    row.update(
        {
            "decision": evaluation.decision,
            "lessons_learned": evaluation.lessons_learned,
            "evaluated_at": _iso(evaluation.recorded_at),
            **vars(data.measured),
            "cpu_millicores": trial.cpu_millicores,
            "memory_mib": trial.memory_mib,
        }
    )
    return {column: row[column] for column in COLUMNS}


def for_supplier(row: dict[str, Any]) -> dict[str, Any]:
    """The row as a supplier sees it: the same columns, the civil servant's words emptied."""
    return {
        column: ([] if isinstance(value, list) else "") if column in SUPPLIER_HIDDEN else value
        for column, value in row.items()
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """RFC 4180 CSV with a header row. Lists are joined with ' | '; empty values are empty.
    Text that a spreadsheet would run as a formula is prefixed with an apostrophe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(row[column]) for column in COLUMNS])
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        value = " | ".join(str(v) for v in value)
    text = str(value)
    return "'" + text if isinstance(value, str) and text.startswith(_FORMULA_START) else text


# --- comparing trials ---------------------------------------------------------------------

GROUPINGS = ("problem_area", "supplier", "template")


@dataclass(frozen=True)
class Summary:
    """Report rows of one problem area, supplier or template, summed up for comparison."""

    key: str
    trials: int
    decisions: dict[str, int]
    mean_scores: dict[str, float]
    mean_time_to_ready_seconds: float | None
    mean_availability: float | None


def summarise(rows: Sequence[dict[str, Any]], *, by: str) -> list[Summary]:
    """Group report rows by `problem_area` (a trial counts in each of its template's areas),
    `supplier` or `template`, each group with its decisions and mean scores; sorted by key."""
    if by not in GROUPINGS:
        raise ValueError(f"cannot group by {by!r}: use one of {', '.join(GROUPINGS)}")
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        for key in row["problem_areas"] if by == "problem_area" else [row[by]]:
            groups.setdefault(key, []).append(row)
    return [_summary(key, groups[key]) for key in sorted(groups)]


def _summary(key: str, rows: list[dict[str, Any]]) -> Summary:
    return Summary(
        key=key,
        trials=len(rows),
        decisions={d.value: sum(1 for r in rows if r["decision"] == d.value) for d in Decision},
        mean_scores={d: m for d in DIMENSIONS if (m := _mean([r[f"{d}_score"] for r in rows])) is not None},
        mean_time_to_ready_seconds=_mean([r["time_to_ready_seconds"] for r in rows]),
        mean_availability=_mean([r["availability"] for r in rows], digits=4),
    )


def _mean(values: Sequence[float | None], *, digits: int = 2) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), digits) if known else None
