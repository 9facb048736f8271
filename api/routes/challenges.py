"""Early engagement: challenges, and below each its suppliers' `responses`, the `questions`
answered for all, engagement `sessions`, the equal offer's `trials`, the `uk2` notice draft
and the `ocds` release package. The rules are orchestrator.engagement's, who may do what
orchestrator.access's; the pages call the same core functions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from api import errors, lists
from api.deps import ActorDep, BaseUrl, Now, SessionDep, SettingsDep, StrictQuery
from api.engagement_schemas import (
    Answer,
    ChallengeCreate,
    ChallengeWrite,
    Decision,
    MaterialShare,
    OfferCreate,
    QuestionAsk,
    ResponseWrite,
    SessionCreate,
)
from orchestrator import crud
from orchestrator import engagement_public as public
from orchestrator.crud import challenges as challenge_rows
from orchestrator.crud import paging
from orchestrator.models import Challenge
from orchestrator.opendata import ocds, uk2

router = APIRouter(
    prefix="/api/v1/challenges", tags=["engagement"], responses=errors.RESPONSES, dependencies=[StrictQuery]
)
ChallengeId = Annotated[str, Path(pattern=r"^[a-z0-9]{1,20}$", description="The challenge's id.")]
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Stage = Literal["Draft", "Published", "Closed", "Decided"]
#: Page size when the caller sends no `limit`.
CHALLENGES_PAGE = 500


def _public(session: SessionDep, challenge: Challenge, now: Now) -> public.ChallengePublic:
    owner = challenge_rows.owner_names(session, [challenge]).get(challenge.owner_id, "")
    return public.challenge_public(challenge, owner=owner, now=now)


@router.post("", status_code=201)
def create_challenge(
    body: ChallengeCreate, session: SessionDep, actor: ActorDep, settings: SettingsDep, now: Now
) -> public.ChallengePublic:
    """Write a challenge (civil servants and approvers): a draft seen by you alone, unless
    `publish` is true. Describe the problem, not a solution."""
    challenge = crud.create_challenge(session, actor=actor, fields=body.as_input(), now=now, name=body.name)
    if body.publish:
        challenge = crud.publish_challenge(
            session, actor=actor, challenge=challenge, settings=settings, now=now
        )
    session.commit()
    return _public(session, challenge, now)


@router.get("")
def list_challenges(
    session: SessionDep,
    actor: ActorDep,
    now: Now,
    stage: Annotated[Stage | None, Query(description="Only challenges at this stage.")] = None,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    name: Annotated[str | None, Query(max_length=63, description="The owner's own name for it.")] = None,
    limit: lists.Limit = None,
    continue_: lists.Continue = None,
) -> public.ChallengeList:
    """Every published challenge, and your own drafts, newest first, in pages (default 500)."""
    asked = paging.ask(
        "challenges",
        limit=limit or CHALLENGES_PAGE,
        token=continue_,
        selectors={"stage": stage, "owner": owner, "name": name},
        key=challenge_rows.CHALLENGE_KEY,
    )
    found = challenge_rows.challenges_page(
        session, user=actor.user, now=now, asked=asked, stage=stage, owner=owner, name=name
    )
    owners = challenge_rows.owner_names(session, found.rows)
    return public.ChallengeList(
        items=[public.challenge_public(c, owner=owners.get(c.owner_id, ""), now=now) for c in found.rows],
        metadata=lists.meta(found),
    )


@router.get("/{challenge_id}")
def get_challenge(
    challenge_id: ChallengeId, session: SessionDep, actor: ActorDep, now: Now
) -> public.ChallengePublic:
    return _public(session, crud.get_challenge(session, user=actor.user, challenge_id=challenge_id), now)


@router.put("/{challenge_id}")
def update_challenge(
    challenge_id: ChallengeId, body: ChallengeWrite, session: SessionDep, actor: ActorDep, now: Now
) -> public.ChallengePublic:
    """Change a draft (its owner only): once published, it stays as suppliers read it."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    challenge = crud.update_challenge(
        session, actor=actor, challenge=challenge, fields=body.as_input(), now=now
    )
    session.commit()
    return _public(session, challenge, now)


@router.post("/{challenge_id}/publish")
def publish_challenge(
    challenge_id: ChallengeId, session: SessionDep, actor: ActorDep, settings: SettingsDep, now: Now
) -> public.ChallengePublic:
    """Publish a draft: every supplier and signed-in person sees it from now on."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    challenge = crud.publish_challenge(session, actor=actor, challenge=challenge, settings=settings, now=now)
    session.commit()
    return _public(session, challenge, now)


@router.post("/{challenge_id}/close")
def close_challenge(
    challenge_id: ChallengeId, session: SessionDep, actor: ActorDep, now: Now
) -> public.ChallengePublic:
    """Close it before its closing date: no more responses, questions or registrations."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    challenge = crud.close_challenge(session, actor=actor, challenge=challenge, now=now)
    session.commit()
    return _public(session, challenge, now)


