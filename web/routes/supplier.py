"""The supplier area: a supplier's templates, how often each was trialled and how the trials
went, and publishing a new version by upload.

A supplier sees no trial (orchestrator/access.py): only aggregates per template and version,
from `crud.supplier_outcomes`, the summing-up `GET /api/v1/templates/{name}/outcomes` answers
for one template (orchestrator/outcomes.py); never a title, a department, a trial's id.

Publishing is upload, check, confirm. The upload is checked by `catalogue.parse_manifest_text`
and tried out by `crud.publish_template` in a transaction that is rolled back
(web/publishing.py), so every problem is listed in a GOV.UK error summary, each linking to its
line of the manifest shown below it, and nothing is stored. A good upload waits in the
session for the check page, which shows what will be published and whether it goes to a
platform engineer's review (`PendingReview`) or is published at once; "Publish this version"
then publishes it, as `POST /api/v1/templates` does. The same manifest again changes nothing
and says so. Read twins: `/supplier.json`, `/supplier/publish/check.json`.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any, NoReturn

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from orchestrator import catalogue, crud
from orchestrator.access import Role, check_may_publish, require_role
from orchestrator.drivers import image_pinner
from orchestrator.errors import Problem, ValidationFailed
from orchestrator.lifecycle import ACTIVE_PHASES, Phase
from orchestrator.manifest_errors import ManifestProblem
from orchestrator.models import Supplier, User
from orchestrator.parameters import GUIDE
from orchestrator.settings import Settings
from web import publishing, views
from web.deps import Now, SessionDep, SettingsDep, SignedIn, Visitor, VisitorDep
from web.forms import CheckedForm, FormPage, shown_again_on_error, upload
from web.pages import page
from web.rendering import render

router = APIRouter()
#: Where the session keeps an upload between the upload and its confirmation.
PENDING = "publishing"


@page(router, "/supplier")
def supplier_area(
    request: Request, visitor: SignedIn, session: SessionDep, published: str = "", unchanged: str = ""
) -> Response:
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
            "unchanged": unchanged if unchanged in statuses else "",
            "guide": GUIDE,
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
    return render(request, visitor, "publish.html", _upload_page({}))


def _upload_page(data: dict[str, Any]) -> dict[str, Any]:
    return {"largest": catalogue.MAX_MANIFEST_BYTES, "guide": GUIDE, "lines": [], **data}


@router.post("/supplier/publish")
def publish(
    request: Request,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
) -> Response:
    """The upload: checked as publishing would check it (nothing is stored), then kept in the
    session until the supplier confirms it on the check page."""
    check_may_publish(visitor.actor.user)
    file = upload(form, "manifest")
    raw = file.file.read(catalogue.MAX_MANIFEST_BYTES + 1) if file is not None else b""
    text = raw.decode("utf-8", "replace")
    lines = text.splitlines() if len(raw) <= catalogue.MAX_MANIFEST_BYTES else []
    shown = FormPage("publish.html", _upload_page({"lines": lines}), fields={"*": "manifest"})
    try:
        with shown_again_on_error(request, shown):
            if file is None:
                raise ValidationFailed(
                    [
                        Problem(
                            "manifest",
                            "Select a manifest file to upload",
                            "the template.yaml of your template",
                        )
                    ]
                )
            manifest = catalogue.parse_manifest_text(raw)
            outcome = publishing.try_out(
                request.app.state.engine,
                manifest=manifest,
                actor=visitor.actor,
                publishing=_rules(request, settings),
                now=now,
            )
    except ValidationFailed as exc:
        _problems_at_their_lines(request, shown, exc, raw)
    ref = f"{manifest.metadata.name}@{manifest.metadata.version}"
    if outcome.unchanged:
        return RedirectResponse(f"/supplier?unchanged={ref}", status_code=status.HTTP_303_SEE_OTHER)
    assert visitor.web_session is not None  # forms are posted from a session (checked_form)
    data = dict(visitor.web_session.data)
    data[PENDING] = {"text": text, "status": outcome.status, "status_reason": outcome.status_reason}
    crud.save_session_data(session, web_session=visitor.web_session, data=data)
    session.commit()
    return RedirectResponse("/supplier/publish/check", status_code=status.HTTP_303_SEE_OTHER)


def _rules(request: Request, settings: Settings) -> crud.Publishing:
    return crud.Publishing(settings=settings, pin=image_pinner(request.app.state))


def _problems_at_their_lines(
    request: Request, shown: FormPage, exc: ValidationFailed, text: str | bytes
) -> NoReturn:
    """The problems again, each linking to its own line of the manifest shown on the page."""
    problems = catalogue.with_lines(exc.problems, text)
    anchors = {_anchor(p): _anchor(p) for p in problems}
    with shown_again_on_error(request, replace(shown, fields={"*": "manifest", **anchors})):
        raise ValidationFailed([_linked(p) for p in problems]) from exc


def _anchor(problem: Problem) -> str:
    line = problem.line if isinstance(problem, ManifestProblem) else None
    return f"line-{line}" if line else "manifest"


def _linked(problem: Problem) -> Problem:
    """A problem for the error summary: `field` is the anchor of its line."""
    line = problem.line if isinstance(problem, ManifestProblem) else None
    message = f"Line {line}: {problem.message}" if line else problem.message
    return ManifestProblem(_anchor(problem), message, problem.hint, line=line)


@page(router, "/supplier/publish/check")
def publish_check(request: Request, visitor: SignedIn) -> Response:
    """What will be published, before the supplier confirms it (the upload is kept in the
    session; with none, a link to the upload)."""
    check_may_publish(visitor.actor.user)
    pending = _pending(visitor)
    if pending is None:
        return render(request, visitor, "publish_check.html", {"name": "", "nothing": True})
    manifest = catalogue.parse_manifest_text(pending["text"])
    return render(request, visitor, "publish_check.html", publishing.preview(manifest, **_outcome(pending)))


def _pending(visitor: Visitor) -> dict[str, Any] | None:
    found = visitor.web_session.data.get(PENDING) if visitor.web_session else None
    return found if isinstance(found, dict) and isinstance(found.get("text"), str) else None


def _outcome(pending: dict[str, Any]) -> dict[str, str]:
    return {"status": str(pending.get("status", "")), "status_reason": str(pending.get("status_reason", ""))}


@router.post("/supplier/publish/check")
def publish_confirmed(
    request: Request,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
) -> Response:
    """ "Publish this version": the kept upload is published, as `POST /api/v1/templates` does."""
    del form  # checked for its CSRF token
    check_may_publish(visitor.actor.user)
    pending = _pending(visitor)
    if pending is None:
        return RedirectResponse("/supplier/publish", status_code=status.HTTP_303_SEE_OTHER)
    text = pending["text"]
    shown = FormPage("publish.html", _upload_page({"lines": text.splitlines()}), fields={"*": "manifest"})
    try:
        with shown_again_on_error(request, shown):
            manifest = catalogue.parse_manifest_text(text)
            version, created = crud.publish_template(
                session, manifest=manifest, now=now, actor=visitor.actor, publishing=_rules(request, settings)
            )
    except ValidationFailed as exc:  # a rule changed since the upload was checked
        _problems_at_their_lines(request, shown, exc, text)
    assert visitor.web_session is not None
    crud.save_session_data(
        session,
        web_session=visitor.web_session,
        data={k: v for k, v in visitor.web_session.data.items() if k != PENDING},
    )
    session.commit()
    ref = f"{manifest.metadata.name}@{version.version}"
    target = (
        f"/supplier?{'published' if created else 'unchanged'}={ref}"
        if visitor.role == Role.SUPPLIER
        else f"/platform/templates/{manifest.metadata.name}/{version.version}"
        if version.status == "PendingReview"
        else f"/templates/{manifest.metadata.name}"
    )
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


@page(router, "/guide/templates")
def template_guide(request: Request, visitor: VisitorDep, settings: SettingsDep) -> Response:
    """The manifest format, for suppliers (public: a supplier reads it before signing in)."""
    return render(request, visitor, "guide_templates.html", publishing.guide(settings.templates_dir))
