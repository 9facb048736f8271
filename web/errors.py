"""Errors on pages. api/errors.py maps every error to its status code, then offers it here
first (`render_error`): a person's browser gets a GOV.UK page with that status, a script gets
the API's JSON (None). A form whose post failed is shown again with a GOV.UK error summary
linking to each field to fix; an anonymous visitor is sent to sign in first.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from orchestrator.crud.sign_in import NoRole
from orchestrator.errors import (
    Conflict,
    DenError,
    Forbidden,
    NotFound,
    Problem,
    RetryableError,
    RuleViolation,
    Unauthenticated,
    ValidationFailed,
)
from web.deps import Visitor
from web.forms import FormPage
from web.oidc import SignInRefused, SignInUnavailable
from web.rendering import render, wants_json

TITLES: list[tuple[type[DenError], str]] = [
    (SignInUnavailable, "Sign-in is not available right now"),
    (SignInRefused, "You could not be signed in"),
    (NoRole, "You cannot use this service yet"),
    (NotFound, "Page not found"),
    (Forbidden, "You cannot do that"),
    (ValidationFailed, "There is a problem"),
    (Conflict, "That cannot be done now"),
    (RuleViolation, "That is not allowed"),
    (RetryableError, "Sorry, there is a problem with the service"),
]


def is_page_request(request: Request) -> bool:
    """A web page's route, or a browser asking for a page anywhere outside the REST API."""
    if request.url.path.startswith("/api/") or wants_json(request):
        return False
    endpoint = getattr(request.scope.get("route"), "endpoint", None)
    if endpoint is not None and getattr(endpoint, "__module__", "").startswith("web."):
        return True
    return "text/html" in request.headers.get("accept", "")


def render_error(request: Request, error: DenError, status: int) -> Response | None:
    if not is_page_request(request):
        return None
    visitor: Visitor = getattr(request.state, "den_visitor", None) or Visitor(
        user=None, web_session=None, source="", csrf=""
    )
    if isinstance(error, Unauthenticated) and not isinstance(error, SignInRefused) and visitor.user is None:
        return RedirectResponse(f"/sign-in?next={quote(request.url.path)}", status_code=303)
    form: FormPage | None = getattr(request.state, "den_form", None)
    if form is not None:
        problems = (
            error.problems if isinstance(error, ValidationFailed) else [Problem("(form)", error.detail)]
        )
        return render(
            request,
            visitor,
            form.template,
            form.data,
            problems=problems,
            fields=form.fields,
            values=form.values,
            status=status,
        )
    title = next((text for kind, text in TITLES if isinstance(error, kind)), "There is a problem")
    kind = (
        "not_found"
        if isinstance(error, NotFound)
        else "unavailable"
        if isinstance(error, RetryableError) and not isinstance(error, SignInUnavailable)
        else ""
    )
    return render(
        request,
        visitor,
        "error.html",
        {
            "title": title,
            "kind": kind,
            "reason": error.reason,
            "detail": _sentence(error.detail),
            "problems": [p.as_dict() for p in error.problems] if isinstance(error, ValidationFailed) else [],
        },
        status=status,
    )


def _sentence(text: str) -> str:
    """A message as a sentence on a page: a capital first, a full stop last."""
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."
