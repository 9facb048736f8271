"""Early engagement's stages and rules: pure, no I/O, no clock (time comes in as `now`).

A **challenge** is a problem written early, before a scheme is designed: Draft (its owner's
only), then Published (every signed-in person sees it; suppliers respond, ask questions and
register for sessions), then Closed (from its closing date, or when its owner closes it early or
launches the equal offer), then Decided (its owner records what was decided). Suppliers respond
until it closes, and ask questions until the last date for questions, which is on or before the
closing date: answers are for every supplier to see, never saying who asked.

The **equal offer** starts one trial per offered template on the same terms (hypothesis,
success criteria, duration, and a ceiling on CPU and memory each template must fit under), so
that suppliers are compared on equal terms.

Each rule is written here once; crud/challenges.py enforces it on every write, and the pages
ask the same function whether to offer an action. Refusals carry a stable `reason` token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from orchestrator.errors import Problem, RuleViolation
from orchestrator.models import Challenge, EngagementSession


class Stage(StrEnum):
    DRAFT = "Draft"
    PUBLISHED = "Published"
    CLOSED = "Closed"
    DECIDED = "Decided"


STAGES = tuple(str(stage) for stage in Stage)


class EngagementRule(StrEnum):
    """Why an engagement write was refused. CamelCase, stable: never rename a token."""

    NOT_DRAFT = "ChallengeNotDraft"
    NOT_PUBLISHED = "ChallengeNotPublished"
    CLOSED = "ChallengeClosed"
    QUESTIONS_CLOSED = "QuestionsClosed"
    NOT_CLOSED = "ChallengeNotClosed"
    DECIDED = "ChallengeDecided"
    OFFER_MADE = "OfferAlreadyLaunched"
    NO_OFFER = "NothingToOffer"
    SESSION_FULL = "SessionFull"
    SESSION_OVER = "SessionOver"
    NOT_SUPPLIERS_TEMPLATE = "NotSuppliersTemplate"


SESSION_MODES = ("online", "in_person")
#: What the guidance says first, on every page that writes a challenge.
GUIDANCE = (
    "Describe the problem, not a solution: who has it, what they need, and what you have tried. "
    "Suppliers then suggest what could help."
)


def stage(challenge: Challenge, now: datetime) -> Stage:
    """Where the challenge is: its owner's intent, then the clock."""
    if challenge.decided_at is not None:
        return Stage.DECIDED
    if challenge.published_at is None:
        return Stage.DRAFT
    if challenge.closed_at is not None or now >= challenge.closes_at:
        return Stage.CLOSED
    return Stage.PUBLISHED


def questions_open(challenge: Challenge, now: datetime) -> bool:
    return stage(challenge, now) == Stage.PUBLISHED and now < challenge.questions_close_at


# --- what a challenge must say ----------------------------------------------------------------


@dataclass(frozen=True)
class ChallengeInput:
    title: str
    problem: str
    closes_at: datetime
    users_and_need: str = ""
    tried: str = ""
    constraints: str = ""
    budget_min: int | None = None
    budget_max: int | None = None
    timeline: str = ""
    problem_areas: tuple[str, ...] = ()
    #: None: questions are taken until the challenge closes.
    questions_close_at: datetime | None = None


#: The longest each text may be, as the tables store it: checked here so that every client
#: (the API, the pages, `denctl`) is told, never the database.
LONGEST = {
    "title": 200,
    "problem": 5000,
    "users_and_need": 5000,
    "tried": 5000,
    "constraints": 5000,
    "timeline": 2000,
    "summary": 5000,
    "conflict_detail": 2000,
    "question": 2000,
    "answer": 5000,
    "decision": 5000,
    "place": 500,
    "hypothesis": 5000,
    "material_title": 200,
    "url": 2000,
}


def too_long(field: str, value: str, *, longest: int | None = None) -> list[Problem]:
    """A problem when `value` is longer than the table keeps (`LONGEST`)."""
    limit = longest or LONGEST[field]
    if len(value) <= limit:
        return []
    return [Problem(field, f"is {len(value)} characters long", f"keep it to {limit} characters")]


