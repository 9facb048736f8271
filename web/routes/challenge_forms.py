"""A challenge's forms: respond (suppliers), ask a question (suppliers), answer one, schedule
a session, share a document from it, launch the equal offer and record the decision (the
owner). Each is a GOV.UK form whose post calls the core function its REST twin calls
(`crud.put_response`: `POST /api/v1/challenges/{id}/responses`, `crud.ask_question`,
`crud.answer_question`, `crud.add_session`, `crud.share_material`, `crud.launch_offer`,
`crud.decide_challenge`), then goes back to the challenge's page with a banner. A mistake,
whether the form's own or the core's (a closed challenge, another supplier's template, a
question after the last date), shows the form again as it was typed, with an error summary,
and nothing changes. Each form's page asks the core's rule first, so a form that cannot be
sent is not offered (the error page says why).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlmodel import Session
from starlette.datastructures import FormData

from orchestrator import access, crud, engagement
from orchestrator.engagement import OfferInput, ResponseInput, SessionInput
from orchestrator.errors import NotFound, Problem, ValidationFailed
from orchestrator.models import Challenge, User
from web import engagement_forms as reading
from web.deps import Now, SessionDep, SettingsDep, SignedIn, Visitor
from web.forms import CheckedForm, Checks, FormPage, text
from web.pages import page
from web.rendering import render
from web.routes.challenges import challenge_data, in_plain_words, written

router = APIRouter(prefix="/challenges/{challenge_id}")
ChallengeId = Annotated[str, Path(pattern=r"^[a-z0-9]{1,20}$")]
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@contextmanager
def in_page_words(fields: Mapping[str, tuple[str, str]]) -> Iterator[None]:
    """The core's field problems said as the page says them, each on its input."""
    try:
        yield
    except ValidationFailed as failed:
        raise ValidationFailed(reading.page_problems(failed.problems, fields)) from failed


def raise_all(checks: Checks, core: list[Problem], fields: Mapping[str, tuple[str, str]]) -> None:
    """Every mistake on the form at once: the form's own (`checks`) and the core's rules on
    what could be read (`core`, from its pure `*_problems`), one per input."""
    own = {p.field for p in checks.problems}
    said = [p for p in reading.page_problems(core, fields) if p.field not in own]
    if problems := said + checks.problems:
        raise ValidationFailed(problems)


def _typed(form: FormData, *lists: str) -> dict[str, Any]:
    """What the person typed, to fill the form in again."""
    return {
        key: (form.getlist(key) if key in lists else value)
        for key, value in form.items()
        if isinstance(value, str) and key != "csrf_token"
    }


def _challenge(session: Session, user: User, challenge_id: str) -> Challenge:
    return crud.get_challenge(session, user=user, challenge_id=challenge_id)


def _shown(session: Session, user: User, challenge: Challenge, now: datetime, **extra: Any) -> dict[str, Any]:
    return {**challenge_data(session, user=user, challenge=challenge, now=now), **extra}


# --- respond ---------------------------------------------------------------------------------


def own_templates(session: Session, *, supplier_id: int) -> list[dict[str, str]]:
    """The supplier's templates with a published version, each once (its newest published)."""
    seen: dict[str, dict[str, str]] = {}
    for template, version, _supplier in crud.list_template_versions(session, supplier_id=supplier_id):
        if version.status == "Published" and template.name not in seen:
            manifest_summary = str((version.manifest or {}).get("metadata", {}).get("summary", ""))
            seen[template.name] = {
                "name": template.name,
                "version": version.version,
                "summary": manifest_summary,
            }
    return list(seen.values())


def _respond_data(session: Session, user: User, challenge: Challenge, now: datetime) -> dict[str, Any]:
    supplier_id = access.check_acts_for_supplier(user, to="respond to challenges")
    data = _shown(
        session, user, challenge, now, own_templates=own_templates(session, supplier_id=supplier_id)
    )
    mine = data["responses"][0] if data["responses"] else None
    data["mine"] = mine
    data["offered"] = [ref.split("@", 1)[0] for ref in (mine["templates"] if mine else [])]
    return data


