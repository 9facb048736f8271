"""Write a challenge: one question per page, check your answers, then save it as a draft or
publish it, with `crud.create_challenge` and `crud.publish_challenge` (the calls
`POST /api/v1/challenges` makes, that page's twin for the write).

The answers are kept in the server-side session (`WebSession.data["challenge"]`) until the
challenge is saved, as a trial request's are (web/routes/start.py). Each page's answers are
judged by the core's own rules at once (`engagement.challenge_problems`, keeping only the
problems of that page's fields), so a mistake is shown where it was made; the check page then
asks the core again, and a problem there links back to the question that sets its field. What
was typed is never lost: a page with a mistake shows it again as typed.

A draft is changed the same way: "Change the draft" on its page puts its fields in the session
(`answers_of`) and opens the check page, which then saves them with `crud.update_challenge`
(`PUT /api/v1/challenges/{id}`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from orchestrator import access, crud, engagement
from orchestrator.crud import challenges as challenge_rows
from orchestrator.engagement import ChallengeInput
from orchestrator.errors import NotFound, Problem, ValidationFailed
from orchestrator.models import Challenge
from orchestrator.settings import Settings
from web import engagement_forms as reading
from web.deps import Now, SessionDep, SettingsDep, SignedIn, Visitor
from web.forms import CheckedForm, Checks, FormPage, shown_again_on_error, text
from web.pages import page
from web.rendering import render, when

router = APIRouter()
Step = Annotated[str, Path(pattern=r"^[a-z-]{1,20}$")]
ChallengeId = Annotated[str, Path(pattern=r"^[a-z0-9]{1,20}$")]
#: Where the session keeps the answers so far.
KEPT = "challenge"
START = "/challenges/new"


@dataclass(frozen=True)
class Question:
    """One page: `step` its address and template (challenges/new/{step}.html), `fields` the
    core's fields it answers, `row` its row on the check page, `read` how its form is read."""

    step: str
    fields: tuple[str, ...]
    row: str
    read: Callable[[FormData], dict[str, Any]]
    shown: Callable[[dict[str, Any]], str | list[str]]


def _text_step(field_id: str, longest: int, what: str) -> Callable[[FormData], dict[str, Any]]:
    def read(form: FormData) -> dict[str, Any]:
        checks = Checks()
        value = checks.optional(text(form, field_id), field_id=field_id, longest=longest, what=what)
        checks.raise_any()
        return {field_id: value}

    return read


def _read_budget(form: FormData) -> dict[str, Any]:
    low, low_problem = reading.read_pounds(text(form, "budget_min"), field_id="budget_min", what="The lowest")
    high, high_problem = reading.read_pounds(
        text(form, "budget_max"), field_id="budget_max", what="The highest"
    )
    if problems := [p for p in (low_problem, high_problem) if p is not None]:
        raise ValidationFailed(problems)
    return {"budget_min": low, "budget_max": high}


def _read_dates(form: FormData) -> dict[str, Any]:
    typed = {key: value for key, value in form.items() if isinstance(value, str)}
    closes, closes_problem = reading.read_date(typed, prefix="closes", what="the closing date", required=True)
    asked, asked_problem = reading.read_date(
        typed, prefix="questions", what="the last date for questions", required=False
    )
    if problems := [p for p in (closes_problem, asked_problem) if p is not None]:
        raise ValidationFailed(problems)
    assert closes is not None
    return {
        "closes_at": reading.uk_time(closes).isoformat(),
        "questions_close_at": reading.uk_time(asked).isoformat() if asked else None,
    }


def _read_areas(form: FormData) -> dict[str, Any]:
    areas = reading.read_lines(text(form, "problem_areas"))
    if len(areas) > 20:
        raise ValidationFailed([Problem("problem_areas", "Give 20 problem areas or fewer")])
    return {"problem_areas": list(areas)}


def _said(field: str) -> Callable[[dict[str, Any]], str]:
    return lambda answers: answers.get(field) or "Not given"


def _budget_words(answers: dict[str, Any]) -> str:
    low, high = answers.get("budget_min"), answers.get("budget_max")
    if low is None and high is None:
        return "Not given"
    return f"£{low:,} to £{high:,}" if low is not None and high is not None else f"£{low or high:,}"


def _dates_words(answers: dict[str, Any]) -> list[str]:
    closes = datetime.fromisoformat(answers["closes_at"]) if answers.get("closes_at") else None
    asked = answers.get("questions_close_at")
    return [
        f"Closes {when(closes)}",
        f"Last questions {when(datetime.fromisoformat(asked))}" if asked else "Questions until it closes",
    ]


