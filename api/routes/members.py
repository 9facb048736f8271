"""Team trials: the owner adds civil servants to a trial as collaborators or assessors, and
each assessor records scores of their own beside the owner's moderated evaluation
(`PUT /api/v1/trials/{id}/evaluation`). The rules are crud.members's and access's."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api import errors, schemas
from api.deps import ActorDep, Now, SessionDep, SettingsDep, StrictQuery, TrialId
from orchestrator import crud, evaluation
from orchestrator.crud.members import Assessment, Member
from orchestrator.models import Trial

router = APIRouter(
    prefix="/api/v1/trials", tags=["members"], responses=errors.RESPONSES, dependencies=[StrictQuery]
)
UserName = schemas.Name


@router.get("/{trial_id}/members")
def list_members(trial_id: TrialId, session: SessionDep, actor: ActorDep) -> schemas.MemberList:
    """The trial's members, as they were added: for its owner, its members, approvers and
    platform engineers."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    found = crud.list_members(session, actor=actor, trial=trial)
    return _member_list(session, trial, found)


@router.post("/{trial_id}/members", status_code=201)
def add_member(
    trial_id: TrialId,
    body: schemas.MemberAdd,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    now: Now,
) -> schemas.MemberPublic:
    """Add a civil servant (of any department) as a collaborator or an assessor: the owner or a
    platform engineer only. 404 for nobody of that name, 422 for someone who is not a civil
    servant (or is the owner), 409 for a member already."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    added = crud.add_member(
        session, actor=actor, trial=trial, name=body.user, role=body.role, settings=settings, now=now
    )
    session.commit()
    return _member(added)


@router.delete("/{trial_id}/members/{user}", status_code=204)
def remove_member(
    trial_id: TrialId, user: UserName, session: SessionDep, actor: ActorDep, settings: SettingsDep, now: Now
) -> Response:
    """Take a member off the trial: at once they no longer see it nor open its sandbox."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    crud.remove_member(session, actor=actor, trial=trial, name=user, settings=settings, now=now)
    session.commit()
    return Response(status_code=204)


@router.put("/{trial_id}/assessments/me")
def put_assessment(
    trial_id: TrialId, body: schemas.AssessmentPut, session: SessionDep, actor: ActorDep, now: Now
) -> schemas.AssessmentPublic:
    """Record (or replace) your own scores of the eight dimensions, 1-5 with evidence each: an
    assessor of the trial, or its owner. 422 names each score still missing."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    scores = {d: s.model_dump() for d, s in body.scores if s is not None}
    recorded = crud.put_assessment(session, actor=actor, trial=trial, scores=scores, now=now)
    session.commit()
    return _assessment(recorded)


@router.get("/{trial_id}/assessments")
def list_assessments(trial_id: TrialId, session: SessionDep, actor: ActorDep) -> schemas.AssessmentList:
    """Each assessor's scores and, per dimension, their mean and spread (the highest score
    less the lowest), for the owner to moderate into the trial's evaluation."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    found = crud.list_assessments(session, actor=actor, trial=trial)
    together = evaluation.agreement([a.scores for a in found])
    return schemas.AssessmentList(
        items=[_assessment(a) for a in found],
        assessor_count=len(found),
        dimensions={
            d: schemas.DimensionAgreement(scores=list(a.scores), mean=a.mean, spread=a.spread)
            for d, a in together.items()
        },
    )


def _member_list(session: SessionDep, trial: Trial, found: list[Member]) -> schemas.MemberList:
    owner = crud.owner_names(session, [trial]).get(trial.owner_id, "")
    return schemas.MemberList(owner=owner, items=[_member(m) for m in found])


def _member(member: Member) -> schemas.MemberPublic:
    return schemas.MemberPublic(
        user=member.user.name,
        display_name=member.user.display_name,
        department=member.user.department,
        role=member.role,
        added_by=member.added_by,
        added_at=member.added_at,
    )


def _assessment(found: Assessment) -> schemas.AssessmentPublic:
    return schemas.AssessmentPublic(
        assessor=found.assessor,
        scores={d: schemas.Score.model_validate(s) for d, s in found.scores.items()},
        recorded_at=found.recorded_at,
    )
