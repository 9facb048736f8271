"""Start a trial: one question per page, check your answers, then `crud.create_trial` (the
same call as `POST /api/v1/trials`, that page's twin for the write).

The answers are kept in the server-side session (`WebSession.data["drafts"][template]`) until
the trial is asked for; the version is fixed by the first answer, so the check page shows
exactly what will be launched. The questions are one table, `QUESTIONS`: each names its page,
the core field it answers, how its answer is read and checked, when it is asked and what its
row on the check page says; the routes walk the table in order (the next question is the next
one this journey asks, after the last comes the check page). A changed answer returns to the
check page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from orchestrator import catalogue, crud, presenting, rules
from orchestrator import parameters as parameter_subset
from orchestrator.access import check_may_start_trial
from orchestrator.errors import NotFound, Problem, ValidationFailed
from orchestrator.manifest import TemplateManifest
from orchestrator.models import Supplier, TemplateVersion
from orchestrator.settings import Settings
from web import views
from web.deps import Now, SessionDep, SettingsDep, SignedIn, Visitor
from web.forms import CheckedForm, Checks, FormPage, shown_again_on_error, text
from web.pages import page
from web.rendering import duration, render

router = APIRouter(prefix="/templates/{name}/start")
TemplateName = Annotated[str, Path(pattern=r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")]
Step = Annotated[str, Path(pattern=r"^[a-z-]{1,20}$")]
DURATION_CHOICES = (900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800, 1209600)


@dataclass(frozen=True)
class Journey:
    """One person's request for one template, as far as they have answered."""

    name: str
    version: TemplateVersion
    supplier: Supplier
    manifest: TemplateManifest
    answers: dict[str, Any]
    visitor: Visitor

    @property
    def questions(self) -> list[Question]:
        """The questions this journey asks, in order."""
        return [q for q in QUESTIONS if q.asked(self)]

    @property
    def steps(self) -> list[str]:
        return [q.step for q in self.questions]

    def question(self, step: str) -> Question:
        found = next((q for q in self.questions if q.step == step), None)
        if found is None:
            raise NotFound(f"no question {step!r} for this template")
        return found

    def url(self, step: str, *, change: bool = False) -> str:
        return f"/templates/{self.name}/start/{step}" + ("?change=1" if change else "")

    def after(self, step: str) -> str:
        steps = self.steps
        index = steps.index(step)
        return self.url(steps[index + 1]) if index + 1 < len(steps) else self.url("check")

    def before(self, step: str) -> str:
        steps = self.steps
        if step == "check":
            return self.url(steps[-1])
        index = steps.index(step)
        return self.url(steps[index - 1]) if index else f"/templates/{self.name}"

    def missing(self) -> str | None:
        """The first question not answered yet."""
        return next((q.step for q in self.questions if q.field not in self.answers), None)


Reader = Callable[[FormData, Journey, Settings], dict[str, Any]]


def _always(_journey: Journey) -> bool:
    return True


def _nothing(_journey: Journey, _settings: Settings) -> dict[str, Any]:
    return {}


def _as_typed(value: Any) -> Any:
    return "" if value is None else value


@dataclass(frozen=True)
class TextInput:
    """The validation of a question that is one required text input (`id`, the input's)."""

    id: str
    longest: int
    what: str  # the answer's name in a message: "The name must be 200 characters or fewer"
    missing: str  # the message when it is left empty


@dataclass(frozen=True)
class Question:
    """One page of the journey: `step` its page (/templates/{name}/start/{step}, shown by
    start/{step}.html), `field` the core's `crud.TrialRequest` field it answers, `row` its row
    on the check page. `validation` reads and checks the answer: a `TextInput`, or a reader
    that returns the answers (`field`, and what the page needs to fill the form in again) or
    raises `ValidationFailed` naming the input to fix."""

    step: str
    field: str
    row: str
    validation: TextInput | Reader
    asked: Callable[[Journey], bool] = _always  # whether this journey asks it
    offers: Callable[[Journey, Settings], dict[str, Any]] = _nothing  # the page's own data
    shown: Callable[[Any], Any] = _as_typed  # the answer as the check page shows it

    @property
    def template(self) -> str:
        return f"start/{self.step.replace('-', '_')}.html"

    def read(self, form: FormData, journey: Journey, settings: Settings) -> dict[str, Any]:
        rule = self.validation
        if not isinstance(rule, TextInput):
            return rule(form, journey, settings)
        checks = Checks()
        value = checks.required(
            text(form, rule.id), field_id=rule.id, longest=rule.longest, what=rule.what, message=rule.missing
        )
        checks.raise_any()
        return {self.field: value}


