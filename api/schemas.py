"""Request and response bodies of the REST API (the wire contract of PRODUCT.md 7.1)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.evaluation import DIMENSIONS

# A trial as clients see it lives in the core, so that the pages' JSON twins render it the same.
from orchestrator.models import ListMeta as ListMeta
from orchestrator.models import TrialEventList as TrialEventList
from orchestrator.models import TrialEventPublic as TrialEventPublic
from orchestrator.models import TrialList as TrialList
from orchestrator.models import TrialPublic as TrialPublic

Phase = Literal["PendingApproval", "Requested", "Provisioning", "Ready", "Stopping", "Stopped", "Failed"]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9._@-]{0,99}$")]
Slug = Annotated[str, Field(pattern=r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")]
Tag = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]


class _Strict(BaseModel):
    """Request bodies: unknown fields and NUL characters are refused (PostgreSQL cannot store
    NUL in text, and no person means to send one)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError("NUL characters (\\u0000) are not allowed")
        return value


def has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


TRIAL_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class TrialCreate(_Strict):
    name: str | None = Field(
        None,
        max_length=63,
        description="Your own name for the trial (`metadata.name` in `denctl apply -f`), unique "
        "among your trials: a DNS label, up to 63 lowercase letters, digits and hyphens.",
    )
    template: str = Field(
        min_length=1,
        max_length=110,
        pattern=r"^[a-z0-9-]+(@[0-9A-Za-z.+-]+)?$",
        description="`name` (newest version) or `name@version`.",
    )
    title: str = Field(min_length=1, max_length=200)
    hypothesis: str = Field(min_length=1, max_length=5000)
    problem_statement: str = Field("", max_length=5000)
    success_criteria: list[str] = Field(default_factory=list, max_length=20)
    duration_seconds: int | None = Field(None, ge=1, le=10**8)
    parameters: dict[str, Any] = Field(default_factory=dict, max_length=50)
    shared_with_department: bool = Field(
        False, description="Let civil servants of your department see the trial and evaluate it."
    )
    justification: str = Field(
        "",
        max_length=2000,
        description="Why the trial needs longer than self-service allows: the approver reads it. "
        "Optional here (the web form asks for it when an approver must agree).",
    )

    @field_validator("name", mode="after")
    @classmethod
    def _dns_label(cls, value: str | None) -> str | None:
        if value is not None and not TRIAL_NAME.match(value):
            raise ValueError(
                "must be a DNS label: lowercase letters, digits and hyphens, starting and "
                "ending with a letter or digit (e.g. air-quality-pilot)"
            )
        return value


class TemplatePublic(BaseModel):
    name: str
    version: str
    supplier: str
    supplier_name: str
    summary: str
    description: str
    problem_areas: list[str]
    tags: list[str]
    status: str
    status_reason: str
    digest: str
    data_classification: str
    limits: dict[str, Any]
    components: list[str]
    parameters: dict[str, Any]
    success_criteria: list[str]
    published_at: datetime
    pinned_images: dict[str, str] = Field(
        default_factory=dict,
        description="Component -> the immutable image reference its "
        "trials run (set when the version is published after review).",
    )
    reviewed_by: str = Field(
        "",
        description="Who published or rejected the version after "
        "review (empty: published at once, or not reviewed yet).",
    )
    reviewed_at: datetime | None = None


class TemplatePublished(TemplatePublic):
    """The answer to publishing a manifest: the stored version, and whether it was already
    stored exactly so (a repeat changes nothing: 200 with `unchanged` true)."""

    unchanged: bool = Field(False, description="The same manifest was already published as this version.")


class Change(BaseModel):
    area: Literal["images", "egress", "resources", "parameters"]
    field: str
    before: str = Field(description="Empty when the item is new.")
    after: str = Field(description="Empty when the item was removed.")


class VersionReview(BaseModel):
    """What a reviewer sees before publishing or rejecting a version."""

    version: TemplatePublic
    previous_version: str | None = Field(
        description="The last published version compared with (null for a template's first version)."
    )
    changes: list[Change]
    review_reasons: list[str] = Field(
        description="Why the version needs a review (empty: it changes nothing risky)."
    )


class TemplateList(BaseModel):
    items: list[TemplatePublic]
    metadata: ListMeta = Field(default_factory=ListMeta)


class SupplierPublic(BaseModel):
    slug: str
    name: str
    size: str
    contact: str
    description: str
    problem_areas: list[str]
    templates: list[str]


class SupplierList(BaseModel):
    items: list[SupplierPublic]


class TemplateDetail(BaseModel):
    name: str
    supplier: str
    versions: list[TemplatePublic] = Field(description="Every version, newest first.")


class TimeToReady(BaseModel):
    samples: int = Field(description="Trials that became ready.")
    median_seconds: float | None
    p90_seconds: float | None = Field(description="90th percentile, linear interpolation.")