def _owner_form(
    request: Request,
    challenge_id: str,
    visitor: Visitor,
    session: Session,
    now: datetime,
    *,
    rule: Callable[[Challenge, datetime], None],
    template: str,
) -> Response:
    """An owner's form about the whole challenge, offered only when its write would pass."""
    user = visitor.actor.user
    challenge = _challenge(session, user, challenge_id)
    access.check_may_manage_challenge(user, challenge)
    with in_plain_words():
        rule(challenge, now)
    return render(request, visitor, f"challenges/{template}.html", _shown(session, user, challenge, now))


@page(router, "/respond")
def respond_page(
    request: Request, challenge_id: ChallengeId, visitor: SignedIn, session: SessionDep, now: Now
) -> Response:
    user = visitor.actor.user
    challenge = _challenge(session, user, challenge_id)
    data = _respond_data(session, user, challenge, now)
    with in_plain_words():
        engagement.check_open(challenge, now, to="respond")
    return render(request, visitor, "challenges/respond.html", data)


@router.post("/respond")
def respond(
    request: Request,
    challenge_id: ChallengeId,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
) -> Response:
    user = visitor.actor.user
    challenge = _challenge(session, user, challenge_id)
    shown = FormPage(
        "challenges/respond.html",
        _respond_data(session, user, challenge, now),
        values=_typed(form, "templates"),
        fields={"(form)": "templates"},
    )

    def write() -> str:
        checks = Checks()
        summary = checks.optional(
            text(form, "summary"), field_id="summary", longest=5000, what="Your response"
        )
        conflict = text(form, "conflict")
        if conflict not in ("yes", "no"):
            checks.add("conflict", "Select yes if you have a conflict of interest to declare")
        detail = checks.optional(
            text(form, "conflict_detail"), field_id="conflict_detail", longest=2000, what="The conflict"
        )
        templates = tuple(t for t in form.getlist("templates") if isinstance(t, str) and t)
        fields = ResponseInput(
            summary=summary, templates=templates, conflict_declared=conflict == "yes", conflict_detail=detail
        )
        raise_all(checks, engagement.response_problems(fields), reading.RESPONSE_FIELDS)
        with in_page_words(reading.RESPONSE_FIELDS):
            crud.put_response(
                session, actor=visitor.actor, challenge=challenge, fields=fields, settings=settings, now=now
            )
        return "responded"

    return written(request, session, challenge, shown=shown, write=write)


# --- questions -------------------------------------------------------------------------------


@page(router, "/ask")
def ask_page(
    request: Request, challenge_id: ChallengeId, visitor: SignedIn, session: SessionDep, now: Now
) -> Response:
    user = visitor.actor.user
    challenge = _challenge(session, user, challenge_id)
    access.check_acts_for_supplier(user, to="ask questions about a challenge")
    with in_plain_words():
        engagement.check_may_ask(challenge, now)
    return render(request, visitor, "challenges/ask.html", _shown(session, user, challenge, now))


@router.post("/ask")
def ask(
    request: Request,
    challenge_id: ChallengeId,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
) -> Response:
    user = visitor.actor.user
    challenge = _challenge(session, user, challenge_id)
    shown = FormPage(
        "challenges/ask.html",
        _shown(session, user, challenge, now),
        values=_typed(form),
        fields={"(form)": "question"},
    )

    def write() -> str:
        checks = Checks()
        question = checks.optional(
            text(form, "question"), field_id="question", longest=2000, what="The question"
        )
        checks.raise_any()
        with in_page_words({"question": ("The question", "question")}):
            crud.ask_question(
                session,
                actor=visitor.actor,
                challenge=challenge,
                question=question,
                settings=settings,
                now=now,
            )
        return "asked"

    return written(request, session, challenge, shown=shown, write=write, anchor="#questions")


def _question_data(
    session: Session, user: User, challenge: Challenge, question_id: int, now: datetime
) -> dict[str, Any]:
    access.check_may_manage_challenge(user, challenge)
    data = _shown(session, user, challenge, now)
    asked = next((q for q in data["questions"] if q["id"] == question_id), None)
    if asked is None:
        raise NotFound(f"the challenge has no question {question_id}")
    return {**data, "question": asked}


