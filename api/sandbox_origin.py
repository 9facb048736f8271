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
  never the workload.

Forwarding drops the den's credentials (its cookies, this origin's cookie, `X-Den-Token`,
`Authorization`) and hop-by-hop headers; the workload's own cookies pass both ways, except
that it can never set a den cookie name, and its `Domain` attributes are dropped so that one
sandbox cannot set cookies for the others. Every answer carries `frame-ancestors 'none'` (as
well as the workload's own policy) and `X-Frame-Options: DENY`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import quote

import httpx
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api.middleware import BodyLimit
from orchestrator import crud
from orchestrator.errors import Unauthenticated
from orchestrator.sandbox_hosts import (
    ENTER_PATH,
    RESERVED_PREFIX,
    host_name,
    parse_host,
    sandbox_path,
    under_domain,
)
from orchestrator.settings import Settings

SANDBOX_COOKIE = "den_sandbox"
#: Cookie names that are the den's: never forwarded to a workload, never set by one.
DEN_COOKIES = frozenset({"den_session", "den_sign_in", SANDBOX_COOKIE})
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailers", "transfer-encoding", "upgrade"})
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "authorization", "cookie",
                              "x-den-token", "x-forwarded-host", "x-forwarded-proto",
                              "x-forwarded-prefix", "forwarded"}
GUARD = [("content-security-policy", "frame-ancestors 'none'"), ("x-frame-options", "DENY")]
OWN_PAGE_HEADERS = {"cache-control": "no-store", "referrer-policy": "no-referrer",
                    "x-content-type-options": "nosniff", "x-frame-options": "DENY",
                    "content-security-policy": "default-src 'none'; frame-ancestors 'none'; "
                                               "base-uri 'none'; form-action 'none'"}
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def is_den_cookie(name: str) -> bool:
    bare = name.strip().lower()
    return bare.removeprefix("__host-").removeprefix("__secure-") in DEN_COOKIES


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
    return Starlette(routes=[
        Route(ENTER_PATH, origin.enter, methods=["GET"]),
        Route(RESERVED_PREFIX + "{rest:path}", origin.reserved, methods=METHODS),
        Route("/{path:path}", origin.forward, methods=METHODS),
    ], middleware=[Middleware(BodyLimit, max_bytes=settings.max_request_bytes)])


class _Origin:
    def __init__(self, *, den: State, settings: Settings) -> None:
        self.den, self.settings = den, settings

    async def enter(self, request: Request) -> Response:
        target = self._target(request)
        if target is None:
            return _no_sandbox()
        now = datetime.now(UTC)
        opened = await run_in_threadpool(self._consume, request.query_params.get("grant", ""),
                                         target, now)
        next_path = sandbox_path(request.query_params.get("next", "/"))
        if opened is None and await run_in_threadpool(self._admit, request, target,
                                                      None) is not None:
            # A used grant again (the Back button) from a browser already let in: go on.
            return RedirectResponse(next_path, status_code=303, headers=OWN_PAGE_HEADERS)
        if opened is None:
            return _own_page(403, "This link to the sandbox has expired",
                             "A link into a sandbox works once, within a minute.",
                             link=(self._den_open(request, target, "/"), "Open the sandbox again"))
        token, seconds = opened
        response = RedirectResponse(next_path, status_code=303, headers=OWN_PAGE_HEADERS)
        response.set_cookie(sandbox_cookie_name(self.settings), token, max_age=seconds,
                            path="/", secure=self.settings.session_cookie_secure,
                            httponly=True, samesite="lax")
        return response

    async def reserved(self, request: Request) -> Response:
        del request
        return _error(404, "NotFound", "paths under /_den/ belong to the den")

    async def forward(self, request: Request) -> Response:
        target = self._target(request)
        if target is None:
            return _no_sandbox()
        token = request.headers.get("x-den-token")
        try:
            upstream = await run_in_threadpool(self._admit, request, target, token)
        except Unauthenticated as exc:
            return _error(401, exc.reason, exc.detail)
        if upstream is None and token is not None:
            return _error(404, "NotFound", "no running sandbox here that this token's person "
                          "may open")
        if upstream is None:
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(self._den_open(request, target, path), status_code=303,
                                    headers=OWN_PAGE_HEADERS)
        return await _proxy(request, self.den.proxy_client, upstream)

    def _target(self, request: Request) -> tuple[str, str] | None:
        return parse_host(request.headers.get("host", ""), self.settings.sandbox_domain)

    def _consume(self, grant: str, target: tuple[str, str], now: datetime
                 ) -> tuple[str, int] | None:
        with Session(self.den.engine, expire_on_commit=False) as session:
            opened = crud.consume_grant(session, secret=grant, trial_id=target[0],
                                        component=target[1], now=now,
                                        longest=timedelta(seconds=self.settings.session_max_age))
            session.commit()
        if opened is None:
            return None
        token, row = opened
        return token, max(1, int((row.expires_at - now).total_seconds()))

    def _admit(self, request: Request, target: tuple[str, str], token: str | None
               ) -> str | None:
        now = datetime.now(UTC)
        with Session(self.den.engine) as session:
            if token is not None:
                return crud.upstream_for_token(session, token=token, trial_id=target[0],
                                               component=target[1], now=now)
            return crud.upstream_for_cookie(session, tokens=_cookie_values(
                request, sandbox_cookie_name(self.settings)), trial_id=target[0],
                component=target[1], now=now)

    def _den_open(self, request: Request, target: tuple[str, str], next_path: str) -> str:
        """The den's open page for this sandbox. Without DEN_PUBLIC_URL the den's own host is
        not known here, so `localhost` on this origin's scheme and port is assumed."""
        base = self.settings.public_url.rstrip("/")
        if not base:
            port = request.url.port
            base = f"{request.url.scheme}://localhost" + (f":{port}" if port else "")
        return (f"{base}/trials/{target[0]}/open/{target[1]}"
                f"?next={quote(sandbox_path(next_path))}")


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


