"""Rendering: the Jinja2 environment (autoescaped, with the GOV.UK macros), the filters the
pages share, the Content-Security-Policy of a page, and `render`, which answers a page's HTML,
or the same data as JSON on its `.json` twin (STYLE.md convention 8).

GOV.UK's page template starts with one inline script (it marks the body `js-enabled` and
`govuk-frontend-supported`). Rather than allow 'unsafe-inline', the policy names that script by
its SHA-256, computed here from the template itself, so an upgrade of the macros that changes
the script changes the hash with it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from pydantic_core import to_jsonable_python

from orchestrator.cost import memory_words, money, processing_words
from orchestrator.errors import Problem
from orchestrator.lifecycle import Phase
from orchestrator.presenting import (
    SERVICE_TIME_ZONE,
    date_time_words,
    department_name,
    duration_words,
    plain_message,
)
from orchestrator.settings import Settings
from web import charts
from web.deps import SIGN_IN_CSRF_MAX_AGE, Visitor, cookie_name

HERE = Path(__file__).resolve().parent
LONDON = SERVICE_TIME_ZONE
NO_STORE = {"cache-control": "no-store"}

env = Environment(
    loader=ChoiceLoader(
        [
            FileSystemLoader(HERE / "templates"),
            PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
        ]
    ),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _inline_script_hash() -> str:
    page = env.from_string(
        '{% extends "govuk_frontend_jinja/template.html" %}'
        "{% block header %}{% endblock %}{% block footer %}{% endblock %}"
    ).render()
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1, "GOV.UK's page template has one inline script"
    return "sha256-" + base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()


INLINE_SCRIPT_HASH = _inline_script_hash()


def content_security_policy(form_targets: Sequence[str] = ()) -> str:
    """The pages' policy. `form-action` also governs where a form's answer may redirect, so
    the origins a form legitimately ends on (the sign-in provider, after signing out; the
    sandboxes, after their interstitial) are named, and nothing else."""
    targets = " ".join(["'self'", *dict.fromkeys(form_targets)])
    return (
        "default-src 'self'; "
        f"script-src 'self' '{INLINE_SCRIPT_HASH}'; "
        "style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
        f"object-src 'none'; frame-ancestors 'none'; form-action {targets}; "
        "base-uri 'self'"
    )


def form_targets(settings: Settings) -> list[str]:
    """Origins other than the den's own that a form's redirect may reach."""
    targets = []
    if settings.oidc_issuer:
        parts = urlsplit(settings.oidc_issuer)
        targets.append(f"{parts.scheme}://{parts.netloc}")
    domain = getattr(settings, "sandbox_domain", "")
    if domain:
        targets.append(
            f"*.{domain}:*"
            if not settings.public_url
            else f"{urlsplit(settings.public_url).scheme}://*.{domain}"
            + (f":{urlsplit(settings.public_url).port}" if urlsplit(settings.public_url).port else "")
        )
    return targets


CSP = content_security_policy()

PHASE_TAGS = {
    Phase.PENDING_APPROVAL: ("Waiting for approval", "govuk-tag--yellow"),
    Phase.REQUESTED: ("Requested", "govuk-tag--grey"),
    Phase.PROVISIONING: ("Starting", "govuk-tag--turquoise"),
    Phase.READY: ("Ready", "govuk-tag--green"),
    Phase.SLEEPING: ("Asleep", "govuk-tag--blue"),
    Phase.STOPPING: ("Ending", "govuk-tag--orange"),
    Phase.STOPPED: ("Ended", "govuk-tag--grey"),
    Phase.FAILED: ("Failed", "govuk-tag--red"),
}


def phase_tag(phase: str, extra: str = "") -> dict[str, str]:
    """govukTag's parameters for a phase: plain words, one colour each."""
    label, classes = PHASE_TAGS.get(Phase(phase), (phase, ""))
    return {"text": label, "classes": f"{classes} {extra}".strip()}


VERSION_TAGS = {
    "Published": "govuk-tag--green",
    "PendingReview": "govuk-tag--yellow",
    "Rejected": "govuk-tag--red",
    "Quarantined": "govuk-tag--red",
}


def status_tag_class(status: str) -> str:
    """A template version's status colour: published green, waiting yellow, refused red."""
    return VERSION_TAGS.get(status, "govuk-tag--grey")


def when(value: datetime | None) -> str:
    """GOV.UK style, in UK time: 26 November 2026 at 1:05pm."""
    return "" if value is None else date_time_words(value)


def duration(seconds: int | float | None) -> str:
    """Whole units, largest first, at most two: '1 day 2 hours', '15 minutes', '40 seconds'
    (`presenting.duration_words`)."""
    return duration_words(seconds)


def plain(message: str, phase: str) -> str:
    """A trial's or an event's message in words about the sandbox (`presenting.plain_message`)."""
    return plain_message(message or "", phase=phase)


@pass_context
def department(context: Context, code: str | None) -> str:
    """A department's name for its code (`DEN_DEPARTMENT_NAMES`, then the built-in names)."""
    return department_name(code or "", context.get("department_names") or {})


def lines(value: str) -> Markup:
    """Text with the line breaks people typed, every line escaped."""
    return Markup("<br>").join(escape(line) for line in value.split("\n"))


def label(value: str) -> str:
    """A token as words: 'citizen-services' -> 'Citizen services'."""
    return value.replace("-", " ").replace("_", " ").capitalize()