STEPS: tuple[Question, ...] = (
    Question("title", ("title",), "Title", _text_step("title", 200, "The title"), _said("title")),
    Question(
        "problem", ("problem",), "Problem", _text_step("problem", 5000, "The problem"), _said("problem")
    ),
    Question(
        "users",
        ("users_and_need",),
        "Users and their need",
        _text_step("users_and_need", 5000, "The users and their need"),
        _said("users_and_need"),
    ),
    Question(
        "tried",
        ("tried",),
        "What has been tried",
        _text_step("tried", 5000, "What was tried"),
        _said("tried"),
    ),
    Question(
        "constraints",
        ("constraints",),
        "Constraints",
        _text_step("constraints", 5000, "The constraints"),
        _said("constraints"),
    ),
    Question("budget", ("budget_min", "budget_max"), "Budget", _read_budget, _budget_words),
    Question(
        "timeline", ("timeline",), "Timeline", _text_step("timeline", 2000, "The timeline"), _said("timeline")
    ),
    Question("dates", ("closes_at", "questions_close_at"), "Dates", _read_dates, _dates_words),
    Question(
        "areas",
        ("problem_areas",),
        "Problem areas",
        _read_areas,
        lambda answers: list(answers.get("problem_areas") or []) or "Not given",
    ),
)
#: The core's field -> the question that sets it.
STEP_OF = {field: s.step for s in STEPS for field in s.fields}


def _step(step: str) -> Question:
    found = next((s for s in STEPS if s.step == step), None)
    if found is None:
        raise NotFound(f"no question {step!r} in writing a challenge")
    return found


def url(step: str, *, change: bool = False) -> str:
    return f"{START}/{step}" + ("?change=1" if change else "")


def _after(step: str) -> str:
    steps = [s.step for s in STEPS]
    index = steps.index(step)
    return url(steps[index + 1]) if index + 1 < len(steps) else url("check")


def _before(step: str) -> str:
    steps = [s.step for s in STEPS]
    if step == "check":
        return url(steps[-1])
    index = steps.index(step)
    return url(steps[index - 1]) if index else "/challenges"


def as_input(answers: dict[str, Any], *, now: datetime) -> ChallengeInput:
    """The answers as the core's input: a field not answered yet gets a stand-in, so that one
    page's answers can be judged before the rest are given (`_problems_of` keeps only that
    page's problems)."""
    closes = answers.get("closes_at")
    asked = answers.get("questions_close_at")
    return ChallengeInput(
        title=answers.get("title", "-"),
        problem=answers.get("problem", "-"),
        closes_at=datetime.fromisoformat(closes) if closes else reading.later(now, 30),
        users_and_need=answers.get("users_and_need", ""),
        tried=answers.get("tried", ""),
        constraints=answers.get("constraints", ""),
        budget_min=answers.get("budget_min"),
        budget_max=answers.get("budget_max"),
        timeline=answers.get("timeline", ""),
        problem_areas=tuple(answers.get("problem_areas") or ()),
        questions_close_at=datetime.fromisoformat(asked) if asked else None,
    )


def _problems_of(step: Question, answers: dict[str, Any], *, now: datetime) -> list[Problem]:
    found = engagement.challenge_problems(as_input(answers, now=now), now=now)
    return [p for p in found if p.field.split("[", 1)[0] in step.fields]


def _answers(visitor: Visitor) -> dict[str, Any]:
    access.check_may_write_challenge(visitor.actor.user)
    kept = visitor.web_session.data.get(KEPT, {}) if visitor.web_session else {}
    return dict(kept)


def _missing(answers: dict[str, Any]) -> str | None:
    answered = set(answers.get("answered", []))
    return next((s.step for s in STEPS if s.step not in answered), None)


def _save(session: SessionDep, visitor: Visitor, answers: dict[str, Any] | None) -> None:
    assert visitor.web_session is not None  # forms are posted from a session (checked_form)
    data = dict(visitor.web_session.data)
    if answers is None:
        data.pop(KEPT, None)
    else:
        data[KEPT] = answers
    crud.save_session_data(session, web_session=visitor.web_session, data=data)


def _data(step: str, answers: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "step": step,
        "answers": answers,
        "back": _before(step),
        "action": url(step),
        "guidance": engagement.GUIDANCE,
    }
    if step == "check":
        data["rows"] = [
            {"key": s.row, "value": s.shown(answers), "href": url(s.step, change=True), "step": s.step}
            for s in STEPS
        ]
    if step == "dates":
        for key in ("closes_at", "questions_close_at"):
            value = answers.get(key)
            data[key.split("_")[0]] = reading.date_parts(datetime.fromisoformat(value) if value else None)
    if step == "areas":
        data["areas_text"] = "\n".join(answers.get("problem_areas") or [])
    return data