def _forwarded_headers(request: Request) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in NOT_FORWARDED]
    cookies = [part.strip() for header in request.headers.getlist("cookie")
               for part in header.split(";")
               if part.strip() and not is_den_cookie(part.strip().partition("=")[0])]
    if cookies:
        headers.append(("cookie", "; ".join(cookies)))
    headers += [("x-forwarded-host", host_name(request.headers.get("host", ""))),
                ("x-forwarded-proto", request.url.scheme)]
    return headers


def _workload_cookie(value: str) -> str | None:
    """A workload's Set-Cookie as it may pass: never a den cookie name, and host-only."""
    name, _, _ = value.partition("=")
    if is_den_cookie(name):
        return None
    parts = [p for p in value.split(";") if not p.strip().lower().startswith("domain=")]
    return ";".join(parts)


async def _proxy(request: Request, client: httpx.AsyncClient, upstream: str) -> Response:
    query = request.scope.get("query_string", b"").decode("latin-1")
    path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
    outgoing = client.build_request(request.method, upstream + path + (f"?{query}" if query else ""),
                                    headers=_forwarded_headers(request),
                                    content=await request.body())
    try:
        answer = await client.send(outgoing, stream=True)
    except httpx.HTTPError as exc:
        return _error(502, "RuntimeUnavailable", "the sandbox did not answer: "
                      f"{type(exc).__name__}")
    kept: list[tuple[str, str]] = []
    for name, value in answer.headers.multi_items():
        lower = name.lower()
        if lower in HOP_BY_HOP or lower == "content-length":
            continue
        cookie = _workload_cookie(value) if lower == "set-cookie" else value
        if cookie is not None:
            kept.append((lower, cookie))
    kept += [h for h in GUARD if h[0] == "content-security-policy"
             or all(k != h[0] for k, _ in kept)]
    response = StreamingResponse(_body(answer), status_code=answer.status_code)
    response.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in kept]
    return response


async def _body(answer: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in answer.aiter_raw():
            yield chunk
    finally:
        await answer.aclose()


def _error(status: int, reason: str, detail: str) -> Response:
    """The den's own errors on a sandbox origin, shaped as the API's."""
    return JSONResponse({"reason": reason, "detail": detail}, status_code=status,
                        headers=OWN_PAGE_HEADERS)


def _no_sandbox() -> Response:
    return _error(404, "NotFound", "this address is not a sandbox")


def _own_page(status: int, title: str, text: str, *, link: tuple[str, str] | None = None
              ) -> Response:
    """The den's few words on a sandbox origin (no script, no style, nothing of the den's)."""
    more = f'<p><a href="{escape(link[0])}">{escape(link[1])}</a></p>' if link else ""
    body = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
            f"{escape(title)}</title></head><body><h1>{escape(title)}</h1><p>{escape(text)}</p>"
            f"{more}</body></html>")
    return Response(body, status_code=status, media_type="text/html; charset=utf-8",
                    headers=OWN_PAGE_HEADERS)