def _govuk_macros() -> dict[str, Any]:
    """Every GOV.UK component macro (govukButton, govukInput, ...) as a global, so that pages
    call them without importing each one."""
    macros: dict[str, Any] = {}
    loader = PackageLoader("govuk_frontend_jinja")
    for name in loader.list_templates():
        if name.startswith("components/") and name.endswith("/macro.html"):
            module = env.get_template(f"govuk_frontend_jinja/{name}").module
            macros.update({key: value for key, value in vars(module).items() if key.startswith("govuk")})
    return macros


def trials_chart(rows: Sequence[dict[str, Any]], *, title: str, chart_id: str) -> Markup:
    """Report rows as the bar chart of their scores (`charts.comparison_chart` escapes every
    piece of text in it, so it is safe to place as it is)."""
    return Markup(charts.comparison_chart(charts.trial_series(rows), title=title, chart_id=chart_id))


def groups_chart(summaries: Sequence[dict[str, Any]], *, by: str, title: str, chart_id: str) -> Markup:
    """Groups of trials (`views.summary`) as the bar chart of their average scores."""
    series = [
        charts.Series(name=label(s["key"]) if by == "problem_area" else s["key"], scores=s["mean_scores"])
        for s in summaries
    ]
    return Markup(charts.comparison_chart(series, title=title, chart_id=chart_id))


def offer_chart(trials: Sequence[dict[str, Any]], *, title: str, chart_id: str) -> Markup:
    """The equal offer's trials (`engagement_public.OfferedTrialPublic`) as the bar chart of
    their scores, each named by its supplier and template."""
    series = [
        charts.Series(name=f"{t['supplier_name']}: {label(t['template'])}", scores=t["scores"])
        for t in trials
    ]
    return Markup(charts.comparison_chart(series, title=title, chart_id=chart_id))


env.filters.update(
    when=when,
    duration=duration,
    plain=plain,
    department=department,
    label=label,
    phase_tag=phase_tag,
    lines=lines,
    status_tag_class=status_tag_class,
    money=money,
    processing_time=processing_words,
    memory_size=memory_words,
)
env.globals.update(
    _govuk_macros(), trials_chart=trials_chart, groups_chart=groups_chart, offer_chart=offer_chart
)


def navigation(visitor: Visitor, path: str) -> list[dict[str, Any]]:
    """The service navigation: what the visitor's role may open."""
    if visitor.user is None:
        return []
    items = [
        ("Techmap", "/techmap"),
        ("Challenges", "/challenges"),
        ("Trials", "/trials"),
        ("Compare trials", "/reports"),
    ]
    if visitor.role == "supplier":
        items.append(("Your templates", "/supplier"))
    if visitor.role in ("approver", "platform_engineer"):
        items.append(("Approvals", "/approvals"))
    if visitor.role == "platform_engineer":
        items.append(("Platform", "/platform"))
    return [
        {"text": text, "href": href, "active": path == href or path.startswith(href + "/")}
        for text, href in items
    ]


def wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json")


def error_list(problems: Sequence[Problem], fields: dict[str, str]) -> list[dict[str, str]]:
    """The error summary's items: each links to the input to fix (`fields` maps the core's
    field names to the page's input ids; "*" catches any other field; a value starting with
    "/" is another page, such as a question to answer again)."""

    def href(field: str) -> str:
        target = fields.get(field) or fields.get("*") or field
        return target if target.startswith("/") else "#" + target

    return [{"text": p.message, "href": href(p.field), "hint": p.hint} for p in problems]


def render(
    request: Request,
    visitor: Visitor,
    template: str,
    data: dict[str, Any],
    *,
    problems: Sequence[Problem] = (),
    fields: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int | None = None,
) -> Response:
    """The page, or its data as JSON on the `.json` twin. `data` is all the page knows;
    the visitor, the navigation and form state are added for the HTML only."""
    if wants_json(request):
        return JSONResponse(to_jsonable_python(data), headers=NO_STORE)
    summary = error_list(problems, fields or {})
    html = env.get_template(template).render(
        data,
        visitor=visitor,
        nav=navigation(visitor, request.url.path),
        path=request.url.path,
        csrf_token=visitor.csrf,
        error_summary=summary,
        field_errors={
            item["href"][1:]: item["text"] for item in reversed(summary) if item["href"].startswith("#")
        },
        values=values or {},
        department_names=request.app.state.settings.department_names,
        govuk_brand=request.app.state.settings.govuk_brand,
    )
    policy = content_security_policy(form_targets(request.app.state.settings))
    response = HTMLResponse(html, headers={**NO_STORE, "content-security-policy": policy})
    if status is not None:  # an error page: api/errors.py chose the status
        response.status_code = status
    if visitor.new_csrf:
        set_cookie(
            response, request.app.state.settings, "den_sign_in", visitor.csrf, max_age=SIGN_IN_CSRF_MAX_AGE
        )
    return response


def set_cookie(response: Response, settings: Settings, base: str, value: str, *, max_age: int) -> None:
    response.set_cookie(
        cookie_name(settings, base),
        value,
        max_age=max_age,
        path="/",
        secure=settings.session_cookie_secure,
        httponly=True,
        samesite="lax",
    )


def clear_cookie(response: Response, settings: Settings, base: str) -> None:
    response.delete_cookie(
        cookie_name(settings, base),
        path="/",
        secure=settings.session_cookie_secure,
        httponly=True,
        samesite="lax",
    )
