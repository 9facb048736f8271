"""Forwarding one admitted request to a sandbox's workload, so that no sandbox, however slow
or flooded, starves the others or the den.

- **Per-trial gates** (`TrialGates`): a trial's sandboxes (all its components together) have at
  most DEN_SANDBOX_MAX_CONCURRENT_REQUESTS requests in flight through the den, from the moment
  the request is sent until the last byte of the answer has been relayed. As many more may
  wait DEN_SANDBOX_QUEUE_WAIT seconds for a place; the rest, and those whose wait runs out, get
  503 `SandboxBusy` with `Retry-After`. Only admitted requests count (api/sandbox_origin.py
  checks the visitor first), so strangers cannot fill a trial's places.
- **Timeouts**: the workload has DEN_SANDBOX_REQUEST_TIMEOUT seconds to connect, take the
  request and start answering (else 504 `SandboxTimeout`), and may not fall silent for longer
  than that while its body streams (then the connection is cut, so the visitor sees a broken
  answer rather than a short one that looks whole).
- **One connection pool, no shared ceiling**: the HTTP client has no overall connection limit
  to exhaust, and each trial holds at most its gate's number of connections; it never reads
  proxy settings from the environment.
- **Streaming**: answers are relayed chunk by chunk, never read whole; the request body is
  already capped by DEN_MAX_REQUEST_BYTES.
- The answer's headers and its `Location` go through api/sandbox_headers.py; a redirect off
  the sandbox's own origin is refused with 502 `SandboxRedirectRefused`.

The den's refusals here are answered directly (status, reason, detail), as the rest of the
sandbox origin's own answers are: they are not `DenError`s of the core, and no API route
documents them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial

import anyio
import httpx
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from api import sandbox_headers as policy
from orchestrator.settings import Settings

log = structlog.get_logger("sandbox")
CONNECT_TIMEOUT = 5.0
LOCATION = "den_location"  # where `_take_location` keeps the workload's Location
KEEP_ALIVE = 100  # idle connections kept, over all trials (idle ones never block a request)


def den_error(status: int, reason: str, detail: str, *, headers: dict[str, str] | None = None) -> Response:
    """The den's own errors on a sandbox origin, shaped as the API's."""
    return JSONResponse(
        {"reason": reason, "detail": detail},
        status_code=status,
        headers={**policy.OWN_PAGE_HEADERS, **(headers or {})},
    )


@dataclass
class _Gate:
    places: anyio.Semaphore
    users: int = 0  # in flight or waiting


@dataclass
class TrialGates:
    """At most `limit` requests in flight per trial, `limit` more waiting up to `wait`
    seconds. A trial's gate exists only while it is in use."""

    limit: int
    wait: float
    _gates: dict[str, _Gate] = field(default_factory=dict)

    async def enter(self, trial_id: str) -> bool:
        gate = self._gates.get(trial_id)
        if gate is None:
            gate = self._gates[trial_id] = _Gate(anyio.Semaphore(self.limit))
        if gate.users >= 2 * self.limit:
            return False
        gate.users += 1
        try:
            gate.places.acquire_nowait()
            return True
        except anyio.WouldBlock:
            pass
        entered = False
        try:
            with anyio.move_on_after(self.wait):
                await gate.places.acquire()
                entered = True
        finally:
            if not entered:
                self._leave(trial_id, gate)
        return entered

    def leave(self, trial_id: str) -> None:
        gate = self._gates[trial_id]
        gate.places.release()
        self._leave(trial_id, gate)

    def in_use(self, trial_id: str) -> int:
        gate = self._gates.get(trial_id)
        return gate.users if gate is not None else 0

    def _leave(self, trial_id: str, gate: _Gate) -> None:
        gate.users -= 1
        if gate.users == 0:
            del self._gates[trial_id]


class _Refused(Exception):
    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.answer = den_error(status, reason, detail)


