"""Challenges: the list, a challenge's page, its downloads, and the buttons that send nothing
but their CSRF token (publish, close, register for a session).

A challenge's page shows what the visitor may see of it, in the shapes the API answers
(`orchestrator.engagement_public`): its fields and stage, the answered questions (never who
asked), its sessions and their materials, the visitor's own response (or every response, for
the owner), and for the owner the equal offer's trials side by side. Each action is offered
when the core's rule (`orchestrator.engagement`) and who-may (`orchestrator.access`) would
both let the write through. Read twins: `/challenges.json`, `/challenges/{id}.json` (and the
API's `GET /api/v1/challenges`, `.../{id}`, `.../questions`, `.../sessions`, `.../responses`,
`.../trials`). The downloads are the API's `.../uk2?format=text` and `.../ocds`, for a
signed-in browser: the same core builders (`orchestrator.opendata`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from pydantic_core import to_jsonable_python
from sqlmodel import Session

from orchestrator import access, crud, engagement
from orchestrator import engagement_public as public
from orchestrator.access import Role
from orchestrator.crud import challenges as challenge_rows
from orchestrator.errors import Conflict, NotFound, RuleViolation
from orchestrator.models import Challenge, User
from orchestrator.opendata import uk2
from orchestrator.settings import RateCard, Settings
from web import engagement_forms as reading
from web import views
from web.deps import Now, SessionDep, SettingsDep, SignedIn, Visitor
from web.forms import CheckedForm, FormPage, shown_again_on_error
from web.lookups import allowed
from web.pages import page
from web.rendering import NO_STORE, render

router = APIRouter()
ChallengeId = Annotated[str, Path(pattern=r"^[a-z0-9]{1,20}$")]
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
#: What the challenge's page says after a write (`?done=`).
DONE = {
    "saved": "Your challenge has been saved as a draft. Only you can see it until you publish it.",
    "published": "Your challenge has been published. Suppliers can now read it and respond.",
    "closed": "The challenge has been closed: suppliers can no longer respond.",
    "responded": "Your response has been sent.",
    "asked": "Your question has been sent. Every supplier will see the answer, but not who asked.",
    "answered": "The answer has been published to every supplier.",
    "scheduled": "The session has been added.",
    "shared": "The document has been shared with every supplier.",
    "registered": "You have a place at the session.",
    "offered": "The equal offer has been launched: one trial for each offered template.",
    "decided": "The decision has been recorded.",
}
TAGS = {
    engagement.Stage.DRAFT: "govuk-tag--grey",
    engagement.Stage.PUBLISHED: "govuk-tag--green",
    engagement.Stage.CLOSED: "govuk-tag--orange",
    engagement.Stage.DECIDED: "govuk-tag--blue",
}


def stage_tag(stage: str) -> dict[str, str]:
    """govukTag's parameters for a challenge's stage."""
    return {"text": stage, "classes": TAGS.get(engagement.Stage(stage), "")}


@page(router, "/challenges")
def challenges_page(request: Request, visitor: SignedIn, session: SessionDep, now: Now) -> Response:
    """Every published challenge and the visitor's own drafts, newest first (as
    `GET /api/v1/challenges`)."""
    user = visitor.actor.user
    found = crud.list_challenges(session, user=user, now=now)
    owners = challenge_rows.owner_names(session, found)
    items = [public.challenge_public(c, owner=owners.get(c.owner_id, ""), now=now) for c in found]
    return render(
        request,
        visitor,
        "challenges/list.html",
        {
            "challenges": [i.model_dump() for i in items],
            "tags": {i.id: stage_tag(i.stage) for i in items},
            "may_write": allowed(access.check_may_write_challenge, user),
        },
    )


def challenge_data(
    session: Session, *, user: User, challenge: Challenge, now: datetime, rate_card: RateCard | None = None
) -> dict[str, Any]:
    """Everything a challenge's page shows, and what the visitor may do to it."""
    owner = challenge_rows.owner_names(session, [challenge]).get(challenge.owner_id, "")
    shown = public.challenge_public(challenge, owner=owner, now=now)
    questions = [
        public.question_public(
            id=q.id,
            question=q.question,
            asked_at=q.asked_at,
            answer=q.answer,
            answered_at=q.answered_at,
            yours=q.yours,
        )
        for q in crud.list_questions(session, user=user, challenge=challenge)
    ]
    held = crud.list_sessions(session, user=user, challenge=challenge)
    sessions = [
        public.session_public(v.held, registered=v.registered, attending=v.attending, suppliers=v.suppliers)
        for v in held
    ]
    reads_responses = access.sees_all_responses(user, challenge) or user.role == Role.SUPPLIER
    responses = (
        [
            public.response_public(r.response, r.supplier)
            for r in crud.list_responses(session, user=user, challenge=challenge)
        ]
        if reads_responses
        else []
    )
    trials = None
    if allowed(access.check_may_see_offer, user, challenge):
        offered = crud.list_offered_trials(session, user=user, challenge=challenge)
        measured = crud.measured_of(session, offered, now=now, rate_card=rate_card)
        trials = [
            public.offered_trial_public(o.trial, o.supplier, o.evaluation, measured[o.trial.id])
            for o in offered
        ]
    return {
        "challenge": shown.model_dump(),
        "tag": stage_tag(shown.stage),
        "questions": [q.model_dump() for q in questions],
        "sessions": [s.model_dump() for s in sessions],
        "responses": [r.model_dump() for r in responses],
        "trials": None if trials is None else [t.model_dump() for t in trials],
        "scored": bool(trials) and any(t.scores for t in trials or []),
        "actions": {
            **_actions(user, challenge, now=now, responded=bool(responses)),
            # The sessions the visitor may take a place at (`engagement.check_may_register`).
            "register_at": [
                v.held.id
                for v in held
                if user.role == Role.SUPPLIER
                and not v.attending
                and allowed(engagement.check_may_register, challenge, v.held, taken=v.registered, now=now)
            ],
        },
        "guidance": engagement.GUIDANCE,
        "dimensions": views.DIMENSION_NAMES,
        "decisions": views.DECISIONS,
    }


