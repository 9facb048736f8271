"""Request bodies of the engagement API (`/api/v1/challenges`); what it answers is
orchestrator.engagement_public's, shared with the pages' JSON twins."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from api.schemas import TRIAL_NAME, _Strict
from orchestrator import engagement


class ChallengeWrite(_Strict):
    """A challenge's fields: the same for writing a draft and changing it."""

    name: str | None = Field(
        None,
        max_length=63,
        pattern=TRIAL_NAME.pattern,
        description="Your own name for it (`metadata.name` in `denctl apply -f`), unique among yours.",
    )
    title: str = Field(min_length=1, max_length=200)
    problem: str = Field(
        min_length=1, max_length=5000, description="The problem and who has it: not a solution."
    )
    users_and_need: str = Field("", max_length=5000, description="The users and what they need.")
    tried: str = Field("", max_length=5000, description="What has been tried already.")
    constraints: str = Field("", max_length=5000)
    budget_min: int | None = Field(None, ge=0, le=10**12, description="Whole pounds.")
    budget_max: int | None = Field(None, ge=0, le=10**12, description="Whole pounds.")
    timeline: str = Field("", max_length=2000)
    problem_areas: list[str] = Field(default_factory=list, max_length=20)
    closes_at: AwareDatetime = Field(description="When responses close (with its time zone).")
    questions_close_at: AwareDatetime | None = Field(
        None, description="The last time for questions, on or before `closes_at` (default: `closes_at`)."
    )

    def as_input(self) -> engagement.ChallengeInput:
        return engagement.ChallengeInput(
            title=self.title,
            problem=self.problem,
            closes_at=self.closes_at,
            users_and_need=self.users_and_need,
            tried=self.tried,
            constraints=self.constraints,
            budget_min=self.budget_min,
            budget_max=self.budget_max,
            timeline=self.timeline,
            problem_areas=tuple(self.problem_areas),
            questions_close_at=self.questions_close_at,
        )


class ChallengeCreate(ChallengeWrite):
    publish: bool = Field(False, description="Publish it at once instead of keeping a draft.")


class Decision(_Strict):
    decision: str = Field(min_length=1, max_length=5000, description="What was decided, and why.")


class ResponseWrite(_Strict):
    summary: str = Field(min_length=1, max_length=5000, description="How you would help, in a few sentences.")
    templates: list[str] = Field(
        min_length=1,
        max_length=10,
        description="Your templates offered for a trial: `name` (its newest published version) "
        "or `name@version`.",
    )
    conflict_declared: bool = Field(description="Whether you have a conflict of interest to declare.")
    conflict_detail: str = Field("", max_length=2000, description="What it is, when declared.")

    def as_input(self) -> engagement.ResponseInput:
        return engagement.ResponseInput(
            summary=self.summary,
            templates=tuple(self.templates),
            conflict_declared=self.conflict_declared,
            conflict_detail=self.conflict_detail,
        )


class QuestionAsk(_Strict):
    question: str = Field(min_length=1, max_length=2000)


class Answer(_Strict):
    answer: str = Field(min_length=1, max_length=5000)


class SessionCreate(_Strict):
    title: str = Field(min_length=1, max_length=200)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    mode: Literal["online", "in_person"]
    place: str = Field(min_length=1, max_length=500, description="The link to join, or the address.")
    capacity: int = Field(ge=1, le=10_000, description="The number of places.")

    def as_input(self) -> engagement.SessionInput:
        return engagement.SessionInput(
            title=self.title,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            mode=self.mode,
            place=self.place,
            capacity=self.capacity,
        )


class MaterialShare(_Strict):
    title: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1, max_length=2000, description="An https (or http) address.")


class OfferCreate(_Strict):
    """The equal offer's terms, the same for every offered template."""

    hypothesis: str = Field(min_length=1, max_length=5000)
    success_criteria: list[str] = Field(min_length=1, max_length=20)
    duration_seconds: int = Field(ge=1, le=10**8)
    max_cpu_millicores: int | None = Field(None, ge=1, description="A ceiling every template must fit under.")
    max_memory_mib: int | None = Field(None, ge=1, description="A ceiling every template must fit under.")

    def as_input(self) -> engagement.OfferInput:
        return engagement.OfferInput(
            hypothesis=self.hypothesis,
            duration_seconds=self.duration_seconds,
            success_criteria=tuple(self.success_criteria),
            max_cpu_millicores=self.max_cpu_millicores,
            max_memory_mib=self.max_memory_mib,
        )