@page(router, START + "/{step}")
def question(request: Request, step: Step, visitor: SignedIn, change: bool = False) -> Response:
    answers = _answers(visitor)
    if step == "check":
        missing = _missing(answers)
        if missing is not None and not request.url.path.endswith(".json"):
            return RedirectResponse(url(missing), status_code=status.HTTP_303_SEE_OTHER)
        template = "challenges/new/check.html"
    else:
        template = f"challenges/new/{_step(step).step}.html"
    return render(request, visitor, template, {**_data(step, answers), "change": change})


@router.post(START + "/{step}")
def answer(
    request: Request,
    step: Step,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
) -> Response:
    answers = _answers(visitor)
    if step == "check":
        return _finish(
            request, answers, form=form, visitor=visitor, session=session, settings=settings, now=now
        )
    asked = _step(step)
    typed = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    shown = FormPage(
        f"challenges/new/{asked.step}.html",
        {**_data(step, answers), "change": bool(text(form, "change"))},
        values=typed,
        fields={f: reading.CHALLENGE_FIELDS[f][1] for f in asked.fields},
    )
    with shown_again_on_error(request, shown):
        given = {**answers, **asked.read(form)}
        if problems := _problems_of(asked, given, now=now):
            raise ValidationFailed(reading.page_problems(problems, reading.CHALLENGE_FIELDS))
    given["answered"] = sorted({*answers.get("answered", []), asked.step})
    _save(session, visitor, given)
    session.commit()
    target = url("check") if text(form, "change") and _missing(given) is None else _after(asked.step)
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


def _finish(
    request: Request,
    answers: dict[str, Any],
    *,
    form: FormData,
    visitor: Visitor,
    session: SessionDep,
    settings: Settings,
    now: datetime,
) -> Response:
    """Save the draft, and publish it when asked: both or neither."""
    missing = _missing(answers)
    if missing is not None:
        return RedirectResponse(url(missing), status_code=status.HTTP_303_SEE_OTHER)
    # A core field's problem, shown on the check page, links to the question that sets it.
    shown = FormPage(
        "challenges/new/check.html",
        _data("check", answers),
        fields={f: url(step, change=True) for f, step in STEP_OF.items()} | {"(form)": "save"},
    )
    with shown_again_on_error(request, shown):
        try:
            fields = as_input(answers, now=now)
            if editing := answers.get("editing"):
                challenge = crud.get_challenge(session, user=visitor.actor.user, challenge_id=str(editing))
                challenge = crud.update_challenge(
                    session, actor=visitor.actor, challenge=challenge, fields=fields, now=now
                )
            else:
                challenge = crud.create_challenge(session, actor=visitor.actor, fields=fields, now=now)
        except ValidationFailed as failed:
            raise ValidationFailed(
                reading.page_problems(failed.problems, reading.CHALLENGE_FIELDS, by_field=True)
            ) from failed
        publishing = text(form, "action") == "publish"
        if publishing:
            challenge = crud.publish_challenge(
                session, actor=visitor.actor, challenge=challenge, settings=settings, now=now
            )
    _save(session, visitor, None)
    session.commit()
    done = "published" if publishing else "saved"
    return RedirectResponse(f"/challenges/{challenge.id}?done={done}", status_code=status.HTTP_303_SEE_OTHER)


def answers_of(challenge: Challenge) -> dict[str, Any]:
    """A draft's fields as the journey's answers, every question answered: changing it starts
    at the check page."""
    fields = challenge_rows.input_of(challenge)
    return {
        "title": fields.title,
        "problem": fields.problem,
        "users_and_need": fields.users_and_need,
        "tried": fields.tried,
        "constraints": fields.constraints,
        "budget_min": fields.budget_min,
        "budget_max": fields.budget_max,
        "timeline": fields.timeline,
        "closes_at": fields.closes_at.isoformat(),
        "questions_close_at": fields.questions_close_at.isoformat()
        if fields.questions_close_at and fields.questions_close_at != fields.closes_at
        else None,
        "problem_areas": list(fields.problem_areas),
        "answered": [q.step for q in STEPS],
        "editing": challenge.id,
    }


@router.post("/challenges/{challenge_id}/change")
def change(
    challenge_id: ChallengeId, form: CheckedForm, visitor: SignedIn, session: SessionDep, now: Now
) -> Response:
    """Change a draft: its fields go into the session's answers (`crud.update_challenge` saves
    them from the check page, as `PUT /api/v1/challenges/{id}` does)."""
    del form  # checked
    user = visitor.actor.user
    challenge = crud.get_challenge(session, user=user, challenge_id=challenge_id)
    access.check_may_manage_challenge(user, challenge)
    engagement.check_editable(challenge, now)
    _save(session, visitor, answers_of(challenge))
    session.commit()
    return RedirectResponse(url("check"), status_code=status.HTTP_303_SEE_OTHER)
