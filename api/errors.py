"""The only place that knows HTTP status codes: DenError reasons -> responses.

Every error answers `{"reason": ..., "detail": ...}`; validation errors add `problems`, a list
of `{"field", "message", "hint"}`. A request for a web page is offered to `pages` first (see
`install`), which shows the same error, with the same status, as a GOV.UK page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.schemas import ErrorBody
from orchestrator.errors import (
    Conflict,
    DenError,
    Forbidden,
    NotFound,
    PermanentError,
    Problem,
    RetryableError,
    RuleViolation,
    TooLarge,
    Unauthenticated,
    ValidationFailed,
)
from orchestrator.lifecycle import IllegalTransition

_STATUS: list[tuple[type[DenError], int]] = [
    (ValidationFailed, 422),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (IllegalTransition, 409),
    (TooLarge, 413),
    (RuleViolation, 422),
    (RetryableError, 503),
]


_MEANINGS = {
    401: "No token, or an unknown, expired or revoked one",
    403: "The caller's role may not do this",
    404: "No such object (or one the caller may not see)",
    409: "The object's state forbids it; `reason` names the rule",
    413: "The request body is too large",
    422: "The input is invalid (`problems` lists each mistake) or a rule forbids it",
    503: "The runtime or the database is unavailable; try again",
}
#: The error answers, documented on every API route so the OpenAPI document lists them all.
RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": meaning} for code, meaning in _MEANINGS.items()
}


def status_for(error: DenError) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 500


def error_body(reason: str, detail: str, problems: list[Problem] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"reason": reason, "detail": detail}
    if problems is not None:
        body["problems"] = [p.as_dict() for p in problems]
    return body


#: Shows an error as a page when the request is for one (web.render_error), else None.
PageRenderer = Callable[[Request, DenError, int], Response | None]


def _page(request: Request, error: DenError, status: int) -> Response | None:
    pages: PageRenderer | None = getattr(request.app.state, "error_pages", None)
    return pages(request, error, status) if pages is not None else None


async def _den_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DenError)
    page = _page(request, exc, status_for(exc))
    if page is not None:
        return page
    problems = exc.problems if isinstance(exc, ValidationFailed) else None
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
    return JSONResponse(
        error_body(exc.reason, exc.detail, problems), status_code=status_for(exc), headers=headers
    )


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [_problem(err) for err in exc.errors()]
    page = _page(request, ValidationFailed(problems), 422)
    if page is not None:
        return page
    return JSONResponse(
        error_body("ValidationFailed", ValidationFailed(problems).detail, problems), status_code=422
    )


def _problem(err: Any) -> Problem:
    if err.get("type") == "json_invalid":  # its location is a character position, not a field
        return Problem(
            "(body)", f"not valid JSON: {err['msg']} at character {err['loc'][-1]}", "send UTF-8 JSON"
        )
    return Problem(
        ".".join(str(p) for p in err["loc"] if p != "body") or "(body)",
        str(err["msg"]),
        "see the OpenAPI document at /openapi.json",
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (404, 405):
        error = (
            NotFound(str(exc.detail))
            if exc.status_code == 404
            else PermanentError(str(exc.detail), reason="MethodNotAllowed")
        )
        page = _page(request, error, exc.status_code)
        if page is not None:
            return page
    if exc.status_code == 400:  # a body FastAPI cannot even decode: invalid input like any other
        problems = [Problem("(body)", str(exc.detail), "send UTF-8 JSON")]
        return JSONResponse(
            error_body("ValidationFailed", ValidationFailed(problems).detail, problems), status_code=422
        )
    reason = {404: "NotFound", 405: "MethodNotAllowed", 401: "Unauthenticated"}.get(
        exc.status_code, "HTTPError"
    )
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return JSONResponse(
        error_body(reason, str(exc.detail)), status_code=exc.status_code, headers=headers or None
    )


def _allowed_methods(request: Request) -> str:
    """Every method of every route on this path: Starlette names only the first route's, and a
    path may have several routes (GET and POST /api/v1/templates)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def install(app: FastAPI, *, pages: PageRenderer | None = None) -> None:
    """`pages` (the composition root passes the web's) shows errors of page requests."""
    app.state.error_pages = pages
    app.add_exception_handler(DenError, _den_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
