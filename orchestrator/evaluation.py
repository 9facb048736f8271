"""The standard evaluation scheme (PRODUCT.md section 6) and the comparable trial report.

Pure: no I/O and no clock. An evaluation first answers the trial's own question: did the
hypothesis hold, and was each success criterion met, with evidence. Then every trial is scored
on the same eight dimensions, 1 to 5 with evidence (each score's meaning written down in
`SCALE`), plus a decision and lessons learned. It is saved as a `draft` until every answer is
given (`missing` names each one still to give), and only a complete one reaches the report.
Beside what people say sits what the orchestrator measured itself from the trial's timeline
(`measure`). The report has one row per completely evaluated trial, the same columns in CSV and
JSON, and a versioned schema documented column by column in docs/report-schema.md (a test keeps
the two in step). It never holds private notes, the owner's name, nor anything that opens the
trial (a row is numbered within its export, not named by the trial's id): it is meant to be
published. Suppliers get their templates' rows without the civil servant's own words
(`for_supplier`). An owner may keep the evidence text out of the report
(`Evaluation.publish_evidence`): the answers and scores stay in it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from orchestrator import cost
from orchestrator.errors import Problem
from orchestrator.lifecycle import Phase
from orchestrator.models import Evaluation, Supplier, Trial, TrialEvent
from orchestrator.settings import RateCard

REPORT_SCHEMA = "innovation-den.io/trial-report/v4"
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


#: How the hypothesis held, and how each success criterion was met.
HELD = ("yes", "partly", "no")
HELD_NAMES = {"yes": "Yes", "partly": "Partly", "no": "No"}
MET_NAMES = {"yes": "Met", "partly": "Partly met", "no": "Not met"}

DIMENSION_NAMES = {
    "user_need": "User need met",
    "accessibility": "Accessibility",
    "security": "Security",
    "privacy": "Privacy and data protection",
    "interoperability": "Interoperability and open standards",
    "performance": "Performance",
    "cost_value": "Cost and value for money",
    "ease_of_adoption": "Ease of adoption",
}
assert tuple(DIMENSION_NAMES) == DIMENSIONS, "one name per dimension of the scheme"

#: What each score means: one scale for every dimension, so that scores compare.
SCALE = {
    1: "Does not meet the need at all",
    2: "Meets little of the need: serious gaps",
    3: "Meets the essentials, with gaps to close",
    4: "Meets most of the need: small gaps only",
    5: "Fully meets the need",
}

#: What to judge on each dimension, shown beside the scale.
DIMENSION_HINTS = {
    "user_need": "Did it do what your users need it to do? 5: every user need you tested was met.",
    "accessibility": "Could everyone use it, including with assistive technology (WCAG 2.2 AA)? "
    "5: no barriers found.",
    "security": "Does it protect the service and its data to the standard you need? 5: no weaknesses found.",
    "privacy": "Does it handle personal data lawfully, with only the data it needs? "
    "5: no concerns about personal data.",
    "interoperability": "Does it work with your systems through open standards and formats? "
    "5: connects without custom work.",
    "performance": "Was it fast and reliable enough for real use? 5: always fast enough.",
    "cost_value": "Would it be good value for money at the scale you need? 5: clearly good value.",
    "ease_of_adoption": "How easily could your team and users take it up? 5: ready to take up as it is.",
}
assert tuple(DIMENSION_HINTS) == DIMENSIONS, "one hint per dimension of the scheme"

#: The parts of the evaluation, in the order it asks them: each is saved on its own.
PARTS = ("question", "scores", "decision")


def missing(
    *,
    criteria: Sequence[str],
    hypothesis_held: str,
    hypothesis_evidence: str,
    criteria_results: Sequence[dict[str, Any]],
    scores: dict[str, dict[str, Any]],
    decision: str,
) -> list[Problem]:
    """Every answer a complete evaluation still lacks, in the order the evaluation asks them,
    each at its field path (`criteria_results.0.met`, `scores.privacy.evidence`, ...).
    `criteria` are the trial's success criteria: each needs a result with evidence."""
    problems: list[Problem] = []
    if hypothesis_held not in HELD:
        problems.append(Problem("hypothesis_held", "Select whether the hypothesis held"))
    if not hypothesis_evidence.strip():
        problems.append(Problem("hypothesis_evidence", "Enter the evidence for whether the hypothesis held"))
    results = {str(r.get("criterion", "")): r for r in criteria_results}
    for index, criterion in enumerate(criteria):
        result = results.get(criterion, {})
        if result.get("met") not in HELD:
            problems.append(Problem(f"criteria_results.{index}.met", f"Select whether '{criterion}' was met"))
        if not str(result.get("evidence", "")).strip():
            problems.append(
                Problem(f"criteria_results.{index}.evidence", f"Enter evidence for '{criterion}'")
            )
    for dimension, name in DIMENSION_NAMES.items():
        given = scores.get(dimension)
        if not given:
            problems.append(Problem(f"scores.{dimension}", f"Score {name.lower()} from 1 to 5 with evidence"))
            continue
        if given.get("score") not in SCALE:
            problems.append(
                Problem(f"scores.{dimension}.score", f"Select a score from 1 to 5 for {name.lower()}")
            )
        if not str(given.get("evidence", "")).strip():
            problems.append(Problem(f"scores.{dimension}.evidence", f"Enter the evidence for {name.lower()}"))
    if decision not in tuple(Decision):
        problems.append(Problem("decision", "Select adopt, iterate or stop"))
    return problems


