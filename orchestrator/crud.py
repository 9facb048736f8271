"""The only module that writes rows. Keyword-only functions; time comes in as `now`.

Writes that people make (publishing, asking for a trial, ending it) are checked against the
product's rules here, so the API, the web pages and the CLI share one implementation. Observed
trial state is written by `record_transition` / `record_progress`, which only the reconciler
calls, and every transition is checked against the lifecycle table.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from orchestrator import catalogue
from orchestrator.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Problem,
    RuleViolation,
    ValidationFailed,
)
from orchestrator.lifecycle import ACTIVE_PHASES, LIVE_PHASES, Phase, Reason, check_transition
from orchestrator.manifest import TemplateManifest
from orchestrator.models import (
    ApiToken,
    AuditEvent,
    SandboxTemplate,
    Supplier,
    TemplateVersion,
    Trial,
    TrialEvent,
    User,
)
from orchestrator.settings import Settings

ROLES = ("civil_servant", "supplier", "platform_engineer", "approver")
SEES_ALL = frozenset({"platform_engineer", "approver"})


def pk(row: Supplier | SandboxTemplate | TemplateVersion | User) -> int:
    """The primary key of a stored row (flushed rows always have one)."""
    assert row.id is not None, "row was not flushed"
    return row.id


# --- audit -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who is acting, and from where: recorded on every write."""

    user: User
    source: str = ""

    @property
    def name(self) -> str:
        return self.user.name


def audit(
    session: Session, *, actor: Actor | None, action: str, obj: tuple[str, str], now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(AuditEvent(
        at=now, actor=actor.name if actor else "system", action=action,
        object_type=obj[0], object_id=obj[1], source=actor.source if actor else "",
        detail=detail or {},
    ))


# --- suppliers ---------------------------------------------------------------------------


def upsert_supplier(session: Session, *, data: catalogue.Supplier, now: datetime) -> Supplier:
    row = session.exec(select(Supplier).where(Supplier.slug == data.slug)).first()
    if row is None:
        row = Supplier(slug=data.slug, created_at=now, name=data.name)
    row.name, row.size, row.contact = data.name, data.size, data.contact
    row.description, row.problem_areas = data.description, list(data.problem_areas)
    session.add(row)
    session.flush()
    return row


def list_suppliers(session: Session) -> Sequence[Supplier]:
    return session.exec(select(Supplier).order_by(Supplier.slug)).all()


# --- templates ---------------------------------------------------------------------------


def publish_template(
    session: Session, *, manifest: TemplateManifest, now: datetime, actor: Actor | None
) -> tuple[TemplateVersion, bool]:
    """Store a new immutable version. Returns (version, created); the same content twice is
    idempotent, different content under an existing name and version is a `Conflict`."""
    meta = manifest.metadata
    supplier = session.exec(select(Supplier).where(Supplier.slug == meta.supplier)).first()
    if supplier is None:
        raise ValidationFailed([Problem("metadata.supplier", f"no supplier {meta.supplier!r}",
                                        "register the supplier first, or fix the slug")])
    if actor and actor.user.role == "supplier" and actor.user.supplier_id != supplier.id:
        raise Forbidden("suppliers publish only their own templates")
    template = session.exec(select(SandboxTemplate).where(SandboxTemplate.name == meta.name)).first()
    if template is None:
        template = SandboxTemplate(name=meta.name, supplier_id=pk(supplier), created_at=now)
        session.add(template)
        session.flush()
    elif template.supplier_id != supplier.id:
        raise Conflict(f"the template name {meta.name!r} belongs to another supplier")
    content = catalogue.digest(manifest)
    existing = session.exec(select(TemplateVersion).where(
        TemplateVersion.template_id == template.id, TemplateVersion.version == meta.version)).first()
    if existing is not None:
        if existing.digest != content:
            raise Conflict(f"{manifest.ref} is already published with different content; "
                           "versions are immutable: publish a new version")
        return existing, False
    version = TemplateVersion(
        template_id=pk(template), version=meta.version, digest=content, status="Published",
        manifest=manifest.model_dump(mode="json", by_alias=True), published_at=now,
    )
    session.add(version)
    session.flush()
    audit(session, actor=actor, action="template.publish", obj=("template", manifest.ref),
          now=now, detail={"digest": content})
    return version, True


def _version_key(version: str) -> tuple[int, ...]:
    core = version.split("-", 1)[0]
    return tuple(int(part) for part in core.split("."))


def latest_versions(session: Session) -> list[tuple[SandboxTemplate, TemplateVersion, Supplier]]:
    """The newest published version of every template that has one."""
    rows = session.exec(
        select(SandboxTemplate, TemplateVersion, Supplier)
        .join(TemplateVersion, col(TemplateVersion.template_id) == SandboxTemplate.id)
        .join(Supplier, col(Supplier.id) == SandboxTemplate.supplier_id)
        .where(TemplateVersion.status == "Published")
    ).all()
    newest: dict[str, tuple[SandboxTemplate, TemplateVersion, Supplier]] = {}
    for template, version, supplier in rows:
        held = newest.get(template.name)
        if held is None or _version_key(version.version) > _version_key(held[1].version):
            newest[template.name] = (template, version, supplier)
    return [newest[name] for name in sorted(newest)]


def resolve_template(session: Session, *, ref: str) -> TemplateVersion:
    """`name` (newest published) or `name@version` (that exact, published version)."""
    name, _, version = ref.partition("@")
    if version:
        row = session.exec(
            select(TemplateVersion).join(SandboxTemplate)
            .where(SandboxTemplate.name == name, TemplateVersion.version == version)
        ).first()
        if row is None:
            raise NotFound(f"no template {ref!r}")
        if row.status != "Published":
            raise RuleViolation(f"{ref} is {row.status.lower()} and cannot be trialled")
        return row
    for template, row, _supplier in latest_versions(session):
        if template.name == name:
            return row
    raise NotFound(f"no published template {name!r}")


# --- users and tokens --------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_user(
    session: Session, *, name: str, role: str, now: datetime, department: str = "",
    supplier_id: int | None = None,
) -> User:
    if role not in ROLES:
        raise ValidationFailed([Problem("role", f"unknown role {role!r}", f"use one of {ROLES}")])
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        user = User(name=name, role=role, department=department, supplier_id=supplier_id,
                    created_at=now)
        session.add(user)
        session.flush()
    return user


