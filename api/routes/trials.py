"""Trials: ask for one, list and watch them, read one, extend it, end it, read its timeline."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from api import conditional, errors, lists, presenters, schemas, watch
from api.deps import (
    ActorDep,
    Now,
    RateCardDep,
    Sandboxes,
    Selectors,
    SessionDep,
    SettingsDep,
    StrictQuery,
    TrialId,
    run_read,
)
from orchestrator import crud
from orchestrator.crud import listing, paging
from orchestrator.errors import Problem, ValidationFailed
from orchestrator.models import Trial
from orchestrator.sandbox_hosts import SandboxAddress
from orchestrator.settings import RateCard

router = APIRouter(
    prefix="/api/v1/trials", tags=["trials"], responses=errors.RESPONSES, dependencies=[StrictQuery]
)
#: Page sizes when the caller sends no `limit`: what a list held before it had pages.
TRIALS_PAGE = 500
EVENTS_PAGE = 1000


def committed(
    session: Session,
    trial: Trial,
    *,
    now: datetime,
    sandboxes: SandboxAddress,
    rate_card: RateCard | None = None,
) -> schemas.TrialPublic:
    """After a write of intent on `trial`: commit it (the commit wakes the reconciler:
    `crud.on_intent_change`), and answer the trial as it now is."""
    session.commit()
    return presenters.trial_of(session, trial, now=now, sandboxes=sandboxes, rate_card=rate_card)


@router.post("", status_code=201)
def create_trial(
    body: schemas.TrialCreate,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    now: Now,
    sandboxes: Sandboxes,
) -> schemas.TrialPublic:
    """Ask for a sandbox from a template. The reconciler starts it; watch `phase`. A request
    longer than the self-service limit starts in `PendingApproval` until an approver decides.
    With a rate card (`DEN_RATE_CARD`), `cost.forecast` is the most it can cost."""
    trial = crud.create_trial(
        session,
        actor=actor,
        settings=settings,
        now=now,
        request=crud.TrialRequest(
            template=body.template,
            title=body.title,
            hypothesis=body.hypothesis,
            duration_seconds=body.duration_seconds,
            problem_statement=body.problem_statement,
            success_criteria=tuple(body.success_criteria),
            parameters=body.parameters,
            shared_with_department=body.shared_with_department,
            justification=body.justification,
        ),
        name=body.name,
    )
    return committed(session, trial, now=now, sandboxes=sandboxes, rate_card=settings.rate_card)


@router.get(
    "",
    response_model=schemas.TrialList,
    responses={
        200: {
            "content": {
                "application/x-ndjson": {
                    "schema": {"type": "string"},
                    "example": '{"type": "MODIFIED", "object": {"id": "t1a2b3c4d5e6"}}',
                },
            }
        },
        **conditional.RESPONSES,
    },
)
async def list_trials(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    now: Now,
    sandboxes: Sandboxes,
    selectors: Selectors,
    settings: SettingsDep,
    watch_: Annotated[
        bool,
        Query(
            alias="watch",
            description="Stream changes as JSON lines "
            '(`{"type": "ADDED"|"MODIFIED", "object": trial}`), '
            "starting with every matching trial.",
        ),
    ] = False,
    timeout_seconds: Annotated[
        int, Query(ge=0, le=3600, description="How long a watch lasts (0: send the current state, then end).")
    ] = 1800,
    name: Annotated[
        str | None,
        Query(min_length=1, max_length=63, description="Only the trial(s) with this owner-chosen name."),
    ] = None,
    limit: lists.Limit = None,
    continue_: lists.Continue = None,
) -> Response:
    """Trials the caller may see, newest first, filtered by the selectors, a page at a time
    (`limit`, default 500; `continue`); or a watch, which takes neither. A list answers
    with an `ETag`: sent back as `If-None-Match`, an unchanged page is 304."""
    if name is not None:
        selectors = replace(selectors, name=name)
    if watch_:
        _no_pages_in_a_watch(limit=limit, continue_=continue_)
        stream = watch.trials(
            request.app.state.engine,
            watch.WatchSpec(
                user=actor.user,
                selectors=selectors,
                sandboxes=sandboxes,
                interval=settings.watch_poll_interval,
                timeout=timeout_seconds,
                rate_card=settings.rate_card,
            ),
        )
        return StreamingResponse(stream, media_type="application/x-ndjson")
    asked = paging.ask(
        "trials",
        limit=limit or TRIALS_PAGE,
        token=continue_,
        selectors=asdict(selectors),
        key=listing.TRIAL_KEY,
    )

    def read() -> schemas.TrialList:
        found = listing.trials_page(session, user=actor.user, selectors=selectors, asked=asked)
        shown = presenters.trials(
            session, found.rows, now=now, sandboxes=sandboxes, rate_card=settings.rate_card
        )
        return schemas.TrialList(items=shown.items, metadata=lists.meta(found))

    return conditional.respond(request, await run_read(request, session, read))


def _no_pages_in_a_watch(*, limit: int | None, continue_: str | None) -> None:
    """A watch starts with every matching trial and then streams changes: it has no pages."""
    problems = [
        Problem(field, "a watch has no pages", f"leave {field} out, or list without watch")
        for field, given in (("limit", limit), ("continue", continue_))
        if given is not None
    ]
    if problems:
        raise ValidationFailed(problems)


@router.get("/{trial_id}", response_model=schemas.TrialPublic, responses=conditional.RESPONSES)
async def get_trial(
    request: Request,
    trial_id: TrialId,
    session: SessionDep,
    actor: ActorDep,
    now: Now,
    sandboxes: Sandboxes,
    rate_card: RateCardDep,
) -> Response:
    """One trial, with an `ETag`: sent back as `If-None-Match`, an unchanged trial is 304
    with no body (the tag ignores `time_left_seconds`, which counts down on its own). Its
    resource use so far is in `usage`, and with a rate card its cost in `cost`."""

    def read() -> schemas.TrialPublic:
        trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
        return presenters.trial_of(session, trial, now=now, sandboxes=sandboxes, rate_card=rate_card)

    return conditional.respond(request, await run_read(request, session, read))


@router.post(
    "/{trial_id}/extend",
    responses={202: {"model": schemas.TrialPublic, "description": "Waits for an approver"}},
)
def extend_trial(
    trial_id: TrialId,
    body: schemas.ExtendRequest,
    response: Response,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    now: Now,
    sandboxes: Sandboxes,
) -> schemas.TrialPublic:
    """Add time: 200 with the new `expires_at`; 202 when the whole trial would pass the
    self-service limit, so the extension waits for an approver (`pending_extension_seconds`);
    409 or 422 with the rule that forbids it in `reason`."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    applied = crud.request_extension(
        session,
        actor=actor,
        trial=trial,
        settings=settings,
        seconds=body.duration_seconds,
        justification=body.justification,
        now=now,
    )
    if not applied:
        response.status_code = 202
    return committed(session, trial, now=now, sandboxes=sandboxes, rate_card=settings.rate_card)


