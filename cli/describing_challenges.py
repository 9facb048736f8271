"""`denctl describe challenge`: a challenge in full, then what hangs below it (its answered
questions, sessions, responses and the equal offer's trials), as labelled lines and tables.

Each section shows what the API lets the caller see: questions never say who asked; a
supplier reads its own response only; a section the caller may not read (None) says so
instead of failing the whole description."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cli import render
from cli.describing import field, shown, when

NOT_VISIBLE = "  <not visible to you>\n"
_INDENT = " " * 20


@dataclass(frozen=True)
class Below:
    """What hangs below a challenge, each list None when the API refused it to the caller."""

    questions: list[dict[str, Any]] | None
    sessions: list[dict[str, Any]] | None
    responses: list[dict[str, Any]] | None
    trials: list[dict[str, Any]] | None


def text(label: str, value: str) -> None:
    """A field of several lines: the later ones indented under the first."""
    lines = (value or "").strip().splitlines() or [""]
    field(label, lines[0])
    for line in lines[1:]:
        sys.stdout.write(f"{_INDENT}{line}".rstrip() + "\n")


def pounds(low: int | None, high: int | None) -> str:
    """`£20,000 to £80,000`, `up to £80,000`, `from £20,000`, or `-`."""
    if low is not None and high is not None:
        return f"£{low:,} to £{high:,}"
    if high is not None:
        return f"up to £{high:,}"
    return f"from £{low:,}" if low is not None else "-"


def challenge(found: dict[str, Any], below: Below, *, now: datetime) -> None:
    for label, value in (
        ("Id", found["id"]),
        ("Name", found.get("name")),
        ("Title", found["title"]),
        ("Stage", found["stage"]),
        ("Owner", found["owner"]),
        ("Department", found["department"]),
        ("Created", when(found["created_at"], now)),
        ("Published", when(found["published_at"], now)),
        ("Closes", when(found["closes_at"], now)),
        (
            "Questions close",
            when(found["questions_close_at"], now) + ("" if found["questions_open"] else " (closed)"),
        ),
        ("Closed", when(found["closed_at"], now) if found.get("closed_at") else None),
        ("Budget", pounds(found["budget_min"], found["budget_max"])),
        ("Problem areas", found["problem_areas"]),
    ):
        if label in ("Name", "Closed") and not value:
            continue
        field(label, value)
    for label, key in (
        ("Problem", "problem"),
        ("Users and need", "users_and_need"),
        ("Tried", "tried"),
        ("Constraints", "constraints"),
        ("Timeline", "timeline"),
    ):
        text(label, found[key])
    if found.get("decided_at"):
        field("Decided", when(found["decided_at"], now))
        text("Decision", found["decision"])
    offer = found.get("offer")
    if offer:
        duration = offer.get("duration_seconds")
        field(
            "Offer",
            f"made {when(offer['offered_at'], now)}; "
            f"{render.human_duration(duration) if duration else '-'} for each trial",
        )
        text("Offer hypothesis", offer["hypothesis"])
    _questions(below.questions, now=now)
    _sessions(below.sessions, now=now)
    _responses(below.responses, now=now)
    _trials(below.trials)


def _questions(items: list[dict[str, Any]] | None, *, now: datetime) -> None:
    sys.stdout.write("Questions:\n")
    if items is None or not items:
        sys.stdout.write(NOT_VISIBLE if items is None else "  <none>\n")
        return
    for number, item in enumerate(items, start=1):
        mine = " (yours)" if item.get("yours") else ""
        sys.stdout.write(f"  {number}. Q{mine}: {item['question']}\n")
        answer = item["answer"] or "(not answered yet)"
        answered = f" ({render.age(item['answered_at'], now)} ago)" if item.get("answered_at") else ""
        sys.stdout.write(f"     A{answered}: {answer}\n")


def _sessions(items: list[dict[str, Any]] | None, *, now: datetime) -> None:
    sys.stdout.write("Sessions:\n")
    if items is None or not items:
        sys.stdout.write(NOT_VISIBLE if items is None else "  <none>\n")
        return
    for item in items:
        sys.stdout.write(
            f"  {item['id']}. {item['title']}: {when(item['starts_at'], now)}, "
            f"{item['mode'].replace('_', ' ')} at {item['place']}; "
            f"{item['places_left']} of {item['capacity']} places left"
            + (", you are registered" if item.get("attending") else "")
            + "\n"
        )
        if item.get("suppliers"):
            sys.stdout.write(f"     Registered: {shown(item['suppliers'])}\n")
        for material in item.get("materials", []):
            sys.stdout.write(f"     Material: {material['title']} {material['url']}\n")


def _responses(items: list[dict[str, Any]] | None, *, now: datetime) -> None:
    sys.stdout.write("Responses:\n")
    if items is None or not items:
        sys.stdout.write(NOT_VISIBLE if items is None else "  <none>\n")
        return
    sys.stdout.write(
        render.table(
            ["SUPPLIER", "TEMPLATES", "CONFLICT", "UPDATED", "SUMMARY"],
            [
                [
                    r["supplier"],
                    ", ".join(r["templates"]),
                    (r["conflict_detail"] or "declared") if r["conflict_declared"] else "none",
                    render.age(r["updated_at"], now) + " ago",
                    " ".join(r["summary"].split()),
                ]
                for r in items
            ],
        )
    )


def _trials(items: list[dict[str, Any]] | None) -> None:
    sys.stdout.write("Trials:\n")
    if items is None or not items:
        sys.stdout.write(NOT_VISIBLE if items is None else "  <none>\n")
        return
    sys.stdout.write(
        render.table(
            ["ID", "SUPPLIER", "TEMPLATE", "PHASE", "DECISION", "SCORES"],
            [
                [
                    t["id"],
                    t["supplier"],
                    f"{t['template']}@{t['version']}",
                    t["phase"],
                    t["decision"] or "-",
                    shown(t["scores"]),
                ]
                for t in items
            ],
        )
    )
