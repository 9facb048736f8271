"""Form posts: every one carries the visitor's CSRF token (checked before the handler runs),
and every mistake becomes a `Problem` whose `field` is the id of the input to fix, so the
GOV.UK error summary can link to it.

The token is the session's own (the synchronizer-token pattern), or before signing in the
sign-in cookie's (double submit); an API token never posts forms, so it never passes.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import FormData, UploadFile

from orchestrator.errors import DenError, Forbidden, Problem, ValidationFailed
from web.deps import VisitorDep

MAX_FIELDS = 200


async def checked_form(request: Request, visitor: VisitorDep) -> FormData:
    form = await request.form(max_fields=MAX_FIELDS, max_files=1)
    sent = form.get("csrf_token")
    if not (visitor.csrf and isinstance(sent, str) and secrets.compare_digest(sent, visitor.csrf)):
        raise Forbidden(
            "the form had expired or did not come from this service: go back, reload the page and try again",
            reason="CsrfFailed",
        )
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def text(form: FormData, name: str) -> str:
    """A text field, with Windows line endings made plain; a file in its place is ignored."""
    value = form.get(name)
    return value.replace("\r\n", "\n").strip() if isinstance(value, str) else ""


def upload(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    return value if isinstance(value, UploadFile) and value.filename else None


@dataclass
class Checks:
    """Collects a form's problems in page order, then raises them all at once."""

    problems: list[Problem] = field(default_factory=list)

    def required(self, value: str, *, field_id: str, message: str, longest: int, what: str) -> str:
        if not value:
            self.problems.append(Problem(field_id, message))
        elif "\x00" in value:
            self.problems.append(Problem(field_id, f"{what} must not contain NUL characters"))
        elif len(value) > longest:
            self.problems.append(Problem(field_id, f"{what} must be {longest} characters or fewer"))
        return value

    def optional(self, value: str, *, field_id: str, longest: int, what: str) -> str:
        return (
            self.required(value, field_id=field_id, message="", longest=longest, what=what) if value else ""
        )

    def add(self, field_id: str, message: str) -> None:
        self.problems.append(Problem(field_id, message))

    def raise_any(self) -> None:
        if self.problems:
            raise ValidationFailed(self.problems)


@dataclass(frozen=True)
class FormPage:
    """What to show again when a post fails: the page's template and data, the values the
    person typed, and where each core field's problem should point (`fields`)."""

    template: str
    data: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)


@contextmanager
def shown_again_on_error(request: Request, page: FormPage) -> Iterator[None]:
    """A `DenError` inside is re-raised with the form page attached, so the error page is the
    form again, with a GOV.UK error summary (api/errors.py still picks the status code)."""
    try:
        yield
    except DenError:
        request.state.den_form = page
        raise
