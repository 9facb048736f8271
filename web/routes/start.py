"""Start a trial: one question per page, check your answers, then `crud.create_trial` (the
same call as `POST /api/v1/trials`, that page's twin for the write).

The answers are kept in the server-side session (`WebSession.data["drafts"][template]`) until
the trial is asked for; the version is fixed by the first answer, so the check page shows
exactly what will be launched. Questions: title, problem, hypothesis, success criteria,
duration, then the template's settings (only when it has parameters) and sharing with the
department (only for people who have one). A changed answer returns to the check page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from orchestrator import catalogue, crud, rules
from orchestrator.access import Role
from orchestrator.errors import Forbidden, NotFound, Problem, ValidationFailed
from orchestrator.manifest import TemplateManifest
from orchestrator.models import Supplier, TemplateVersion
from orchestrator.settings import Settings
from web import views
from web.deps import Now, SessionDep, SettingsDep, SignedIn, Visitor, wake_reconciler
from web.forms import CheckedForm, Checks, FormPage, shown_again_on_error, text
from web.pages import page
from web.rendering import duration, render

router = APIRouter(prefix="/templates/{name}/start")
TemplateName = Annotated[str, Path(pattern=r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")]
Step = Annotated[str, Path(pattern=r"^[a-z-]{1,20}$")]
DURATION_CHOICES = (900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800, 1209600)
STEPS = ("title", "problem", "hypothesis", "success-criteria", "duration", "settings", "sharing")
#: A core field's problem, shown on the check page, links to the question that sets it.
CHECK_FIELDS = {
    "duration_seconds": "duration",
    "title": "title",
    "hypothesis": "hypothesis",
    "problem_statement": "problem",
    "success_criteria": "success-criteria",
}


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
    def steps(self) -> list[str]:
        skip = set()
        if not self.manifest.spec.parameters.get("properties"):
            skip.add("settings")
        if not (self.visitor.user and self.visitor.user.department):
            skip.add("sharing")
        return [s for s in STEPS if s not in skip]

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
        needed = {
            "title": "title",
            "problem": "problem_statement",
            "hypothesis": "hypothesis",
            "success-criteria": "success_criteria",
            "duration": "duration_seconds",
            "settings": "parameters",
            "sharing": "shared_with_department",
        }
        return next((s for s in self.steps if needed[s] not in self.answers), None)


def _journey(session: SessionDep, visitor: Visitor, name: str) -> Journey:
    if visitor.role == Role.SUPPLIER:
        raise Forbidden("suppliers cannot launch trials")
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
    if step == "duration":
        data["durations"] = duration_options(journey.manifest, settings)
    if step == "settings":
        data["parameters"] = parameter_fields(journey.manifest, journey.answers.get("parameters", {}))
    if step == "sharing" and journey.visitor.user:
        data["department"] = journey.visitor.user.department
    if step == "check":
        data["rows"] = check_rows(journey)
        data["needs_approval"] = rules.needs_approval(
            int(journey.answers.get("duration_seconds", 0)), settings=settings, template=journey.name
        )
    return data


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
    elif step not in journey.steps:
        raise NotFound(f"no question {step!r} for this template")
    data = _data(journey, step, settings)
    data["change"] = change
    return render(request, visitor, f"start/{step.replace('-', '_')}.html", data)


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
    if step not in journey.steps:
        raise NotFound(f"no question {step!r} for this template")
    shown = FormPage(
        f"start/{step.replace('-', '_')}.html",
        {**_data(journey, step, settings), "change": bool(text(form, "change"))},
        values=_typed(form),
    )
    with shown_again_on_error(request, shown):
        answers = {**journey.answers, **READERS[step](form, journey, settings)}
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
    shown = FormPage(
        "start/check.html",
        _data(journey, "check", settings),
        fields={f: journey.url(step, change=True) for f, step in CHECK_FIELDS.items()}
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
            ),
        )
    _save(session, journey.visitor, journey.name, None)
    session.commit()
    wake_reconciler(request)
    return RedirectResponse(f"/trials/{trial.id}/confirmation", status_code=status.HTTP_303_SEE_OTHER)


# --- reading each question's answer ---------------------------------------------------------


def _read_title(form: FormData, _journey: Journey, _settings: Settings) -> dict[str, Any]:
    checks = Checks()
    title = checks.required(
        text(form, "title"),
        field_id="title",
        longest=200,
        what="The name",
        message="Enter a name for your trial",
    )
    checks.raise_any()
    return {"title": title}


def _read_problem(form: FormData, _journey: Journey, _settings: Settings) -> dict[str, Any]:
    checks = Checks()
    problem = checks.required(
        text(form, "problem"),
        field_id="problem",
        longest=5000,
        what="The problem",
        message="Enter the problem you want to solve",
    )
    checks.raise_any()
    return {"problem_statement": problem}


def _read_hypothesis(form: FormData, _journey: Journey, _settings: Settings) -> dict[str, Any]:
    checks = Checks()
    hypothesis = checks.required(
        text(form, "hypothesis"),
        field_id="hypothesis",
        longest=5000,
        what="The hypothesis",
        message="Enter your hypothesis",
    )
    checks.raise_any()
    return {"hypothesis": hypothesis}


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
    if choice == "other" and not (minutes.isdigit() and 0 < int(minutes) < 10**6):
        raise ValidationFailed([Problem(field_id, "Enter the duration as a whole number of minutes")])
    if choice != "other" and not (choice.isdigit() and len(choice) < 10):
        raise ValidationFailed([Problem(field_id, "Select how long the trial should last")])
    seconds = int(minutes) * 60 if choice == "other" else int(choice)
    if rules.duration_problems(seconds, journey.manifest, settings):  # the core's rule, in words
        shortest, longest = (settings.min_trial_duration, rules.longest_duration(journey.manifest, settings))
        bound = f"at least {duration(shortest)}" if seconds < shortest else f"at most {duration(longest)}"
        raise ValidationFailed([Problem(field_id, f"The trial must last {bound}")])
    return {
        "duration_seconds": seconds,
        "duration_choice": choice,
        "duration_minutes": minutes if choice == "other" else "",
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
                checks.add(item["id"], f"{item['title']} must be a number")
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


READERS = {
    "title": _read_title,
    "problem": _read_problem,
    "hypothesis": _read_hypothesis,
    "success-criteria": _read_criteria,
    "duration": _read_duration,
    "settings": _read_settings,
    "sharing": _read_sharing,
}


# --- what the pages offer ---------------------------------------------------------------------


def duration_options(manifest: TemplateManifest, settings: Settings) -> list[dict[str, Any]]:
    """Common durations within the template's and the den's limits, its default among them;
    each says when it needs an approver."""
    longest = rules.longest_duration(manifest, settings)
    default = manifest.spec.limits.default_duration
    choices = sorted(
        {c for c in DURATION_CHOICES if settings.min_trial_duration <= c <= longest}
        | ({default} if settings.min_trial_duration <= default <= longest else set())
    )
    limit = rules.self_service_limit(settings, manifest.metadata.name)
    return [
        {"seconds": c, "text": duration(c), "default": c == default, "needs_approval": c > limit}
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
                "title": spec.get("title", name) if isinstance(spec, dict) else name,
                "description": spec.get("description", "") if isinstance(spec, dict) else "",
                "choices": list(spec.get("enum", [])) if isinstance(spec, dict) else [],
                "required": name in required,
                "value": ("yes" if value else "no") if kind == "boolean" and value != "" else str(value),
            }
        )
    return fields


def check_rows(journey: Journey) -> list[dict[str, Any]]:
    answers = journey.answers
    rows = [
        ("Trial name", answers.get("title", ""), "title"),
        ("Problem", answers.get("problem_statement", ""), "problem"),
        ("Hypothesis", answers.get("hypothesis", ""), "hypothesis"),
        ("Success criteria", answers.get("success_criteria", []), "success-criteria"),
        ("Duration", duration(answers.get("duration_seconds")), "duration"),
    ]
    if "settings" in journey.steps:
        shown = [f"{k}: {v}" for k, v in answers.get("parameters", {}).items()]
        rows.append(("Sandbox settings", shown or ["The template's defaults"], "settings"))
    if "sharing" in journey.steps:
        rows.append(
            (
                "Shared with your department",
                "Yes" if answers.get("shared_with_department") else "No",
                "sharing",
            )
        )
    return [
        {"key": key, "value": value, "href": journey.url(step, change=True), "step": step}
        for key, value, step in rows
    ]