def part_of(field: str) -> str:
    """Which part of the evaluation a field path of `missing` belongs to."""
    if field.startswith("scores"):
        return "scores"
    return "decision" if field == "decision" else "question"


def unknown_criteria(criteria: Sequence[str], criteria_results: Sequence[dict[str, Any]]) -> list[Problem]:
    """Results for criteria the trial does not have, or given twice."""
    seen: set[str] = set()
    problems = []
    for index, result in enumerate(criteria_results):
        criterion = str(result.get("criterion", ""))
        if criterion not in criteria:
            problems.append(
                Problem(
                    f"criteria_results.{index}.criterion",
                    f"'{criterion}' is not one of the trial's success criteria",
                    hint="Give one result for each of the trial's success criteria, named as the trial "
                    "names it: " + "; ".join(f"'{c}'" for c in criteria)
                    if criteria
                    else "The trial has no success criteria: leave criteria_results empty.",
                )
            )
        elif criterion in seen:
            problems.append(
                Problem(f"criteria_results.{index}.criterion", f"'{criterion}' has a result already")
            )
        seen.add(criterion)
    return problems


def in_trial_order(
    criteria: Sequence[str], criteria_results: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One result per success criterion, in the trial's order (empty answers for those not given)."""
    results = {str(r.get("criterion", "")): r for r in criteria_results}
    return [
        {
            "criterion": criterion,
            "met": str(results.get(criterion, {}).get("met", "")),
            "evidence": str(results.get(criterion, {}).get("evidence", "")),
        }
        for criterion in criteria
    ]


@dataclass(frozen=True)
class Measured:
    """Evidence the orchestrator recorded itself, from the trial's row and timeline."""

    time_to_ready_seconds: float | None
    ready_seconds: float | None  # active time: Ready, answering
    availability: float | None
    teardown_verified: bool | None
    sleeping_seconds: float | None = None  # asleep after its idle timeout (None: it never slept)
    cpu_seconds: float = 0.0  # CPU time its sandbox used, as the runtime measured it
    peak_memory_bytes: int = 0  # the highest memory working set read
    cost: float | None = None  # at the rate card (orchestrator/cost.py); None without one
    currency: str = ""  # the rate card's currency ("" without one)


def measure(
    trial: Trial, events: Sequence[TrialEvent], *, now: datetime, rate_card: RateCard | None = None
) -> Measured:
    """`events` is the trial's timeline, oldest first. A sandbox taken from a warm pool counts
    from its request (`created_at`): its time waiting in the pool was nobody's trial. Its
    resource use so far, and its cost at `rate_card` when there is one."""
    transitions = [
        (e.at, Phase(e.phase)) for e in events if e.kind == "Transition" and e.at >= trial.created_at
    ]
    ready = _spent(transitions, Phase.READY, now=now)
    asleep = _spent(transitions, Phase.SLEEPING, now=now)
    return Measured(
        time_to_ready_seconds=_time_to_ready(trial),
        ready_seconds=None if ready is None else round(ready, 3),
        availability=_availability(trial, ready, asleep=asleep or 0.0, now=now),
        teardown_verified=_teardown_verified(transitions),
        sleeping_seconds=None if asleep is None else round(asleep, 3),
        cpu_seconds=round(trial.cpu_seconds, 3),
        peak_memory_bytes=trial.peak_memory_bytes,
        cost=None if rate_card is None else trial_cost(trial, rate_card),
        currency="" if rate_card is None else rate_card.currency,
    )


def trial_cost(trial: Trial, card: RateCard) -> float:
    """What the trial has cost so far at `card`: CPU used, memory reserved while it ran."""
    return cost.cost(
        cpu_seconds=trial.cpu_seconds,
        memory_mib=trial.memory_mib,
        running_seconds=trial.running_seconds,
        card=card,
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


def _spent(transitions: list[tuple[datetime, Phase]], phase: Phase, *, now: datetime) -> float | None:
    """Seconds spent in `phase` in all; None when the trial was never in it."""
    spans = [
        ((transitions[i + 1][0] if i + 1 < len(transitions) else now) - at).total_seconds()
        for i, (at, found) in enumerate(transitions)
        if found is phase
    ]
    return sum(spans) if spans else None


def _availability(trial: Trial, ready: float | None, *, asleep: float, now: datetime) -> float | None:
    """Time Ready over the time it was booked to be Ready: from Ready to the earliest of its
    expiry, the owner's request to end it, and now, less the time it slept (nobody wanted it
    then). A sandbox that failed while running (and was found so by the liveness check), or
    took long to wake, scores below 1. Measured at the liveness interval."""
    if ready is None or trial.ready_at is None:
        return None
    ends = [t for t in (trial.expires_at, trial.end_requested_at, now) if t is not None]
    booked = (min(ends) - trial.ready_at).total_seconds() - asleep
    return 1.0 if booked <= 0 else round(min(ready / booked, 1.0), 4)


def _teardown_verified(transitions: list[tuple[datetime, Phase]]) -> bool | None:
    """True once Stopped after a teardown: the reconciler records Stopped only when the runtime
    reports nothing labelled with the trial remains. None when there was nothing to tear down
    (never started) or the trial has not stopped yet."""
    phases = [phase for _at, phase in transitions]
    if not phases or phases[-1] is not Phase.STOPPED:
        return None
    return True if Phase.STOPPING in phases else None


# --- several assessors -------------------------------------------------------------------


def assessment_problems(scores: dict[str, dict[str, Any]]) -> list[Problem]:
    """What one assessor's scores still lack: every dimension scored 1 to 5 with evidence, the
    same answers (and field paths, `scores.privacy.evidence`) as an evaluation's scores."""
    lacking = missing(
        criteria=(),
        hypothesis_held="",
        hypothesis_evidence="",
        criteria_results=(),
        scores=scores,
        decision="",
    )
    return [p for p in lacking if part_of(p.field) == "scores"]


@dataclass(frozen=True)
class Agreement:
    """How the assessors scored one dimension: each score, its mean and its spread (the
    highest score less the lowest: 0 when they agree, 4 at most on the 1-5 scale)."""

    scores: tuple[int, ...]
    mean: float | None
    spread: int | None


def agreement(assessments: Sequence[dict[str, dict[str, Any]]]) -> dict[str, Agreement]:
    """Per dimension, what several assessors' scores (each `dimension -> {"score", ...}`) say
    together, for the owner to moderate."""
    found = {}
    for dimension in DIMENSIONS:
        given = tuple(
            int(s["score"])
            for scores in assessments
            if (s := scores.get(dimension)) and s.get("score") in SCALE
        )
        found[dimension] = Agreement(
            scores=given,
            mean=round(sum(given) / len(given), 2) if given else None,
            spread=max(given) - min(given) if given else None,
        )
    return found


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
    "hypothesis_held",
    "hypothesis_evidence",
    "criteria_total",
    "criteria_met",
    "criteria_partly",
    "criteria_results",
    "criteria_evidence",
    *(f"{d}_{part}" for d in DIMENSIONS for part in ("score", "evidence")),
    "assessor_count",
    "decision",
    "lessons_learned",
    "evaluated_at",
    "time_to_ready_seconds",
    "ready_seconds",
    "availability",
    "teardown_verified",
    "sleeping_seconds",
    "cpu_seconds",
    "peak_memory_bytes",
    "cost",
    "currency",
    "cpu_millicores",
    "memory_mib",
    "evidence_published",
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
    #: Assessors who recorded scores of their own before the owner moderated them.
    assessor_count: int = 0


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
    published = evaluation.publish_evidence
    results = in_trial_order(trial.success_criteria, evaluation.criteria_results)
    row.update(
        {
            "hypothesis_held": evaluation.hypothesis_held,
            "hypothesis_evidence": evaluation.hypothesis_evidence if published else "",
            "criteria_total": len(results),
            "criteria_met": sum(1 for r in results if r["met"] == "yes"),
            "criteria_partly": sum(1 for r in results if r["met"] == "partly"),
            "criteria_results": [r["met"] for r in results],
            "criteria_evidence": [r["evidence"] if published else "" for r in results],
        }
    )
    for dimension in DIMENSIONS:
        score = evaluation.scores.get(dimension) or {}
        row[f"{dimension}_score"] = score.get("score")
        row[f"{dimension}_evidence"] = score.get("evidence", "") if published else ""
    row.update(
        {
            "assessor_count": data.assessor_count,
            "decision": evaluation.decision,
            "lessons_learned": evaluation.lessons_learned,
            "evaluated_at": _iso(evaluation.recorded_at),
            **vars(data.measured),
            "cpu_millicores": trial.cpu_millicores,
            "memory_mib": trial.memory_mib,
            "evidence_published": published,
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
    hypothesis_held: dict[str, int]  # yes, partly, no
    criteria_met: int  # success criteria met, of
    criteria_total: int
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
        hypothesis_held={h: sum(1 for r in rows if r.get("hypothesis_held") == h) for h in HELD},
        criteria_met=sum(int(r.get("criteria_met") or 0) for r in rows),
        criteria_total=sum(int(r.get("criteria_total") or 0) for r in rows),
        mean_scores={d: m for d in DIMENSIONS if (m := _mean([r[f"{d}_score"] for r in rows])) is not None},
        mean_time_to_ready_seconds=_mean([r["time_to_ready_seconds"] for r in rows]),
        mean_availability=_mean([r["availability"] for r in rows], digits=4),
    )


def _mean(values: Sequence[float | None], *, digits: int = 2) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), digits) if known else None
