"""What suppliers send a challenge: one response each (replaced while the challenge is open),
and questions, answered by the owner for every supplier to read.

A supplier sees its own response and never another's; the owner and the den's operators see
them all. An answered question is shown to everyone who sees the challenge without saying who
asked; an unanswered one only to the owner, the operators, and the supplier that asked it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from orchestrator import access, engagement
from orchestrator.crud.challenge_news import notify_answered, notify_asked, notify_responded
from orchestrator.crud.common import Actor, audit, pk
from orchestrator.crud.locks import lock_challenge
from orchestrator.crud.templates import resolve_template
from orchestrator.engagement import EngagementRule, ResponseInput
from orchestrator.errors import DenError, NotFound, Problem, RuleViolation, ValidationFailed
from orchestrator.models import (
    Challenge,
    ChallengeQuestion,
    ChallengeResponse,
    SandboxTemplate,
    Supplier,
    User,
)
from orchestrator.settings import Settings


@dataclass(frozen=True)
class Reply:
    """A response with its supplier's name, for whoever may read it."""

    response: ChallengeResponse
    supplier: Supplier


def put_response(
    session: Session,
    *,
    actor: Actor,
    challenge: Challenge,
    fields: ResponseInput,
    settings: Settings,
    now: datetime,
) -> Reply:
    """Send (or replace) the caller's supplier's response. Each offered template must be one
    of its own, published: `name` is its newest version, kept as `name@version`, so that
    what was offered is what the trial runs."""
    supplier_id = access.check_acts_for_supplier(actor.user, to="respond to challenges")
    if problems := engagement.response_problems(fields):
        raise ValidationFailed(problems)
    challenge = lock_challenge(session, challenge)
    engagement.check_open(challenge, now, to="respond")
    offered = _own_versions(session, fields.templates, supplier_id=supplier_id)
    row = session.exec(
        select(ChallengeResponse).where(
            ChallengeResponse.challenge_id == challenge.id, ChallengeResponse.supplier_id == supplier_id
        )
    ).first()
    replaced = row is not None
    if row is None:
        row = ChallengeResponse(
            challenge_id=challenge.id,
            supplier_id=supplier_id,
            submitted_by=pk(actor.user),
            summary=fields.summary,
            submitted_at=now,
            updated_at=now,
        )
    row.summary, row.templates, row.updated_at = fields.summary, offered, now
    row.submitted_by = pk(actor.user)
    row.conflict_declared = fields.conflict_declared
    row.conflict_detail = fields.conflict_detail if fields.conflict_declared else ""
    session.add(row)
    session.flush()
    audit(
        session,
        actor=actor,
        action="challenge.response.replace" if replaced else "challenge.response.submit",
        obj=("challenge", challenge.id),
        now=now,
        detail={"templates": offered, "conflict_declared": fields.conflict_declared},
    )
    notify_responded(session, challenge=challenge, replaced=replaced, settings=settings, now=now)
    supplier = session.get(Supplier, supplier_id)
    assert supplier is not None
    return Reply(response=row, supplier=supplier)


def _own_versions(session: Session, refs: tuple[str, ...], *, supplier_id: int) -> list[str]:
    problems: list[Problem] = []
    pinned: list[str] = []
    for index, ref in enumerate(refs):
        try:
            version = resolve_template(session, ref=ref)
        except DenError as exc:
            problems.append(Problem(f"templates[{index}]", exc.detail, "offer a published template of yours"))
            continue
        template = session.get(SandboxTemplate, version.template_id)
        assert template is not None
        if template.supplier_id != supplier_id:
            raise RuleViolation(
                f"templates[{index}]: {template.name} is another supplier's template: offer only your own",
                reason=EngagementRule.NOT_SUPPLIERS_TEMPLATE,
            )
        pinned.append(f"{template.name}@{version.version}")
    if problems:
        raise ValidationFailed(problems)
    return pinned


def list_responses(session: Session, *, user: User, challenge: Challenge) -> list[Reply]:
    """All responses for the owner and the den's operators; a supplier's own for a supplier."""
    query = (
        select(ChallengeResponse, Supplier)
        .join(Supplier, col(Supplier.id) == ChallengeResponse.supplier_id)
        .where(ChallengeResponse.challenge_id == challenge.id)
        .order_by(col(ChallengeResponse.submitted_at), col(ChallengeResponse.id))
    )
    if not access.sees_all_responses(user, challenge):
        supplier_id = access.check_acts_for_supplier(user, to="read responses other than their own")
        query = query.where(ChallengeResponse.supplier_id == supplier_id)
    return [Reply(response=r, supplier=s) for r, s in session.exec(query).all()]


