"""Suppliers and their templates: registering, publishing immutable versions, changing a
version's status (a platform engineer quarantines or deprecates; only Published versions can
be trialled)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from orchestrator import catalogue
from orchestrator.access import Role, require_role
from orchestrator.crud.common import Actor, audit, pk, trial_event
from orchestrator.errors import Conflict, Forbidden, NotFound, Problem, RuleViolation, ValidationFailed
from orchestrator.lifecycle import ACTIVE_PHASES
from orchestrator.manifest import TemplateManifest
from orchestrator.models import SandboxTemplate, Supplier, TemplateVersion, Trial

VERSION_STATUSES = ("Published", "Deprecated", "Quarantined")


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
        audit(session, actor=None, action="supplier.load", obj=("supplier", data.slug), now=now,
              source="template directory")
    session.flush()
    return row


def create_supplier(session: Session, *, actor: Actor, data: catalogue.Supplier,
                    now: datetime) -> Supplier:
    require_role(actor.user, Role.PLATFORM_ENGINEER, to="register suppliers")
    if session.exec(select(Supplier).where(Supplier.slug == data.slug)).first() is not None:
        raise Conflict(f"a supplier {data.slug!r} is already registered")
    row = Supplier(slug=data.slug, name=data.name, size=data.size, contact=data.contact,
                   description=data.description, problem_areas=list(data.problem_areas),
                   created_at=now)
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
    if actor and actor.user.role == Role.SUPPLIER and actor.user.supplier_id != supplier.id:
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
          now=now, detail={"digest": content}, source="" if actor else "template directory")
    return version, True


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


def list_template_versions(session: Session, *, supplier_id: int | None = None
                           ) -> list[tuple[SandboxTemplate, TemplateVersion, Supplier]]:
    """Every version of every template (of one supplier), whatever its status: by template
    name, newest version first."""
    query = (select(SandboxTemplate, TemplateVersion, Supplier)
             .join(TemplateVersion, col(TemplateVersion.template_id) == SandboxTemplate.id)
             .join(Supplier, col(Supplier.id) == SandboxTemplate.supplier_id))
    if supplier_id is not None:
        query = query.where(SandboxTemplate.supplier_id == supplier_id)
    rows = list(session.exec(query).all())
    rows.sort(key=lambda row: version_key(row[1].version), reverse=True)
    rows.sort(key=lambda row: row[0].name)
    return rows


def template_versions(session: Session, *, name: str
                      ) -> tuple[SandboxTemplate, Supplier, list[TemplateVersion]]:
    """A template with every version, newest first, whatever its status."""
    row = session.exec(select(SandboxTemplate, Supplier).join(
        Supplier, col(Supplier.id) == SandboxTemplate.supplier_id)
        .where(SandboxTemplate.name == name)).first()
    if row is None:
        raise NotFound(f"no template {name!r}")
    template, supplier = row
    versions = session.exec(select(TemplateVersion)
                            .where(TemplateVersion.template_id == template.id)).all()
    return template, supplier, sorted(versions, key=lambda v: version_key(v.version), reverse=True)


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
        check_trialable(row, ref=ref)
        return row
    for template, row, _supplier in latest_versions(session):
        if template.name == name:
            return row
    raise NotFound(f"no published template {name!r}")


def check_trialable(version: TemplateVersion, *, ref: str) -> None:
    if version.status != "Published":
        raise RuleViolation(f"{ref} is {version.status.lower()} and cannot be trialled",
                            reason="TemplateNotPublished")


def set_version_status(
    session: Session, *, actor: Actor, name: str, version: str, status: str, reason: str,
    now: datetime,
) -> TemplateVersion:
    """Quarantine, deprecate or re-publish a version. No new trial can start from a version
    that is not Published, and pending requests for it cannot be approved. Quarantine also asks
    for every live trial of the version to end (intent only: the reconciler tears them down,
    with the reason `TemplateQuarantined`); a deprecated version's trials run to their end."""
    require_role(actor.user, Role.PLATFORM_ENGINEER, to="change a template version's status")
    if status not in VERSION_STATUSES:
        raise ValidationFailed([Problem("status", f"unknown status {status!r}",
                                        f"use one of {', '.join(VERSION_STATUSES)}")])
    _template, _supplier, versions = template_versions(session, name=name)
    row = next((v for v in versions if v.version == version), None)
    if row is None:
        raise NotFound(f"no template {name}@{version}")
    previous = row.status
    row.status, row.status_reason = status, reason
    session.add(row)
    ended = _end_live_trials(session, version=row, actor=actor, now=now) \
        if status == "Quarantined" and previous != "Quarantined" else []
    audit(session, actor=actor, action="template.status", obj=("template", f"{name}@{version}"),
          now=now, detail={"from": previous, "to": status, "reason": reason,
                           "trials_ended": ended})
    return row


def _end_live_trials(session: Session, *, version: TemplateVersion, actor: Actor,
                     now: datetime) -> list[str]:
    live = session.exec(select(Trial).where(
        Trial.template_version_id == pk(version), col(Trial.phase).in_(list(ACTIVE_PHASES)),
        col(Trial.end_requested_at).is_(None))).all()
    for trial in live:
        trial.end_requested_at = now
        session.add(trial)
        trial_event(session, trial, now=now, kind="Intent",
                    message=f"Ending: the template version was quarantined by {actor.name}")
    return [trial.id for trial in live]
