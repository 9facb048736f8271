"""Database tables and the API's input/output shapes (SQLModel families).

Per object: `XBase` (shared fields), `X` (the table), `XCreate` (what a client sends),
`XPublic` (what a client sees). The database is the source of truth for every trial; the
reconciler is the only writer of a trial's observed fields (`phase`, `reason`, `message`,
`endpoints`, `ready_at`, `ended_at`).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, TypeDecorator, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from orchestrator.lifecycle import Phase


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json(default: Any = None) -> Any:
    factory = (lambda: type(default)()) if default is not None else None
    if factory is None:
        return Field(default=None, sa_column=Column(JSON, nullable=True))
    return Field(default_factory=factory, sa_column=Column(JSON, nullable=False))


def _when(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def new_id() -> str:
    """A short random id: DNS-label safe, so it can name namespaces and containers."""
    return "t" + secrets.token_hex(6)


# --- Suppliers ---------------------------------------------------------------------------


class Supplier(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, index=True, max_length=40)
    name: str = Field(max_length=200)
    size: str = Field(default="sme", max_length=10)  # sme | large
    contact: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=5000)
    problem_areas: list[str] = _json([])
    created_at: datetime = _when(nullable=False)


# --- Templates ---------------------------------------------------------------------------


class SandboxTemplate(SQLModel, table=True):
    __tablename__ = "sandbox_template"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, max_length=40)
    supplier_id: int = Field(foreign_key="supplier.id", index=True)
    created_at: datetime = _when(nullable=False)


class TemplateVersion(SQLModel, table=True):
    """One version of a template: its manifest is immutable once stored (`digest` proves it).

    A version a supplier sends waits in `PendingReview` until a platform engineer publishes or
    rejects it; publishing pins each component's image (`pinned_images`: component -> the
    runtime's immutable reference), so what was reviewed is what runs."""

    __tablename__ = "template_version"
    __table_args__ = (UniqueConstraint("template_id", "version", name="uq_template_version"),)
    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="sandbox_template.id", index=True)
    version: str = Field(max_length=60)
    # PendingReview | Published | Rejected | Deprecated | Quarantined (crud.templates)
    status: str = Field(default="PendingReview", max_length=20)
    status_reason: str = Field(default="", max_length=500)
    digest: str = Field(max_length=64)
    manifest: dict[str, Any] = _json({})
    published_at: datetime = _when(nullable=False)  # when it was sent (stored)
    pinned_images: dict[str, str] = _json({})
    reviewed_by: str = Field(default="", max_length=100)  # "" : automatic, or not yet
    reviewed_at: datetime | None = _when()


# --- Users and tokens --------------------------------------------------------------------


class User(SQLModel, table=True):
    __tablename__ = "den_user"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, max_length=100)
    display_name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=200)
    # civil_servant | supplier | platform_engineer | approver
    role: str = Field(max_length=30)
    department: str = Field(default="", max_length=100)
    supplier_id: int | None = Field(default=None, foreign_key="supplier.id")
    created_at: datetime = _when(nullable=False)
    # A disabled person's sessions, tokens and sandbox visits stop at once.
    disabled_at: datetime | None = _when()
    # `iss` + " " + `sub` of the provider account bound at the first single sign-on: a later
    # account that merely claims the same user name is refused.
    oidc_subject: str | None = Field(default=None, max_length=600, unique=True, index=True)
    # The events (orchestrator.notify.EVENTS) this person chose not to receive by email: by
    # default they receive every one that concerns them.
    email_opt_out: list[str] = _json([])


