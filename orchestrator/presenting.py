"""Rows -> what a client sees of a trial: the one rendering for the REST API (`/api/v1/trials`)
and for the web pages' JSON twins (`/trials.json`, `/trials/{id}.json`, ...). Pure: no I/O, no
clock; the caller looks up the owners' names (`crud.owner_names`) and passes `now`.

The field names are the API's, a fixed contract (PRODUCT.md 7.1); a page that needs more adds
fields of its own beside them (web/views.py), never another meaning for one of these.

Below that, the plain words the pages use for the same data (`plain_message`, `duration_words`,
`clock_words`, `department_name`): the API's messages stay as written, pages for civil servants
say them about the sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from orchestrator import cost as costs
from orchestrator.lifecycle import Phase, time_left
from orchestrator.models import Trial, TrialCost, TrialEvent, TrialEventPublic, TrialPublic, TrialUsage
from orchestrator.sandbox_hosts import SandboxAddress
from orchestrator.settings import RateCard


def trial(
    row: Trial, *, owner: str, now: datetime, sandboxes: SandboxAddress, rate_card: RateCard | None = None
) -> TrialPublic:
    left = time_left(now=now, expires_at=row.expires_at) if row.ended_at is None else None
    return TrialPublic(
        id=row.id,
        name=row.name,
        phase=row.phase,
        reason=row.reason,
        message=row.message,
        template=f"{row.template_name}@{row.template_version}",
        owner=owner,
        department=row.department,
        title=row.title,
        problem_statement=row.problem_statement,
        hypothesis=row.hypothesis,
        success_criteria=list(row.success_criteria),
        parameters=dict(row.parameters),
        duration_seconds=row.duration_seconds,
        shared_with_department=row.shared_with_department,
        extension_count=row.extension_count,
        created_at=row.created_at,
        ready_at=row.ready_at,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
        end_requested_at=row.end_requested_at,
        time_left_seconds=int(left.total_seconds()) if left is not None else None,
        endpoints=endpoints(row, sandboxes),
        approved_at=row.approved_at,
        approved_by=row.approved_by,
        rejected_at=row.rejected_at,
        rejected_by=row.rejected_by,
        rejection_reason=row.rejection_reason,
        pending_extension_seconds=row.extension_requested_seconds,
        extension_requested_by=row.extension_requested_by,
        justification=row.justification,
        extension_justification=row.extension_justification,
        text_removed_at=row.text_removed_at,
        cpu_millicores=row.cpu_millicores,
        memory_mib=row.memory_mib,
        last_activity_at=row.last_activity_at,
        sleeps_at=row.sleeps_at,
        sleeping_seconds=sleeping_seconds(row, now=now),
        usage=TrialUsage(
            cpu_seconds=round(row.cpu_seconds, 3),
            peak_memory_bytes=row.peak_memory_bytes,
            running_seconds=round(row.running_seconds, 3),
            sampled_at=row.usage_sampled_at,
        ),
        cost=None if rate_card is None else trial_cost(row, rate_card),
    )


def trial_cost(row: Trial, card: RateCard) -> TrialCost:
    """The forecast (reserved CPU and memory for the whole duration) and the cost so far."""
    return TrialCost(
        currency=card.currency,
        forecast=costs.forecast(
            cpu_millicores=row.cpu_millicores,
            memory_mib=row.memory_mib,
            duration_seconds=row.duration_seconds,
            card=card,
        ),
        so_far=costs.cost(
            cpu_seconds=row.cpu_seconds,
            memory_mib=row.memory_mib,
            running_seconds=row.running_seconds,
            card=card,
        ),
    )


def sleeping_seconds(row: Trial, *, now: datetime) -> int:
    """How long the sandbox has slept in all, the sleep it is in now included."""
    current = (now - row.phase_changed_at).total_seconds() if row.phase == Phase.SLEEPING else 0.0
    return row.slept_seconds + max(0, int(current))


def trials(
    rows: Iterable[Trial],
    *,
    owners: Mapping[int, str],
    now: datetime,
    sandboxes: SandboxAddress,
    rate_card: RateCard | None = None,
) -> list[TrialPublic]:
    """Each row with its owner's name from `owners` (owner id -> name)."""
    return [
        trial(row, owner=owners.get(row.owner_id, ""), now=now, sandboxes=sandboxes, rate_card=rate_card)
        for row in rows
    ]


def endpoints(row: Trial, sandboxes: SandboxAddress) -> dict[str, str]:
    """What users see: one URL per exposed component, each on an origin of its own
    (api/sandbox_origin.py); the runtime's own addresses never leave the den."""
    return {name: sandboxes.url(row.id, name) for name in sorted(row.endpoints)}


