"""Suppliers and their templates: registering, storing immutable versions, reviewing them,
changing a version's status.

A version is `PendingReview` when a supplier (or a platform engineer) sends it, unless it
changes nothing risky (`review.review_reasons`); a platform engineer then publishes it
(`Published`, its images pinned by the runtime's immutable reference) or rejects it
(`Rejected`, with a reason). Later it may be deprecated or quarantined. Only Published versions
can be trialled. The template directory loaded at start-up is the operator's own: its versions
are published at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from orchestrator import catalogue, egress, review
from orchestrator.access import (
    Role,
    check_may_publish,
    check_may_set_version_status,
    require_role,
)
from orchestrator.crud.common import Actor, audit, pk, trial_event
from orchestrator.errors import (
    Conflict,
    DenError,
    Forbidden,
    NotFound,
    PermanentError,
    Problem,
    RuleViolation,
    ValidationFailed,
)
from orchestrator.lifecycle import ACTIVE_PHASES
from orchestrator.manifest import TemplateManifest
from orchestrator.models import SandboxTemplate, Supplier, TemplateVersion, Trial
from orchestrator.settings import Settings

VERSION_STATUSES = ("PendingReview", "Published", "Rejected", "Deprecated", "Quarantined")
#: status -> the statuses a platform engineer may move it to (the same status again is allowed:
#: it only changes the reason). A rejected version stays rejected: the supplier sends a new one.
STATUS_CHANGES: dict[str, frozenset[str]] = {
    "PendingReview": frozenset({"Published", "Rejected"}),
    "Published": frozenset({"Deprecated", "Quarantined"}),
    "Deprecated": frozenset({"Published", "Quarantined"}),
    "Quarantined": frozenset({"Published", "Deprecated"}),
    "Rejected": frozenset(),
}
#: Was published once: what a new version is compared with.
HAS_BEEN_PUBLISHED = ("Published", "Deprecated", "Quarantined")
#: Resolves an image to the runtime's immutable reference (the driver's `pin_image`).
Pinner = Callable[[str], str]


# --- suppliers ---------------------------------------------------------------------------


def upsert_supplier(session: Session, *, data: catalogue.Supplier, now: datetime) -> Supplier:
    """From the template directory at start-up: audited only when something changed."""
    row = session.exec(select(Supplier).where(Supplier.slug == data.slug)).first()
    created = row is None
    if row is None:
        row = Supplier(slug=data.slug, created_at=now, name=data.name)
    before = (row.name, row.size, row.contact, row.description, row.problem_areas)
    row.name, row.size, row.contact = data.name, data.size, data.contact
    row.description, row.problem_areas = data.description, list(data.problem_areas)
    if created or before != (row.name, row.size, row.contact, row.description, row.problem_areas):
        session.add(row)
        audit(
            session,
            actor=None,
            action="supplier.load",
            obj=("supplier", data.slug),
            now=now,
            source="template directory",
        )
    session.flush()
    return row


def create_supplier(session: Session, *, actor: Actor, data: catalogue.Supplier, now: datetime) -> Supplier:
    require_role(actor.user, Role.PLATFORM_ENGINEER, to="register suppliers")
    if session.exec(select(Supplier).where(Supplier.slug == data.slug)).first() is not None:
        raise Conflict(f"a supplier {data.slug!r} is already registered")
    row = Supplier(
        slug=data.slug,
        name=data.name,
        size=data.size,
        contact=data.contact,
        description=data.description,
        problem_areas=list(data.problem_areas),
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit(session, actor=actor, action="supplier.create", obj=("supplier", data.slug), now=now)
    return row


def list_suppliers(session: Session) -> Sequence[Supplier]:
    return session.exec(select(Supplier).order_by(Supplier.slug)).all()


def get_supplier(session: Session, *, slug: str) -> Supplier:
    row = session.exec(select(Supplier).where(Supplier.slug == slug)).first()
    if row is None:
        raise NotFound(f"no supplier {slug!r}")
    return row


# --- templates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Publishing:
    """How a version sent now is handled: the rules that refuse or hold it, and the runtime
    that pins its images (None: the versions are published unpinned, as from the template
    directory)."""

    settings: Settings
    pin: Pinner | None = None


def publish_template(
    session: Session,
    *,
    manifest: TemplateManifest,
    now: datetime,
    actor: Actor | None,
    publishing: Publishing | None = None,
) -> tuple[TemplateVersion, bool]:
    """Store a new immutable version. Returns (version, created); the same content twice is
    idempotent, different content under an existing name and version is a `Conflict`. With an
    actor the version waits for review unless it changes nothing risky; from the template
    directory (no actor) it is published at once."""
    if actor is not None:
        check_may_publish(actor.user)
    meta = manifest.metadata
    supplier = session.exec(select(Supplier).where(Supplier.slug == meta.supplier)).first()
    if supplier is None:
        raise ValidationFailed(
            [
                Problem(
                    "metadata.supplier",
                    f"no supplier {meta.supplier!r}",
                    "register the supplier first, or fix the slug",
                )
            ]
        )
    if actor and actor.user.role == Role.SUPPLIER and actor.user.supplier_id != supplier.id:
        raise Forbidden("suppliers publish only their own templates")
    if publishing is not None:
        problems = egress.egress_problems(manifest, publishing.settings)
        if problems:
            raise ValidationFailed(problems)
    template = session.exec(select(SandboxTemplate).where(SandboxTemplate.name == meta.name)).first()
    if template is not None and template.supplier_id != supplier.id:
        raise Conflict(f"the template name {meta.name!r} belongs to another supplier")
    content = catalogue.digest(manifest)
    if template is not None:
        existing = session.exec(
            select(TemplateVersion).where(
                TemplateVersion.template_id == template.id, TemplateVersion.version == meta.version
            )
        ).first()
        if existing is not None:
            if existing.digest != content:
                raise Conflict(
                    f"Version {meta.version} of {meta.name} is already published, and this "
                    "manifest is different from it. A published version cannot change: give "
                    "this manifest a new version number"
                )
            return existing, False
    else:
        template = SandboxTemplate(name=meta.name, supplier_id=pk(supplier), created_at=now)
        session.add(template)
        session.flush()
    version = TemplateVersion(
        template_id=pk(template),
        version=meta.version,
        digest=content,
        manifest=manifest.model_dump(mode="json", by_alias=True),
        published_at=now,
    )
    _first_status(session, version, manifest=manifest, actor=actor, publishing=publishing, now=now)
    session.add(version)
    session.flush()
    audit(
        session,
        actor=actor,
        action="template.publish",
        obj=("template", manifest.ref),
        now=now,
        detail={"digest": content, "status": version.status, "pinned_images": version.pinned_images},
        source="" if actor else "template directory",
    )
    return version, True


def _first_status(
    session: Session,
    version: TemplateVersion,
    *,
    manifest: TemplateManifest,
    actor: Actor | None,
    publishing: Publishing | None,
    now: datetime,
) -> None:
    """Published at once (the template directory; or nothing risky and every image pinned),
    else PendingReview with the reasons a reviewer reads."""
    if actor is None:
        version.status = "Published"
        return
    previous = last_published(session, template_id=version.template_id, other_than="")
    prefixes = publishing.settings.image_prefixes if publishing else ()
    reasons = review.review_reasons(_manifest_of(previous) if previous else None, manifest, prefixes=prefixes)
    if not reasons and publishing is not None and publishing.pin is not None:
        try:
            version.pinned_images = review.pins(manifest, publishing.pin)
        except DenError as exc:
            reasons = [f"its images could not be pinned: {exc.detail}"]
    elif not reasons:
        reasons = ["no runtime is at hand to pin its images"]
    if reasons:
        version.status = "PendingReview"
        version.status_reason = ("Waiting for a platform engineer: " + "; ".join(reasons))[:500]
        return
    version.status, version.reviewed_at = "Published", now
    version.status_reason = "Published at once: it changes nothing that needs a review"


def last_published(session: Session, *, template_id: int, other_than: str) -> TemplateVersion | None:
    """The newest version of the template that was ever published (other than one version)."""
    rows = session.exec(
        select(TemplateVersion).where(
            TemplateVersion.template_id == template_id,
            col(TemplateVersion.status).in_(HAS_BEEN_PUBLISHED),
            TemplateVersion.version != other_than,
        )
    ).all()
    return max(rows, key=lambda row: version_key(row.version), default=None)


def _manifest_of(version: TemplateVersion) -> TemplateManifest:
    return catalogue.stored_manifest(version.manifest, version.digest)


@dataclass(frozen=True)
class VersionReview:
    """What a reviewer sees: the version, the last published one, what changed between them,
    and why the version waits (if it does)."""

    version: TemplateVersion
    supplier: Supplier
    previous: TemplateVersion | None
    changes: list[review.Change]
    reasons: list[str]


def version_review(session: Session, *, name: str, version: str, settings: Settings) -> VersionReview:
    template, supplier, versions = template_versions(session, name=name)
    row = next((v for v in versions if v.version == version), None)
    if row is None:
        raise NotFound(f"no template {name}@{version}")
    previous = last_published(session, template_id=pk(template), other_than=version)
    before = _manifest_of(previous) if previous else None
    manifest = _manifest_of(row)
    return VersionReview(
        version=row,
        supplier=supplier,
        previous=previous,
        changes=review.changes(before, manifest),
        reasons=review.review_reasons(before, manifest, prefixes=settings.image_prefixes),
    )


def version_key(version: str) -> tuple[int, ...]:
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
        if held is None or version_key(version.version) > version_key(held[1].version):
            newest[template.name] = (template, version, supplier)
    return [newest[name] for name in sorted(newest)]


def list_template_versions(
    session: Session, *, supplier_id: int | None = None
) -> list[tuple[SandboxTemplate, TemplateVersion, Supplier]]:
    """Every version of every template (of one supplier), whatever its status: by template
    name, newest version first."""
    query = (
        select(SandboxTemplate, TemplateVersion, Supplier)
        .join(TemplateVersion, col(TemplateVersion.template_id) == SandboxTemplate.id)
        .join(Supplier, col(Supplier.id) == SandboxTemplate.supplier_id)
    )
    if supplier_id is not None:
        query = query.where(SandboxTemplate.supplier_id == supplier_id)
    rows = list(session.exec(query).all())
    rows.sort(key=lambda row: version_key(row[1].version), reverse=True)
    rows.sort(key=lambda row: row[0].name)
    return rows


def template_versions(
    session: Session, *, name: str
) -> tuple[SandboxTemplate, Supplier, list[TemplateVersion]]:
    """A template with every version, newest first, whatever its status."""
    row = session.exec(
        select(SandboxTemplate, Supplier)
        .join(Supplier, col(Supplier.id) == SandboxTemplate.supplier_id)
        .where(SandboxTemplate.name == name)
    ).first()
    if row is None:
        raise NotFound(f"no template {name!r}")
    template, supplier = row
    versions = session.exec(select(TemplateVersion).where(TemplateVersion.template_id == template.id)).all()
    return template, supplier, sorted(versions, key=lambda v: version_key(v.version), reverse=True)


def resolve_template(session: Session, *, ref: str) -> TemplateVersion:
    """`name` (newest published) or `name@version` (that exact, published version)."""
    name, _, version = ref.partition("@")
    if version:
        row = session.exec(
            select(TemplateVersion)
            .join(SandboxTemplate)
            .where(SandboxTemplate.name == name, TemplateVersion.version == version)
        ).first()
        if row is None:
            raise NotFound(f"no template {ref!r}")
        check_trialable(row, ref=ref)
        return row
    published = session.exec(
        select(TemplateVersion)
        .join(SandboxTemplate)
        .where(SandboxTemplate.name == name, TemplateVersion.status == "Published")
    ).all()
    if not published:
        raise NotFound(f"no published template {name!r}")
    return max(published, key=lambda v: version_key(v.version))


def check_trialable(version: TemplateVersion, *, ref: str) -> None:
    if version.status == "PendingReview":
        raise RuleViolation(
            f"{ref} is waiting for a platform engineer's review and cannot be trialled yet",
            reason="TemplateNotPublished",
        )
    if version.status != "Published":
        raise RuleViolation(
            f"{ref} is {version.status.lower()} and cannot be trialled", reason="TemplateNotPublished"
        )


def set_version_status(
    session: Session,
    *,
    actor: Actor,
    name: str,
    version: str,
    status: str,
    reason: str,
    now: datetime,
    pin: Pinner | None = None,
) -> TemplateVersion:
    """Review, quarantine, deprecate or re-publish a version (`STATUS_CHANGES`). Publishing a
    version pins its images first (`pin`; an image the runtime cannot find refuses the change,
    nothing is written); rejecting needs a reason. No new trial can start from a version that
    is not Published, and pending requests for it cannot be approved. Quarantine also asks for
    every live trial of the version to end (intent only: the reconciler tears them down, with
    the reason `TemplateQuarantined`); a deprecated version's trials run to their end."""
    check_may_set_version_status(actor.user)
    if status not in VERSION_STATUSES:
        raise ValidationFailed(
            [Problem("status", f"unknown status {status!r}", f"use one of {', '.join(VERSION_STATUSES)}")]
        )
    _template, _supplier, versions = template_versions(session, name=name)
    row = next((v for v in versions if v.version == version), None)
    if row is None:
        raise NotFound(f"no template {name}@{version}")
    previous = row.status
    _check_status_change(previous, status, reason=reason, ref=f"{name}@{version}")
    if status == "Published" and not row.pinned_images and previous == "PendingReview":
        row.pinned_images = _pins_or_refusal(_manifest_of(row), pin)
    if previous == "PendingReview":
        row.reviewed_by, row.reviewed_at = actor.name, now
    row.status, row.status_reason = status, reason
    session.add(row)
    ended = (
        _end_live_trials(session, version=row, actor=actor, now=now)
        if status == "Quarantined" and previous != "Quarantined"
        else []
    )
    audit(
        session,
        actor=actor,
        action="template.status",
        obj=("template", f"{name}@{version}"),
        now=now,
        detail={
            "from": previous,
            "to": status,
            "reason": reason,
            "trials_ended": ended,
            "pinned_images": row.pinned_images,
        },
    )
    return row


