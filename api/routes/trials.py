"""Trials: ask for one, watch it, end it, read its timeline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api import presenters, schemas
from api.deps import ActorDep, BaseUrl, Now, SessionDep, SettingsDep, wake_reconciler
from orchestrator import crud

router = APIRouter(prefix="/api/v1/trials", tags=["trials"])
_errors: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.ErrorBody} for code in (401, 403, 404, 409, 422)
}


@router.post("", status_code=201, responses=_errors)
def create_trial(
    body: schemas.TrialCreate, request: Request, session: SessionDep, actor: ActorDep,
    settings: SettingsDep, now: Now, base_url: BaseUrl,
) -> schemas.TrialPublic:
    """Ask for a sandbox from a template. The reconciler starts it; watch `phase`."""
    trial = crud.create_trial(
        session, actor=actor, settings=settings, now=now,
        request=crud.TrialRequest(
            template=body.template, title=body.title, hypothesis=body.hypothesis,
            duration_seconds=body.duration_seconds, problem_statement=body.problem_statement,
            success_criteria=tuple(body.success_criteria), parameters=body.parameters,
        ),
    )
    session.commit()
    wake_reconciler(request)
    return presenters.trial(trial, owner=actor.name, now=now, base_url=base_url)


@router.get("", responses=_errors)
def list_trials(session: SessionDep, actor: ActorDep, now: Now, base_url: BaseUrl) -> schemas.TrialList:
    """Trials the caller may see, newest first."""
    rows = list(crud.list_trials(session, user=actor.user))
    return presenters.trials(session, rows, now=now, base_url=base_url)


@router.get("/{trial_id}", responses=_errors)
def get_trial(
    trial_id: str, session: SessionDep, actor: ActorDep, now: Now, base_url: BaseUrl
) -> schemas.TrialPublic:
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    return presenters.trials(session, [trial], now=now, base_url=base_url).items[0]


@router.post("/{trial_id}/end", status_code=202, responses=_errors)
def end_trial(
    trial_id: str, request: Request, session: SessionDep, actor: ActorDep, now: Now,
    base_url: BaseUrl,
) -> schemas.TrialPublic:
    """Ask for the sandbox to be torn down now (the reconciler does it)."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    crud.request_end(session, actor=actor, trial=trial, now=now)
    session.commit()
    wake_reconciler(request)
    return presenters.trials(session, [trial], now=now, base_url=base_url).items[0]


@router.get("/{trial_id}/events", responses=_errors)
def trial_events(trial_id: str, session: SessionDep, actor: ActorDep) -> schemas.TrialEventList:
    """The trial's timeline, oldest first."""
    crud.get_trial(session, user=actor.user, trial_id=trial_id)
    return schemas.TrialEventList(
        items=[presenters.event(e) for e in crud.trial_events(session, trial_id=trial_id)])
