"""The feedback form ("Tell us about any problem", on every page) and platform engineers
reading what was sent.

Anyone may send it, signed in or not (the form carries the sign-in CSRF token until then). It
comes with the page it was sent from; `crud.send_feedback` keeps each sender to a few an hour.
Twins: `/feedback.json` (the form's choices), `/platform/feedback.json` (`crud.list_feedback`).
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from orchestrator.crud.feedback import SATISFACTION, list_feedback, send_feedback
from web.deps import Now, SessionDep, SignedIn, VisitorDep
from web.forms import CheckedForm, Checks, FormPage, shown_again_on_error, text
from web.pages import local_path, page
from web.rendering import render

router = APIRouter()
#: What a person may type: together they fit `Feedback.message` (5,000 characters).
DOING_LONGEST = 1200
WRONG_LONGEST = 3000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _form_data(came_from: str) -> dict[str, object]:
    return {"page": local_path(came_from, ""), "satisfaction": SATISFACTION}


@page(router, "/feedback")
def feedback_form(request: Request, visitor: VisitorDep, page: str = "", sent: str = "") -> Response:
    data = {**_form_data(page), "sent": sent == "yes"}
    return render(request, visitor, "feedback.html", data, values={"page": data["page"]})


def message_of(*, doing: str, wrong: str) -> str:
    """The stored message: both answers, each under its question."""
    parts = [f"What I was doing:\n{doing}"] if doing else []
    return "\n\n".join([*parts, f"What went wrong:\n{wrong}"])


@router.post("/feedback")
def send(request: Request, form: CheckedForm, visitor: VisitorDep, session: SessionDep, now: Now) -> Response:
    values = {name: text(form, name) for name in ("page", "doing", "wrong", "satisfaction", "reply-to")}
    came_from = local_path(values["page"], "")
    shown = FormPage(
        "feedback.html",
        {**_form_data(came_from), "sent": False},
        values={**values, "page": came_from},
        fields={"message": "wrong"},
    )
    with shown_again_on_error(request, shown):
        checks = Checks()
        doing = checks.optional(
            values["doing"], field_id="doing", longest=DOING_LONGEST, what="What you were doing"
        )
        wrong = checks.required(
            values["wrong"],
            field_id="wrong",
            longest=WRONG_LONGEST,
            what="What went wrong",
            message="Enter what went wrong, or what you want to tell us",
        )
        if values["satisfaction"] and values["satisfaction"] not in SATISFACTION:
            checks.add("satisfaction", "Select how satisfied you are with this service")
        reply_to = values["reply-to"]
        if reply_to and (len(reply_to) > 320 or not EMAIL.match(reply_to)):
            checks.add("reply-to", "Enter an email address in the correct format, like name@example.com")
        checks.raise_any()
        send_feedback(
            session,
            user=visitor.user,
            source=visitor.source,
            page=came_from,
            satisfaction=values["satisfaction"],
            message=message_of(doing=doing, wrong=wrong),
            reply_to=reply_to,
            now=now,
        )
    session.commit()
    return RedirectResponse("/feedback?sent=yes", status_code=status.HTTP_303_SEE_OTHER)


@page(router, "/platform/feedback")
def read_feedback(request: Request, visitor: SignedIn, session: SessionDep) -> Response:
    rows = list_feedback(session, user=visitor.actor.user)
    return render(
        request,
        visitor,
        "platform_feedback.html",
        {
            "feedback": [
                {
                    "id": row.id,
                    "created_at": row.created_at,
                    "sender": sender,
                    "page": row.page,
                    "satisfaction": SATISFACTION.get(row.satisfaction, ""),
                    "message": row.message,
                    "reply_to": row.reply_to,
                }
                for row, sender in rows
            ]
        },
    )