def _journey(session: SessionDep, visitor: Visitor, name: str) -> Journey:
    check_may_start_trial(visitor.actor.user)
    _template, supplier, _versions = crud.template_versions(session, name=name)
    drafts = visitor.web_session.data.get("drafts", {}) if visitor.web_session else {}
    answers = dict(drafts.get(name, {}))
    ref = f"{name}@{answers['version']}" if "version" in answers else name
    try:
        version = crud.resolve_template(session, ref=ref)
    except NotFound:
        if "version" not in answers:
            raise
        answers, version = {}, crud.resolve_template(session, ref=name)  # the draft's is gone
    return Journey(
        name=name,
        version=version,
        supplier=supplier,
        answers=answers,
        visitor=visitor,
        manifest=catalogue.stored_manifest(version.manifest, version.digest),
    )


def _data(journey: Journey, step: str, settings: Settings) -> dict[str, Any]:
    data: dict[str, Any] = {
        "template": views.template(journey.version, journey.supplier, settings),
        "step": step,
        "answers": journey.answers,
        "back": journey.before(step),
        "action": journey.url(step),
    }
    if step == "check":
        data["rows"] = check_rows(journey)
        data["needs_approval"] = rules.needs_approval(
            int(journey.answers.get("duration_seconds", 0)), settings=settings, template=journey.name
        )
        data["cost_forecast"] = views.forecast_words(
            journey.manifest,
            duration_seconds=int(journey.answers.get("duration_seconds", 0)),
            rate_card=settings.rate_card,
        )
        return data
    return data | journey.question(step).offers(journey, settings)


@page(router, "/{step}")
def question(
    request: Request,
    name: TemplateName,
    step: Step,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    change: bool = False,
) -> Response:
    journey = _journey(session, visitor, name)
    if step == "check":
        missing = journey.missing()
        if missing is not None and not request.url.path.endswith(".json"):
            return RedirectResponse(journey.url(missing), status_code=status.HTTP_303_SEE_OTHER)
        template = "start/check.html"
    else:
        template = journey.question(step).template
    data = _data(journey, step, settings)
    data["change"] = change
    return render(request, visitor, template, data)


@router.post("/{step}")
def answer(
    request: Request,
    name: TemplateName,
    step: Step,
    form: CheckedForm,
    visitor: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
) -> Response:
    journey = _journey(session, visitor, name)
    if step == "check":
        return _launch(request, journey, session=session, settings=settings, now=now)
    asked = journey.question(step)
    shown = FormPage(
        asked.template,
        {**_data(journey, step, settings), "change": bool(text(form, "change"))},
        values=_typed(form),
    )
    with shown_again_on_error(request, shown):
        answers = {**journey.answers, **asked.read(form, journey, settings)}
    answers["version"] = journey.version.version
    _save(session, visitor, name, answers)
    session.commit()
    done = Journey(
        name=name,
        version=journey.version,
        supplier=journey.supplier,
        manifest=journey.manifest,
        answers=answers,
        visitor=visitor,
    )
    target = done.url("check") if text(form, "change") and done.missing() is None else done.after(step)
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


def _typed(form: FormData) -> dict[str, Any]:
    """What the person typed, to fill the form in again."""
    return {
        key: (form.getlist(key) if key == "criteria" else value)
        for key, value in form.items()
        if isinstance(value, str) and key != "csrf_token"
    }


def _save(session: SessionDep, visitor: Visitor, name: str, answers: dict[str, Any] | None) -> None:
    assert visitor.web_session is not None  # forms are posted from a session (checked_form)
    data = dict(visitor.web_session.data)
    drafts = dict(data.get("drafts", {}))
    if answers is None:
        drafts.pop(name, None)
    else:
        drafts[name] = answers
    data["drafts"] = drafts
    crud.save_session_data(session, web_session=visitor.web_session, data=data)


