"""Several assessors' scores (orchestrator/evaluation.py): what one assessor's scores lack, and
what several say together (mean and spread per dimension)."""

from __future__ import annotations

from typing import Any

from orchestrator.evaluation import DIMENSIONS, Agreement, agreement, assessment_problems


def scored(value: int, **overrides: Any) -> dict[str, dict[str, Any]]:
    return {d: {"score": value, "evidence": "seen"} for d in DIMENSIONS} | overrides


def test_an_assessors_scores_need_every_dimension_with_evidence_and_nothing_else() -> None:
    assert assessment_problems(scored(3)) == []
    lacking = assessment_problems(scored(3, privacy={"score": 9, "evidence": " "}, security={}))
    assert [p.field for p in lacking] == [
        "scores.security",
        "scores.privacy.score",
        "scores.privacy.evidence",
    ]
    # No decision and no hypothesis are asked of an assessor.
    assert all(p.field.startswith("scores") for p in assessment_problems({}))
    assert len(assessment_problems({})) == len(DIMENSIONS)


def test_several_assessors_agree_or_spread_apart_per_dimension() -> None:
    together = agreement([scored(2), scored(5, privacy={"score": 2, "evidence": "x"}), scored(4)])
    assert together["user_need"] == Agreement(scores=(2, 5, 4), mean=3.67, spread=3)
    assert together["privacy"] == Agreement(scores=(2, 2, 4), mean=2.67, spread=2)
    assert agreement([scored(3)])["cost_value"] == Agreement(scores=(3,), mean=3.0, spread=0)
    assert agreement([])["security"] == Agreement(scores=(), mean=None, spread=None)
