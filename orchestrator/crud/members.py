"""Team trials: the civil servants an owner adds to a trial (collaborators and assessors), and
each assessor's own scores beside the owner's moderated evaluation.

A member sees the trial as its owner does (`visible_trials_query`) and opens its sandbox;
what else each role may do is `orchestrator.access`'s (`MemberRole`). Every change of
membership is audited and written on the trial's timeline. A trial counts once against its
owner's and department's caps whoever is on it: the caps count trials (crud.trials.usage),
never members. `trial_people` is who a trial concerns: its owner, then its members.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from orchestrator import evaluation, rules
from orchestrator.access import (
    MEMBER_ROLES,
    Role,
    check_may_assess,
    check_may_manage_members,
    check_may_see_team,
)
from orchestrator.crud.common import Actor, audit, pk, trial_event
from orchestrator.crud.locks import lock_trial
from orchestrator.crud.notifications import notify_membership_changed
from orchestrator.crud.users import get_user
from orchestrator.errors import AlreadyExists, NotFound, Problem, ValidationFailed
from orchestrator.models import Trial, TrialAssessment, TrialMember, User
from orchestrator.settings import Settings


@dataclass(frozen=True)
class Member:
    user: User
    role: str
    added_by: str
    added_at: datetime


def member_role(session: Session, *, trial: Trial, user: User) -> str | None:
    """`user`'s role on `trial` (`collaborator` or `assessor`), or None when not a member."""
    if user.id is None:
        return None
    found = session.exec(
        select(TrialMember.role).where(TrialMember.trial_id == trial.id, TrialMember.user_id == user.id)
    ).first()
    return str(found) if found is not None else None


def team_of(session: Session, *, trial: Trial) -> list[Member]:
    """The trial's members in the order they were added (the owner is not one)."""
    rows = session.exec(
        select(TrialMember, User)
        .join(User, col(User.id) == TrialMember.user_id)
        .where(TrialMember.trial_id == trial.id)
        .order_by(col(TrialMember.id))
    ).all()
    adders = _names(session, {row.added_by for row, _ in rows})
    return [
        Member(user=user, role=row.role, added_by=adders.get(row.added_by, ""), added_at=row.added_at)
        for row, user in rows
    ]


def list_members(session: Session, *, actor: Actor, trial: Trial) -> list[Member]:
    check_may_see_team(actor.user, trial, member=member_role(session, trial=trial, user=actor.user))
    return team_of(session, trial=trial)


def trial_people(session: Session, trial: Trial) -> list[User]:
    """Who a trial concerns: its owner first, then its members as they were added."""
    owner = session.get(User, trial.owner_id)
    return [*([owner] if owner is not None else []), *(m.user for m in team_of(session, trial=trial))]


def add_member(
    session: Session, *, actor: Actor, trial: Trial, name: str, role: str, settings: Settings, now: datetime
) -> Member:
    """Add the civil servant `name` to the trial as `role`: NotFound for nobody of that name,
    ValidationFailed for someone who cannot be a member, AlreadyExists for a member."""
    check_may_manage_members(actor.user, trial)
    if role not in MEMBER_ROLES:
        raise ValidationFailed(
            [Problem("role", f"unknown role {role!r}", f"use {' or '.join(MEMBER_ROLES)}")]
        )
    person = get_user(session, name=name)
    _check_may_join(person, trial)
    trial = lock_trial(session, trial)  # two adds of one person at once: the second waits, then 409
    if member_role(session, trial=trial, user=person) is not None:
        raise AlreadyExists(
            f"{name} is already a member of trial {trial.id}: remove them first to change their role"
        )
    session.add(
        TrialMember(trial_id=trial.id, user_id=pk(person), role=role, added_by=pk(actor.user), added_at=now)
    )
    trial_event(session, trial, now=now, kind="Intent", message=f"{name} added as {role} by {actor.name}")
    audit(
        session,
        actor=actor,
        action="trial.member.add",
        obj=("trial", trial.id),
        now=now,
        detail={"user": name, "role": role},
    )
    notify_membership_changed(session, trial=trial, member=person, change="added", settings=settings, now=now)
    return Member(user=person, role=role, added_by=actor.name, added_at=now)