def _launch(
    request: Request, journey: Journey, *, session: SessionDep, settings: Settings, now: datetime
) -> Response:
    missing = journey.missing()
    if missing is not None:
        return RedirectResponse(journey.url(missing), status_code=status.HTTP_303_SEE_OTHER)
    answers = journey.answers
    # A core field's problem, shown on the check page, links to the question that sets it.
    shown = FormPage(
        "start/check.html",
        _data(journey, "check", settings),
        fields={q.field: journey.url(q.step, change=True) for q in journey.questions}
        | {"(form)": "start-trial"},
    )
    with shown_again_on_error(request, shown):
        trial = crud.create_trial(
            session,
            actor=journey.visitor.actor,
            settings=settings,
            now=now,
            request=crud.TrialRequest(
                template=f"{journey.name}@{journey.version.version}",
                title=answers["title"],
                hypothesis=answers["hypothesis"],
                problem_statement=answers["problem_statement"],
                duration_seconds=int(answers["duration_seconds"]),
                success_criteria=tuple(answers["success_criteria"]),
                parameters=dict(answers.get("parameters", {})),
                shared_with_department=bool(answers.get("shared_with_department", False)),
                justification=answers.get("justification", "") if _needs_approval(journey) else "",
            ),
        )
    _save(session, journey.visitor, journey.name, None)
    session.commit()  # the commit wakes the reconciler (crud.on_intent_change)
    return RedirectResponse(f"/trials/{trial.id}/confirmation", status_code=status.HTTP_303_SEE_OTHER)


# --- the questions that are more than one text input -----------------------------------------


def _read_criteria(form: FormData, journey: Journey, _settings: Settings) -> dict[str, Any]:
    suggested = list(journey.manifest.spec.success_criteria)
    picked = [c for c in form.getlist("criteria") if isinstance(c, str) and c in suggested]
    own_text = text(form, "own-criteria")
    own = [line.strip() for line in own_text.split("\n") if line.strip()]
    checks = Checks()
    if not picked and not own:
        checks.add(
            "criteria" if suggested else "own-criteria", "Select or write at least one success criterion"
        )
    if len(picked) + len(own) > 20:
        checks.add("own-criteria", "Give 20 success criteria or fewer")
    if any(len(line) > 500 or "\x00" in line for line in own):
        checks.add("own-criteria", "Each success criterion must be 500 characters or fewer")
    checks.raise_any()
    return {"success_criteria": picked + own, "own_criteria": own_text}


def _read_duration(form: FormData, journey: Journey, settings: Settings) -> dict[str, Any]:
    choice, minutes = text(form, "duration"), text(form, "duration-minutes")
    field_id = "duration-minutes" if choice == "other" else "duration"
    if choice == "other" and not (minutes.isascii() and minutes.isdigit() and 0 < int(minutes) < 10**6):
        raise ValidationFailed([Problem(field_id, "Enter the duration as a whole number of minutes")])
    if choice != "other" and not (choice.isascii() and choice.isdigit() and len(choice) < 10):
        raise ValidationFailed([Problem(field_id, "Select how long the trial should run")])
    seconds = int(minutes) * 60 if choice == "other" else int(choice)
    shortest, longest = rules.duration_bounds(journey.manifest, settings)  # the core's rule
    if not shortest <= seconds <= longest:
        bound = f"at least {duration(shortest)}" if seconds < shortest else f"at most {duration(longest)}"
        raise ValidationFailed([Problem(field_id, f"The trial must last {bound}")])
    return {
        "duration_seconds": seconds,
        "duration_choice": choice,
        "duration_minutes": minutes if choice == "other" else "",
        # Whether the journey then asks why (`_needs_approval`): the core's rule, read here
        # because only the readers are given the settings.
        "needs_approval": rules.needs_approval(seconds, settings=settings, template=journey.name),
    }


def _read_settings(form: FormData, journey: Journey, _settings: Settings) -> dict[str, Any]:
    checks, values = Checks(), dict[str, Any]()
    for item in parameter_fields(journey.manifest, {}):
        raw = text(form, item["id"])
        if raw == "":
            continue
        kind = item["type"]
        if kind == "boolean":
            values[item["name"]] = raw == "yes"
        elif kind in ("integer", "number"):
            try:
                values[item["name"]] = int(raw) if kind == "integer" else float(raw)
            except ValueError:
                whole = "a whole number" if kind == "integer" else "a number"
                checks.add(item["id"], f"{item['title']} must be {whole}")
        else:
            values[item["name"]] = raw
    checks.raise_any()
    problems = crud.parameter_problems(journey.manifest, values)
    if problems:
        raise ValidationFailed(
            [
                Problem("param-" + p.field.split(".")[1] if "." in p.field else "parameters", f"{p.message}")
                for p in problems
            ]
        )
    return {"parameters": values}


def _read_sharing(form: FormData, _journey: Journey, _settings: Settings) -> dict[str, Any]:
    choice = text(form, "shared")
    if choice not in ("yes", "no"):
        raise ValidationFailed([Problem("shared", "Select yes if your department may see the trial")])
    return {"shared_with_department": choice == "yes"}