class ApiToken(SQLModel, table=True):
    """An API token: only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="den_user.id", index=True)
    name: str = Field(default="", max_length=100)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    prefix: str = Field(max_length=12)
    created_at: datetime = _when(nullable=False)
    expires_at: datetime | None = _when()
    revoked_at: datetime | None = _when()


# --- Trials ------------------------------------------------------------------------------


class Trial(SQLModel, table=True):
    __table_args__ = (
        Index("ix_trial_phase_expires", "phase", "expires_at"),
        # Lists newest first, a page at a time (crud/listing.py): everyone's, one owner's, and
        # those a department shares.
        Index("ix_trial_created", "created_at", "id"),
        Index("ix_trial_owner_created", "owner_id", "created_at", "id"),
        Index("ix_trial_shared_created", "department", "shared_with_department", "created_at", "id"),
        # What the caps count on every trial request (crud.trials.usage), read from the index
        # alone.
        Index(
            "ix_trial_holding",
            "phase",
            "template_name",
            "owner_id",
            "department",
            "cpu_millicores",
            "memory_mib",
            "pooled",
        ),
        UniqueConstraint("owner_id", "name", name="uq_trial_owner_name"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=20)
    owner_id: int = Field(foreign_key="den_user.id", index=True)
    # A name the owner chose (`metadata.name` in `denctl apply -f`), unique among their trials,
    # so that applying the same file again finds the trial instead of starting another.
    name: str | None = Field(default=None, max_length=63)
    department: str = Field(default="", max_length=100, index=True)
    template_version_id: int = Field(foreign_key="template_version.id", index=True)
    template_name: str = Field(max_length=40, index=True)
    template_version: str = Field(max_length=60)
    # What the civil servant wants to learn.
    title: str = Field(max_length=200)
    problem_statement: str = Field(default="", max_length=5000)
    hypothesis: str = Field(max_length=5000)
    success_criteria: list[str] = _json([])
    parameters: dict[str, Any] = _json({})
    # Why a trial longer than self-service allows is needed, for the approver.
    justification: str = Field(default="", max_length=2000)
    # Intent, written by people.
    shared_with_department: bool = False
    duration_seconds: int  # the whole trial, extensions included
    expires_at: datetime | None = _when(index=True)  # None until approved, when approval is due
    end_requested_at: datetime | None = _when()
    extension_count: int = 0
    # An approver's decision on a request beyond self-service (the reconciler acts on it).
    approved_at: datetime | None = _when()
    approved_by: str = Field(default="", max_length=100)
    rejected_at: datetime | None = _when()
    rejected_by: str = Field(default="", max_length=100)
    rejection_reason: str = Field(default="", max_length=2000)
    # An extension beyond self-service waits here until an approver decides.
    extension_requested_seconds: int | None = None
    extension_requested_at: datetime | None = _when()
    extension_requested_by: str = Field(default="", max_length=100)
    extension_justification: str = Field(default="", max_length=2000)
    # What the sandbox reserves (its components' limits), summed for the resource caps.
    cpu_millicores: int = 0
    memory_mib: int = 0
    # Set by every write, so that a watch reads only what changed.
    updated_at: datetime | None = _when(index=True)
    # Observation, written only by the reconciler.
    phase: str = Field(default=Phase.REQUESTED, max_length=20, index=True)
    reason: str = Field(default="Created", max_length=40)
    message: str = Field(default="", max_length=2000)
    phase_changed_at: datetime = _when(nullable=False)
    endpoints: dict[str, str] = _json({})
    driver: str = Field(default="docker", max_length=20)
    created_at: datetime = _when(nullable=False)
    ready_at: datetime | None = _when()
    ended_at: datetime | None = _when()
    # When the retention period removed the trial's free text (its scores are kept).
    text_removed_at: datetime | None = _when()
    # Idle sleep (crud/activity.py): seconds with no visit before the sandbox sleeps (0: never),
    # the latest visit through its address, when it is due to sleep (while Ready), a visit's
    # request to wake it (intent, while Sleeping), and the seconds it has slept so far.
    idle_timeout_seconds: int = 0
    last_activity_at: datetime | None = _when()
    sleeps_at: datetime | None = _when(index=True)
    wake_requested_at: datetime | None = _when()
    slept_seconds: int = 0
    # A warm pool's sandbox (crud/pools.py), started before anyone asked: owned by nobody
    # (`owner_id` is the pool's own account) until a request takes it. `pool_key` names the
    # pool: the template and the parameters it was started with.
    pooled: bool = Field(default=False, index=True)
    pool_key: str = Field(default="", max_length=120)
    # Resource use (orchestrator/cost.py), written only by the usage sampler and the reconciler:
    # CPU seconds used in all, the highest memory working set read, seconds awake (between
    # readings, from Ready), the runtime's CPU counter at the last reading, and when that was
    # (None while nothing runs).
    cpu_seconds: float = 0.0
    peak_memory_bytes: int = Field(default=0, sa_type=BigInteger)
    running_seconds: float = 0.0
    usage_counter_seconds: float = 0.0
    usage_sampled_at: datetime | None = _when()


class TrialEvent(SQLModel, table=True):
    """Append-only timeline of a trial: transitions and progress."""

    __tablename__ = "trial_event"
    id: int | None = Field(default=None, primary_key=True)
    trial_id: str = Field(foreign_key="trial.id", index=True, max_length=20)
    at: datetime = _when(nullable=False)
    kind: str = Field(max_length=20)  # Transition | Progress | Warning | Intent
    phase: str = Field(max_length=20)
    reason: str = Field(default="", max_length=40)
    message: str = Field(default="", max_length=2000)


# What a client sees of a trial: the REST API's body (PRODUCT.md 7.1, a fixed contract) and
# the trial in every page's JSON twin, rendered by `orchestrator.presenting`.


class TrialUsage(BaseModel):
    """What the sandbox has used, as the runtime measured it (orchestrator/cost.py)."""

    cpu_seconds: float = PydanticField(0.0, description="CPU time used in all, in seconds.")
    peak_memory_bytes: int = PydanticField(0, description="The highest memory working set read, in bytes.")
    running_seconds: float = PydanticField(
        0.0, description="How long it has run (awake, from Ready), as of the latest reading."
    )
    sampled_at: datetime | None = PydanticField(
        None, description="When the runtime was last read (null while the sandbox is not running)."
    )


class TrialCost(BaseModel):
    """Its cost at the operator's rate card (`DEN_RATE_CARD`)."""

    currency: str
    forecast: float = PydanticField(
        description="The most it can cost over its duration: its reserved CPU and memory for all of it."
    )
    so_far: float = PydanticField(
        description="CPU used plus memory reserved while it ran, as of the latest reading."
    )


