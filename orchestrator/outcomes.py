"""How a template's trials went, in aggregate: what its supplier is shown instead of trials.

Pure: no I/O and no clock. A supplier never sees an individual trial (orchestrator/access.py);
it sees, per version of its template and in total, how many trials there were in each phase,
how many were evaluated and what was decided, the mean score on each dimension of the standard
evaluation scheme, and how long sandboxes took to become ready (median and 90th percentile).
`TrialFacts` holds only what these need from a trial, so that nothing a civil servant wrote
(title, problem, hypothesis, parameters, private notes) can reach a supplier through here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestrator.evaluation import DIMENSIONS, Decision
from orchestrator.lifecycle import Phase


@dataclass(frozen=True)
class TrialFacts:
    """One trial of the template, as far as aggregates need it."""

    version: str
    phase: str
    time_to_ready_seconds: float | None  # None: never became ready
    decision: str | None = None  # None: not evaluated
    scores: Mapping[str, int] | None = None  # dimension -> 1-5, from the evaluation


@dataclass(frozen=True)
class TimeToReady:
    """Over the trials that became ready (`samples` of them); None when none did."""

    samples: int
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class Outcome:
    """The trials of one version (`version`), or of every version (`version` None)."""

    version: str | None
    trials: int
    phases: dict[str, int]  # every phase, 0 included
    evaluated: int
    decisions: dict[str, int]  # adopt, iterate, stop
    mean_scores: dict[str, float | None]  # every dimension; None when nothing was scored
    time_to_ready: TimeToReady


@dataclass(frozen=True)
class TemplateOutcomes:
    template: str
    supplier: str
    total: Outcome
    versions: list[Outcome]  # in the order given: every version, trialled or not


def summarise(
    *, template: str, supplier: str, versions: Sequence[str], rows: Sequence[TrialFacts]
) -> TemplateOutcomes:
    """`versions` in the order to show them (newest first, say); a version that has trials but
    is not listed still counts in the total and is shown after the listed ones."""
    order = list(dict.fromkeys([*versions, *(row.version for row in rows)]))
    return TemplateOutcomes(
        template=template,
        supplier=supplier,
        total=outcome(None, rows),
        versions=[outcome(v, [row for row in rows if row.version == v]) for v in order],
    )


def outcome(version: str | None, rows: Sequence[TrialFacts]) -> Outcome:
    evaluated = [row for row in rows if row.decision is not None]
    ready = [row.time_to_ready_seconds for row in rows if row.time_to_ready_seconds is not None]
    return Outcome(
        version=version,
        trials=len(rows),
        phases={str(p): sum(1 for row in rows if row.phase == p) for p in Phase},
        evaluated=len(evaluated),
        decisions={str(d): sum(1 for row in evaluated if row.decision == d) for d in Decision},
        mean_scores={d: _mean([(row.scores or {}).get(d) for row in evaluated]) for d in DIMENSIONS},
        time_to_ready=TimeToReady(
            samples=len(ready), median_seconds=quantile(ready, 0.5), p90_seconds=quantile(ready, 0.9)
        ),
    )


def quantile(values: Sequence[float], q: float) -> float | None:
    """The `q` quantile (0-1) by linear interpolation between the closest ranks (numpy's
    default, so the median of an even count is the mean of the middle two); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return round(value, 3)


def _mean(values: Sequence[int | None]) -> float | None:
    known = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return round(sum(known) / len(known), 2) if known else None
