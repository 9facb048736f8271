"""Templates and suppliers: the techmap's data."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response
from sqlmodel import select

from api import conditional, errors, lists, presenters, schemas
from api.deps import ActorDep, Now, SessionDep, SettingsDep, StrictQuery, run_read
from orchestrator import catalogue, crud
from orchestrator.access import check_may_publish, check_may_review
from orchestrator.crud import listing, paging
from orchestrator.crud.catalogue_cache import CATALOGUE
from orchestrator.drivers import image_pinner
from orchestrator.errors import Problem, ValidationFailed
from orchestrator.manifest import TemplateManifest
from orchestrator.models import Supplier

router = APIRouter(
    prefix="/api/v1", tags=["catalogue"], responses=errors.RESPONSES, dependencies=[StrictQuery]
)
TemplateName = Annotated[str, Path(pattern=r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")]
Version = Annotated[str, Path(max_length=60, pattern=r"^[0-9A-Za-z.+-]+$")]
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
TEMPLATES_PAGE = 500  # without `limit`: every template a catalogue held before lists had pages


@router.get("/templates", response_model=schemas.TemplateList, responses=conditional.RESPONSES)
async def list_templates(
    request: Request,
    session: SessionDep,
    _actor: ActorDep,
    limit: lists.Limit = None,
    continue_: lists.Continue = None,
) -> Response:
    """The newest published version of every template, by name, a page at a time (`limit`,
    default 500; `continue`), with an `ETag` (an unchanged page is 304 to `If-None-Match`).
    Each process keeps each page for a second (`crud/catalogue_cache.py`)."""
    asked = paging.ask("templates", limit=limit or TEMPLATES_PAGE, token=continue_, key=listing.NAME_KEY)

    def read() -> schemas.TemplateList:
        found = listing.templates_page(session, asked=asked)
        return schemas.TemplateList(
            items=[presenters.template(version, supplier) for _template, version, supplier in found.rows],
            metadata=lists.meta(found),
        )

    key = (asked.limit, continue_)
    answer = CATALOGUE.get(key)
    if answer is None:
        answer = await run_read(request, session, read)
        CATALOGUE.put(key, answer)
    return conditional.respond(request, answer)


@router.post(
    "/templates",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
    responses={
        200: {
            "model": schemas.TemplatePublished,
            "description": "The same manifest is already published as this version: nothing changed "
            "(`unchanged` is true)",
        }
    },
)
async def publish_template(
    request: Request,
    response: Response,
    session: SessionDep,
    actor: ActorDep,
    now: Now,
    settings: SettingsDep,
    content_type: Annotated[str, Header()] = "application/json",
) -> schemas.TemplatePublished:
    """Send a manifest (JSON, or YAML with `Content-Type: application/yaml`) as a new,
    immutable version. It is stored `PendingReview` until a platform engineer publishes it,
    unless it changes nothing risky (`DEN_ALLOWED_IMAGE_PREFIXES`). Every problem is listed at
    once, each with its `line` in the manifest, the field as written (`where`) and a `hint`;
    nothing is stored on error. The same manifest again is 200 with `unchanged` true."""
    check_may_publish(actor.user)  # before reading the body: a refusal, not its problems
    body = await request.body()
    manifest = _parse(body, content_type.split(";")[0].strip().lower())
    publishing = crud.Publishing(settings=settings, pin=image_pinner(request.app.state))
    try:
        version, created = crud.publish_template(
            session, manifest=manifest, now=now, actor=actor, publishing=publishing
        )
    except ValidationFailed as exc:  # the publishing rules' problems, placed in the manifest too
        raise ValidationFailed(catalogue.with_lines(exc.problems, body)) from exc
    session.commit()
    if not created:
        response.status_code = 200
    supplier = session.exec(select(Supplier).where(Supplier.slug == manifest.metadata.supplier)).one()
    shown = presenters.template(version, supplier)
    return schemas.TemplatePublished(**shown.model_dump(), unchanged=not created)


def _parse(body: bytes, content_type: str) -> TemplateManifest:
    if b"\x00" in body or b"\\u0000" in body:
        raise ValidationFailed(
            [Problem("(body)", "NUL characters are not allowed", "remove them from the manifest")]
        )
    if content_type in YAML_TYPES:
        return catalogue.parse_manifest_text(body)
    if len(body) > catalogue.MAX_MANIFEST_BYTES:
        return catalogue.parse_manifest_text(body)  # reports the size problem
    try:
        data = json.loads(body or b"null")
    except RecursionError as exc:  # the decoder's own stack gives out before ours would
        raise catalogue.too_deep() from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            [
                Problem(
                    "(body)",
                    f"The manifest is not valid JSON: {exc}",
                    "send JSON, or YAML with Content-Type: application/yaml",
                )
            ]
        ) from exc
    return catalogue.validate_manifest(data, text=body)


@router.get("/suppliers")
def list_suppliers(session: SessionDep, _actor: ActorDep) -> schemas.SupplierList:
    names = presenters.template_names_by_supplier(session)
    return schemas.SupplierList(
        items=[presenters.supplier(row, names.get(row.id or 0, [])) for row in crud.list_suppliers(session)]
    )


@router.post("/suppliers", status_code=201)
def create_supplier(
    body: schemas.SupplierCreate, session: SessionDep, actor: ActorDep, now: Now
) -> schemas.SupplierPublic:
    """Register a supplier (platform engineers). Supplier users are then bound to it."""
    row = crud.create_supplier(
        session,
        actor=actor,
        now=now,
        data=catalogue.Supplier(
            slug=body.slug,
            name=body.name,
            size=body.size,
            contact=body.contact,
            description=body.description,
            problem_areas=tuple(body.problem_areas),
        ),
    )
    session.commit()
    return presenters.supplier(row, [])


@router.get("/templates/{name}")
def get_template(name: TemplateName, session: SessionDep, _actor: ActorDep) -> schemas.TemplateDetail:
    """A template with every version, newest first, and each version's status."""
    _template, supplier, versions = crud.template_versions(session, name=name)
    return presenters.template_detail(name, supplier, versions)