def _needs_approval(journey: Journey) -> bool:
    """A trial longer than self-service allows: the approver needs to know why."""
    return bool(journey.answers.get("needs_approval"))


def _has_parameters(journey: Journey) -> bool:
    return bool(journey.manifest.spec.parameters.get("properties"))


def _has_department(journey: Journey) -> bool:
    return bool(journey.visitor.user and journey.visitor.user.department)


def _shown_parameters(values: dict[str, Any] | None) -> list[str]:
    return [f"{k}: {v}" for k, v in (values or {}).items()] or ["The template's defaults"]


QUESTIONS: tuple[Question, ...] = (
    Question(
        "title",
        "title",
        "Trial name",
        TextInput("title", longest=200, what="The name", missing="Enter a name for your trial"),
    ),
    Question(
        "problem",
        "problem_statement",
        "Problem",
        TextInput("problem", longest=5000, what="The problem", missing="Enter the problem you want to solve"),
    ),
    Question(
        "hypothesis",
        "hypothesis",
        "Hypothesis",
        TextInput("hypothesis", longest=5000, what="The hypothesis", missing="Enter your hypothesis"),
    ),
    Question(
        "success-criteria",
        "success_criteria",
        "Success criteria",
        _read_criteria,
        shown=lambda value: value or [],
    ),
    Question(
        "duration",
        "duration_seconds",
        "Duration",
        _read_duration,
        offers=lambda journey, settings: {"durations": duration_options(journey.manifest, settings)},
        shown=duration,
    ),
    Question(
        "why-longer",
        "justification",
        "Why it needs longer",
        TextInput(
            "justification",
            longest=2000,
            what="The reason",
            missing="Enter why the trial needs to run for longer",
        ),
        asked=_needs_approval,
        offers=lambda journey, settings: {
            "self_service_limit": rules.self_service_limit(settings, journey.name)
        },
    ),
    Question(
        "settings",
        "parameters",
        "Sandbox settings",
        _read_settings,
        asked=_has_parameters,
        shown=_shown_parameters,
        offers=lambda journey, _settings: {
            "parameters": parameter_fields(journey.manifest, journey.answers.get("parameters", {}))
        },
    ),
    Question(
        "sharing",
        "shared_with_department",
        "Shared with your department",
        _read_sharing,
        asked=_has_department,
        shown=lambda value: "Yes" if value else "No",
        offers=lambda journey, _settings: {
            "department": journey.visitor.user.department if journey.visitor.user else ""
        },
    ),
)


# --- what the pages offer ---------------------------------------------------------------------


def duration_options(manifest: TemplateManifest, settings: Settings) -> list[dict[str, Any]]:
    """Common durations within the template's and the den's limits, its default among them;
    each says when it needs an approver."""
    shortest, longest = rules.duration_bounds(manifest, settings)
    default = manifest.spec.limits.default_duration
    choices = sorted({c for c in (*DURATION_CHOICES, default) if shortest <= c <= longest})
    return [
        {
            "seconds": c,
            "text": duration(c),
            "default": c == default,
            "needs_approval": rules.needs_approval(c, settings=settings, template=manifest.metadata.name),
        }
        for c in choices
    ]


def parameter_fields(manifest: TemplateManifest, values: dict[str, Any]) -> list[dict[str, Any]]:
    """One form field per parameter of the template's schema (strings, choices, numbers and
    yes/no); the schema itself still judges the values (`crud.parameter_problems`)."""
    schema = manifest.spec.parameters
    required = set(schema.get("required", []))
    fields = []
    for name, spec in schema.get("properties", {}).items():
        kind = spec.get("type", "string") if isinstance(spec, dict) else "string"
        value = values.get(name, spec.get("default", "") if isinstance(spec, dict) else "")
        fields.append(
            {
                "name": name,
                "id": f"param-{name}",
                "type": kind,
                "title": parameter_subset.display_name(name, spec if isinstance(spec, dict) else {}),
                "description": presenting.without_runtime_notes(spec.get("description", ""))
                if isinstance(spec, dict)
                else "",
                "choices": list(spec.get("enum", [])) if isinstance(spec, dict) else [],
                "required": name in required,
                "value": ("yes" if value else "no") if kind == "boolean" and value != "" else str(value),
            }
        )
    return fields


def check_rows(journey: Journey) -> list[dict[str, Any]]:
    """The check page: one row per question asked, each linking back to change it."""
    return [
        {
            "key": q.row,
            "value": q.shown(journey.answers.get(q.field)),
            "href": journey.url(q.step, change=True),
            "step": q.step,
        }
        for q in journey.questions
    ]
