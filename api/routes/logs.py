"""A trial component's logs, streamed as text from whichever runtime runs it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api import errors
from api.deps import ActorDep, SessionDep, StrictQuery, TrialId, driver_for
from orchestrator import crud, rules
from orchestrator.access import check_may_read_logs
from orchestrator.errors import DenError

router = APIRouter(
    prefix="/api/v1/trials", tags=["trials"], responses=errors.RESPONSES, dependencies=[StrictQuery]
)
Component = Annotated[str, Path(pattern=r"^[a-z0-9-]{1,60}$")]


@router.get(
    "/{trial_id}/logs/{component}",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Log lines, oldest first",
        }
    },
)
async def logs(
    trial_id: TrialId,
    component: Component,
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    follow: Annotated[bool, Query(description="Keep streaming new lines.")] = False,
    tail: Annotated[int, Query(ge=0, le=10000, description="Lines from the end.")] = 200,
) -> StreamingResponse:
    """The component's stdout and stderr. Not for suppliers (the logs record what a civil
    servant did in the sandbox)."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    check_may_read_logs(actor.user)
    rules.check_logs(trial, component=component, manifest=crud.trial_manifest(session, trial))
    driver = driver_for(request)
    lines = await run_in_threadpool(driver.logs, trial.id, component, follow=follow, tail=tail)
    return StreamingResponse(_text(lines), media_type="text/plain; charset=utf-8")


def _text(lines: Iterator[str]) -> Iterator[bytes]:
    """Lines as they come; a runtime error once streaming has begun ends the text with it,
    since the status line has already been sent."""
    try:
        for line in lines:
            yield (line + "\n").encode()
    except DenError as exc:
        yield f"error: {exc.reason}: {exc.detail}\n".encode()