def issue_token(
    session: Session, *, user: User, now: datetime, name: str = "", token: str | None = None,
    ttl: timedelta | None = None,
) -> str:
    """Create a token for `user` and return it: the only time it is ever visible."""
    token = token or "den_" + secrets.token_urlsafe(32)
    digest = hash_token(token)
    if session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first() is None:
        session.add(ApiToken(user_id=pk(user), name=name, token_hash=digest, prefix=token[:8],
                             created_at=now, expires_at=now + ttl if ttl else None))
        session.flush()
    return token


def authenticate(session: Session, *, token: str, now: datetime) -> User | None:
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    return session.get(User, row.user_id)


# --- trials ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialRequest:
    template: str
    title: str
    hypothesis: str
    duration_seconds: int | None = None
    problem_statement: str = ""
    success_criteria: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)


def create_trial(
    session: Session, *, actor: Actor, request: TrialRequest, settings: Settings, now: datetime
) -> Trial:
    if actor.user.role == "supplier":
        raise Forbidden("suppliers cannot launch trials")
    version = resolve_template(session, ref=request.template)
    manifest = TemplateManifest.model_validate(version.manifest)
    duration = request.duration_seconds or manifest.spec.limits.default_duration
    problems = _duration_problems(duration, manifest, settings)
    problems += parameter_problems(manifest, request.parameters)
    if problems:
        raise ValidationFailed(problems)
    _check_caps(session, user=actor.user, settings=settings)
    trial = Trial(
        owner_id=pk(actor.user), department=actor.user.department,
        template_version_id=pk(version), template_name=manifest.metadata.name,
        template_version=manifest.metadata.version, title=request.title,
        problem_statement=request.problem_statement, hypothesis=request.hypothesis,
        success_criteria=list(request.success_criteria or manifest.spec.success_criteria),
        parameters=request.parameters, duration_seconds=duration,
        expires_at=now + timedelta(seconds=duration), phase=Phase.REQUESTED, reason=Reason.CREATED,
        message="Waiting for the reconciler", phase_changed_at=now, driver=settings.driver,
        created_at=now,
    )
    session.add(trial)
    session.flush()
    _event(session, trial, now=now, kind="Transition", message=f"Requested by {actor.name}")
    audit(session, actor=actor, action="trial.create", obj=("trial", trial.id), now=now,
          detail={"template": manifest.ref, "duration_seconds": duration})
    return trial


def _duration_problems(duration: int, manifest: TemplateManifest, settings: Settings) -> list[Problem]:
    longest = min(manifest.spec.limits.max_duration, settings.max_trial_duration)
    if duration < settings.min_trial_duration:
        return [Problem("duration_seconds", f"{duration} s is shorter than the minimum",
                        f"ask for at least {settings.min_trial_duration} seconds")]
    if duration > longest:
        return [Problem("duration_seconds", f"{duration} s is longer than this template allows",
                        f"ask for at most {longest} seconds")]
    return []


def parameter_problems(manifest: TemplateManifest, parameters: dict[str, Any]) -> list[Problem]:
    validator = Draft202012Validator(manifest.spec.parameters)
    return [
        Problem(".".join(["parameters", *(str(p) for p in error.absolute_path)]),
                error.message[:300], "see the template's parameters")
        for error in sorted(validator.iter_errors(parameters), key=lambda e: list(e.path))
    ]