class TrialPublic(SQLModel):
    id: str
    name: str | None = Field(default=None, description="The owner's own name for it, if they chose one.")
    phase: str
    reason: str
    message: str
    template: str  # name@version
    owner: str
    department: str
    title: str
    problem_statement: str
    hypothesis: str
    success_criteria: list[str]
    parameters: dict[str, Any]
    shared_with_department: bool
    duration_seconds: int
    extension_count: int
    created_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None
    ended_at: datetime | None
    end_requested_at: datetime | None
    time_left_seconds: int | None
    endpoints: dict[str, str]
    approved_at: datetime | None
    approved_by: str
    rejected_at: datetime | None
    rejected_by: str
    rejection_reason: str
    pending_extension_seconds: int | None = Field(description="An extension waiting for an approver, if any.")
    extension_requested_by: str
    justification: str = Field("", description="Why the trial needs longer than self-service allows.")
    extension_justification: str = Field("", description="Why the waiting extension is needed.")
    text_removed_at: datetime | None = Field(
        None, description="When the trial's free text was removed (`DEN_RETENTION_DAYS`)."
    )
    cpu_millicores: int
    memory_mib: int
    last_activity_at: datetime | None = Field(
        None, description="The latest visit to the sandbox through its address."
    )
    sleeps_at: datetime | None = Field(
        None, description="When the sandbox will sleep if nobody visits it (Ready, with an idle timeout)."
    )
    sleeping_seconds: int = Field(0, description="How long the sandbox has slept, in all.")
    usage: TrialUsage = Field(default_factory=TrialUsage)
    cost: TrialCost | None = Field(None, description="Null when the den has no rate card (`DEN_RATE_CARD`).")