def challenge_problems(fields: ChallengeInput, *, now: datetime) -> list[Problem]:
    """Everything wrong with a challenge's fields, each with its fix."""
    problems: list[Problem] = [
        p
        for name in ("title", "problem", "users_and_need", "tried", "constraints", "timeline")
        for p in too_long(name, getattr(fields, name))
    ]
    if not fields.title.strip():
        problems.append(Problem("title", "is empty", "say in a few words what the problem is"))
    if not fields.problem.strip():
        problems.append(Problem("problem", "is empty", "describe the problem and who has it, not a solution"))
    if fields.closes_at.tzinfo is None:
        problems.append(Problem("closes_at", "has no time zone", "give the time with its offset, e.g. Z"))
        return problems
    if fields.closes_at <= now:
        problems.append(Problem("closes_at", "is in the past", "give a closing date after today"))
    if (asked := fields.questions_close_at) is not None:
        if asked.tzinfo is None:
            problems.append(
                Problem("questions_close_at", "has no time zone", "give the time with its offset, e.g. Z")
            )
        elif asked > fields.closes_at:
            problems.append(
                Problem(
                    "questions_close_at",
                    "is after the closing date",
                    "take the last questions on or before the closing date",
                )
            )
        elif asked <= now:
            problems.append(
                Problem("questions_close_at", "is in the past", "give a last date for questions after today")
            )
    low, high = fields.budget_min, fields.budget_max
    for name, value in (("budget_min", low), ("budget_max", high)):
        if value is not None and value < 0:
            problems.append(Problem(name, "is below zero", "give the budget in whole pounds, 0 or more"))
    if (low is None) != (high is None):
        missing = "budget_max" if high is None else "budget_min"
        problems.append(Problem(missing, "is missing", "give both ends of the budget range, or neither"))
    elif low is not None and high is not None and low > high:
        problems.append(Problem("budget_max", "is below budget_min", "give the higher figure last"))
    for index, area in enumerate(fields.problem_areas):
        if not area.strip() or len(area) > 60:
            problems.append(
                Problem(
                    f"problem_areas[{index}]",
                    "is empty or longer than 60 characters",
                    "name the area in a few words",
                )
            )
    return problems


def questions_close(fields: ChallengeInput) -> datetime:
    return fields.questions_close_at or fields.closes_at


# --- what each stage allows -------------------------------------------------------------------


def check_editable(challenge: Challenge, now: datetime) -> None:
    """Only a draft changes: once published, suppliers answer what they were shown."""
    if stage(challenge, now) != Stage.DRAFT:
        raise RuleViolation(
            f"challenge {challenge.id} is {stage(challenge, now).lower()}: only a draft can be changed",
            reason=EngagementRule.NOT_DRAFT,
        )


def check_publishable(challenge: Challenge, now: datetime) -> None:
    check_editable(challenge, now)
    if challenge.closes_at <= now:
        raise RuleViolation(
            f"challenge {challenge.id} closes in the past: set a closing date after today, then publish it",
            reason=EngagementRule.CLOSED,
        )


def check_open(challenge: Challenge, now: datetime, *, to: str) -> None:
    """Published and not closed yet: suppliers respond (and the owner closes it early)."""
    current = stage(challenge, now)
    if current == Stage.DRAFT:
        raise RuleViolation(
            f"challenge {challenge.id} is not published yet: nobody can {to}",
            reason=EngagementRule.NOT_PUBLISHED,
        )
    if current != Stage.PUBLISHED:
        raise RuleViolation(
            f"challenge {challenge.id} closed on {_day(closed_on(challenge))}: nobody can {to} any more",
            reason=EngagementRule.CLOSED,
        )


def check_may_ask(challenge: Challenge, now: datetime) -> None:
    check_open(challenge, now, to="ask a question")
    if now >= challenge.questions_close_at:
        raise RuleViolation(
            f"questions on challenge {challenge.id} closed on {_day(challenge.questions_close_at)}: "
            "read the answers already given, or respond before the closing date",
            reason=EngagementRule.QUESTIONS_CLOSED,
        )