@router.get("/templates/{name}/outcomes")
def template_outcomes(name: TemplateName, session: SessionDep, actor: ActorDep) -> schemas.TemplateOutcomes:
    """How the template's trials went, per version and in total: trials by phase, decisions,
    evaluated count, mean score per dimension, time to ready (median, 90th percentile). Only
    aggregates, never a trial. For the template's supplier, approvers and platform engineers
    (others 403; an unknown template 404)."""
    found = crud.template_outcomes(session, user=actor.user, name=name)
    return schemas.TemplateOutcomes.model_validate(asdict(found))


@router.get("/templates/{name}/versions/{version}")
def get_version_review(
    name: TemplateName, version: Version, session: SessionDep, actor: ActorDep, settings: SettingsDep
) -> schemas.VersionReview:
    """A version with what changed since the template's last published version (images,
    egress, resources, parameters) and why it needs a review: what a platform engineer reads
    before publishing or rejecting it (platform engineers, and the template's supplier)."""
    found = crud.version_review(session, name=name, version=version, settings=settings)
    check_may_review(actor.user, supplier_id=found.supplier.id)
    return presenters.version_review(found)


@router.post("/templates/{name}/versions/{version}/status")
def set_version_status(
    name: TemplateName,
    version: Version,
    body: schemas.VersionStatusChange,
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    now: Now,
) -> schemas.TemplatePublic:
    """Review (publish or reject a version waiting for review), quarantine, deprecate or
    re-publish a version (platform engineers). Publishing pins each image to the runtime's
    immutable reference (an image the runtime lacks is refused, `ImageMissing`). Only
    Published versions can be trialled; running trials go on."""
    row = crud.set_version_status(
        session,
        actor=actor,
        name=name,
        version=version,
        status=body.status,
        reason=body.reason,
        now=now,
        pin=image_pinner(request.app.state),
    )
    session.commit()
    _template, supplier, _versions = crud.template_versions(session, name=name)
    return presenters.template(row, supplier)