@router.put("/{challenge_id}/decision")
def decide_challenge(
    challenge_id: ChallengeId, body: Decision, session: SessionDep, actor: ActorDep, now: Now
) -> public.ChallengePublic:
    """Record what was decided, once it is closed: every supplier reads it."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    challenge = crud.decide_challenge(
        session, actor=actor, challenge=challenge, decision=body.decision, now=now
    )
    session.commit()
    return _public(session, challenge, now)


# --- responses --------------------------------------------------------------------------------


@router.get("/{challenge_id}/responses")
def list_responses(challenge_id: ChallengeId, session: SessionDep, actor: ActorDep) -> public.ResponseList:
    """All responses for the owner, approvers and platform engineers; a supplier's own for a
    supplier (never another's)."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    found = crud.list_responses(session, user=actor.user, challenge=challenge)
    return public.ResponseList(items=[public.response_public(r.response, r.supplier) for r in found])


@router.post("/{challenge_id}/responses", status_code=201)
def put_response(
    challenge_id: ChallengeId,
    body: ResponseWrite,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    now: Now,
) -> public.ResponsePublic:
    """Respond for your supplier (or replace its response) while the challenge is open,
    offering your own published templates. 422 `NotSuppliersTemplate` for another's."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    reply = crud.put_response(
        session, actor=actor, challenge=challenge, fields=body.as_input(), settings=settings, now=now
    )
    session.commit()
    return public.response_public(reply.response, reply.supplier)


# --- questions --------------------------------------------------------------------------------


def _question(view: crud.QuestionView) -> public.QuestionPublic:
    return public.question_public(
        id=view.id,
        question=view.question,
        asked_at=view.asked_at,
        answer=view.answer,
        answered_at=view.answered_at,
        yours=view.yours,
    )


@router.get("/{challenge_id}/questions")
def list_questions(challenge_id: ChallengeId, session: SessionDep, actor: ActorDep) -> public.QuestionList:
    """Answered questions for everyone who sees the challenge, never saying who asked; the
    owner also sees those waiting, and a supplier its own."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    return public.QuestionList(
        items=[_question(q) for q in crud.list_questions(session, user=actor.user, challenge=challenge)]
    )


@router.post("/{challenge_id}/questions", status_code=201)
def ask_question(
    challenge_id: ChallengeId,
    body: QuestionAsk,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    now: Now,
) -> public.QuestionPublic:
    """Ask a question (suppliers), before the last date for questions."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    asked = crud.ask_question(
        session, actor=actor, challenge=challenge, question=body.question, settings=settings, now=now
    )
    session.commit()
    return _question(asked)


@router.put("/{challenge_id}/questions/{question_id}/answer")
def answer_question(
    challenge_id: ChallengeId,
    question_id: ItemId,
    body: Answer,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    now: Now,
) -> public.QuestionPublic:
    """Answer (or correct the answer to) a question: the owner only; every supplier sees it."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    answered = crud.answer_question(
        session,
        actor=actor,
        challenge=challenge,
        question_id=question_id,
        answer=body.answer,
        settings=settings,
        now=now,
    )
    session.commit()
    return _question(answered)


# --- sessions ---------------------------------------------------------------------------------


def _session(view: crud.SessionView) -> public.SessionPublic:
    return public.session_public(
        view.held, registered=view.registered, attending=view.attending, suppliers=view.suppliers
    )


@router.get("/{challenge_id}/sessions")
def list_sessions(challenge_id: ChallengeId, session: SessionDep, actor: ActorDep) -> public.SessionList:
    """The engagement sessions in the order they are held, with the materials shared at each
    (for every supplier, whether they came or not)."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    return public.SessionList(
        items=[_session(v) for v in crud.list_sessions(session, user=actor.user, challenge=challenge)]
    )


@router.post("/{challenge_id}/sessions", status_code=201)
def add_session(
    challenge_id: ChallengeId, body: SessionCreate, session: SessionDep, actor: ActorDep, now: Now
) -> public.SessionPublic:
    """Schedule a session (the owner): online or in person, with a number of places."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    held = crud.add_session(session, actor=actor, challenge=challenge, fields=body.as_input(), now=now)
    session.commit()
    return public.session_public(held, registered=0, attending=False, suppliers=())