class SandboxProxy:
    """The den's one client to the workloads, and the trials' gates; made when the den
    starts (api/main.py), closed when it stops."""

    def __init__(self, settings: Settings) -> None:
        self.timeout = settings.sandbox_request_timeout
        self.gates = TrialGates(
            limit=settings.sandbox_max_concurrent_requests, wait=settings.sandbox_queue_wait
        )
        self.client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT)),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=KEEP_ALIVE),
            event_hooks={"response": [_take_location]},
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def forward(self, request: Request, *, trial_id: str, upstream: str) -> Response:
        """`request` (already admitted) relayed to the component at `upstream`."""
        content = await request.body()
        if not await self.gates.enter(trial_id):
            log.warning("sandbox_busy", trial_id=trial_id, limit=self.gates.limit)
            return den_error(
                503,
                "SandboxBusy",
                "this sandbox has too many requests in flight; try again shortly",
                headers={"retry-after": "1"},
            )
        handed_on = False
        try:
            answer = await self._send(request, upstream=upstream, content=content)
            headers = self._headers(request, answer, trial_id=trial_id, upstream=upstream)
            if headers is None:
                await answer.aclose()
                return den_error(
                    502,
                    "SandboxRedirectRefused",
                    "the sandbox tried to send "
                    "you to another address; the den follows a sandbox's "
                    "redirects only within its own origin",
                )
            handed_on = True
            return _Relayed(
                answer, headers=headers, trial_id=trial_id, done=partial(self.gates.leave, trial_id)
            )
        except _Refused as refused:
            return refused.answer
        finally:
            if not handed_on:
                self.gates.leave(trial_id)

    async def _send(self, request: Request, *, upstream: str, content: bytes) -> httpx.Response:
        query = request.scope.get("query_string", b"").decode("latin-1")
        path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
        outgoing = self.client.build_request(
            request.method,
            upstream + path + (f"?{query}" if query else ""),
            content=content,
            headers=policy.request_headers(
                request.headers.items(), host=request.headers.get("host", ""), scheme=request.url.scheme
            ),
        )
        try:
            with anyio.fail_after(self.timeout):
                return await self.client.send(outgoing, stream=True)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise _Refused(
                504, "SandboxTimeout", f"the sandbox did not answer within {self.timeout:g} seconds"
            ) from exc
        except httpx.HTTPError as exc:
            raise _Refused(
                502, "RuntimeUnavailable", f"the sandbox did not answer: {type(exc).__name__}"
            ) from exc

    def _headers(
        self, request: Request, answer: httpx.Response, *, trial_id: str, upstream: str
    ) -> policy.Headers | None:
        """The answer's headers that pass, or None for a redirect off the sandbox's origin
        (an off-origin `Location` on any other answer is only dropped)."""
        # Byte for byte as the workload sent them (httpx's own decoding may not round-trip).
        received = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.headers.raw]
        raw: str | None = answer.extensions.get(LOCATION)
        location = (
            None
            if raw is None
            else policy.checked_location(
                raw,
                own_host=request.headers.get("host", ""),
                own_scheme=request.url.scheme,
                upstream=upstream,
            )
        )
        if raw is not None and location is None:
            log.warning(
                "sandbox_location_refused", trial_id=trial_id, status=answer.status_code, location=raw[:200]
            )
            if 300 <= answer.status_code < 400:
                return None
        return policy.response_headers(received, location=location)


async def _take_location(answer: httpx.Response) -> None:
    """Take the workload's `Location` out of httpx's sight (it would parse a redirect's, to
    offer a next request, and fail on a hostile one); `_headers` checks it instead."""
    found = [v for k, v in answer.headers.raw if k.lower() == b"location"]
    if found:
        answer.extensions[LOCATION] = found[0].decode("latin-1")
        del answer.headers["location"]


class _Relayed(StreamingResponse):
    """The workload's answer, relayed as it arrives; its place at the gate is given back and
    its connection closed however the relay ends (done, the visitor gone, an error)."""

    def __init__(
        self, answer: httpx.Response, *, headers: policy.Headers, done: Callable[[], None], trial_id: str
    ) -> None:
        super().__init__(_chunks(answer, trial_id), status_code=answer.status_code)
        self.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        self.answer, self.done = answer, done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.done()
            with anyio.CancelScope(shield=True):
                await self.answer.aclose()


async def _chunks(answer: httpx.Response, trial_id: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in answer.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        log.warning("sandbox_body_cut", trial_id=trial_id, error=type(exc).__name__)
        raise