@router.post("/{trial_id}/end", status_code=202)
def end_trial(
    trial_id: TrialId,
    session: SessionDep,
    actor: ActorDep,
    now: Now,
    sandboxes: Sandboxes,
    rate_card: RateCardDep,
) -> schemas.TrialPublic:
    """Ask for the sandbox to be torn down now (the reconciler does it); a request still
    waiting for approval is withdrawn."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    crud.request_end(session, actor=actor, trial=trial, now=now)
    return committed(session, trial, now=now, sandboxes=sandboxes, rate_card=rate_card)


@router.get("/{trial_id}/events")
def trial_events(
    trial_id: TrialId,
    session: SessionDep,
    actor: ActorDep,
    limit: lists.Limit = None,
    continue_: lists.Continue = None,
) -> schemas.TrialEventList:
    """The trial's timeline, oldest first, a page at a time (`limit`, default 1000; `continue`)."""
    crud.get_trial(session, user=actor.user, trial_id=trial_id)
    asked = paging.ask(
        "events",
        limit=limit or EVENTS_PAGE,
        token=continue_,
        selectors={"trial": trial_id},
        key=listing.ID_KEY,
    )
    found = listing.events_page(session, trial_id=trial_id, asked=asked)
    return schemas.TrialEventList(items=presenters.events(found.rows).items, metadata=lists.meta(found))