@router.post("/{challenge_id}/sessions/{session_id}/registrations", status_code=201)
def register(
    challenge_id: ChallengeId, session_id: ItemId, session: SessionDep, actor: ActorDep, now: Now
) -> public.SessionPublic:
    """Take a place (a supplier's person): 422 `SessionFull` when none is left."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    view = crud.register(session, actor=actor, challenge=challenge, session_id=session_id, now=now)
    session.commit()
    return _session(view)


@router.post("/{challenge_id}/sessions/{session_id}/materials", status_code=201)
def share_material(
    challenge_id: ChallengeId,
    session_id: ItemId,
    body: MaterialShare,
    session: SessionDep,
    actor: ActorDep,
    now: Now,
) -> public.SessionPublic:
    """Publish a document shown at the session to every supplier (the owner)."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    crud.share_material(
        session,
        actor=actor,
        challenge=challenge,
        session_id=session_id,
        title=body.title,
        url=body.url,
        now=now,
    )
    session.commit()
    views = crud.list_sessions(session, user=actor.user, challenge=challenge)
    return _session(next(v for v in views if v.held.id == session_id))


# --- the equal offer --------------------------------------------------------------------------


@router.get("/{challenge_id}/trials")
def list_trials(
    challenge_id: ChallengeId, session: SessionDep, actor: ActorDep, settings: SettingsDep, now: Now
) -> public.OfferedTrialList:
    """The equal offer's trials side by side, each with its evaluation's scores and decision
    once recorded, and what the den measured of it: for the owner, approvers and platform
    engineers."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    found = crud.list_offered_trials(session, user=actor.user, challenge=challenge)
    measured = crud.measured_of(session, found, now=now, rate_card=settings.rate_card)
    return public.OfferedTrialList(
        items=[
            public.offered_trial_public(o.trial, o.supplier, o.evaluation, measured[o.trial.id])
            for o in found
        ]
    )


@router.post("/{challenge_id}/trials", status_code=201)
def launch_offer(
    challenge_id: ChallengeId,
    body: OfferCreate,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    now: Now,
) -> public.OfferedTrialList:
    """Launch the equal offer (the owner, once): one trial per offered template on the same
    terms. All or nothing: if any template cannot start, none does. It closes the challenge."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    started = crud.launch_offer(
        session, actor=actor, challenge=challenge, fields=body.as_input(), settings=settings, now=now
    )
    session.commit()
    return public.OfferedTrialList(
        items=[public.offered_trial_public(o.trial, o.supplier, o.evaluation) for o in started]
    )


# --- notices and open data --------------------------------------------------------------------


@router.get("/{challenge_id}/uk2", response_model=None)
def uk2_draft(
    challenge_id: ChallengeId,
    session: SessionDep,
    actor: ActorDep,
    base_url: BaseUrl,
    now: Now,
    format_: Annotated[Literal["json", "text"], Query(alias="format")] = "json",
) -> JSONResponse | PlainTextResponse:
    """A draft UK2 preliminary market engagement notice (Procurement Act 2023 s.16,
    Procurement Regulations 2024 reg. 17), each field under the form's label, to copy into
    Find a Tender; `format=text` for plain text."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    facts = crud.challenge_facts(session, user=actor.user, challenge=challenge, base_url=base_url)
    notice = uk2.uk2_notice(facts, now=now)
    if format_ == "text":
        return PlainTextResponse(uk2.uk2_text(notice), headers=_download(challenge, "uk2.txt"))
    return JSONResponse({**notice, "text": uk2.uk2_text(notice)})


@router.get("/{challenge_id}/ocds", response_model=None)
def ocds_package(
    challenge_id: ChallengeId,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    base_url: BaseUrl,
    now: Now,
) -> JSONResponse:
    """An OCDS 1.1 release package of the challenge and its equal offer's trials, with their
    evaluations in our extension (`/ocds/extension.json`)."""
    challenge = crud.get_challenge(session, user=actor.user, challenge_id=challenge_id)
    return JSONResponse(
        crud.release_package(
            session, user=actor.user, challenge=challenge, settings=settings, base_url=base_url, now=now
        ),
        headers=_download(challenge, "ocds.json"),
    )


def _download(challenge: Challenge, suffix: str) -> dict[str, str]:
    return {"Content-Disposition": f'inline; filename="challenge-{challenge.id}-{suffix}"'}


# --- our OCDS extension, public so that validators can fetch it ---------------------------------

extension = APIRouter(prefix="/ocds", tags=["engagement"])


@extension.get("/extension.json")
def extension_metadata() -> Response:
    """The OCDS extension that carries the den's evaluations (`planning.denEvaluations`)."""
    return JSONResponse(ocds.extension_metadata())


@extension.get("/release-schema.json")
def extension_schema() -> Response:
    """The extension's release schema patch (a JSON Merge Patch)."""
    return JSONResponse(ocds.extension_patch())
