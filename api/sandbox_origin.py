"""The sandboxes' own origins, answered by the same `den serve` process.

`SandboxDispatch` sits in front of the den (api/main.py): a request whose Host is under
DEN_SANDBOX_DOMAIN goes to the small app below and never reaches the den's pages or API;
anything else goes on to the den. For `<trial>-<component>.<domain>` (orchestrator/
sandbox_hosts.py) the app answers:

- `/_den/enter?grant=...&next=/path`: swaps a one-time grant (from the den's open page, its
  `/share/...` page or `POST /api/v1/trials/{id}/open`) for a sandbox session, a cookie of this
  origin only (`__Host-den_sandbox`, or `den_sandbox` when DEN_SESSION_COOKIE_SECURE is false;
  HttpOnly, SameSite=Lax, lasting no longer than the trial), then sends the browser to `next`.
- any other path under `/_den/`: reserved (404), never forwarded.
- everything else: forwarded to the component when the request has a live sandbox session, or
  an `X-Den-Token` API token, whose person or share link may open the sandbox now
  (crud.sandbox_access checks again on every request). Otherwise a browser is sent to the den's
  open page for this sandbox (sign in, or "page not found"), and a bad token gets 401 or 404:
  never the workload. Each forwarded request is a visit (`crud.record_visit`, written at most
  every few seconds per trial), which keeps the sandbox awake.
- a sandbox that sleeps (idle sleep) is woken by the visit (`crud.request_wake`): a person's
  browser is sent to the den's open page, which says it is waking up and moves on by itself
  once it answers; a share link's visitor gets a short page here that reloads itself; a script
  (`X-Den-Token`) gets 503 `SandboxWaking` with `Retry-After`.

Forwarding (api/sandbox_proxy.py: per-trial limits, timeouts, streaming) drops the den's
credentials (its cookies, this origin's cookie, `X-Den-Token`, `Authorization`) and passes back
only an allow-list of the workload's headers, its cookies host-only and never of a den name,
and its redirects only within its own origin (api/sandbox_headers.py). Every answer carries
`frame-ancestors 'none'` (as well as the workload's own policy) and `X-Frame-Options: DENY`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import quote

from sqlmodel import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api.middleware import BodyLimit
from api.sandbox_headers import OWN_PAGE_HEADERS, SANDBOX_COOKIE
from api.sandbox_proxy import SandboxProxy, den_error
from orchestrator import crud
from orchestrator.errors import Unauthenticated
from orchestrator.sandbox_hosts import (
    ENTER_PATH,
    RESERVED_PREFIX,
    parse_host,
    sandbox_path,
    under_domain,
)
from orchestrator.settings import Settings

#: Seconds a visitor to a waking sandbox is told to wait before trying again.
WAKING_RETRY = 3
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def sandbox_cookie_name(settings: Settings) -> str:
    return f"__Host-{SANDBOX_COOKIE}" if settings.session_cookie_secure else SANDBOX_COOKIE


class SandboxDispatch:
    """ASGI: requests for the sandbox domain go to `sandbox`, the rest to the den (`app`)."""

    def __init__(self, app: ASGIApp, *, sandbox: ASGIApp, domain: str) -> None:
        self.app, self.sandbox, self.domain = app, sandbox, domain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and under_domain(_host(scope), self.domain):
            await self.sandbox(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _host(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"host":
            return str(value.decode("latin-1"))
    return ""


def create_sandbox_app(den: State, settings: Settings) -> ASGIApp:
    """The sandbox origins' app. `den` is the den app's state (its database engine and the
    HTTP client for the runtime), filled in when the den starts."""
    origin = _Origin(den=den, settings=settings)
    return Starlette(
        routes=[
            Route(ENTER_PATH, origin.enter, methods=["GET"]),
            Route(RESERVED_PREFIX + "{rest:path}", origin.reserved, methods=METHODS),
            Route("/{path:path}", origin.forward, methods=METHODS),
        ],
        middleware=[Middleware(BodyLimit, max_bytes=settings.max_request_bytes)],
    )


class _Origin:
    def __init__(self, *, den: State, settings: Settings) -> None:
        self.den, self.settings = den, settings

    async def enter(self, request: Request) -> Response:
        target = self._target(request)
        if target is None:
            return _no_sandbox()
        now = datetime.now(UTC)
        opened = await run_in_threadpool(self._consume, request.query_params.get("grant", ""), target, now)
        next_path = sandbox_path(request.query_params.get("next", "/"))
        if opened is None and await run_in_threadpool(self._admit, request, target, None) is not None:
            # A used grant again (the Back button) from a browser already let in: go on.
            return RedirectResponse(next_path, status_code=303, headers=OWN_PAGE_HEADERS)
        if opened is None:
            return _own_page(
                403,
                "This link to the sandbox has expired",
                "A link into a sandbox works once, within a minute.",
                link=(self._den_open(request, target, "/"), "Open the sandbox again"),
            )
        token, seconds = opened
        response = RedirectResponse(next_path, status_code=303, headers=OWN_PAGE_HEADERS)
        response.set_cookie(
            sandbox_cookie_name(self.settings),
            token,
            max_age=seconds,
            path="/",
            secure=self.settings.session_cookie_secure,
            httponly=True,
            samesite="lax",
        )
        return response

    async def reserved(self, request: Request) -> Response:
        del request
        return den_error(404, "NotFound", "paths under /_den/ belong to the den")

    async def forward(self, request: Request) -> Response:
        target = self._target(request)
        if target is None:
            return _no_sandbox()
        token = request.headers.get("x-den-token")
        try:
            admitted = await run_in_threadpool(self._admit, request, target, token)
        except Unauthenticated as exc:
            return den_error(401, exc.reason, exc.detail)
        if admitted is None and token is not None:
            return den_error(404, "NotFound", "no running sandbox here that this token's person may open")
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if admitted is None:
            return RedirectResponse(
                self._den_open(request, target, path), status_code=303, headers=OWN_PAGE_HEADERS
            )
        if admitted.upstream is None:
            await run_in_threadpool(self._wake, admitted)
            return self._waking(request, target, admitted, path=path, script=token is not None)
        proxy: SandboxProxy = self.den.sandbox_proxy
        return await proxy.forward(request, trial_id=target[0], upstream=admitted.upstream)

    def _target(self, request: Request) -> tuple[str, str] | None:
        return parse_host(request.headers.get("host", ""), self.settings.sandbox_domain)

    def _consume(self, grant: str, target: tuple[str, str], now: datetime) -> tuple[str, int] | None:
        with Session(self.den.engine, expire_on_commit=False) as session:
            opened = crud.consume_grant(
                session,
                secret=grant,
                trial_id=target[0],
                component=target[1],
                now=now,
                longest=timedelta(seconds=self.settings.session_max_age),
            )
            session.commit()
        if opened is None:
            return None
        token, row = opened
        return token, max(1, int((row.expires_at - now).total_seconds()))

    def _admit(self, request: Request, target: tuple[str, str], token: str | None) -> crud.Admitted | None:
        now = datetime.now(UTC)
        with Session(self.den.engine) as session:
            if token is not None:
                admitted = crud.upstream_for_token(
                    session, token=token, trial_id=target[0], component=target[1], now=now
                )
            else:
                admitted = crud.upstream_for_cookie(
                    session,
                    tokens=_cookie_values(request, sandbox_cookie_name(self.settings)),
                    trial_id=target[0],
                    component=target[1],
                    now=now,
                )
            if (
                admitted is not None
                and admitted.upstream is not None
                and crud.record_visit(session, trial=admitted.trial, now=now)
            ):
                session.commit()
        return admitted

    def _wake(self, admitted: crud.Admitted) -> None:
        by = "a share link's holder" if admitted.visit.user_id is None else "someone the trial is open to"
        with Session(self.den.engine) as session:
            crud.request_wake(session, trial=admitted.trial, now=datetime.now(UTC), by=by)
            session.commit()

    def _waking(
        self, request: Request, target: tuple[str, str], admitted: crud.Admitted, *, path: str, script: bool
    ) -> Response:
        """What a visitor to a sleeping sandbox sees while it wakes."""
        if script:
            return den_error(
                503,
                "SandboxWaking",
                "the sandbox was asleep (nobody had visited it for a while) and is waking up; "
                f"try again in {WAKING_RETRY} seconds",
                headers={"retry-after": str(WAKING_RETRY)},
            )
        if admitted.visit.user_id is not None and request.method in ("GET", "HEAD"):
            return RedirectResponse(
                self._den_open(request, target, path), status_code=303, headers=OWN_PAGE_HEADERS
            )
        answer = _own_page(
            503,
            "This sandbox is waking up",
            "Nobody had used it for a while, so it was asleep. It usually takes a few seconds "
            "to wake; this page reloads by itself.",
        )
        answer.headers["refresh"] = str(WAKING_RETRY)
        answer.headers["retry-after"] = str(WAKING_RETRY)
        return answer

    def _den_open(self, request: Request, target: tuple[str, str], next_path: str) -> str:
        """The den's open page for this sandbox. Without DEN_PUBLIC_URL the den's own host is
        not known here, so `localhost` on this origin's scheme and port is assumed."""
        base = self.settings.public_url.rstrip("/")
        if not base:
            port = request.url.port
            base = f"{request.url.scheme}://localhost" + (f":{port}" if port else "")
        return f"{base}/trials/{target[0]}/open/{target[1]}?next={quote(sandbox_path(next_path))}"


def _cookie_values(request: Request, name: str) -> list[str]:
    """Every value the browser sent for `name` (a cookie set for a wider domain could sit
    beside ours; each is tried)."""
    found = []
    for header in request.headers.getlist("cookie"):
        for part in header.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name and value:
                found.append(value.strip().strip('"'))
    return found[:5]


def _no_sandbox() -> Response:
    return den_error(404, "NotFound", "this address is not a sandbox")


def _own_page(status: int, title: str, text: str, *, link: tuple[str, str] | None = None) -> Response:
    """The den's few words on a sandbox origin (no script, no style, nothing of the den's)."""
    more = f'<p><a href="{escape(link[0])}">{escape(link[1])}</a></p>' if link else ""
    body = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>'
        f"{escape(title)}</title></head><body><h1>{escape(title)}</h1><p>{escape(text)}</p>"
        f"{more}</body></html>"
    )
    return Response(body, status_code=status, media_type="text/html; charset=utf-8", headers=OWN_PAGE_HEADERS)