class ListMeta(BaseModel):
    """A list's `metadata`, as Kubernetes lists have: where the next page starts."""

    model_config = ConfigDict(populate_by_name=True)
    continue_: str | None = PydanticField(
        None,
        alias="continue",
        exclude_if=lambda value: value is None,
        description="Present when more items follow: send it back as `continue` (with the same "
        "selectors) for the next page. Absent on the last page.",
    )


class TrialList(BaseModel):
    """A page of trials: `SQLModel` reserves the name `metadata`, so a plain pydantic model."""

    items: list[TrialPublic]
    metadata: ListMeta = PydanticField(default_factory=ListMeta)


class TrialEventPublic(SQLModel):
    at: datetime
    kind: str
    phase: str
    reason: str
    message: str


class TrialEventList(BaseModel):
    items: list[TrialEventPublic]
    metadata: ListMeta = PydanticField(default_factory=ListMeta)


class Evaluation(SQLModel, table=True):
    trial_id: str = Field(foreign_key="trial.id", primary_key=True, max_length=20)
    # `draft` while the owner saves and returns; `complete` once every answer is given.
    status: str = Field(default="complete", max_length=10)
    # The trial's own question first: did the hypothesis hold (yes | partly | no), and was
    # each success criterion met: [{"criterion", "met": yes | partly | no, "evidence"}].
    hypothesis_held: str = Field(default="", max_length=10)
    hypothesis_evidence: str = Field(default="", max_length=5000)
    criteria_results: list[dict[str, Any]] = _json([])
    scores: dict[str, Any] = _json({})  # dimension -> {"score": 1-5, "evidence": str}
    decision: str = Field(default="", max_length=10)  # adopt | iterate | stop ("" in a draft)
    # False keeps the evidence text out of the published report (the scores stay in it).
    publish_evidence: bool = True
    lessons_learned: str = Field(default="", max_length=10000)
    private_notes: str = Field(default="", max_length=10000)
    recorded_by: int = Field(foreign_key="den_user.id")
    recorded_at: datetime = _when(nullable=False)


# --- Team trials (several people on one trial) ---------------------------------------------


class TrialMember(SQLModel, table=True):
    """A civil servant the owner added to a trial: a `collaborator` (sees it, opens and extends
    its sandbox) or an `assessor` (sees it, opens its sandbox, scores it on their own). The
    owner is never a member of their own trial: they are its owner."""

    __tablename__ = "trial_member"
    __table_args__ = (UniqueConstraint("trial_id", "user_id", name="uq_trial_member"),)
    id: int | None = Field(default=None, primary_key=True)
    trial_id: str = Field(foreign_key="trial.id", index=True, max_length=20)
    user_id: int = Field(foreign_key="den_user.id", index=True)
    role: str = Field(max_length=20)  # collaborator | assessor (access.MemberRole)
    added_by: int = Field(foreign_key="den_user.id")
    added_at: datetime = _when(nullable=False)


class TrialAssessment(SQLModel, table=True):
    """One assessor's own scores of the eight dimensions (dimension -> {"score", "evidence"}),
    recorded independently of the others; the owner's moderated `Evaluation` is the trial's."""

    __tablename__ = "trial_assessment"
    __table_args__ = (UniqueConstraint("trial_id", "user_id", name="uq_trial_assessment"),)
    id: int | None = Field(default=None, primary_key=True)
    trial_id: str = Field(foreign_key="trial.id", index=True, max_length=20)
    user_id: int = Field(foreign_key="den_user.id")
    scores: dict[str, Any] = _json({})
    recorded_at: datetime = _when(nullable=False)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when(nullable=False, index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=60)
    object_type: str = Field(max_length=40)
    object_id: str = Field(max_length=100)
    source: str = Field(default="", max_length=100)
    detail: dict[str, Any] = _json({})


