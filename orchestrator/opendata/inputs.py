"""The builders' input: frozen facts about a challenge, its sessions, documents and trials, read
from the database by the caller. Money is in whole pounds; times are timezone-aware."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


@dataclass(frozen=True)
class SessionFacts:
    starts_at: datetime
    ends_at: datetime
    mode: Literal["online", "in_person"]
    #: The address, or for an online session how to join.
    place: str
    capacity: int


@dataclass(frozen=True)
class DocumentFacts:
    id: str
    title: str
    url: str
    #: An OCDS documentType code, e.g. "needsAssessment", "marketStudies", "evaluationReports".
    kind: str


@dataclass(frozen=True)
class ChallengeFacts:
    reference: str
    title: str
    problem: str
    users_and_need: str
    tried: str
    constraints: str
    budget_min: int | None
    budget_max: int | None
    timeline: str
    closes_at: datetime
    questions_close_at: datetime
    problem_areas: tuple[str, ...]
    department: str
    owner_name: str
    owner_email: str
    published_at: datetime | None
    #: The den's public address for this challenge: where suppliers respond and ask questions.
    public_url: str
    sessions: tuple[SessionFacts, ...] = ()
    documents: tuple[DocumentFacts, ...] = ()


@dataclass(frozen=True)
class SupplierFacts:
    slug: str
    name: str
    #: e.g. "micro", "small", "medium", "large".
    size: str


@dataclass(frozen=True)
class TrialFacts:
    trial_id: str
    title: str
    supplier: SupplierFacts
    template: str
    version: str
    phase: str
    decision: str | None
    #: The evaluation's eight dimensions (orchestrator.evaluation.DIMENSIONS), each scored 1 to 5.
    scores: dict[str, int] = field(default_factory=dict)
    ended_at: datetime | None = None
