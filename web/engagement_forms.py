"""What the early engagement forms read and how their mistakes read: pure functions, no I/O.

The rules are the core's (`orchestrator.engagement`): a form reads what was typed into the
core's input (a `ChallengeInput`, `SessionInput`, ...), and the core's problems come back here
to be said as a person reads them, each pointing at the input to fix (`page_problems`). Only
what the core cannot judge is checked here: that a date is a real date, a number a number.
Dates are typed in UK time and stored with their offset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta

from orchestrator.errors import Problem
from orchestrator.presenting import SERVICE_TIME_ZONE, duration_words

#: A challenge closes (and takes its last questions) at the end of the day it names, UK time.
END_OF_DAY = time(23, 59)

#: The core's field -> (the words a page names it by, the page's input id).
CHALLENGE_FIELDS: dict[str, tuple[str, str]] = {
    "title": ("The title", "title"),
    "problem": ("The problem", "problem"),
    "users_and_need": ("The users and their need", "users_and_need"),
    "tried": ("What has been tried", "tried"),
    "constraints": ("The constraints", "constraints"),
    "budget_min": ("The lowest budget", "budget_min"),
    "budget_max": ("The highest budget", "budget_max"),
    "timeline": ("The timeline", "timeline"),
    "closes_at": ("The closing date", "closes-day"),
    "questions_close_at": ("The last date for questions", "questions-day"),
    "problem_areas": ("A problem area", "problem_areas"),
}
RESPONSE_FIELDS: dict[str, tuple[str, str]] = {
    "summary": ("How you would help", "summary"),
    "templates": ("The templates", "templates"),
    "conflict_detail": ("The conflict of interest", "conflict_detail"),
}
SESSION_FIELDS: dict[str, tuple[str, str]] = {
    "title": ("The name of the session", "title"),
    "mode": ("How it is held", "mode"),
    "place": ("Where it is held", "place"),
    "capacity": ("The number of places", "capacity"),
    "starts_at": ("The start", "day"),
    "ends_at": ("The end", "ends"),
}
MATERIAL_FIELDS: dict[str, tuple[str, str]] = {
    "title": ("The name of the document", "title"),
    "url": ("The web address", "url"),
}
OFFER_FIELDS: dict[str, tuple[str, str]] = {
    "hypothesis": ("The hypothesis", "hypothesis"),
    "duration_seconds": ("The length of each trial", "duration"),
    "success_criteria": ("The success criteria", "success_criteria"),
    "templates": ("An offered template", "offer"),
}
#: How the core's messages about a field begin when they go on from its name.
PREDICATES = ("is ", "has ", "names ", "unknown ")
#: A length in seconds, as the core's messages give it ("3600 s", "1200 seconds").
SECONDS = re.compile(r"\b(\d+) ?(?:s|seconds)\b")
#: Words the core's messages use for other fields, as a page says them.
FIELD_WORDS = {"budget_min": "the lowest budget", "starts_at": "the start", "in_person": "in person"}


def page_problems(
    problems: Sequence[Problem], fields: Mapping[str, tuple[str, str]], *, by_field: bool = False
) -> list[Problem]:
    """The core's problems as a page's: "The closing date is in the past: give a closing date
    after today", each on the input that fixes it (an indexed field, `problem_areas[2]`, on its
    list's input), or with `by_field` on the core's field (without its index), for a page that
    links each field elsewhere. A field the page does not know keeps the core's own words."""
    shown = []
    for problem in problems:
        base = problem.field.split("[", 1)[0]
        name, field_id = fields.get(base, ("", problem.field))
        if by_field:
            field_id = base
        message = SECONDS.sub(lambda m: duration_words(int(m.group(1))), problem.message)
        for token, words in FIELD_WORDS.items():
            message = message.replace(token, words)
        joined = " " if message.startswith(PREDICATES) else ": "
        text = f"{name}{joined}{message}" if name else message
        if problem.hint:
            text = f"{text}: {problem.hint}"
        shown.append(Problem(field_id, text[0].upper() + text[1:]))
    return shown


#: How the core's messages name a challenge or a session: by its id, which a page says as words.
NAMED_BY_ID = re.compile(r"\b(?:(challenge) c[0-9a-f]{12}|(session) [0-9]+)\b")


