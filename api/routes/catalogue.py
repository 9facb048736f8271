"""Templates and suppliers: the techmap's data."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from sqlmodel import select

from api import presenters, schemas
from api.deps import ActorDep, Now, SessionDep
from orchestrator import catalogue, crud
from orchestrator.errors import Forbidden, Problem, ValidationFailed
from orchestrator.manifest import TemplateManifest
from orchestrator.models import Supplier

router = APIRouter(prefix="/api/v1", tags=["catalogue"])
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


@router.get("/templates")
def list_templates(session: SessionDep, _actor: ActorDep) -> schemas.TemplateList:
    """The newest published version of every template."""
    return schemas.TemplateList(items=[
        presenters.template(version, supplier)
        for _template, version, supplier in crud.latest_versions(session)
    ])


@router.post(
    "/templates", status_code=201,
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/yaml": {"schema": {"type": "string"}},
    }}},
    responses={200: {"description": "Identical version already published"},
               409: {"model": schemas.ErrorBody}, 422: {"model": schemas.ErrorBody}},
)
async def publish_template(
    request: Request, response: Response, session: SessionDep, actor: ActorDep, now: Now,
    content_type: Annotated[str, Header()] = "application/json",
) -> schemas.TemplatePublic:
    """Publish a manifest (JSON, or YAML with `Content-Type: application/yaml`) as a new,
    immutable version. Every problem is listed at once; nothing is stored on error."""
    if actor.user.role not in ("supplier", "platform_engineer"):
        raise Forbidden("only suppliers and platform engineers publish templates")
    body = await request.body()
    manifest = _parse(body, content_type.split(";")[0].strip().lower())
    version, created = crud.publish_template(session, manifest=manifest, now=now, actor=actor)
    session.commit()
    if not created:
        response.status_code = 200
    supplier = session.exec(select(Supplier).where(Supplier.slug == manifest.metadata.supplier)).one()
    return presenters.template(version, supplier)


def _parse(body: bytes, content_type: str) -> TemplateManifest:
    if content_type in YAML_TYPES:
        return catalogue.parse_manifest_text(body)
    if len(body) > catalogue.MAX_MANIFEST_BYTES:
        return catalogue.parse_manifest_text(body)  # reports the size problem
    try:
        data = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed([Problem("(body)", f"not valid JSON: {exc}",
                                        "send JSON, or YAML with Content-Type: application/yaml")]
                               ) from exc
    return catalogue.validate_manifest(data)


@router.get("/suppliers")
def list_suppliers(session: SessionDep, _actor: ActorDep) -> schemas.SupplierList:
    names = presenters.template_names_by_supplier(session)
    return schemas.SupplierList(items=[
        presenters.supplier(row, names.get(row.id or 0, [])) for row in crud.list_suppliers(session)
    ])