def _actions(user: User, challenge: Challenge, *, now: datetime, responded: bool) -> dict[str, Any]:
    """What the visitor may do: each offered when the core would let the write through."""
    owns = access.owns_challenge(user, challenge)
    supplier = user.role == Role.SUPPLIER and user.supplier_id is not None
    return {
        "own": owns,
        "publish": owns and allowed(engagement.check_publishable, challenge, now),
        "close": owns and allowed(engagement.check_open, challenge, now, to="close it"),
        "respond": supplier and allowed(engagement.check_open, challenge, now, to="respond"),
        "responded": responded,
        "ask": supplier and allowed(engagement.check_may_ask, challenge, now),
        "answer": owns and allowed(engagement.check_answerable, challenge, now),
        "schedule": owns and allowed(engagement.check_may_schedule, challenge, now),
        "share": owns and allowed(engagement.check_may_share_materials, challenge, now),
        "offer": owns and allowed(engagement.check_may_offer, challenge, now),
        "decide": owns and allowed(engagement.check_decidable, challenge, now),
        "sees_all": access.sees_all_responses(user, challenge),
        "downloads": allowed(access.check_may_see_offer, user, challenge),
    }


@page(router, "/challenges/{challenge_id}")
def challenge_page(
    request: Request,
    challenge_id: ChallengeId,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    done: str = "",
) -> Response:
    user = visitor.actor.user
    challenge = crud.get_challenge(session, user=user, challenge_id=challenge_id)
    data = challenge_data(session, user=user, challenge=challenge, now=now, rate_card=settings.rate_card)
    return render(request, visitor, "challenges/challenge.html", {**data, "done": DONE.get(done, "")})


def challenge_form(session: Session, visitor: Visitor, challenge: Challenge, now: datetime) -> FormPage:
    """The challenge's page, to show again with the error summary when one of its buttons fails."""
    data = challenge_data(session, user=visitor.actor.user, challenge=challenge, now=now)
    return FormPage("challenges/challenge.html", {**data, "done": ""}, fields={"(form)": "actions"})


@contextmanager
def in_plain_words() -> Iterator[None]:
    """A refusal of the core's (a rule, a conflict, something not found) as a page says it:
    naming "the challenge", not its id (`engagement_forms.plainly`)."""
    try:
        yield
    except (RuleViolation, Conflict, NotFound) as refused:
        raise type(refused)(reading.plainly(refused.detail), reason=refused.reason) from refused


def written(
    request: Request,
    session: Session,
    challenge: Challenge,
    *,
    shown: FormPage,
    write: Callable[[], str],
    anchor: str = "",
) -> Response:
    """Make one write (its problems shown on `shown`), commit it, and show the challenge's
    page saying what was done (`write` returns which of `DONE`)."""
    with shown_again_on_error(request, shown), in_plain_words():
        done = write()
    session.commit()
    return RedirectResponse(
        f"/challenges/{challenge.id}?done={done}{anchor}", status_code=status.HTTP_303_SEE_OTHER
    )


# --- publish and close: a page to confirm, then the button -------------------------------------


def _may_close(challenge: Challenge, now: datetime) -> None:
    engagement.check_open(challenge, now, to="close it")


#: The action -> (the core's write, what the page then says, the rule the page asks first).
def _close(
    session: Session, *, actor: crud.Actor, challenge: Challenge, settings: Settings, now: datetime
) -> Challenge:
    """Closing tells nobody: the core's close, in the shape the buttons call."""
    del settings
    return crud.close_challenge(session, actor=actor, challenge=challenge, now=now)