def plainly(detail: str) -> str:
    """A core message as a page says it: "challenge c1f2... closed on 3 December 2026" reads
    "The challenge closed on 3 December 2026" (the page already says which), as a sentence."""
    said = NAMED_BY_ID.sub(lambda m: f"the {m.group(1) or m.group(2)}", detail)
    return said[:1].upper() + said[1:]


def read_date(
    parts: Mapping[str, str], *, prefix: str, what: str, required: bool
) -> tuple[date | None, Problem | None]:
    """A GOV.UK date input's three parts (`{prefix}-day`, `-month`, `-year`): the date, or the
    problem naming the part to fix. Nothing typed is None (a problem only when `required`)."""
    day, month, year = (parts.get(f"{prefix}-{part}", "").strip() for part in ("day", "month", "year"))
    if not (day or month or year):
        return None, Problem(f"{prefix}-day", f"Enter {what}") if required else None
    for part, value in (("day", day), ("month", month), ("year", year)):
        if not value:
            return None, Problem(f"{prefix}-{part}", f"{what[0].upper() + what[1:]} must include a {part}")
    if not all(v.isascii() and v.isdigit() and len(v) <= 4 for v in (day, month, year)) or len(year) != 4:
        return None, Problem(f"{prefix}-day", f"{what[0].upper() + what[1:]} must be a real date")
    try:
        return date(int(year), int(month), int(day)), None
    except ValueError:
        return None, Problem(f"{prefix}-day", f"{what[0].upper() + what[1:]} must be a real date")


def read_clock(value: str, *, field_id: str, what: str) -> tuple[time | None, Problem | None]:
    """A time of day as people type it: 14:30, 2:30pm, 9am."""
    typed = value.strip().lower().replace(".", ":").replace(" ", "")
    if not typed:
        return None, Problem(field_id, f"Enter {what}")
    suffix = ""
    if typed.endswith(("am", "pm")):
        typed, suffix = typed[:-2], typed[-2:]
    hours, _, minutes = typed.partition(":")
    minutes = minutes or "00"
    if not (hours.isdigit() and minutes.isdigit() and len(hours) <= 2 and len(minutes) == 2):
        return None, Problem(field_id, f"{what[0].upper() + what[1:]} must be a time, like 2:30pm or 14:30")
    hour, minute = int(hours), int(minutes)
    if suffix:
        if not 1 <= hour <= 12:
            return None, Problem(field_id, f"{what[0].upper() + what[1:]} must be a real time")
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if hour > 23 or minute > 59:
        return None, Problem(field_id, f"{what[0].upper() + what[1:]} must be a real time")
    return time(hour, minute), None


def uk_time(day: date, clock: time = END_OF_DAY) -> datetime:
    """That day and time in the UK, with its offset (GMT or BST)."""
    return datetime.combine(day, clock, tzinfo=SERVICE_TIME_ZONE)


def date_parts(value: datetime | None) -> dict[str, str]:
    """A stored time as a date input shows it again (UK time)."""
    if value is None:
        return {"day": "", "month": "", "year": ""}
    local = value.astimezone(SERVICE_TIME_ZONE)
    return {"day": str(local.day), "month": str(local.month), "year": str(local.year)}


def read_pounds(value: str, *, field_id: str, what: str) -> tuple[int | None, Problem | None]:
    """Whole pounds, with or without a £ and commas; nothing typed is None."""
    typed = value.strip().removeprefix("£").replace(",", "").strip()
    if not typed:
        return None, None
    if not (typed.isascii() and typed.isdigit() and len(typed) <= 12):
        return None, Problem(field_id, f"{what} must be a whole number of pounds, like 20000")
    return int(typed), None


def read_lines(value: str) -> tuple[str, ...]:
    """One item a line, blank lines left out."""
    return tuple(line.strip() for line in value.split("\n") if line.strip())


UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


def read_duration(amount: str, unit: str) -> tuple[int | None, Problem | None]:
    """A trial's length as a number of minutes, hours or days: seconds."""
    if unit not in UNITS:
        return None, Problem("duration-unit", "Select minutes, hours or days")
    typed = amount.strip()
    if not (typed.isascii() and typed.isdigit() and 0 < int(typed) <= 10_000):
        return None, Problem("duration", "Enter the length of each trial as a whole number, like 2")
    return int(typed) * UNITS[unit], None


def later(now: datetime, days: int) -> datetime:
    """A placeholder time `days` ahead: for checking one page's answers before the rest exist."""
    return now + timedelta(days=days)