class Feedback(SQLModel, table=True):
    """What someone told us through the feedback form: read by platform engineers."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = _when(nullable=False, index=True)
    user_id: int | None = Field(default=None, foreign_key="den_user.id")
    page: str = Field(default="", max_length=300)
    satisfaction: str = Field(default="", max_length=30)
    message: str = Field(max_length=5000)
    reply_to: str = Field(default="", max_length=320)


class SignInAttempt(SQLModel, table=True):
    """A single sign-on in progress: made when the den sends a browser to the provider, used
    (and deleted) when the provider sends it back. `state_hash` finds it; `browser_hash` (of the
    pre-sign-in cookie) binds it to the browser that started it, so a callback URL sent to
    someone else signs nobody in. Expired rows are removed as new ones are made."""

    __tablename__ = "sign_in_attempt"
    id: int | None = Field(default=None, primary_key=True)
    state_hash: str = Field(unique=True, index=True, max_length=64)
    browser_hash: str = Field(max_length=64)
    nonce: str = Field(max_length=100)
    code_verifier: str = Field(max_length=200)
    next_path: str = Field(default="/", max_length=2000)
    created_at: datetime = _when(nullable=False)
    expires_at: datetime = _when(nullable=False, index=True)


class WebSession(SQLModel, table=True):
    """A signed-in person's session on the web pages, kept on the server: the browser holds
    only a random cookie whose SHA-256 is `token_hash`, so signing out (deleting the row) ends
    the session at once. `data` holds what a journey collects across pages (a trial request
    being written), which would not fit in a cookie."""

    __tablename__ = "web_session"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    user_id: int = Field(foreign_key="den_user.id", index=True)
    csrf_token: str = Field(max_length=64)
    data: dict[str, Any] = _json({})
    source: str = Field(default="", max_length=100)
    created_at: datetime = _when(nullable=False)
    expires_at: datetime = _when(nullable=False, index=True)


# --- Sandbox access (each sandbox on an origin of its own) --------------------------------


class ShareLink(SQLModel, table=True):
    """A link that opens one trial's sandbox without signing in, for people outside the den
    (a user researcher's participant, say). The secret is in its URL, shown once; only its
    SHA-256 is kept. It dies at `expires_at` or when revoked, and with it every sandbox
    session it opened."""

    __tablename__ = "share_link"
    id: int | None = Field(default=None, primary_key=True)
    trial_id: str = Field(foreign_key="trial.id", index=True, max_length=20)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    note: str = Field(default="", max_length=200)
    created_by: int = Field(foreign_key="den_user.id")
    created_at: datetime = _when(nullable=False)
    expires_at: datetime = _when(nullable=False)
    revoked_at: datetime | None = _when()


class SandboxGrant(SQLModel, table=True):
    """A one-time hand-over from the den to one sandbox origin, for a person or a share link,
    valid for about a minute. The sandbox origin consumes it with one conditional UPDATE (of
    `used_at`), so two uses of the same grant can never both succeed."""

    __tablename__ = "sandbox_grant"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    trial_id: str = Field(foreign_key="trial.id", max_length=20)
    component: str = Field(max_length=63)
    user_id: int | None = Field(default=None, foreign_key="den_user.id")
    share_link_id: int | None = Field(default=None, foreign_key="share_link.id")
    created_at: datetime = _when(nullable=False)
    expires_at: datetime = _when(nullable=False, index=True)
    used_at: datetime | None = _when()


class SandboxSession(SQLModel, table=True):
    """A browser's session on one sandbox origin: its own cookie (`den_sandbox`) holds a random
    token whose SHA-256 is `token_hash`. Every request re-checks the trial, the person or the
    link behind it, so ending a trial or revoking a link closes the sandbox at once."""

    __tablename__ = "sandbox_session"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    trial_id: str = Field(foreign_key="trial.id", index=True, max_length=20)
    component: str = Field(max_length=63)
    user_id: int | None = Field(default=None, foreign_key="den_user.id")
    share_link_id: int | None = Field(default=None, foreign_key="share_link.id")
    created_at: datetime = _when(nullable=False)
    expires_at: datetime = _when(nullable=False, index=True)


# --- Notifications (orchestrator/notify.py, crud/notifications.py, delivery.py) ----------


class Notification(SQLModel, table=True):
    """The outbox: one row per event, recipient and channel, written in the transaction of the
    change that causes it and delivered later by the delivery worker. `dedup_key` makes writing
    it idempotent (a repeated reconcile pass never sends twice). A worker claims a due row
    with one conditional UPDATE of `next_attempt_at` (a lease), so two never send the same
    row; `state` is pending until delivered, or failed after the last attempt."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("dedup_key", name="uq_notification_dedup"),
        Index("ix_notification_due", "state", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(max_length=400)
    event: str = Field(max_length=40)
    trial_id: str | None = Field(default=None, max_length=20, index=True)
    recipient_id: int | None = Field(default=None, foreign_key="den_user.id")  # None: a webhook
    channel: str = Field(max_length=10)  # email | webhook
    target: str = Field(max_length=2000)  # the address or the URL
    payload: dict[str, Any] = _json({})
    state: str = Field(default="pending", max_length=10)  # pending | delivered | failed
    created_at: datetime = _when(nullable=False)
    next_attempt_at: datetime = _when(nullable=False)
    attempts: int = 0
    delivered_at: datetime | None = _when()
    last_error: str = Field(default="", max_length=2000)


class NotificationPublic(BaseModel):
    id: int
    event: str
    trial_id: str | None
    recipient: str | None = PydanticField(description="The person emailed; none for a webhook.")
    channel: str
    target: str = PydanticField(description="The email address, or the webhook's URL.")
    state: str
    created_at: datetime
    next_attempt_at: datetime | None = PydanticField(description="When it is tried next (pending only).")
    attempts: int
    delivered_at: datetime | None
    last_error: str


class NotificationList(BaseModel):
    items: list[NotificationPublic]
    metadata: ListMeta = PydanticField(default_factory=ListMeta)


class NotificationPreferences(BaseModel):
    """Which events a person receives by email (the rest they do not)."""

    model_config = ConfigDict(extra="forbid")

    email: str = PydanticField(
        "", description="Where they are sent (set by a platform engineer or single sign-on)."
    )
    email_events: list[str] = PydanticField(description="Event names received by email.")


# --- Engagement: challenges, responses, questions, sessions, the equal offer ---------------


def new_challenge_id() -> str:
    """A challenge's id, told apart from a trial's by its first letter."""
    return "c" + secrets.token_hex(6)


class Challenge(SQLModel, table=True):
    """A problem written early, before any scheme is designed (orchestrator/engagement.py has
    its stages and rules). `published_at`, `closed_at` and `decided_at` are the owner's intent;
    the stage a person sees also follows the clock: a published challenge is closed from its
    `closes_at` on."""

    __table_args__ = (
        Index("ix_challenge_published", "published_at", "id"),
        UniqueConstraint("owner_id", "name", name="uq_challenge_owner_name"),
    )
    id: str = Field(default_factory=new_challenge_id, primary_key=True, max_length=20)
    owner_id: int = Field(foreign_key="den_user.id", index=True)
    # The owner's own name for it (`metadata.name` in `denctl apply -f`), unique among theirs.
    name: str | None = Field(default=None, max_length=63)
    department: str = Field(default="", max_length=100)
    title: str = Field(max_length=200)
    problem: str = Field(max_length=5000)
    users_and_need: str = Field(default="", max_length=5000)
    tried: str = Field(default="", max_length=5000)
    constraints: str = Field(default="", max_length=5000)
    # Whole pounds; both or neither.
    budget_min: int | None = None
    budget_max: int | None = None
    timeline: str = Field(default="", max_length=2000)
    problem_areas: list[str] = _json([])
    closes_at: datetime = _when(nullable=False)
    questions_close_at: datetime = _when(nullable=False)
    created_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)
    published_at: datetime | None = _when()
    closed_at: datetime | None = _when()
    decided_at: datetime | None = _when()
    decision: str = Field(default="", max_length=5000)
    # The equal sandbox offer's terms, the same for every offered template, once launched.
    offered_at: datetime | None = _when()
    offer_hypothesis: str = Field(default="", max_length=5000)
    offer_success_criteria: list[str] = _json([])
    offer_duration_seconds: int | None = None
    offer_cpu_millicores: int | None = None
    offer_memory_mib: int | None = None


class ChallengeResponse(SQLModel, table=True):
    """A supplier's one response to a challenge (replaced while the challenge is open): the
    templates it offers are `name@version` of its own, and its declaration of interests."""

    __tablename__ = "challenge_response"
    __table_args__ = (UniqueConstraint("challenge_id", "supplier_id", name="uq_challenge_response"),)
    id: int | None = Field(default=None, primary_key=True)
    challenge_id: str = Field(foreign_key="challenge.id", index=True, max_length=20)
    supplier_id: int = Field(foreign_key="supplier.id")
    submitted_by: int = Field(foreign_key="den_user.id")
    summary: str = Field(max_length=5000)
    templates: list[str] = _json([])
    conflict_declared: bool = False
    conflict_detail: str = Field(default="", max_length=2000)
    submitted_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)