CONFIRM: dict[str, tuple[Callable[..., Challenge], str, Callable[[Challenge, datetime], None]]] = {
    "publish": (crud.publish_challenge, "published", engagement.check_publishable),
    "close": (_close, "closed", _may_close),
}


def _confirm_page(action: str) -> Callable[..., Response]:
    check = CONFIRM[action][2]

    def confirm(
        request: Request, challenge_id: ChallengeId, visitor: SignedIn, session: SessionDep, now: Now
    ) -> Response:
        """Are you sure? Publishing and closing cannot be undone."""
        user = visitor.actor.user
        challenge = crud.get_challenge(session, user=user, challenge_id=challenge_id)
        access.check_may_manage_challenge(user, challenge)
        with in_plain_words():
            check(challenge, now)
        data = challenge_data(session, user=user, challenge=challenge, now=now)
        return render(request, visitor, f"challenges/{action}.html", data)

    return confirm


def _button(call: Callable[..., Challenge], done: str) -> Callable[..., Response]:
    def post(
        request: Request,
        challenge_id: ChallengeId,
        form: CheckedForm,
        visitor: SignedIn,
        session: SessionDep,
        settings: SettingsDep,
        now: Now,
    ) -> Response:
        del form  # checked
        challenge = crud.get_challenge(session, user=visitor.actor.user, challenge_id=challenge_id)

        def write() -> str:
            call(session, actor=visitor.actor, challenge=challenge, settings=settings, now=now)
            return done

        return written(
            request, session, challenge, shown=challenge_form(session, visitor, challenge, now), write=write
        )

    return post


for _action, (_call, _done, _check) in CONFIRM.items():
    _path = f"/challenges/{{challenge_id}}/{_action}"
    router.add_api_route(
        _path + ".json", _confirm_page(_action), methods=["GET"], name=f"{_action}_page_json"
    )
    router.add_api_route(_path, _confirm_page(_action), methods=["GET"], name=f"{_action}_page")
    router.add_api_route(_path, _button(_call, _done), methods=["POST"], name=_action)


@router.post("/challenges/{challenge_id}/sessions/{session_id}/register")
def register(
    request: Request,
    challenge_id: ChallengeId,
    session_id: ItemId,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    now: Now,
) -> Response:
    """Take a place at a session (a supplier's person), as
    `POST /api/v1/challenges/{id}/sessions/{session_id}/registrations`."""
    del form  # checked
    challenge = crud.get_challenge(session, user=visitor.actor.user, challenge_id=challenge_id)

    def write() -> str:
        crud.register(session, actor=visitor.actor, challenge=challenge, session_id=session_id, now=now)
        return "registered"

    return written(
        request,
        session,
        challenge,
        shown=challenge_form(session, visitor, challenge, now),
        write=write,
        anchor="#sessions",
    )


# --- downloads -------------------------------------------------------------------------------


def _base_url(request: Request, settings: Settings) -> str:
    """The service's public URL: DEN_PUBLIC_URL, or what this request was sent to (as the API)."""
    return settings.public_url or str(request.base_url)


def _download(challenge: Challenge, suffix: str) -> dict[str, str]:
    return {**NO_STORE, "Content-Disposition": f'attachment; filename="challenge-{challenge.id}-{suffix}"'}


@router.get("/challenges/{challenge_id}/uk2.txt")
def uk2_download(
    request: Request,
    challenge_id: ChallengeId,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
) -> Response:
    """The draft UK2 preliminary market engagement notice, as plain text to copy into Find a
    Tender: `GET /api/v1/challenges/{id}/uk2?format=text`, for the owner and the den's operators."""
    user = visitor.actor.user
    challenge = crud.get_challenge(session, user=user, challenge_id=challenge_id)
    facts = crud.challenge_facts(
        session, user=user, challenge=challenge, base_url=_base_url(request, settings)
    )
    notice = uk2.uk2_notice(facts, now=now)
    return PlainTextResponse(uk2.uk2_text(notice), headers=_download(challenge, "uk2.txt"))


@router.get("/challenges/{challenge_id}/ocds.json")
def ocds_download(
    request: Request,
    challenge_id: ChallengeId,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
) -> Response:
    """The OCDS 1.1 release package of the challenge and its equal offer's trials:
    `GET /api/v1/challenges/{id}/ocds`, for the owner and the den's operators."""
    user = visitor.actor.user
    challenge = crud.get_challenge(session, user=user, challenge_id=challenge_id)
    package = crud.release_package(
        session,
        user=user,
        challenge=challenge,
        settings=settings,
        base_url=_base_url(request, settings),
        now=now,
    )
    return JSONResponse(to_jsonable_python(package), headers=_download(challenge, "ocds.json"))