class OutcomeSummary(BaseModel):
    version: str | None = Field(description="The version, or null for every version together.")
    trials: int
    phases: dict[str, int] = Field(description="Trials in each phase (every phase listed).")
    evaluated: int
    decisions: dict[str, int] = Field(description="Evaluated trials by decision: adopt, iterate, stop.")
    mean_scores: dict[str, float | None] = Field(
        description="Mean score (1-5) per dimension of the evaluation scheme; null if none."
    )
    time_to_ready: TimeToReady


class TemplateOutcomes(BaseModel):
    """How a template's trials went, in aggregate only: no trial, no civil servant's words."""

    template: str
    supplier: str
    total: OutcomeSummary
    versions: list[OutcomeSummary] = Field(description="Every version, newest first.")


class VersionStatusChange(_Strict):
    status: Literal["Published", "Rejected", "Deprecated", "Quarantined"] = Field(
        description="`Published` approves a version waiting for review (pinning its images) "
        "or re-publishes one; `Rejected` refuses a version waiting for review (a reason is "
        "required)."
    )
    reason: str = Field("", max_length=500)


class SupplierCreate(_Strict):
    slug: Slug
    name: str = Field(min_length=1, max_length=200)
    size: Literal["sme", "large"] = "sme"
    contact: str = Field("", max_length=200)
    description: str = Field("", max_length=5000)
    problem_areas: list[Tag] = Field(default_factory=list, max_length=10)


class ExtendRequest(_Strict):
    duration_seconds: int = Field(ge=1, le=10**8, description="Seconds to add.")
    justification: str = Field(
        "",
        max_length=2000,
        description="Why the trial needs more time, read by the approver when the extension "
        "needs one. Optional here (the web form asks for it then).",
    )


class ApproveRequest(_Strict):
    note: str = Field("", max_length=2000, description="A note for the requester, kept in the audit log.")


class RejectRequest(_Strict):
    reason: str = Field(min_length=1, max_length=2000)


class Score(_Strict):
    score: int | None = Field(None, ge=1, le=5, description="1-5; required unless a draft.")
    evidence: str = Field("", max_length=5000, description="Required unless a draft.")


class Scores(_Strict):
    """Every dimension is required unless the evaluation is a draft."""

    user_need: Score | None = None
    accessibility: Score | None = None
    security: Score | None = None
    privacy: Score | None = None
    interoperability: Score | None = None
    performance: Score | None = None
    cost_value: Score | None = None
    ease_of_adoption: Score | None = None


assert tuple(Scores.model_fields) == DIMENSIONS, "the API's dimensions must be the scheme's"

Held = Literal["yes", "partly", "no", ""]


class CriterionResult(_Strict):
    criterion: str = Field(max_length=500, description="One of the trial's success criteria, as it names it.")
    met: Held = Field("", description="yes, partly or no; required unless a draft.")
    evidence: str = Field("", max_length=5000, description="Required unless a draft.")


class EvaluationPut(_Strict):
    """A complete evaluation needs every answer: whether the hypothesis held with evidence, a
    result with evidence for each of the trial's success criteria, every dimension scored with
    evidence, and a decision. `"status": "draft"` saves what is given, to finish later."""

    status: Literal["complete", "draft"] = "complete"
    hypothesis_held: Held = Field("", description="Did the hypothesis hold: yes, partly or no.")
    hypothesis_evidence: str = Field("", max_length=5000)
    criteria_results: list[CriterionResult] = Field(default_factory=list, max_length=20)
    scores: Scores = Field(default_factory=Scores)
    decision: Literal["adopt", "iterate", "stop", ""] = ""
    lessons_learned: str = Field("", max_length=10000)
    publish_evidence: bool = Field(
        True, description="False keeps the evidence text out of the published report; the scores stay."
    )
    private_notes: str = Field(
        "",
        max_length=10000,
        description="Seen only by the owner, their department (when shared) and platform engineers.",
    )


class Measured(BaseModel):
    time_to_ready_seconds: float | None
    ready_seconds: float | None
    availability: float | None
    teardown_verified: bool | None
    sleeping_seconds: float | None = Field(
        None, description="How long the sandbox slept after its idle timeout, in all (none: it never slept)."
    )
    cpu_seconds: float = Field(0.0, description="CPU time the sandbox used, as the runtime measured it.")
    peak_memory_bytes: int = Field(0, description="The highest memory working set read.")
    cost: float | None = Field(
        None, description="Its cost so far at the rate card (`DEN_RATE_CARD`); null without one."
    )
    currency: str = Field("", description="The rate card's currency; empty without one.")