def check_answerable(challenge: Challenge, now: datetime) -> None:
    """Questions are answered until the challenge is decided (late answers still help all)."""
    current = stage(challenge, now)
    if current in (Stage.DRAFT, Stage.DECIDED):
        raise RuleViolation(
            f"challenge {challenge.id} is {current.lower()}: its questions cannot be answered now",
            reason=EngagementRule.DECIDED if current == Stage.DECIDED else EngagementRule.NOT_PUBLISHED,
        )


def check_may_schedule(challenge: Challenge, now: datetime) -> None:
    """Sessions are held while the challenge is open (they may be planned in its draft)."""
    current = stage(challenge, now)
    if current not in (Stage.DRAFT, Stage.PUBLISHED):
        raise RuleViolation(
            f"challenge {challenge.id} is {current.lower()}: sessions are held before it closes",
            reason=EngagementRule.CLOSED,
        )


def check_may_register(challenge: Challenge, held: EngagementSession, *, taken: int, now: datetime) -> None:
    check_open(challenge, now, to="register for its sessions")
    if now >= held.starts_at:
        raise RuleViolation(
            f"session {held.id} started on {_day(held.starts_at)}: its materials are on the challenge's page",
            reason=EngagementRule.SESSION_OVER,
        )
    if taken >= held.capacity:
        raise RuleViolation(
            f"session {held.id} is full ({held.capacity} place{'s' if held.capacity != 1 else ''}): "
            "ask the owner about another one",
            reason=EngagementRule.SESSION_FULL,
        )


def check_may_share_materials(challenge: Challenge, now: datetime) -> None:
    current = stage(challenge, now)
    if current in (Stage.DRAFT, Stage.DECIDED):
        raise RuleViolation(
            f"challenge {challenge.id} is {current.lower()}: materials are shared while it runs",
            reason=EngagementRule.NOT_PUBLISHED if current == Stage.DRAFT else EngagementRule.DECIDED,
        )


def check_may_offer(challenge: Challenge, now: datetime) -> None:
    """The equal offer is made once, from the responses in, before the challenge is decided."""
    current = stage(challenge, now)
    if current == Stage.DRAFT:
        raise RuleViolation(
            f"challenge {challenge.id} is not published: suppliers must respond before an offer",
            reason=EngagementRule.NOT_PUBLISHED,
        )
    if current == Stage.DECIDED:
        raise RuleViolation(f"challenge {challenge.id} is decided", reason=EngagementRule.DECIDED)
    if challenge.offered_at is not None:
        raise RuleViolation(
            f"the equal offer of challenge {challenge.id} was launched on {_day(challenge.offered_at)}: "
            "its trials are on the challenge's page",
            reason=EngagementRule.OFFER_MADE,
        )


def check_decidable(challenge: Challenge, now: datetime) -> None:
    current = stage(challenge, now)
    if current == Stage.DECIDED:
        raise RuleViolation(f"challenge {challenge.id} is decided already", reason=EngagementRule.DECIDED)
    if current != Stage.CLOSED:
        raise RuleViolation(
            f"challenge {challenge.id} is {current.lower()}: close it before recording the decision",
            reason=EngagementRule.NOT_CLOSED,
        )


def closed_on(challenge: Challenge) -> datetime:
    if challenge.closed_at is not None and challenge.closed_at < challenge.closes_at:
        return challenge.closed_at
    return challenge.closes_at


# --- responses, questions, sessions, the offer ---------------------------------------------------


@dataclass(frozen=True)
class ResponseInput:
    summary: str
    templates: tuple[str, ...]
    conflict_declared: bool = False
    conflict_detail: str = ""