def event(row: TrialEvent) -> TrialEventPublic:
    return TrialEventPublic(at=row.at, kind=row.kind, phase=row.phase, reason=row.reason, message=row.message)


# --- plain words: what a civil servant reads of a trial's progress ------------------------------
#
# The runtime's own words ("Network den-t1d357b8f43aa created", "Container web created",
# "Extended by 1800 s ...; now expires at 2026-12-01T08:57:31+00:00") stay as the reconciler wrote
# them: the API returns them unchanged and platform engineers read them. A page for anyone else
# shows `plain_message` of them: the same event, said about the sandbox, with durations and
# times as people say them. A message no rule recognises that still names the runtime becomes
# what its phase means, so no runtime word reaches those pages.

#: The service's time zone: every time a page shows is in UK time, named so on the pages.
SERVICE_TIME_ZONE = ZoneInfo("Europe/London")

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def duration_words(seconds: int | float | None) -> str:
    """Whole units, largest first, at most two: '1 day 2 hours', '30 minutes', '40 seconds'.
    Never seconds beside days or hours: what is left under a minute of a longer span is
    dropped, as people round when they speak."""
    if seconds is None:
        return ""
    left = int(seconds)
    parts: list[str] = []
    for name, size in _UNITS:
        count, left = divmod(left, size)
        if count and not (name == "second" and parts):
            parts.append(f"{count} {name}{'s' if count != 1 else ''}")
    return " ".join(parts[:2]) or "0 seconds"


def clock_words(value: datetime) -> str:
    """GOV.UK style, in UK time: '9:57am on 1 December 2026', '12pm on 2 January 2027'."""
    local = value.astimezone(SERVICE_TIME_ZONE)
    hour = local.hour % 12 or 12
    minutes = f":{local.minute:02d}" if local.minute else ""
    return f"{hour}{minutes}{'am' if local.hour < 12 else 'pm'} on {local.day} {local.strftime('%B %Y')}"


def time_words(value: datetime) -> str:
    """The time of day, GOV.UK style, in UK time: '1:05pm', '11:00am'."""
    return value.astimezone(SERVICE_TIME_ZONE).strftime("%I:%M%p").lstrip("0").lower()


def date_time_words(value: datetime) -> str:
    """GOV.UK style, in UK time: '26 November 2026 at 1:05pm' (the pages' `when`)."""
    local = value.astimezone(SERVICE_TIME_ZONE)
    return f"{local.day} {local.strftime('%B %Y')} at {time_words(local)}"


_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_SECONDS = re.compile(r"\b(\d+) ?s\b")
#: Words that name the machinery rather than the sandbox.
RUNTIME_WORDS = re.compile(
    r"\b(containers?|networks?|namespaces?|pods?|deployments?|cpu|mib|gib|env|images?|"
    r"readiness probe|exit(?:ed)? (?:with )?code|oom|evicted)\b",
    re.IGNORECASE,
)
#: What people wrote or did: said as written (names, reasons), only durations and times reworded.
_PEOPLES = re.compile(
    r"^(Waiting for an approver|Requested by|Approved by|Rejected by|End requested by|Evaluation recorded by|"
    r"Extension by .* (requested|approved|rejected) by|Extended by|Ending: the template version)"
)
_STEPS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p, re.IGNORECASE), words)
    for p, words in (
        (r"^Network \S+ created$", "Setting up your sandbox's private space"),
        (r"^Namespace \S+ created$", "Setting up your sandbox's private space"),
        (r"^Containers created$", "Starting the parts of your sandbox"),
        (r"^Container (?P<part>[a-z0-9-]+) created$", "Starting the {part} part of your sandbox"),
        (r"^Container (?P<part>[a-z0-9-]+) running$", "The {part} part of your sandbox is running"),
        (r"^(Ready|All components are ready|The sandbox is ready)$", "Your sandbox is ready"),
        (r"^(?P<part>[a-z0-9-]+) is ready$", "The {part} part of your sandbox is ready"),
        (r"^Creating the sandbox$", "Setting up your sandbox"),
        (
            r"^Asleep: nobody visited the sandbox for (?P<seconds>\d+) s",
            "Your sandbox is asleep: nobody had used it for {seconds}. Open it to wake it up",
        ),
        (r"^Waking up\b", "Waking your sandbox up"),
        (r"^The sandbox is awake again$", "Your sandbox is awake again"),
        (r"^Waiting for room to wake\b", "Waiting for room to wake your sandbox up"),
        (r"^Visited by .*: waking the sandbox$", "Someone opened your sandbox: waking it up"),
        (r"^The sandbox is ready: it was waiting in the warm pool$", "Your sandbox is ready"),
        (r"^Still removing\b", "Still removing your sandbox"),
        (r"^Not ready after (?P<seconds>\d+) s\b", "Your sandbox was not ready after {seconds}"),
        (r"^waiting for\b|^[a-z0-9-]+ is (created|restarting|paused)", "Waiting for your sandbox to answer"),
        (
            r"^Component (?P<part>[a-z0-9-]+) (cannot start|exited)",
            "The {part} part of your sandbox stopped working",
        ),
        (r"^Stopped after a failure\b", "Stopped after a problem with the sandbox: nothing remains"),
        (r"\bis gone$|disappeared", "Part of your sandbox went missing"),
    )
]
#: What a phase means, for a message about the runtime that no step above recognises.
PHASE_WORDS = {
    "PendingApproval": "Waiting for an approver",
    "Requested": "Your sandbox will be set up shortly",
    "Provisioning": "Setting up your sandbox",
    "Ready": "Your sandbox is ready",
    "Sleeping": "Your sandbox is asleep. Open it to wake it up",
    "Stopping": "Removing your sandbox",
    "Stopped": "The sandbox was removed: nothing remains",
    "Failed": "Your sandbox stopped working. A platform engineer can see what went wrong",
}


