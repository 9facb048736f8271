"""The sandbox proxy: a trial's endpoints are reached through the orchestrator's URL.

`/sandboxes/{trial_id}/{component}/...` forwards to the component's address inside the
runtime (a container address on the trial's own network, never published beyond this host).
Sandboxed pages are served with `Content-Security-Policy: sandbox ...`, so a supplier's page
runs in an opaque origin and cannot act as the orchestrator's own pages or read their cookies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlmodel import Session

from api.deps import SessionDep
from orchestrator.errors import NotFound, RuntimeUnavailable
from orchestrator.lifecycle import Phase
from orchestrator.models import Trial

router = APIRouter(prefix="/sandboxes", tags=["sandboxes"], include_in_schema=False)
SANDBOX_CSP = "sandbox allow-scripts allow-forms allow-popups allow-downloads; frame-ancestors 'none'"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "host", "content-length",
              "authorization", "cookie"}
TrialId = Annotated[str, Path(pattern=r"^[a-z0-9]{1,20}$")]
ComponentName = Annotated[str, Path(pattern=r"^[a-z0-9-]{1,60}$")]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def upstream(session: Session, trial_id: str, component: str) -> str:
    trial = session.get(Trial, trial_id)
    if trial is None or trial.phase != Phase.READY or component not in trial.endpoints:
        raise NotFound(f"no running sandbox endpoint {trial_id}/{component}")
    return trial.endpoints[component].rstrip("/")


@router.api_route("/{trial_id}/{component}", methods=METHODS)
def add_slash(trial_id: TrialId, component: ComponentName) -> RedirectResponse:
    """Pages use relative links, so the component's root needs its trailing slash."""
    return RedirectResponse(f"/sandboxes/{trial_id}/{component}/", status_code=307)


@router.api_route("/{trial_id}/{component}/{path:path}", methods=METHODS)
async def proxy(
    request: Request, trial_id: TrialId, component: ComponentName, path: str,
    session: SessionDep,
) -> Response:
    target = f"{upstream(session, trial_id, component)}/{path}"
    client: httpx.AsyncClient = request.app.state.proxy_client
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    headers["x-forwarded-prefix"] = f"/sandboxes/{trial_id}/{component}"
    outgoing = client.build_request(request.method, target, params=request.query_params,
                                    headers=headers, content=await request.body())
    try:
        answer = await client.send(outgoing, stream=True)
    except httpx.HTTPError as exc:
        raise RuntimeUnavailable(f"the sandbox did not answer: {type(exc).__name__}") from exc
    kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP
            and k.lower() not in ("content-security-policy", "set-cookie")}
    kept["content-security-policy"] = SANDBOX_CSP
    return StreamingResponse(_body(answer), status_code=answer.status_code, headers=kept)


async def _body(answer: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in answer.aiter_raw():
            yield chunk
    finally:
        await answer.aclose()