def response_problems(fields: ResponseInput) -> list[Problem]:
    problems = too_long("summary", fields.summary) + too_long("conflict_detail", fields.conflict_detail)
    if not fields.summary.strip():
        problems.append(Problem("summary", "is empty", "say in a few sentences how you would help"))
    if not fields.templates:
        problems.append(Problem("templates", "is empty", "offer at least one of your templates for a trial"))
    if len(set(fields.templates)) != len(fields.templates):
        problems.append(Problem("templates", "names a template twice", "offer each template once"))
    if fields.conflict_declared and not fields.conflict_detail.strip():
        problems.append(
            Problem("conflict_detail", "is empty", "say what the conflict of interest is, or declare none")
        )
    return problems


@dataclass(frozen=True)
class SessionInput:
    title: str
    starts_at: datetime
    ends_at: datetime
    mode: str
    place: str
    capacity: int


def session_problems(fields: SessionInput, *, now: datetime) -> list[Problem]:
    problems = too_long("title", fields.title) + too_long("place", fields.place)
    if not fields.title.strip():
        problems.append(Problem("title", "is empty", "name the session, e.g. 'Questions and answers'"))
    if fields.mode not in SESSION_MODES:
        problems.append(Problem("mode", f"unknown mode {fields.mode!r}", "use online or in_person"))
    if not fields.place.strip():
        hint = "give the link to join" if fields.mode == "online" else "give the address"
        problems.append(Problem("place", "is empty", hint))
    if fields.capacity < 1:
        problems.append(Problem("capacity", "is below 1", "give the number of places, 1 or more"))
    if fields.starts_at.tzinfo is None or fields.ends_at.tzinfo is None:
        problems.append(Problem("starts_at", "has no time zone", "give the times with their offset, e.g. Z"))
        return problems
    if fields.starts_at <= now:
        problems.append(Problem("starts_at", "is in the past", "give a start after now"))
    if fields.ends_at <= fields.starts_at:
        problems.append(Problem("ends_at", "is not after starts_at", "give an end after the start"))
    return problems


@dataclass(frozen=True)
class OfferInput:
    """The terms every offered template's trial gets alike."""

    hypothesis: str
    duration_seconds: int
    success_criteria: tuple[str, ...] = ()
    #: A ceiling each offered template must fit under (None: the den's own caps only).
    max_cpu_millicores: int | None = None
    max_memory_mib: int | None = None


def offer_problems(fields: OfferInput) -> list[Problem]:
    problems = too_long("hypothesis", fields.hypothesis)
    problems += [
        p
        for i, c in enumerate(fields.success_criteria)
        for p in too_long(f"success_criteria[{i}]", c, longest=500)
    ]
    if not fields.hypothesis.strip():
        problems.append(
            Problem("hypothesis", "is empty", "say what the trials should show, the same for all")
        )
    if fields.duration_seconds < 1:
        problems.append(Problem("duration_seconds", "is below 1", "give each trial's length in seconds"))
    if not fields.success_criteria:
        problems.append(
            Problem("success_criteria", "is empty", "give at least one criterion, the same for every trial")
        )
    for index, criterion in enumerate(fields.success_criteria):
        if not criterion.strip():
            problems.append(
                Problem(f"success_criteria[{index}]", "is empty", "remove it or say what success is")
            )
    for name, value in (
        ("max_cpu_millicores", fields.max_cpu_millicores),
        ("max_memory_mib", fields.max_memory_mib),
    ):
        if value is not None and value < 1:
            problems.append(Problem(name, "is below 1", "give a ceiling above 0, or none"))
    return problems


def over_ceiling(fields: OfferInput, *, cpu_millicores: int, memory_mib: int) -> str:
    """What a template reserves beyond the offer's ceiling, in words ('' when it fits)."""
    over = []
    if fields.max_cpu_millicores is not None and cpu_millicores > fields.max_cpu_millicores:
        over.append(f"{cpu_millicores} thousandths of a CPU, over the offer's {fields.max_cpu_millicores}")
    if fields.max_memory_mib is not None and memory_mib > fields.max_memory_mib:
        over.append(f"{memory_mib} megabytes of memory, over the offer's {fields.max_memory_mib}")
    return " and ".join(over)


def _day(when: datetime) -> str:
    return when.strftime("%-d %B %Y")
