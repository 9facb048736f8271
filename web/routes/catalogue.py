"""The techmap (suppliers and their templates by problem area, with search and filters) and a
template's page (what it does, its limits, data classification, past trial outcomes).

Twins: `/techmap.json` and `/templates/{name}.json`; the REST API's `GET /api/v1/templates`,
`GET /api/v1/templates/{name}` and `GET /api/v1/suppliers` read the same core functions
(`crud.latest_versions`, `crud.template_versions`, `crud.list_suppliers`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from orchestrator import catalogue, crud
from orchestrator.access import Role, check_may_start_trial
from orchestrator.crud.templates import check_trialable
from orchestrator.evaluation import summarise
from web import views
from web.deps import Now, SessionDep, SettingsDep, SignedIn
from web.lookups import allowed
from web.pages import page
from web.rendering import render

router = APIRouter()
TemplateName = Annotated[str, Path(pattern=r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")]
SIZES = {"sme": "Small or medium-sized enterprise (SME)", "large": "Large supplier"}


@page(router, "/techmap")
def techmap(
    request: Request,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    q: Annotated[str, Query(max_length=100)] = "",
    area: Annotated[list[str] | None, Query(max_length=20)] = None,
    size: Annotated[list[str] | None, Query(max_length=2)] = None,
) -> Response:
    """Every template that can be trialled, each once with its problem areas as tags, narrowed
    by filters (areas, supplier size) and ranked by a search (`catalogue.ranked`: any word,
    plurals too); the suppliers are those of the templates found."""
    everything = [views.template(v, s, settings) for _t, v, s in crud.latest_versions(session)]
    chosen_areas, chosen_sizes = set(area or ()), set(size or ())
    kept = [t for t in everything if _kept(t, areas=chosen_areas, sizes=chosen_sizes)]
    found = catalogue.ranked(kept, q, text=_searched_text)
    suppliers = [views.supplier_view(s) for s in crud.list_suppliers(session)]
    if q.strip() or chosen_areas or chosen_sizes:
        theirs = {t["supplier"]["slug"] for t in found}
        suppliers = [s for s in suppliers if s["slug"] in theirs]
    return render(
        request,
        visitor,
        "techmap.html",
        {
            "query": {"q": q, "area": sorted(chosen_areas), "size": sorted(chosen_sizes)},
            "areas": sorted({a for t in everything for a in t["problem_areas"]}),
            "sizes": SIZES,
            "templates": found,
            "count": len(found),
            "suppliers": suppliers,
        },
    )


def _kept(template: dict[str, Any], *, areas: set[str], sizes: set[str]) -> bool:
    if sizes and template["supplier"]["size"] not in sizes:
        return False
    return not areas or bool(areas & set(template["problem_areas"]))


def _searched_text(template: dict[str, Any]) -> str:
    return " ".join(
        [
            template["name"],
            template["summary"],
            template["description"],
            template["supplier"]["name"],
            *template["tags"],
            *template["problem_areas"],
        ]
    )


@page(router, "/templates/{name}")
def template_page(
    request: Request,
    name: TemplateName,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
) -> Response:
    """The newest published version (or the newest at all, if none is published), every
    version's status, and how the template's evaluated trials went. The evaluated trials are
    listed as the report lists them (no trial's id, no link to it), and not to suppliers, who
    see no trial, only the totals (`/supplier`)."""
    _template, supplier, versions = crud.template_versions(session, name=name)
    current = next((v for v in versions if v.status == "Published"), versions[0])
    rows = crud.report(session, user=visitor.actor.user, now=now, selectors=crud.ReportFilter(template=name))
    return render(
        request,
        visitor,
        "template.html",
        {
            "template": views.template(current, supplier, settings),
            "versions": [
                {
                    "version": v.version,
                    "status": v.status,
                    "status_reason": v.status_reason,
                    "published_at": v.published_at,
                }
                for v in versions
            ],
            "outcomes": [views.summary(s) for s in summarise(rows, by="template")],
            "past_trials": []
            if visitor.role == Role.SUPPLIER
            else [
                {
                    key: row[key]
                    for key in (
                        "title",
                        "department",
                        "template_version",
                        "decision",
                        "evaluated_at",
                        "availability",
                    )
                }
                for row in rows
            ],
            "may_start": allowed(check_may_start_trial, visitor.actor.user)
            and allowed(check_trialable, current, ref=f"{name}@{current.version}"),
            "dimensions": views.DIMENSION_NAMES,
            "decisions": views.DECISIONS,
        },
    )
