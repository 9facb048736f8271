"""Challenges: written, published, closed and decided by their owner (orchestrator.engagement
has the stages and rules, orchestrator.access who may do what).

Every write locks the challenge's row first (`lock_challenge`), then checks what it allows
against the challenge as it is now, so that two writes at once (a response as the owner closes
it, two registrations for the last place) never both pass. Each write is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import ColumnElement, and_, not_
from sqlmodel import Session, col, or_, select

from orchestrator import access, engagement
from orchestrator.crud import paging
from orchestrator.crud.challenge_news import notify_published
from orchestrator.crud.common import Actor, audit, pk
from orchestrator.crud.locks import lock_challenge
from orchestrator.engagement import ChallengeInput, Stage
from orchestrator.errors import AlreadyExists, NotFound, Problem, ValidationFailed
from orchestrator.models import Challenge, User
from orchestrator.settings import Settings


def get_challenge(session: Session, *, user: User, challenge_id: str) -> Challenge:
    """The challenge, when the caller may see it: otherwise not found, so that ids do not leak."""
    found = session.get(Challenge, challenge_id)
    if found is None or not access.may_see_challenge(user, found):
        raise NotFound(f"no challenge {challenge_id!r}")
    return found


def list_challenges(
    session: Session,
    *,
    user: User,
    now: datetime,
    stage: str | None = None,
    owner: str | None = None,
    name: str | None = None,
    limit: int = 500,
) -> list[Challenge]:
    """The challenges the caller sees, newest first: every published one, and their own
    drafts (the den's operators see every draft)."""
    asked = paging.PageAsk(list_name="challenges", selectors="", limit=limit)
    return challenges_page(session, user=user, now=now, asked=asked, stage=stage, owner=owner, name=name).rows


CHALLENGE_KEY = (datetime, str)


def challenges_page(
    session: Session,
    *,
    user: User,
    now: datetime,
    asked: paging.PageAsk,
    stage: str | None = None,
    owner: str | None = None,
    name: str | None = None,
) -> paging.Page[Challenge]:
    """One page of `list_challenges`, cut by keyset on (`created_at`, `id`), newest first."""
    if stage is not None and stage not in engagement.STAGES:
        raise ValidationFailed(
            [Problem("stage", f"unknown stage {stage!r}", f"use one of {', '.join(engagement.STAGES)}")]
        )
    query = select(Challenge)
    if user.role not in access.SEES_ALL:
        query = query.where(or_(col(Challenge.published_at).is_not(None), Challenge.owner_id == user.id))
    if owner is not None:
        query = query.join(User, col(User.id) == Challenge.owner_id).where(User.name == owner)
    if name is not None:
        query = query.where(Challenge.name == name)
    if stage is not None:
        query = query.where(_at_stage(Stage(stage), now))
    if asked.after is not None:
        created, challenge_id = asked.after
        query = query.where(
            col(Challenge.created_at) <= created,
            or_(col(Challenge.created_at) < created, col(Challenge.id) < challenge_id),
        )
    query = query.order_by(col(Challenge.created_at).desc(), col(Challenge.id).desc()).limit(asked.limit + 1)
    return paging.page(session.exec(query).all(), asked, key=lambda c: (c.created_at, c.id))


def _at_stage(stage: Stage, now: datetime) -> ColumnElement[bool]:
    """`engagement.stage` as a condition on the rows, so that a page of one stage is whole."""
    published, closed = col(Challenge.published_at), col(Challenge.closed_at)
    undecided = col(Challenge.decided_at).is_(None)
    over = or_(closed.is_not(None), col(Challenge.closes_at) <= now)
    if stage == Stage.DECIDED:
        return col(Challenge.decided_at).is_not(None)
    if stage == Stage.DRAFT:
        return and_(undecided, published.is_(None))
    if stage == Stage.CLOSED:
        return and_(undecided, published.is_not(None), over)
    return and_(undecided, published.is_not(None), not_(over))


def create_challenge(
    session: Session, *, actor: Actor, fields: ChallengeInput, now: datetime, name: str | None = None
) -> Challenge:
    """A draft challenge, seen by its owner alone until they publish it."""
    access.check_may_write_challenge(actor.user)
    if problems := engagement.challenge_problems(fields, now=now):
        raise ValidationFailed(problems)
    if name is not None:
        _check_name_free(session, owner_id=pk(actor.user), name=name)
    challenge = Challenge(
        owner_id=pk(actor.user),
        name=name,
        department=actor.user.department,
        created_at=now,
        updated_at=now,
        closes_at=fields.closes_at,
        questions_close_at=engagement.questions_close(fields),
        title=fields.title,
        problem=fields.problem,
    )
    _apply(challenge, fields)
    session.add(challenge)
    session.flush()
    audit(session, actor=actor, action="challenge.create", obj=("challenge", challenge.id), now=now)
    return challenge


def update_challenge(
    session: Session, *, actor: Actor, challenge: Challenge, fields: ChallengeInput, now: datetime
) -> Challenge:
    """Change a draft's fields (a published challenge stays as suppliers read it)."""
    access.check_may_manage_challenge(actor.user, challenge)
    challenge = lock_challenge(session, challenge)
    engagement.check_editable(challenge, now)
    if problems := engagement.challenge_problems(fields, now=now):
        raise ValidationFailed(problems)
    _apply(challenge, fields)
    challenge.updated_at = now
    session.add(challenge)
    audit(session, actor=actor, action="challenge.update", obj=("challenge", challenge.id), now=now)
    return challenge


def input_of(challenge: Challenge) -> ChallengeInput:
    """The challenge's fields as the input that would write them again."""
    return ChallengeInput(
        title=challenge.title,
        problem=challenge.problem,
        closes_at=challenge.closes_at,
        users_and_need=challenge.users_and_need,
        tried=challenge.tried,
        constraints=challenge.constraints,
        budget_min=challenge.budget_min,
        budget_max=challenge.budget_max,
        timeline=challenge.timeline,
        problem_areas=tuple(challenge.problem_areas),
        questions_close_at=challenge.questions_close_at,
    )


def with_changes(challenge: Challenge, **changes: object) -> ChallengeInput:
    return replace(input_of(challenge), **changes)  # type: ignore[arg-type]


def publish_challenge(
    session: Session, *, actor: Actor, challenge: Challenge, settings: Settings, now: datetime
) -> Challenge:
    """Every supplier and signed-in person sees it from now on; every supplier is told."""
    access.check_may_manage_challenge(actor.user, challenge)
    challenge = lock_challenge(session, challenge)
    engagement.check_publishable(challenge, now)
    challenge.published_at = challenge.updated_at = now
    session.add(challenge)
    audit(session, actor=actor, action="challenge.publish", obj=("challenge", challenge.id), now=now)
    notify_published(session, challenge=challenge, settings=settings, now=now)
    return challenge


def close_challenge(session: Session, *, actor: Actor, challenge: Challenge, now: datetime) -> Challenge:
    """Close it before its closing date: no more responses, questions or registrations."""
    access.check_may_manage_challenge(actor.user, challenge)
    challenge = lock_challenge(session, challenge)
    engagement.check_open(challenge, now, to="close it")
    challenge.closed_at = challenge.updated_at = now
    session.add(challenge)
    audit(session, actor=actor, action="challenge.close", obj=("challenge", challenge.id), now=now)
    return challenge


def decide_challenge(
    session: Session, *, actor: Actor, challenge: Challenge, decision: str, now: datetime
) -> Challenge:
    """Record what was decided, once the challenge is closed: it is then over."""
    access.check_may_manage_challenge(actor.user, challenge)
    if not decision.strip():
        raise ValidationFailed(
            [Problem("decision", "is empty", "say what was decided and why, for every supplier")]
        )
    if problems := engagement.too_long("decision", decision):
        raise ValidationFailed(problems)
    challenge = lock_challenge(session, challenge)
    engagement.check_decidable(challenge, now)
    challenge.decision = decision
    challenge.decided_at = challenge.updated_at = now
    session.add(challenge)
    audit(session, actor=actor, action="challenge.decide", obj=("challenge", challenge.id), now=now)
    return challenge


def owner_of(session: Session, challenge: Challenge) -> User | None:
    return session.get(User, challenge.owner_id)


def owner_names(session: Session, challenges: Sequence[Challenge]) -> dict[int, str]:
    ids = {c.owner_id for c in challenges}
    if not ids:
        return {}
    return {
        user_id: name
        for user_id, name in session.exec(select(User.id, User.name).where(col(User.id).in_(ids))).all()
        if user_id is not None
    }


def is_open(challenge: Challenge, now: datetime) -> bool:
    return engagement.stage(challenge, now) == Stage.PUBLISHED


def _apply(challenge: Challenge, fields: ChallengeInput) -> None:
    challenge.title = fields.title.strip()
    challenge.problem = fields.problem
    challenge.users_and_need = fields.users_and_need
    challenge.tried = fields.tried
    challenge.constraints = fields.constraints
    challenge.budget_min, challenge.budget_max = fields.budget_min, fields.budget_max
    challenge.timeline = fields.timeline
    challenge.problem_areas = [a.strip() for a in fields.problem_areas]
    challenge.closes_at = fields.closes_at
    challenge.questions_close_at = engagement.questions_close(fields)


def _check_name_free(session: Session, *, owner_id: int, name: str) -> None:
    taken = session.exec(
        select(Challenge.id).where(Challenge.owner_id == owner_id, Challenge.name == name)
    ).first()
    if taken is not None:
        raise AlreadyExists(f"you already have a challenge named {name!r} ({taken})")
