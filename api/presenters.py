"""Rows -> response bodies. A trial is rendered by the core (`orchestrator.presenting`), as the
web pages' JSON twins render it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime

from sqlmodel import Session, col, select

from api import schemas
from orchestrator import catalogue, crud, presenting
from orchestrator.evaluation import Measured
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
from orchestrator.settings import RateCard


def trials(
    session: Session,
    rows: Sequence[Trial],
    *,
    now: datetime,
    sandboxes: SandboxAddress,
    rate_card: RateCard | None = None,
) -> schemas.TrialList:
    owners = crud.owner_names(session, rows)
    return schemas.TrialList(
        items=presenting.trials(rows, owners=owners, now=now, sandboxes=sandboxes, rate_card=rate_card)
    )


def trial_of(
    session: Session,
    row: Trial,
    *,
    now: datetime,
    sandboxes: SandboxAddress,
    rate_card: RateCard | None = None,
) -> schemas.TrialPublic:
    """One trial, its owner looked up."""
    return trials(session, [row], now=now, sandboxes=sandboxes, rate_card=rate_card).items[0]


def events(rows: Iterable[TrialEvent]) -> schemas.TrialEventList:
    return schemas.TrialEventList(items=[presenting.event(row) for row in rows])


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
        status=row.status,
        hypothesis_held=row.hypothesis_held,
        hypothesis_evidence=row.hypothesis_evidence,
        criteria_results=[schemas.CriterionResult.model_validate(r) for r in row.criteria_results],
        scores=schemas.Scores.model_validate({d: s for d, s in row.scores.items() if s}),
        decision=row.decision,
        lessons_learned=row.lessons_learned,
        publish_evidence=row.publish_evidence,
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