def plain_message(message: str, *, phase: str) -> str:
    """An event's or a trial's message as a page for civil servants says it (see above)."""
    text = _reworded(message)
    if not _PEOPLES.match(message):
        for pattern, words in _STEPS:
            found = pattern.search(message)
            if found:
                parts = {k: _part(k, v) for k, v in found.groupdict().items()}
                return words.format(**parts)
        if phase == "Failed" or RUNTIME_WORDS.search(text):
            return PHASE_WORDS.get(phase, "Your sandbox is being looked after")
    return text


def _part(key: str, value: str) -> str:
    return duration_words(int(value)) if key == "seconds" else value.replace("-", " ")


def _reworded(message: str) -> str:
    """Times as people say them, durations in words: 'Extended by 30 minutes by alice; it
    now ends at 9:57am on 1 December 2026'."""
    text = message.replace("now expires at", "it now ends at")
    text = _ISO_TIME.sub(lambda m: _clock_or_same(m.group(0)), text)
    return _SECONDS.sub(lambda m: duration_words(int(m.group(1))), text)


def _clock_or_same(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        return value
    return clock_words(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


#: Built-in names of the UK government's ministerial departments, by the codes people carry
#: (lower-cased); `DEN_DEPARTMENT_NAMES` adds to them or corrects them.
DEPARTMENTS = {
    "ago": "Attorney General's Office",
    "co": "Cabinet Office",
    "cabinet-office": "Cabinet Office",
    "dbt": "Department for Business and Trade",
    "dcms": "Department for Culture, Media and Sport",
    "dfe": "Department for Education",
    "defra": "Department for Environment, Food and Rural Affairs",
    "desnz": "Department for Energy Security and Net Zero",
    "dft": "Department for Transport",
    "dhsc": "Department of Health and Social Care",
    "dsit": "Department for Science, Innovation and Technology",
    "dwp": "Department for Work and Pensions",
    "fcdo": "Foreign, Commonwealth and Development Office",
    "hmrc": "HM Revenue and Customs",
    "hmt": "HM Treasury",
    "ho": "Home Office",
    "home-office": "Home Office",
    "mhclg": "Ministry of Housing, Communities and Local Government",
    "mod": "Ministry of Defence",
    "moj": "Ministry of Justice",
    "nio": "Northern Ireland Office",
    "oag": "Office of the Advocate General for Scotland",
    "so": "Scotland Office",
    "wo": "Wales Office",
}


def department_name(code: str, names: Mapping[str, str] | None = None) -> str:
    """A department's name for its code: the configured names first, then the built-in ones,
    else the code as written ("" stays "")."""
    key = code.strip().lower()
    configured = {k.lower(): v for k, v in (names or {}).items()}
    return configured.get(key) or DEPARTMENTS.get(key) or code


def plain_timeline(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A trial's events (as `event` renders them, oldest first) as its page tells them: each
    in plain words (`plain_message`), a step said twice in a row (the runtime's "ready" and
    the den's) said once."""
    told: list[dict[str, Any]] = []
    for e in events:
        text = plain_message(e["message"], phase=e["phase"])
        if told and told[-1]["text"] == text:
            continue
        told.append({"at": e["at"], "phase": e["phase"], "text": text})
    return told


_RUNTIME_NOTE = re.compile(r"\s*\((?:env|environment variable)\s+[A-Za-z_][A-Za-z0-9_]*\)")


def without_runtime_notes(text: str) -> str:
    """A supplier's description of a parameter without its note for the runtime, such as
    "(env GREETING)": a civil servant fills in the setting, never the variable."""
    return _RUNTIME_NOTE.sub("", text)