def responses_of(session: Session, challenge: Challenge) -> list[Reply]:
    """Every response, for the core's own use (the equal offer)."""
    query = (
        select(ChallengeResponse, Supplier)
        .join(Supplier, col(Supplier.id) == ChallengeResponse.supplier_id)
        .where(ChallengeResponse.challenge_id == challenge.id)
        .order_by(col(ChallengeResponse.submitted_at), col(ChallengeResponse.id))
    )
    return [Reply(response=r, supplier=s) for r, s in session.exec(query).all()]


# --- questions and answers -----------------------------------------------------------------


@dataclass(frozen=True)
class QuestionView:
    """A question as its reader may see it: never who asked, only whether it was the reader's
    own supplier."""

    id: int
    question: str
    asked_at: datetime
    answer: str
    answered_at: datetime | None
    yours: bool


def ask_question(
    session: Session, *, actor: Actor, challenge: Challenge, question: str, settings: Settings, now: datetime
) -> QuestionView:
    supplier_id = access.check_acts_for_supplier(actor.user, to="ask questions about a challenge")
    if not question.strip():
        raise ValidationFailed([Problem("question", "is empty", "write the question")])
    if problems := engagement.too_long("question", question):
        raise ValidationFailed(problems)
    challenge = lock_challenge(session, challenge)
    engagement.check_may_ask(challenge, now)
    row = ChallengeQuestion(
        challenge_id=challenge.id,
        supplier_id=supplier_id,
        asked_by=pk(actor.user),
        question=question.strip(),
        asked_at=now,
    )
    session.add(row)
    session.flush()
    audit(session, actor=actor, action="challenge.question.ask", obj=("challenge", challenge.id), now=now)
    assert row.id is not None
    notify_asked(session, challenge=challenge, question_id=row.id, settings=settings, now=now)
    return _view(row, supplier_id=supplier_id)


def answer_question(
    session: Session,
    *,
    actor: Actor,
    challenge: Challenge,
    question_id: int,
    answer: str,
    settings: Settings,
    now: datetime,
) -> QuestionView:
    """Answer (or correct an answer): every supplier sees it at once."""
    access.check_may_manage_challenge(actor.user, challenge)
    if not answer.strip():
        raise ValidationFailed([Problem("answer", "is empty", "write the answer every supplier will read")])
    if problems := engagement.too_long("answer", answer):
        raise ValidationFailed(problems)
    challenge = lock_challenge(session, challenge)
    engagement.check_answerable(challenge, now)
    row = session.get(ChallengeQuestion, question_id)
    if row is None or row.challenge_id != challenge.id:
        raise NotFound(f"challenge {challenge.id} has no question {question_id}")
    corrected = bool(row.answer)
    row.answer, row.answered_by, row.answered_at = answer.strip(), pk(actor.user), now
    session.add(row)
    audit(
        session,
        actor=actor,
        action="challenge.question.correct" if corrected else "challenge.question.answer",
        obj=("challenge", challenge.id),
        now=now,
        detail={"question": question_id},
    )
    notify_answered(session, challenge=challenge, question_id=question_id, settings=settings, now=now)
    return _view(row, supplier_id=None)


def list_questions(session: Session, *, user: User, challenge: Challenge) -> list[QuestionView]:
    """In the order they were asked; what the reader may see of each (see the module)."""
    rows = session.exec(
        select(ChallengeQuestion)
        .where(ChallengeQuestion.challenge_id == challenge.id)
        .order_by(col(ChallengeQuestion.asked_at), col(ChallengeQuestion.id))
    ).all()
    everything = access.sees_all_responses(user, challenge)
    mine = user.supplier_id if user.role == access.Role.SUPPLIER else None
    return [
        _view(row, supplier_id=mine)
        for row in rows
        if everything or row.answered_at is not None or (mine is not None and row.supplier_id == mine)
    ]


def _view(row: ChallengeQuestion, *, supplier_id: int | None) -> QuestionView:
    assert row.id is not None
    return QuestionView(
        id=row.id,
        question=row.question,
        asked_at=row.asked_at,
        answer=row.answer,
        answered_at=row.answered_at,
        yours=supplier_id is not None and row.supplier_id == supplier_id,
    )