@page(router, "/questions/{question_id}/answer")
def answer_page(
    request: Request,
    challenge_id: ChallengeId,
    question_id: ItemId,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
) -> Response:
    user = visitor.actor.user
    challenge = _challenge(session, user, challenge_id)
    data = _question_data(session, user, challenge, question_id, now)
    with in_plain_words():
        engagement.check_answerable(challenge, now)
    return render(request, visitor, "challenges/answer.html", data)


@router.post("/questions/{question_id}/answer")
def answer(
    request: Request,
    challenge_id: ChallengeId,
    question_id: ItemId,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
) -> Response:
    user = visitor.actor.user
    challenge = _challenge(session, user, challenge_id)
    shown = FormPage(
        "challenges/answer.html",
        _question_data(session, user, challenge, question_id, now),
        values=_typed(form),
        fields={"(form)": "answer"},
    )

    def write() -> str:
        checks = Checks()
        said = checks.optional(text(form, "answer"), field_id="answer", longest=5000, what="The answer")
        checks.raise_any()
        with in_page_words({"answer": ("The answer", "answer")}):
            crud.answer_question(
                session,
                actor=visitor.actor,
                challenge=challenge,
                question_id=question_id,
                answer=said,
                settings=settings,
                now=now,
            )
        return "answered"

    return written(request, session, challenge, shown=shown, write=write, anchor="#questions")


# --- sessions and their documents -----------------------------------------------------------


@page(router, "/sessions/new")
def session_page(
    request: Request, challenge_id: ChallengeId, visitor: SignedIn, session: SessionDep, now: Now
) -> Response:
    return _owner_form(
        request, challenge_id, visitor, session, now, rule=engagement.check_may_schedule, template="session"
    )


def _read_session(form: FormData) -> SessionInput:
    """The session's form as the core's input; what the core cannot judge is judged here."""
    checks = Checks()
    typed = {k: v for k, v in form.items() if isinstance(v, str)}
    day, day_problem = reading.read_date(typed, prefix="date", what="the date", required=True)
    starts, starts_problem = reading.read_clock(
        text(form, "starts"), field_id="starts", what="the start time"
    )
    ends, ends_problem = reading.read_clock(text(form, "ends"), field_id="ends", what="the end time")
    checks.problems += [p for p in (day_problem, starts_problem, ends_problem) if p is not None]
    # The core says the same of an empty name or place; said here too, so that every mistake
    # on the form is listed at once.
    title = checks.required(
        text(form, "title"),
        field_id="title",
        longest=200,
        what="The name",
        message="Enter the name of the session",
    )
    place = checks.required(
        text(form, "place"), field_id="place", longest=500, what="The place", message="Enter where it is held"
    )
    mode = text(form, "mode")
    if mode not in engagement.SESSION_MODES:
        checks.add("mode", "Select online or in person")
    places = text(form, "capacity")
    if not (places.isascii() and places.isdigit() and len(places) <= 5):
        checks.add("capacity", "Enter the number of places as a whole number, like 20")
    checks.raise_any()
    assert day is not None and starts is not None and ends is not None
    return SessionInput(
        title=title,
        starts_at=reading.uk_time(day, starts),
        ends_at=reading.uk_time(day, ends),
        mode=mode,
        place=place,
        capacity=int(places),
    )


@router.post("/sessions/new")
def schedule(
    request: Request,
    challenge_id: ChallengeId,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
) -> Response:
    user = visitor.actor.user
    challenge = _challenge(session, user, challenge_id)
    shown = FormPage(
        "challenges/session.html",
        _shown(session, user, challenge, now),
        values=_typed(form),
        fields={"(form)": "title"},
    )

    def write() -> str:
        fields = _read_session(form)
        with in_page_words(reading.SESSION_FIELDS):
            crud.add_session(session, actor=visitor.actor, challenge=challenge, fields=fields, now=now)
        return "scheduled"

    return written(request, session, challenge, shown=shown, write=write, anchor="#sessions")


def _material_data(
    session: Session, user: User, challenge: Challenge, session_id: int, now: datetime
) -> dict[str, Any]:
    access.check_may_manage_challenge(user, challenge)
    data = _shown(session, user, challenge, now)
    held = next((s for s in data["sessions"] if s["id"] == session_id), None)
    if held is None:
        raise NotFound(f"the challenge has no session {session_id}")
    return {**data, "held": held}


