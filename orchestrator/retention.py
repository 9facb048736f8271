"""How long the den keeps what people wrote (`DEN_RETENTION_DAYS`), as pure rules.

A trial that ended more than the retention period ago loses its free text: what its owner and
others wrote about it (the problem, the hypothesis, the success criteria, the reasons given for
a longer trial or more time, an approver's rejection reason) and its evaluation's words (the
evidence, lessons learned and private notes). What makes trials comparable stays: the title,
the template, the dates, the scores, whether the hypothesis held, whether each criterion was
met, and the decision. The reconciler applies it in bounded batches (`crud.remove_old_text`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

#: Trials whose text is removed in one pass: the pass stays short, the rest wait for the next.
BATCH = 100
#: The trial's own free-text fields, and what each becomes.
TRIAL_TEXT: dict[str, Any] = {
    "problem_statement": "",
    "hypothesis": "",
    "success_criteria": [],
    "justification": "",
    "extension_justification": "",
    "rejection_reason": "",
}
#: The evaluation's free-text fields (its scores' and criteria's evidence are cleared apart).
EVALUATION_TEXT: dict[str, Any] = {
    "hypothesis_evidence": "",
    "lessons_learned": "",
    "private_notes": "",
}


def cutoff(*, now: datetime, days: int) -> datetime | None:
    """Trials that ended before this lose their text; None when text is kept for ever (0)."""
    return None if days <= 0 else now - timedelta(days=days)


def is_due(*, ended_at: datetime | None, text_removed_at: datetime | None, now: datetime, days: int) -> bool:
    """Whether a trial's text is due for removal: ended more than `days` ago, not yet removed."""
    limit = cutoff(now=now, days=days)
    return limit is not None and text_removed_at is None and ended_at is not None and ended_at < limit


def scores_without_text(scores: dict[str, Any]) -> dict[str, Any]:
    """Each dimension's score kept, its evidence text removed."""
    return {
        dimension: {**value, "evidence": ""} if isinstance(value, dict) else value
        for dimension, value in scores.items()
    }


def criteria_without_text(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Whether each criterion was met kept (in order); the criterion's words and evidence removed."""
    return [{**result, "criterion": "", "evidence": ""} for result in results]


def in_words(days: int) -> str:
    """The retention period as the privacy notice says it."""
    if days <= 0:
        return "for as long as the den runs"
    if days % 365 == 0:
        years = days // 365
        return f"for {years} year{'s' if years != 1 else ''} after the trial ends"
    return f"for {days} day{'s' if days != 1 else ''} after the trial ends"
