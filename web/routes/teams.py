"""A team trial's forms on its page: the owner adds and removes members, an assessor records
their own scores. Each calls the core function its REST twin calls: `crud.add_member`
(`POST /api/v1/trials/{id}/members`), `crud.remove_member` (`DELETE .../members/{user}`),
`crud.put_assessment` (`PUT .../assessments/me`). The members and the scores, with their mean
and spread, are on the trial's page (`trials.team_data`) and its JSON twin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from orchestrator import crud, evaluation
from web.deps import Now, Sandboxes, SessionDep, SettingsDep, SignedIn
from web.forms import CheckedForm, FormPage, text
from web.routes.trials import TrialId, _trial_form, _written

router = APIRouter()
UserName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._@-]{0,99}$")]
#: Where each problem of the assessment form points: a dimension's score or its evidence.
SCORE_FIELDS = {
    **{f"scores.{d}": f"score-{d}" for d in evaluation.DIMENSIONS},
    **{f"scores.{d}.score": f"score-{d}" for d in evaluation.DIMENSIONS},
    **{f"scores.{d}.evidence": f"evidence-{d}" for d in evaluation.DIMENSIONS},
}


@router.post("/trials/{trial_id}/members")
def add_member(
    request: Request,
    trial_id: TrialId,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    sandboxes: Sandboxes,
) -> Response:
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    shown = _trial_form(session, visitor, trial, settings, now, sandboxes)
    values = {"member-user": text(form, "member-user"), "member-role": text(form, "member-role")}

    def write() -> str:
        crud.add_member(
            session,
            actor=visitor.actor,
            trial=trial,
            name=values["member-user"].lower(),
            role=values["member-role"],
            settings=settings,
            now=now,
        )
        return "member-added"

    fields = {"(form)": "member-user", "user": "member-user", "role": "member-role"}
    return _written(
        request, session, trial, write=write, shown=FormPage(shown.template, shown.data, values, fields)
    )


@router.post("/trials/{trial_id}/members/{user}/remove")
def remove_member(
    request: Request,
    trial_id: TrialId,
    user: UserName,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    sandboxes: Sandboxes,
) -> Response:
    del form  # checked: it carries only its CSRF token
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    shown = _trial_form(session, visitor, trial, settings, now, sandboxes)

    def write() -> str:
        crud.remove_member(session, actor=visitor.actor, trial=trial, name=user, settings=settings, now=now)
        return "member-removed"

    return _written(request, session, trial, write=write, shown=shown)


@router.post("/trials/{trial_id}/assessment")
def assess(
    request: Request,
    trial_id: TrialId,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    sandboxes: Sandboxes,
) -> Response:
    trial = crud.get_trial(session, user=visitor.actor.user, trial_id=trial_id)
    shown = _trial_form(session, visitor, trial, settings, now, sandboxes)
    values = {name: text(form, name) for name in SCORE_FIELDS.values()}

    def write() -> str:
        scores = {
            d: {"score": _score(values[f"score-{d}"]), "evidence": values[f"evidence-{d}"]}
            for d in evaluation.DIMENSIONS
        }
        crud.put_assessment(session, actor=visitor.actor, trial=trial, scores=scores, now=now)
        return "assessed"

    fields = {"(form)": f"score-{evaluation.DIMENSIONS[0]}", **SCORE_FIELDS}
    return _written(
        request, session, trial, write=write, shown=FormPage(shown.template, shown.data, values, fields)
    )


def _score(chosen: str) -> int | None:
    """The score chosen (1-5), or None for none: the core names what is missing."""
    return int(chosen) if chosen in {"1", "2", "3", "4", "5"} else None