def _check_status_change(previous: str, status: str, *, reason: str, ref: str) -> None:
    if status != previous and status not in STATUS_CHANGES[previous]:
        allowed = ", ".join(sorted(STATUS_CHANGES[previous])) or "nothing: send a new version"
        raise Conflict(
            f"{ref} is {previous}: it can become {allowed}, not {status}", reason="StatusChangeNotAllowed"
        )
    if status == "Rejected" and not reason.strip():
        raise ValidationFailed(
            [Problem("reason", "a rejection needs a reason", "say what the supplier must change")]
        )


def _pins_or_refusal(manifest: TemplateManifest, pin: Pinner | None) -> dict[str, str]:
    if pin is None:
        raise RuleViolation(
            "no runtime is at hand to pin the version's images; publish it "
            "through the API or the platform pages",
            reason="ImagesNotPinned",
        )
    try:
        return review.pins(manifest, pin)
    except PermanentError as exc:  # the runtime lacks an image, or refuses to name it
        raise RuleViolation(exc.detail, reason=exc.reason) from exc


def _end_live_trials(session: Session, *, version: TemplateVersion, actor: Actor, now: datetime) -> list[str]:
    live = session.exec(
        select(Trial).where(
            Trial.template_version_id == pk(version),
            col(Trial.phase).in_(list(ACTIVE_PHASES)),
            col(Trial.end_requested_at).is_(None),
        )
    ).all()
    for trial in live:
        trial.end_requested_at = now
        session.add(trial)
        trial_event(
            session,
            trial,
            now=now,
            kind="Intent",
            message=f"Ending: the template version was quarantined by {actor.name}",
        )
    return [trial.id for trial in live]
