"""The trial lifecycle: phases, reason tokens, the one transition table, and expiry maths.

Pure: no I/O and no clock. Everything that needs the time takes `now` as an argument.

People write *intent* on a trial (its `expires_at`, a request to end it); only the reconciler
writes the observed `phase`, always through `check_transition`, and every transition carries a
`Reason` token that clients can match on. `Failed` is not a resting place: the reconciler moves
a failed trial on to `Stopping`, so that whatever was half made is removed, and the failure's
reason is kept on the final `Stopped` trial.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from orchestrator.errors import PermanentError


class Phase(StrEnum):
    PENDING_APPROVAL = "PendingApproval"
    REQUESTED = "Requested"
    PROVISIONING = "Provisioning"
    READY = "Ready"
    SLEEPING = "Sleeping"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FAILED = "Failed"


class Reason(StrEnum):
    """Why a trial entered its phase. CamelCase, stable: never rename a token."""

    AWAITING_APPROVAL = "AwaitingApproval"
    APPROVED = "Approved"
    REJECTED = "Rejected"
    CREATED = "Created"
    STARTING = "Starting"
    STARTED = "Started"
    EXPIRED = "Expired"
    USER_REQUESTED = "UserRequested"
    START_TIMEOUT = "StartTimeout"
    RUNTIME_MISSING = "RuntimeMissing"
    RUNTIME_ERROR = "RuntimeError"
    # No trial enters a phase for this today (a request over a cap is refused before a trial
    # exists: `rules.Rule.QUOTA_EXCEEDED`); the product's contract names it among these tokens.
    QUOTA_EXCEEDED = "QuotaExceeded"
    TEMPLATE_QUARANTINED = "TemplateQuarantined"
    IDLE = "Idle"  # Sleeping: nobody visited the sandbox for its idle timeout
    WAKING = "Waking"  # Provisioning again: a visit woke a sleeping sandbox
    POOLED = "Pooled"  # Ready in a warm pool, handed out to a request (crud/pools.py)


#: Phases in which a sandbox may exist (or is about to) and the reconciler has work to do.
LIVE_PHASES = frozenset(
    {Phase.REQUESTED, Phase.PROVISIONING, Phase.READY, Phase.SLEEPING, Phase.STOPPING, Phase.FAILED}
)
#: Phases counted against caps and quotas.
ACTIVE_PHASES = LIVE_PHASES | {Phase.PENDING_APPROVAL}
#: Active phases whose CPU and memory the caps count: a sleeping sandbox runs nothing.
HOLDING_PHASES = ACTIVE_PHASES - {Phase.SLEEPING}
TERMINAL_PHASES = frozenset({Phase.STOPPED})
#: Reasons that mean something went wrong, kept on the trial after clean-up.
FAILURE_REASONS = frozenset(
    {
        Reason.START_TIMEOUT,
        Reason.RUNTIME_MISSING,
        Reason.RUNTIME_ERROR,
        Reason.QUOTA_EXCEEDED,
    }
)

#: The only transitions there are. (from, to) pairs not listed here are refused.
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.PENDING_APPROVAL: frozenset({Phase.REQUESTED, Phase.STOPPED}),
    Phase.REQUESTED: frozenset({Phase.PROVISIONING, Phase.STOPPING, Phase.FAILED}),
    Phase.PROVISIONING: frozenset({Phase.READY, Phase.STOPPING, Phase.FAILED}),
    Phase.READY: frozenset({Phase.SLEEPING, Phase.STOPPING, Phase.FAILED}),
    # Waking goes through Provisioning (reason Waking): the sandbox is polled until it answers.
    Phase.SLEEPING: frozenset({Phase.PROVISIONING, Phase.STOPPING}),
    Phase.STOPPING: frozenset({Phase.STOPPED, Phase.FAILED}),
    Phase.FAILED: frozenset({Phase.STOPPING}),
    Phase.STOPPED: frozenset(),
}


class IllegalTransition(PermanentError):
    reason = "IllegalTransition"


def can_transition(current: Phase, target: Phase) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: Phase, target: Phase) -> None:
    """Raise `IllegalTransition` unless the table allows `current -> target`."""
    if not can_transition(current, target):
        raise IllegalTransition(f"a trial cannot go from {current} to {target}")


def time_left(*, now: datetime, expires_at: datetime | None) -> timedelta | None:
    """Time until expiry, never negative; `None` when the trial has no expiry yet."""
    _require_aware(now, "now")
    if expires_at is None:
        return None
    _require_aware(expires_at, "expires_at")
    return max(expires_at - now, timedelta(0))


def is_expired(*, now: datetime, expires_at: datetime | None) -> bool:
    left = time_left(now=now, expires_at=expires_at)
    return left is not None and left == timedelta(0)


def down_too_long(*, now: datetime, down_since: datetime, limit_seconds: float) -> bool:
    """A Ready trial's component that has not been running since `down_since` (its pod lost
    with its node, and not yet started elsewhere) has had its chance to come back."""
    _require_aware(now, "now")
    _require_aware(down_since, "down_since")
    return (now - down_since).total_seconds() > limit_seconds


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
