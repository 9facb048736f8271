"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from orchestrator import db

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """200 while the process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready"}})
def readyz(request: Request) -> JSONResponse:
    """200 when the database answers (the runtime may be down: the API still serves)."""
    problem = db.problem(request.app.state.engine)
    if problem is not None:
        return JSONResponse({"reason": "DatabaseUnavailable", "detail": problem[:200]}, 503)
    return JSONResponse({"status": "ready"})
