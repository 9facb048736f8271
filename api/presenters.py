"""Rows -> response bodies. Shared by the API and the web pages' JSON twins."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime

from sqlmodel import Session, col, select

from api import schemas
from orchestrator import catalogue, crud
from orchestrator.evaluation import Measured
from orchestrator.lifecycle import time_left
from orchestrator.models import (
    ApiToken,
    AuditEvent,
    Evaluation,
    SandboxTemplate,
    ShareLink,
    Supplier,
    TemplateVersion,
    Trial,
    TrialEvent,
    User,
)
from orchestrator.sandbox_hosts import SandboxAddress


def owners(session: Session, trials: Iterable[Trial]) -> dict[int, str]:
    ids = {t.owner_id for t in trials}
    if not ids:
        return {}
    return {u.id: u.name for u in session.exec(select(User).where(col(User.id).in_(ids))) if u.id is not None}


def trial(row: Trial, *, owner: str, now: datetime, sandboxes: SandboxAddress) -> schemas.TrialPublic:
    left = time_left(now=now, expires_at=row.expires_at) if row.ended_at is None else None
    return schemas.TrialPublic(
        id=row.id,
        phase=row.phase,
        reason=row.reason,
        message=row.message,
        template=f"{row.template_name}@{row.template_version}",
        owner=owner,
        department=row.department,
        title=row.title,
        problem_statement=row.problem_statement,
        hypothesis=row.hypothesis,
        success_criteria=row.success_criteria,
        parameters=row.parameters,
        duration_seconds=row.duration_seconds,
        shared_with_department=row.shared_with_department,
        extension_count=row.extension_count,
        created_at=row.created_at,
        ready_at=row.ready_at,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
        end_requested_at=row.end_requested_at,
        time_left_seconds=int(left.total_seconds()) if left is not None else None,
        endpoints=public_endpoints(row, sandboxes),
        approved_at=row.approved_at,
        approved_by=row.approved_by,
        rejected_at=row.rejected_at,
        rejected_by=row.rejected_by,
        rejection_reason=row.rejection_reason,
        pending_extension_seconds=row.extension_requested_seconds,
        extension_requested_by=row.extension_requested_by,
        cpu_millicores=row.cpu_millicores,
        memory_mib=row.memory_mib,
    )


def trials(
    session: Session, rows: list[Trial], *, now: datetime, sandboxes: SandboxAddress
) -> schemas.TrialList:
    names = owners(session, rows)
    return schemas.TrialList(
        items=[trial(r, owner=names.get(r.owner_id, ""), now=now, sandboxes=sandboxes) for r in rows]
    )


def public_endpoints(row: Trial, sandboxes: SandboxAddress) -> dict[str, str]:
    """What users see: one URL per exposed component, each on an origin of its own
    (api/sandbox_origin.py); the runtime's own addresses never leave the den."""
    return {name: sandboxes.url(row.id, name) for name in sorted(row.endpoints)}


def event(row: TrialEvent) -> schemas.TrialEventPublic:
    return schemas.TrialEventPublic(
        at=row.at, kind=row.kind, phase=row.phase, reason=row.reason, message=row.message
    )


def template(version: TemplateVersion, supplier: Supplier) -> schemas.TemplatePublic:
    manifest = catalogue.stored_manifest(version.manifest, version.digest)
    meta, spec = manifest.metadata, manifest.spec
    return schemas.TemplatePublic(
        name=meta.name,
        version=meta.version,
        supplier=supplier.slug,
        supplier_name=supplier.name,
        summary=meta.summary,
        description=meta.description,
        problem_areas=list(meta.problem_areas),
        tags=list(meta.tags),
        status=version.status,
        status_reason=version.status_reason,
        digest=version.digest,
        data_classification=spec.data_classification,
        limits=spec.limits.model_dump(by_alias=True),
        components=[c.name for c in spec.components],
        parameters=spec.parameters,
        success_criteria=list(spec.success_criteria),
        published_at=version.published_at,
        pinned_images=version.pinned_images,
        reviewed_by=version.reviewed_by,
        reviewed_at=version.reviewed_at,
    )


def version_review(found: crud.VersionReview) -> schemas.VersionReview:
    return schemas.VersionReview(
        version=template(found.version, found.supplier),
        previous_version=found.previous.version if found.previous else None,
        changes=[schemas.Change.model_validate(asdict(c)) for c in found.changes],
        review_reasons=found.reasons,
    )


def supplier(row: Supplier, template_names: list[str]) -> schemas.SupplierPublic:
    return schemas.SupplierPublic(
        slug=row.slug,
        name=row.name,
        size=row.size,
        contact=row.contact,
        description=row.description,
        problem_areas=row.problem_areas,
        templates=template_names,
    )


def template_names_by_supplier(session: Session) -> dict[int, list[str]]:
    names: dict[int, list[str]] = {}
    for row in session.exec(select(SandboxTemplate).order_by(SandboxTemplate.name)):
        names.setdefault(row.supplier_id, []).append(row.name)
    return names


def template_detail(name: str, supplier: Supplier, versions: list[TemplateVersion]) -> schemas.TemplateDetail:
    return schemas.TemplateDetail(
        name=name, supplier=supplier.slug, versions=[template(v, supplier) for v in versions]
    )


def evaluation(
    row: Evaluation, *, author: str, measured: Measured, show_private: bool
) -> schemas.EvaluationPublic:
    return schemas.EvaluationPublic(
        trial_id=row.trial_id,
        scores=schemas.Scores.model_validate(row.scores),
        decision=row.decision,
        lessons_learned=row.lessons_learned,
        private_notes=row.private_notes if show_private else None,
        recorded_by=author,
        recorded_at=row.recorded_at,
        measured=schemas.Measured.model_validate(vars(measured)),
    )


def user(row: User, *, supplier_slug: str | None) -> schemas.UserPublic:
    return schemas.UserPublic(
        name=row.name,
        role=row.role,
        department=row.department,
        supplier=supplier_slug,
        display_name=row.display_name,
        email=row.email,
        created_at=row.created_at,
        disabled=row.disabled_at is not None,
        single_sign_on=row.oidc_subject is not None,
    )


def users(session: Session, rows: Iterable[User]) -> schemas.UserList:
    slugs = {s.id: s.slug for s in session.exec(select(Supplier))}
    return schemas.UserList(items=[user(r, supplier_slug=slugs.get(r.supplier_id or 0)) for r in rows])


def token(row: ApiToken, *, owner: str) -> schemas.TokenPublic:
    assert row.id is not None
    return schemas.TokenPublic(
        id=row.id,
        user=owner,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def audit_event(row: AuditEvent) -> schemas.AuditPublic:
    return schemas.AuditPublic(
        at=row.at,
        actor=row.actor,
        source=row.source,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        detail=row.detail,
    )


def share_link(row: ShareLink, *, created_by: str) -> schemas.ShareLinkPublic:
    assert row.id is not None
    return schemas.ShareLinkPublic(
        id=row.id,
        note=row.note,
        created_at=row.created_at,
        expires_at=row.expires_at,
        created_by=created_by,
        revoked_at=row.revoked_at,
    )


def share_links(session: Session, rows: Iterable[ShareLink]) -> schemas.ShareLinkList:
    rows = list(rows)
    ids = {r.created_by for r in rows}
    names = {u.id: u.name for u in session.exec(select(User).where(col(User.id).in_(ids)))} if ids else {}
    return schemas.ShareLinkList(items=[share_link(r, created_by=names.get(r.created_by, "")) for r in rows])
