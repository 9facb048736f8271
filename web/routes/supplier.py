"""The supplier area: a supplier's templates, how often each was trialled and how the trials
went, and publishing a new version by upload.

A supplier sees no trial (orchestrator/access.py): only aggregates per template and version,
from `crud.supplier_outcomes`, the summing-up `GET /api/v1/templates/{name}/outcomes` answers
for one template (orchestrator/outcomes.py); never a title, a department, a trial's id.

Publishing calls `catalogue.parse_manifest_text` and `crud.publish_template`, as
`POST /api/v1/templates` does (its twin); every problem is listed in a GOV.UK error summary,
each naming the manifest field it is about, and nothing is stored. A version sent waits for a
platform engineer's review (`PendingReview`) unless it changes nothing risky. Read twin:
`/supplier.json`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from orchestrator import catalogue, crud
from orchestrator.access import Role, check_may_publish, require_role
from orchestrator.drivers import image_pinner
from orchestrator.errors import Problem, ValidationFailed
from orchestrator.lifecycle import ACTIVE_PHASES, Phase
from orchestrator.models import Supplier, User
from web import views
from web.deps import Now, SessionDep, SettingsDep, SignedIn
from web.forms import CheckedForm, FormPage, shown_again_on_error, upload
from web.pages import page
from web.rendering import render

router = APIRouter()


@page(router, "/supplier")
def supplier_area(request: Request, visitor: SignedIn, session: SessionDep, published: str = "") -> Response:
    user = visitor.actor.user
    require_role(user, Role.SUPPLIER, to="open the supplier area")
    supplier = session.get(Supplier, user.supplier_id)
    assert supplier is not None  # a supplier user is bound to one (crud.create_user)
    data = _area(session, user, supplier)
    statuses = {f"{v['name']}@{v['version']}": v["status"] for v in data["versions"]}
    return render(
        request,
        visitor,
        "supplier.html",
        {
            **data,
            "published": published if published in statuses else "",
            "published_status": statuses.get(published, ""),
        },
    )


def _area(session: Session, user: User, supplier: Supplier) -> dict[str, Any]:
    assert supplier.id is not None
    versions = crud.list_template_versions(session, supplier_id=supplier.id)
    return {
        "supplier": views.supplier_view(supplier),
        "templates": [
            _counted(asdict(found)) for found in crud.supplier_outcomes(session, user=user, supplier=supplier)
        ],
        "phases": [str(phase) for phase in Phase],
        "versions": [
            {
                "name": t.name,
                "version": v.version,
                "status": v.status,
                "status_reason": v.status_reason,
                "published_at": v.published_at,
            }
            for t, v, _s in versions
        ],
        "dimensions": views.DIMENSION_NAMES,
        "decisions": views.DECISIONS,
    }


def _counted(found: dict[str, Any]) -> dict[str, Any]:
    """Each outcome with `active`: its trials running or waiting to."""
    for column in (found["total"], *found["versions"]):
        column["active"] = sum(column["phases"][phase] for phase in ACTIVE_PHASES)
    return found


@page(router, "/supplier/publish")
def publish_form(request: Request, visitor: SignedIn) -> Response:
    check_may_publish(visitor.actor.user)
    return render(request, visitor, "publish.html", {"largest": catalogue.MAX_MANIFEST_BYTES})


@router.post("/supplier/publish")
def publish(
    request: Request,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
) -> Response:
    check_may_publish(visitor.actor.user)
    shown = FormPage("publish.html", {"largest": catalogue.MAX_MANIFEST_BYTES}, fields={"*": "manifest"})
    file = upload(form, "manifest")
    with shown_again_on_error(request, shown):
        if file is None:
            raise ValidationFailed(
                [
                    Problem(
                        "manifest", "Select a manifest file to upload", "the template.yaml of your template"
                    )
                ]
            )
        try:
            manifest = catalogue.parse_manifest_text(file.file.read(catalogue.MAX_MANIFEST_BYTES + 1))
            version, _created = crud.publish_template(
                session,
                manifest=manifest,
                now=now,
                actor=visitor.actor,
                publishing=crud.Publishing(settings=settings, pin=image_pinner(request.app.state)),
            )
        except ValidationFailed as exc:  # each problem names the manifest's field
            raise ValidationFailed(
                [Problem("manifest", f"{p.field}: {p.message}", p.hint) for p in exc.problems]
            ) from exc
    session.commit()
    ref = f"{manifest.metadata.name}@{version.version}"
    target = (
        f"/supplier?published={ref}"
        if visitor.role == Role.SUPPLIER
        else f"/platform/templates/{manifest.metadata.name}/{version.version}"
        if version.status == "PendingReview"
        else f"/templates/{manifest.metadata.name}"
    )
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