@page(router, "/sessions/{session_id}/materials")
def material_page(
    request: Request,
    challenge_id: ChallengeId,
    session_id: ItemId,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
) -> Response:
    user = visitor.actor.user
    challenge = _challenge(session, user, challenge_id)
    data = _material_data(session, user, challenge, session_id, now)
    with in_plain_words():
        engagement.check_may_share_materials(challenge, now)
    return render(request, visitor, "challenges/material.html", data)


@router.post("/sessions/{session_id}/materials")
def share(
    request: Request,
    challenge_id: ChallengeId,
    session_id: ItemId,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
) -> Response:
    user = visitor.actor.user
    challenge = _challenge(session, user, challenge_id)
    shown = FormPage(
        "challenges/material.html",
        _material_data(session, user, challenge, session_id, now),
        values=_typed(form),
        fields={"(form)": "title"},
    )

    def write() -> str:
        checks = Checks()
        title = checks.optional(text(form, "title"), field_id="title", longest=200, what="The name")
        url = checks.optional(text(form, "url"), field_id="url", longest=2000, what="The web address")
        checks.raise_any()
        with in_page_words(reading.MATERIAL_FIELDS):
            crud.share_material(
                session,
                actor=visitor.actor,
                challenge=challenge,
                session_id=session_id,
                title=title,
                url=url,
                now=now,
            )
        return "shared"

    return written(request, session, challenge, shown=shown, write=write, anchor="#sessions")


# --- the equal offer and the decision -------------------------------------------------------


@page(router, "/offer")
def offer_page(
    request: Request, challenge_id: ChallengeId, visitor: SignedIn, session: SessionDep, now: Now
) -> Response:
    return _owner_form(
        request, challenge_id, visitor, session, now, rule=engagement.check_may_offer, template="offer"
    )


@router.post("/offer")
def offer(
    request: Request,
    challenge_id: ChallengeId,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
) -> Response:
    user = visitor.actor.user
    challenge = _challenge(session, user, challenge_id)
    shown = FormPage(
        "challenges/offer.html",
        _shown(session, user, challenge, now),
        values=_typed(form),
        fields={"(form)": "offered"},
    )

    def write() -> str:
        checks = Checks()
        hypothesis = checks.optional(
            text(form, "hypothesis"), field_id="hypothesis", longest=5000, what="The hypothesis"
        )
        criteria = reading.read_lines(text(form, "success_criteria"))
        if len(criteria) > 20 or any(len(c) > 500 for c in criteria):
            checks.add("success_criteria", "Give 20 success criteria or fewer, each 500 characters or fewer")
        seconds, problem = reading.read_duration(text(form, "duration"), text(form, "duration-unit"))
        if problem is not None:
            checks.problems.append(problem)
        fields = OfferInput(hypothesis=hypothesis, duration_seconds=seconds or 1, success_criteria=criteria)
        raise_all(checks, engagement.offer_problems(fields), reading.OFFER_FIELDS)
        with in_page_words(reading.OFFER_FIELDS):
            crud.launch_offer(
                session, actor=visitor.actor, challenge=challenge, fields=fields, settings=settings, now=now
            )
        return "offered"

    return written(request, session, challenge, shown=shown, write=write, anchor="#trials")


@page(router, "/decision")
def decision_page(
    request: Request, challenge_id: ChallengeId, visitor: SignedIn, session: SessionDep, now: Now
) -> Response:
    return _owner_form(
        request, challenge_id, visitor, session, now, rule=engagement.check_decidable, template="decision"
    )


@router.post("/decision")
def decide(
    request: Request,
    challenge_id: ChallengeId,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
) -> Response:
    user = visitor.actor.user
    challenge = _challenge(session, user, challenge_id)
    shown = FormPage(
        "challenges/decision.html",
        _shown(session, user, challenge, now),
        values=_typed(form),
        fields={"(form)": "decision"},
    )

    def write() -> str:
        checks = Checks()
        said = checks.optional(text(form, "decision"), field_id="decision", longest=5000, what="The decision")
        checks.raise_any()
        with in_page_words({"decision": ("The decision", "decision")}):
            crud.decide_challenge(session, actor=visitor.actor, challenge=challenge, decision=said, now=now)
        return "decided"

    return written(request, session, challenge, shown=shown, write=write)
