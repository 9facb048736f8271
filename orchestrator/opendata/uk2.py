"""A draft UK2 preliminary market engagement notice (Procurement Act 2023 s.17, Procurement
Regulations 2024 reg. 17) from a challenge: every field the regulation asks for, each under the
label Find a Tender's UK2 form gives it, in the form's order, so that a person can copy each
value across. A draft only: the den publishes nothing to Find a Tender.

`uk2_notice` returns {"notice": "UK2", "title": ..., "generated_at": ..., "sections": [{"heading":
..., "fields": [{"label": ..., "value": ..., "regulation": ...}]}]}; `uk2_text` renders it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.opendata.inputs import ChallengeFacts, SessionFacts
from orchestrator.presenting import date_time_words, time_words

NOTICE = "UK2"
NOTICE_NAME = "Preliminary market engagement notice"


def _when(moment: datetime) -> str:
    """As the den's pages write times, for suppliers in the UK: '29 May 2026 at 6:00pm (UK time)'."""
    return f"{date_time_words(moment)} (UK time)"


def _money(pounds: int) -> str:
    return f"£{pounds:,}"


def _value(challenge: ChallengeFacts) -> str | None:
    low, high = challenge.budget_min, challenge.budget_max
    if low is not None and high is not None and low != high:
        return f"{_money(low)} to {_money(high)} (estimated, excluding VAT)"
    if high is not None or low is not None:
        return f"{_money(high if high is not None else low)} (estimated, excluding VAT)"  # type: ignore[arg-type]
    return None


def _session(number: int, session: SessionFacts) -> str:
    where = "Online" if session.mode == "online" else "In person"
    return (
        f"Session {number}: {date_time_words(session.starts_at)} to {time_words(session.ends_at)} (UK time). "
        f"{where}: {session.place}. Places: {session.capacity}."
    )


def _description(challenge: ChallengeFacts) -> str:
    labelled = (
        ("Users and their need", challenge.users_and_need),
        ("What has been tried", challenge.tried),
        ("Constraints", challenge.constraints),
        ("Timeline", challenge.timeline),
    )
    parts = [challenge.problem, *(f"{label}: {text}" for label, text in labelled if text.strip())]
    return "\n\n".join(p for p in parts if p.strip())


def _process(challenge: ChallengeFacts) -> str:
    lines = [
        "Suppliers respond on the challenge's page with a short answer, the sandbox templates they "
        "offer and a conflict of interest declaration; no supplier sees another's response. Each "
        "offered template is then tried in an equal sandbox offer: the same success criteria, "
        "duration and limits for every supplier.",
        f"Respond and ask questions at {challenge.public_url}. Questions close on "
        f"{_when(challenge.questions_close_at)}; every answer is published for all suppliers to see.",
        f"Responses close on {_when(challenge.closes_at)}.",
    ]
    if challenge.sessions:
        lines.append("Engagement sessions (materials are shared with all suppliers afterwards):")
        lines.extend(_session(n, s) for n, s in enumerate(challenge.sessions, start=1))
    return "\n".join(lines)


def _field(label: str, value: str | None, regulation: str) -> dict[str, Any]:
    return {"label": label, "value": value, "regulation": regulation}


def uk2_notice(challenge: ChallengeFacts, *, now: datetime) -> dict[str, Any]:
    """The draft notice. `now` stamps it; an absent estimated value is left out, not blank."""
    authority = [
        _field("Organisation name", challenge.department, "reg. 17: the contracting authority"),
        _field("Contact name", challenge.owner_name, "reg. 17: contact details"),
        _field("Email", challenge.owner_email, "reg. 17: contact details"),
    ]
    scope = [
        _field("Procurement title", challenge.title, "reg. 17: title"),
        _field("Reference", challenge.reference, "reg. 17: unique identifier"),
        _field("Description", _description(challenge), "reg. 17: the subject matter"),
    ]
    if (value := _value(challenge)) is not None:
        scope.append(_field("Estimated value", value, "reg. 17: estimated value, where known"))
    if challenge.problem_areas:
        scope.append(
            _field("Problem areas", ", ".join(challenge.problem_areas), "reg. 17: the subject matter")
        )
    engagement = [
        _field("Engagement deadline", _when(challenge.closes_at), "reg. 17: the closing date"),
        _field("Engagement process description", _process(challenge), "reg. 17: how engagement will run"),
    ]
    return {
        "notice": NOTICE,
        "name": NOTICE_NAME,
        "title": challenge.title,
        "reference": challenge.reference,
        "draft": True,
        "generated_at": now.isoformat(),
        "sections": [
            {"heading": "Contracting authority", "fields": authority},
            {"heading": "Scope", "fields": scope},
            {"heading": "Engagement", "fields": engagement},
        ],
    }


def uk2_text(notice: dict[str, Any]) -> str:
    """Plain text, one labelled field after another, for copying into the form."""
    out = [
        f"{notice['notice']}: {notice['name']} (draft)",
        f"{notice['title']} ({notice['reference']})",
        f"Drafted {notice['generated_at']}",
    ]
    for section in notice["sections"]:
        out += ["", section["heading"], "=" * len(section["heading"])]
        for item in section["fields"]:
            out += ["", f"{item['label']}:", str(item["value"])]
    return "\n".join(out) + "\n"