class EvaluationPublic(BaseModel):
    trial_id: str
    status: Literal["complete", "draft"]
    hypothesis_held: str
    hypothesis_evidence: str
    criteria_results: list[CriterionResult]
    scores: Scores
    decision: str
    lessons_learned: str
    publish_evidence: bool
    private_notes: str | None = Field(description="null when the caller may not see them.")
    recorded_by: str
    recorded_at: datetime
    measured: Measured


class TrialReport(BaseModel):
    schema_: str = Field(alias="schema")
    generated_at: datetime
    columns: list[str]
    items: list[dict[str, Any]]


class UserCreate(_Strict):
    name: Name
    role: Literal["civil_servant", "supplier", "platform_engineer", "approver"]
    department: str = Field("", max_length=100)
    supplier: str = Field("", max_length=40, description="The supplier's slug (role supplier).")
    display_name: str = Field("", max_length=200)
    email: str = Field("", max_length=200)


class UserUpdate(_Strict):
    """Only the fields given change."""

    role: Literal["civil_servant", "supplier", "platform_engineer", "approver"] | None = None
    department: str | None = Field(None, max_length=100)
    supplier: str | None = Field(None, max_length=40, description="The supplier's slug (role supplier).")
    disabled: bool | None = Field(
        None,
        strict=True,
        description="`true` ends the person's sessions and "
        "stops their tokens at once; `false` lets them in again.",
    )


class UserPublic(BaseModel):
    name: str
    role: str
    department: str
    supplier: str | None
    display_name: str
    email: str
    created_at: datetime
    disabled: bool = False
    single_sign_on: bool = Field(False, description="Bound to an account at the provider.")


class UserList(BaseModel):
    items: list[UserPublic]
    metadata: ListMeta = Field(default_factory=ListMeta)


class TokenCreate(_Strict):
    name: str = Field("", max_length=100)
    expires_in_seconds: int | None = Field(None, ge=60, le=10 * 366 * 86400)


class TokenPublic(BaseModel):
    id: int
    user: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="The token itself: shown this once, never again.")


class TokenList(BaseModel):
    items: list[TokenPublic]


class AuditPublic(BaseModel):
    at: datetime
    actor: str
    source: str
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]


class AuditList(BaseModel):
    items: list[AuditPublic]
    metadata: ListMeta = Field(default_factory=ListMeta)


class ErrorBody(BaseModel):
    reason: str
    detail: str
    problems: list[dict[str, str | int | None]] | None = None  # field, message, hint, where, line


class ShareLinkCreate(_Strict):
    expires_in_seconds: int = Field(
        ge=60, le=7 * 86400, description="How long the link lasts: 60 seconds to 7 days."
    )
    note: str = Field("", max_length=200, description="Who it is for (shown to you only).")


class ShareLinkPublic(BaseModel):
    id: int
    note: str
    created_at: datetime
    expires_at: datetime
    created_by: str
    revoked_at: datetime | None


class ShareLinkCreated(ShareLinkPublic):
    url: str = Field(
        description="The den page that opens the sandbox without signing in: shown this once, never again."
    )


class ShareLinkList(BaseModel):
    items: list[ShareLinkPublic]


class OpenRequest(_Strict):
    component: str | None = Field(
        None,
        pattern=r"^[a-z0-9-]{1,60}$",
        description="Which exposed component; may be left out when the trial exposes only one.",
    )


class OpenAddress(BaseModel):
    component: str
    url: str = Field(
        description="A one-time address on the sandbox's own origin: opened in a "
        "browser, it signs that browser in to the sandbox (once, within a minute)."
    )
    expires_at: datetime


# --- team trials ---------------------------------------------------------------------------


class MemberAdd(_Strict):
    user: Name = Field(description="The civil servant's user name.")
    role: Literal["collaborator", "assessor"] = Field(
        description="`collaborator`: sees the trial, opens and extends its sandbox; `assessor`: "
        "sees it, opens its sandbox and records scores of their own."
    )


class MemberPublic(BaseModel):
    user: str
    display_name: str
    department: str
    role: str
    added_by: str
    added_at: datetime


class MemberList(BaseModel):
    owner: str = Field(description="The trial's owner, who is not one of its members.")
    items: list[MemberPublic]


class AssessmentPut(_Strict):
    """Every one of the eight dimensions scored 1-5 with evidence."""

    scores: Scores


class AssessmentPublic(BaseModel):
    assessor: str
    scores: dict[str, Score]
    recorded_at: datetime


class DimensionAgreement(BaseModel):
    scores: list[int] = Field(description="Each assessor's score, in the order of `items`.")
    mean: float | None
    spread: int | None = Field(description="The highest score less the lowest: 0 when all agree.")


class AssessmentList(BaseModel):
    items: list[AssessmentPublic]
    assessor_count: int = Field(description="How many people recorded scores of their own.")
    dimensions: dict[str, DimensionAgreement]