def _check_caps(session: Session, *, user: User, settings: Settings) -> None:
    active = col(Trial.phase).in_([str(p) for p in ACTIVE_PHASES])
    total = session.exec(select(func.count()).select_from(Trial).where(active)).one()
    if total >= settings.max_active_trials:
        raise RuleViolation(f"the den is full ({total} active trials); try again later",
                            reason=Reason.QUOTA_EXCEEDED)
    mine = session.exec(select(func.count()).select_from(Trial)
                        .where(active, Trial.owner_id == user.id)).one()
    if mine >= settings.max_active_trials_per_user:
        raise RuleViolation(f"you already have {mine} active trials; end one first",
                            reason=Reason.QUOTA_EXCEEDED)


def visible_trials_query(user: User) -> SelectOfScalar[Trial]:
    query = select(Trial)
    if user.role in SEES_ALL:
        return query
    if user.role == "supplier":
        return (query.join(TemplateVersion, col(TemplateVersion.id) == Trial.template_version_id)
                .join(SandboxTemplate, col(SandboxTemplate.id) == TemplateVersion.template_id)
                .where(SandboxTemplate.supplier_id == user.supplier_id))
    return query.where(Trial.owner_id == user.id)


def list_trials(session: Session, *, user: User, limit: int = 500) -> Sequence[Trial]:
    query = visible_trials_query(user).order_by(col(Trial.created_at).desc()).limit(limit)
    return session.exec(query).all()


def get_trial(session: Session, *, user: User, trial_id: str) -> Trial:
    """A trial the user may see; another user's trial is reported as not found."""
    trial = session.exec(visible_trials_query(user).where(Trial.id == trial_id)).first()
    if trial is None:
        raise NotFound(f"no trial {trial_id!r}")
    return trial


def request_end(session: Session, *, actor: Actor, trial: Trial, now: datetime) -> Trial:
    if actor.user.role == "supplier" or (
        actor.user.role not in SEES_ALL and trial.owner_id != actor.user.id
    ):
        raise Forbidden("only the trial's owner or a platform engineer can end it")
    if trial.phase not in LIVE_PHASES and trial.phase != Phase.PENDING_APPROVAL:
        raise Conflict(f"the trial is already {trial.phase}")
    if trial.end_requested_at is None:
        trial.end_requested_at = now
        session.add(trial)
        _event(session, trial, now=now, kind="Intent", message=f"End requested by {actor.name}")
        audit(session, actor=actor, action="trial.end", obj=("trial", trial.id), now=now)
    return trial


def trial_events(session: Session, *, trial_id: str) -> Sequence[TrialEvent]:
    return session.exec(select(TrialEvent).where(TrialEvent.trial_id == trial_id)
                        .order_by(col(TrialEvent.id))).all()


# --- observed state: the reconciler's writes ---------------------------------------------


def record_transition(
    session: Session, *, trial: Trial, to: Phase, reason: str, message: str, now: datetime,
    **observed: Any,
) -> None:
    check_transition(Phase(trial.phase), to)
    trial.phase, trial.reason, trial.message, trial.phase_changed_at = to, reason, message, now
    for name, value in observed.items():
        setattr(trial, name, value)
    session.add(trial)
    _event(session, trial, now=now, kind="Transition", message=message)


def record_progress(session: Session, *, trial: Trial, message: str, now: datetime) -> None:
    _event(session, trial, now=now, kind="Progress", message=message)


def _event(session: Session, trial: Trial, *, now: datetime, kind: str, message: str) -> None:
    session.add(TrialEvent(trial_id=trial.id, at=now, kind=kind, phase=trial.phase,
                           reason=trial.reason, message=message[:2000]))


def trials_needing_work(session: Session, *, now: datetime) -> Sequence[Trial]:
    """Trials the reconciler must act on now: cost follows changes, not the number of trials.

    Ready trials that have not expired and were not asked to end are not loaded."""
    busy = col(Trial.phase).in_([Phase.REQUESTED, Phase.PROVISIONING, Phase.STOPPING, Phase.FAILED])
    ready_due = (col(Trial.phase) == Phase.READY) & (
        (col(Trial.expires_at) <= now) | col(Trial.end_requested_at).is_not(None)
    )
    return session.exec(select(Trial).where(busy | ready_due).order_by(col(Trial.created_at))).all()


def next_expiry(session: Session) -> datetime | None:
    return session.exec(
        select(func.min(Trial.expires_at)).where(Trial.phase == Phase.READY)
    ).one()


def live_trial_ids(session: Session) -> set[str]:
    rows = session.exec(select(Trial.id).where(col(Trial.phase).in_(list(LIVE_PHASES)))).all()
    return set(rows)
