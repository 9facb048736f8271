"""The supplier area: a supplier's templates, how often each was trialled and how the trials
went (aggregates only: never a civil servant's notes), and publishing a new version by upload.

Publishing calls `catalogue.parse_manifest_text` and `crud.publish_template`, as
`POST /api/v1/templates` does (its twin); every problem is listed in a GOV.UK error summary,
each naming the manifest field it is about, and nothing is stored. Read twin: `/supplier.json`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from orchestrator import catalogue, crud
from orchestrator.access import Role, require_role
from orchestrator.errors import Problem, ValidationFailed
from orchestrator.evaluation import summarise
from orchestrator.lifecycle import ACTIVE_PHASES
from orchestrator.models import Supplier, User
from web import views
from web.deps import Now, SessionDep, SignedIn
from web.forms import CheckedForm, FormPage, shown_again_on_error, upload
from web.pages import page
from web.rendering import render

router = APIRouter()


@page(router, "/supplier")
def supplier_area(request: Request, visitor: SignedIn, session: SessionDep, now: Now,
                  published: str = "") -> Response:
    user = visitor.actor.user
    require_role(user, Role.SUPPLIER, to="open the supplier area")
    supplier = session.get(Supplier, user.supplier_id)
    assert supplier is not None  # a supplier user is bound to one (crud.create_user)
    data = _area(session, user, supplier, now)
    refs = {f"{v['name']}@{v['version']}" for v in data["versions"]}
    return render(request, visitor, "supplier.html",
                  {**data, "published": published if published in refs else ""})


def _area(session: Session, user: User, supplier: Supplier, now: datetime) -> dict[str, Any]:
    assert supplier.id is not None
    counts = crud.trials_by_template(session, supplier_id=supplier.id)
    outcomes = {s.key: views.summary(s) for s in summarise(
        crud.report(session, user=user, selectors=crud.ReportFilter(), now=now), by="template")}
    versions = crud.list_template_versions(session, supplier_id=supplier.id)
    names = sorted({t.name for t, _v, _s in versions})
    return {
        "supplier": views.supplier_view(supplier),
        "templates": [{
            "name": name,
            "trials": sum(counts.get(name, {}).values()),
            "active": sum(n for phase, n in counts.get(name, {}).items() if phase in ACTIVE_PHASES),
            "outcome": outcomes.get(name),
        } for name in names],
        "versions": [{"name": t.name, "version": v.version, "status": v.status,
                      "status_reason": v.status_reason, "published_at": v.published_at}
                     for t, v, _s in versions],
        "dimensions": views.DIMENSION_NAMES, "decisions": views.DECISIONS,
    }


@page(router, "/supplier/publish")
def publish_form(request: Request, visitor: SignedIn) -> Response:
    require_role(visitor.actor.user, Role.SUPPLIER, Role.PLATFORM_ENGINEER, to="publish templates")
    return render(request, visitor, "publish.html", {"largest": catalogue.MAX_MANIFEST_BYTES})


@router.post("/supplier/publish")
def publish(request: Request, form: CheckedForm, visitor: SignedIn, session: SessionDep,
            now: Now) -> Response:
    require_role(visitor.actor.user, Role.SUPPLIER, Role.PLATFORM_ENGINEER, to="publish templates")
    shown = FormPage("publish.html", {"largest": catalogue.MAX_MANIFEST_BYTES},
                     fields={"*": "manifest"})
    file = upload(form, "manifest")
    with shown_again_on_error(request, shown):
        if file is None:
            raise ValidationFailed([Problem("manifest", "Select a manifest file to upload",
                                            "the template.yaml of your template")])
        try:
            manifest = catalogue.parse_manifest_text(file.file.read(catalogue.MAX_MANIFEST_BYTES + 1))
            version, _created = crud.publish_template(session, manifest=manifest, now=now,
                                                      actor=visitor.actor)
        except ValidationFailed as exc:  # each problem names the manifest's field
            raise ValidationFailed([Problem("manifest", f"{p.field}: {p.message}", p.hint)
                                    for p in exc.problems]) from exc
    session.commit()
    ref = f"{manifest.metadata.name}@{version.version}"
    target = (f"/supplier?published={ref}" if visitor.role == Role.SUPPLIER
              else f"/templates/{manifest.metadata.name}")
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