class ChallengeQuestion(SQLModel, table=True):
    """A supplier's question. Everyone who sees the challenge sees it once answered, never who
    asked (equal treatment): `asked_by` and `supplier_id` are for the owner's audit only."""

    __tablename__ = "challenge_question"
    id: int | None = Field(default=None, primary_key=True)
    challenge_id: str = Field(foreign_key="challenge.id", index=True, max_length=20)
    supplier_id: int = Field(foreign_key="supplier.id")
    asked_by: int = Field(foreign_key="den_user.id")
    question: str = Field(max_length=2000)
    asked_at: datetime = _when(nullable=False)
    answer: str = Field(default="", max_length=5000)
    answered_by: int | None = Field(default=None, foreign_key="den_user.id")
    answered_at: datetime | None = _when()


class EngagementSession(SQLModel, table=True):
    """An engagement session the owner holds: online (`place` says how to join) or in person
    (`place` is the address). `materials` ([{"title", "url", "shared_at"}]) are published to
    every supplier, whether they came or not."""

    __tablename__ = "engagement_session"
    id: int | None = Field(default=None, primary_key=True)
    challenge_id: str = Field(foreign_key="challenge.id", index=True, max_length=20)
    title: str = Field(max_length=200)
    starts_at: datetime = _when(nullable=False)
    ends_at: datetime = _when(nullable=False)
    mode: str = Field(max_length=20)  # online | in_person
    place: str = Field(max_length=500)
    capacity: int
    materials: list[dict[str, Any]] = _json([])
    created_at: datetime = _when(nullable=False)


class SessionRegistration(SQLModel, table=True):
    __tablename__ = "session_registration"
    __table_args__ = (UniqueConstraint("session_id", "user_id", name="uq_session_registration"),)
    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="engagement_session.id", index=True)
    user_id: int = Field(foreign_key="den_user.id")
    supplier_id: int = Field(foreign_key="supplier.id")
    registered_at: datetime = _when(nullable=False)


class ChallengeTrial(SQLModel, table=True):
    """A trial of the equal offer: one per offered template, on the challenge's terms."""

    __tablename__ = "challenge_trial"
    id: int | None = Field(default=None, primary_key=True)
    challenge_id: str = Field(foreign_key="challenge.id", index=True, max_length=20)
    trial_id: str = Field(foreign_key="trial.id", unique=True, max_length=20)
    response_id: int = Field(foreign_key="challenge_response.id")
