"""What clients see of early engagement: the API's answers and the pages' JSON twins alike, so
that both say the same. Pure builders from the rows the caller read (no database, no clock)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from orchestrator import engagement
from orchestrator.evaluation import Measured
from orchestrator.models import (
    Challenge,
    ChallengeResponse,
    EngagementSession,
    Evaluation,
    ListMeta,
    Supplier,
    Trial,
)


class OfferTerms(BaseModel):
    """The equal offer's terms: the same for every offered template's trial."""

    offered_at: datetime
    hypothesis: str
    success_criteria: list[str]
    duration_seconds: int | None
    max_cpu_millicores: int | None
    max_memory_mib: int | None


class ChallengePublic(BaseModel):
    id: str
    name: str | None = Field(description="The owner's own name for it (`metadata.name`).")
    stage: str = Field(description="Draft, Published, Closed or Decided.")
    title: str
    problem: str
    users_and_need: str
    tried: str
    constraints: str
    budget_min: int | None = Field(description="Whole pounds.")
    budget_max: int | None = Field(description="Whole pounds.")
    timeline: str
    problem_areas: list[str]
    closes_at: datetime
    questions_close_at: datetime
    questions_open: bool
    owner: str
    department: str
    created_at: datetime
    published_at: datetime | None
    closed_at: datetime | None
    decided_at: datetime | None
    decision: str
    offer: OfferTerms | None


class ChallengeList(BaseModel):
    items: list[ChallengePublic]
    metadata: ListMeta = Field(default_factory=ListMeta)


class ResponsePublic(BaseModel):
    id: int
    challenge: str
    supplier: str = Field(description="The supplier's slug.")
    supplier_name: str
    summary: str
    templates: list[str] = Field(description="The templates offered, each `name@version`.")
    conflict_declared: bool
    conflict_detail: str
    submitted_at: datetime
    updated_at: datetime


class ResponseList(BaseModel):
    items: list[ResponsePublic]


class QuestionPublic(BaseModel):
    """Never who asked: `yours` says whether it was the reader's own supplier's question."""

    id: int
    question: str
    asked_at: datetime
    answer: str
    answered_at: datetime | None
    yours: bool


class QuestionList(BaseModel):
    items: list[QuestionPublic]


class Material(BaseModel):
    title: str
    url: str
    shared_at: datetime


class SessionPublic(BaseModel):
    id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    mode: str = Field(description="online or in_person.")
    place: str
    capacity: int
    registered: int
    places_left: int
    attending: bool = Field(description="Whether the reader registered.")
    suppliers: list[str] = Field(description="Who registered: for the owner and the den's operators.")
    materials: list[Material]


class SessionList(BaseModel):
    items: list[SessionPublic]


class OfferedTrialPublic(BaseModel):
    id: str
    title: str
    phase: str
    supplier: str
    supplier_name: str
    template: str
    version: str
    created_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None
    ended_at: datetime | None
    decision: str | None = Field(description="adopt, iterate or stop, once evaluated.")
    scores: dict[str, int] = Field(description="Each dimension's 1-5 score, once evaluated.")
    measured: Measured | None = Field(
        None, description="What the den measured: time to ready, time answering, resource use, cost."
    )


class OfferedTrialList(BaseModel):
    items: list[OfferedTrialPublic]


def challenge_public(challenge: Challenge, *, owner: str, now: datetime) -> ChallengePublic:
    offer = None
    if challenge.offered_at is not None:
        offer = OfferTerms(
            offered_at=challenge.offered_at,
            hypothesis=challenge.offer_hypothesis,
            success_criteria=list(challenge.offer_success_criteria),
            duration_seconds=challenge.offer_duration_seconds,
            max_cpu_millicores=challenge.offer_cpu_millicores,
            max_memory_mib=challenge.offer_memory_mib,
        )
    return ChallengePublic(
        id=challenge.id,
        name=challenge.name,
        stage=engagement.stage(challenge, now),
        title=challenge.title,
        problem=challenge.problem,
        users_and_need=challenge.users_and_need,
        tried=challenge.tried,
        constraints=challenge.constraints,
        budget_min=challenge.budget_min,
        budget_max=challenge.budget_max,
        timeline=challenge.timeline,
        problem_areas=list(challenge.problem_areas),
        closes_at=challenge.closes_at,
        questions_close_at=challenge.questions_close_at,
        questions_open=engagement.questions_open(challenge, now),
        owner=owner,
        department=challenge.department,
        created_at=challenge.created_at,
        published_at=challenge.published_at,
        closed_at=challenge.closed_at,
        decided_at=challenge.decided_at,
        decision=challenge.decision,
        offer=offer,
    )


def response_public(response: ChallengeResponse, supplier: Supplier) -> ResponsePublic:
    assert response.id is not None
    return ResponsePublic(
        id=response.id,
        challenge=response.challenge_id,
        supplier=supplier.slug,
        supplier_name=supplier.name,
        summary=response.summary,
        templates=list(response.templates),
        conflict_declared=response.conflict_declared,
        conflict_detail=response.conflict_detail,
        submitted_at=response.submitted_at,
        updated_at=response.updated_at,
    )


def question_public(
    *, id: int, question: str, asked_at: datetime, answer: str, answered_at: datetime | None, yours: bool
) -> QuestionPublic:
    return QuestionPublic(
        id=id, question=question, asked_at=asked_at, answer=answer, answered_at=answered_at, yours=yours
    )


def session_public(
    held: EngagementSession, *, registered: int, attending: bool, suppliers: tuple[str, ...]
) -> SessionPublic:
    assert held.id is not None
    return SessionPublic(
        id=held.id,
        title=held.title,
        starts_at=held.starts_at,
        ends_at=held.ends_at,
        mode=held.mode,
        place=held.place,
        capacity=held.capacity,
        registered=registered,
        places_left=max(0, held.capacity - registered),
        attending=attending,
        suppliers=list(suppliers),
        materials=[Material.model_validate(m) for m in held.materials],
    )


def offered_trial_public(
    trial: Trial, supplier: Supplier, found: Evaluation | None, measured: Measured | None = None
) -> OfferedTrialPublic:
    complete = found is not None and found.status == "complete"
    return OfferedTrialPublic(
        id=trial.id,
        title=trial.title,
        phase=trial.phase,
        supplier=supplier.slug,
        supplier_name=supplier.name,
        template=trial.template_name,
        version=trial.template_version,
        created_at=trial.created_at,
        ready_at=trial.ready_at,
        expires_at=trial.expires_at,
        ended_at=trial.ended_at,
        decision=(found.decision or None) if found is not None and complete else None,
        scores=scores_of(found) if complete else {},
        measured=measured,
    )


def scores_of(found: Evaluation | None) -> dict[str, int]:
    """A complete evaluation's 1-5 score for each dimension it scored."""
    if found is None or found.status != "complete":
        return {}
    out: dict[str, int] = {}
    for dimension, score in found.scores.items():
        value: Any = score.get("score") if isinstance(score, dict) else None
        if isinstance(value, int):
            out[dimension] = value
    return out