def _check_may_join(person: User, trial: Trial) -> None:
    problem = None
    if person.id == trial.owner_id:
        problem = "is the trial's owner already"
    elif person.role != Role.CIVIL_SERVANT:
        problem = f"is a {person.role.replace('_', ' ')}, not a civil servant"
    elif person.disabled_at is not None:
        problem = "is disabled"
    if problem:
        raise ValidationFailed(
            [Problem("user", f"{person.name} {problem}", "add a civil servant other than the owner")]
        )


def remove_member(
    session: Session, *, actor: Actor, trial: Trial, name: str, settings: Settings, now: datetime
) -> None:
    """Take `name` off the trial: at once they no longer see it nor open its sandbox. Their
    recorded scores stay, as what they said when they were an assessor."""
    check_may_manage_members(actor.user, trial)
    trial = lock_trial(session, trial)
    row = session.exec(
        select(TrialMember)
        .join(User, col(User.id) == TrialMember.user_id)
        .where(TrialMember.trial_id == trial.id, User.name == name)
    ).first()
    if row is None:
        raise NotFound(f"{name!r} is not a member of trial {trial.id}")
    session.delete(row)
    trial_event(session, trial, now=now, kind="Intent", message=f"{name} removed by {actor.name}")
    audit(
        session,
        actor=actor,
        action="trial.member.remove",
        obj=("trial", trial.id),
        now=now,
        detail={"user": name, "role": row.role},
    )
    person = session.get(User, row.user_id)
    if person is not None:
        notify_membership_changed(
            session, trial=trial, member=person, change="removed", settings=settings, now=now
        )


# --- several assessors -----------------------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    assessor: str
    scores: dict[str, Any]
    recorded_at: datetime


def put_assessment(
    session: Session, *, actor: Actor, trial: Trial, scores: dict[str, dict[str, Any]], now: datetime
) -> Assessment:
    """Record (or replace) the caller's own scores of the eight dimensions, each 1-5 with
    evidence (the evaluation scheme's), independently of the other assessors."""
    check_may_assess(actor.user, trial, member=member_role(session, trial=trial, user=actor.user))
    trial = lock_trial(session, trial)
    rules.check_evaluable(trial)
    if problems := evaluation.assessment_problems(scores):
        raise ValidationFailed(problems)
    row = session.exec(
        select(TrialAssessment).where(
            TrialAssessment.trial_id == trial.id, TrialAssessment.user_id == actor.user.id
        )
    ).first() or TrialAssessment(trial_id=trial.id, user_id=pk(actor.user), recorded_at=now)
    row.scores, row.recorded_at = scores, now
    session.add(row)
    trial_event(session, trial, now=now, kind="Intent", message=f"Scores recorded by {actor.name}")
    audit(session, actor=actor, action="trial.assess", obj=("trial", trial.id), now=now)
    return Assessment(assessor=actor.name, scores=scores, recorded_at=now)


def assessments_of(session: Session, *, trial: Trial) -> list[Assessment]:
    """Each assessor's scores, in the order they first recorded them."""
    rows = session.exec(
        select(TrialAssessment, User)
        .join(User, col(User.id) == TrialAssessment.user_id)
        .where(TrialAssessment.trial_id == trial.id)
        .order_by(col(TrialAssessment.id))
    ).all()
    return [
        Assessment(assessor=user.name, scores=dict(row.scores), recorded_at=row.recorded_at)
        for row, user in rows
    ]


def list_assessments(session: Session, *, actor: Actor, trial: Trial) -> list[Assessment]:
    check_may_see_team(actor.user, trial, member=member_role(session, trial=trial, user=actor.user))
    return assessments_of(session, trial=trial)


def assessor_counts(session: Session, trial_ids: Sequence[str]) -> dict[str, int]:
    """How many people recorded scores of their own on each trial, in one query."""
    if not trial_ids:
        return {}
    query = (
        select(TrialAssessment.trial_id, func.count())
        .where(col(TrialAssessment.trial_id).in_(trial_ids))
        .group_by(col(TrialAssessment.trial_id))
    )
    return {trial_id: int(count) for trial_id, count in session.exec(query).all()}


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {
        user_id: name
        for user_id, name in session.exec(select(User.id, User.name).where(col(User.id).in_(ids))).all()
        if user_id is not None
    }
