"""One error taxonomy for the whole product.

Every error the core raises is a `DenError` with a stable CamelCase `reason` token (never
renamed: clients match on it), a `detail` that is safe to show to any user, and optionally a
`log_message` with more than a user should see. `RetryableError` means the same call may succeed
later (the reconciler backs off and tries again); `PermanentError` means retrying is useless.
Only `api/errors.py` maps these to HTTP status codes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (a dotted field path), what, and how to fix it."""

    field: str
    message: str
    hint: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "hint": self.hint}


class DenError(Exception):
    reason: str = "InternalError"

    def __init__(self, detail: str, *, reason: str | None = None, log_message: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        if reason is not None:
            self.reason = reason
        self.log_message = log_message or detail


class RetryableError(DenError):
    """The operation may succeed if repeated later (runtime unavailable, conflict, timeout)."""

    reason = "Retryable"

    def __init__(
        self, detail: str, *, reason: str | None = None, log_message: str = "", delay: float = 5.0
    ) -> None:
        super().__init__(detail, reason=reason, log_message=log_message)
        self.delay = delay


class PermanentError(DenError):
    """Repeating the operation will not help."""

    reason = "PermanentError"


class RuntimeUnavailable(RetryableError):
    reason = "RuntimeUnavailable"


class NotLeading(RetryableError):
    """This reconciler lost the lead while working: it stops acting, and the leader (another
    reconciler) carries on."""

    reason = "NotLeading"


class NotFound(PermanentError):
    reason = "NotFound"


class Unauthenticated(PermanentError):
    reason = "Unauthenticated"


class Forbidden(PermanentError):
    reason = "Forbidden"


class Conflict(PermanentError):
    reason = "Conflict"


class AlreadyExists(Conflict):
    """An object with that name is already there (a second trial named the same by its owner)."""

    reason = "AlreadyExists"


class RuleViolation(PermanentError):
    """A request is well formed but a product rule forbids it (duration cap, quota, ...)."""

    reason = "RuleViolation"


class TooLarge(PermanentError):
    reason = "TooLarge"


class ValidationFailed(PermanentError):
    """Input was rejected; `problems` lists every mistake with its field path and a hint."""

    reason = "ValidationFailed"

    def __init__(self, problems: list[Problem], *, detail: str | None = None) -> None:
        count = len(problems)
        summary = detail or (
            f"{count} problem{'s' if count != 1 else ''} found: "
            + "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
            + (" ..." if count > 5 else "")
        )
        super().__init__(summary)
        self.problems = problems
