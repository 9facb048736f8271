"""Extensions and approvals: intent that people write, never a phase.

An extension within the self-service limit moves `expires_at` at once. Past it, the request is
kept on the trial until an approver decides. A trial requested past the limit waits in
PendingApproval; approving it writes `approved_at` (and starts its clock), rejecting it writes
`rejected_at`, and the reconciler then moves it to Requested or Stopped. Nobody decides on
their own request.

Each of these checks the trial and then writes it, so each first locks the trial's row and
reads it again (`locks.lock_trial`): two extensions at once cannot both pass `maxExtensions`,
and two decisions at once cannot both apply. Approving a pending trial checks no cap: a trial
in PendingApproval already counts against them from its request on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from orchestrator import metrics, rules
from orchestrator.access import Role, check_may_decide, check_may_extend, require_role
from orchestrator.crud.common import Actor, audit, trial_event
from orchestrator.crud.locks import lock_trial
from orchestrator.crud.members import member_role
from orchestrator.crud.notifications import notify_approval_waiting, notify_decision
from orchestrator.crud.templates import check_trialable
from orchestrator.crud.trials import owner_names, trial_manifest
from orchestrator.errors import Conflict
from orchestrator.lifecycle import Phase
from orchestrator.models import TemplateVersion, Trial, User
from orchestrator.settings import Settings


def request_extension(
    session: Session,
    *,
    actor: Actor,
    trial: Trial,
    seconds: int,
    settings: Settings,
    now: datetime,
    justification: str = "",
) -> bool:
    """Extend the trial by `seconds`; True if done now, False if it waits for an approver, who
    reads `justification` (why more time is needed)."""
    check_may_extend(actor.user, trial, member=member_role(session, trial=trial, user=actor.user))
    lock_trial(session, trial)
    manifest = trial_manifest(session, trial)
    rules.check_extension(trial, seconds=seconds, manifest=manifest, settings=settings)
    total = trial.duration_seconds + seconds
    if rules.needs_approval(total, settings=settings, template=trial.template_name):
        trial.extension_requested_seconds = seconds
        trial.extension_requested_at, trial.extension_requested_by = now, actor.name
        trial.extension_justification = justification
        trial_event(
            session,
            trial,
            now=now,
            kind="Intent",
            message=f"Extension by {seconds} s requested by {actor.name}: {total} s in "
            "all is over the self-service limit, so it waits for an approver",
        )
        audit(
            session,
            actor=actor,
            action="trial.extension.request",
            obj=("trial", trial.id),
            now=now,
            detail={"seconds": seconds, "justification": justification},
        )
        notify_approval_waiting(
            session, trial=trial, subject="extension", requested_by=actor.name, settings=settings, now=now
        )
        metrics.EXTENSIONS.labels(outcome="pending").inc()
        return False
    _extend(session, trial, seconds=seconds, now=now, message=f"Extended by {seconds} s by {actor.name}")
    audit(
        session,
        actor=actor,
        action="trial.extend",
        obj=("trial", trial.id),
        now=now,
        detail={"seconds": seconds, "expires_at": _iso(trial.expires_at)},
    )
    metrics.EXTENSIONS.labels(outcome="applied").inc()
    return True


def _extend(session: Session, trial: Trial, *, seconds: int, now: datetime, message: str) -> None:
    assert trial.expires_at is not None  # Provisioning and Ready trials always have one
    trial.expires_at += timedelta(seconds=seconds)
    trial.duration_seconds += seconds
    trial.extension_count += 1
    trial_event(
        session,
        trial,
        now=now,
        kind="Intent",
        message=f"{message}; now expires at {trial.expires_at.isoformat()}",
    )


def approve(
    session: Session, *, actor: Actor, trial: Trial, settings: Settings, now: datetime, note: str = ""
) -> str:
    """Approve what waits on the trial: the trial itself, or an extension. Returns which.
    The approver's `note`, if any, is kept in the audit log and on the trial's timeline,
    where the requester reads it (and in the notification they are sent)."""
    lock_trial(session, trial)
    if trial.phase == Phase.PENDING_APPROVAL:
        requested_by = _owner_name(session, trial)
        _approve_trial(session, actor=actor, trial=trial, now=now, note=note)
        subject = "trial"
    else:
        requested_by = trial.extension_requested_by
        _approve_extension(session, actor=actor, trial=trial, now=now, note=note)
        subject = "extension"
    notify_decision(
        session,
        trial=trial,
        subject=subject,
        decision="approved",
        requested_by=requested_by,
        decided_by=actor.name,
        note=note,
        settings=settings,
        now=now,
    )
    return subject


def _with_note(message: str, note: str) -> str:
    return f"{message}: {note}" if note else message


def _approve_trial(session: Session, *, actor: Actor, trial: Trial, now: datetime, note: str) -> None:
    check_may_decide(actor.user, requested_by=_owner_name(session, trial))
    _check_undecided(trial)
    version = session.get(TemplateVersion, trial.template_version_id)
    assert version is not None  # a foreign key guarantees it
    check_trialable(version, ref=f"{trial.template_name}@{trial.template_version}")
    trial.approved_at, trial.approved_by = now, actor.name
    trial.expires_at = now + timedelta(seconds=trial.duration_seconds)
    trial_event(session, trial, now=now, kind="Intent", message=_with_note(f"Approved by {actor.name}", note))
    audit(
        session,
        actor=actor,
        action="trial.approve",
        obj=("trial", trial.id),
        now=now,
        detail={"note": note},
    )
    metrics.DECISIONS.labels(subject="trial", decision="approved").inc()


def _approve_extension(session: Session, *, actor: Actor, trial: Trial, now: datetime, note: str) -> None:
    seconds = _pending_extension(trial)
    check_may_decide(actor.user, requested_by=trial.extension_requested_by)
    if not rules.is_running(trial):
        raise Conflict(
            f"the trial is {trial.phase}; the extension can no longer apply", reason=rules.Rule.NOT_RUNNING
        )
    _extend(
        session,
        trial,
        seconds=seconds,
        now=now,
        message=_with_note(f"Extension by {seconds} s approved by {actor.name}", note),
    )
    _clear_extension(trial)
    audit(
        session,
        actor=actor,
        action="trial.extension.approve",
        obj=("trial", trial.id),
        now=now,
        detail={"seconds": seconds, "note": note},
    )
    metrics.DECISIONS.labels(subject="extension", decision="approved").inc()


def reject(
    session: Session, *, actor: Actor, trial: Trial, reason: str, settings: Settings, now: datetime
) -> str:
    """Reject what waits on the trial, with a reason the requester will read (and is sent)."""
    lock_trial(session, trial)
    requested_by = (
        _owner_name(session, trial) if trial.phase == Phase.PENDING_APPROVAL else trial.extension_requested_by
    )
    subject = _reject(session, actor=actor, trial=trial, reason=reason, now=now)
    notify_decision(
        session,
        trial=trial,
        subject=subject,
        decision="rejected",
        requested_by=requested_by,
        decided_by=actor.name,
        note=reason,
        settings=settings,
        now=now,
    )
    return subject


def _reject(session: Session, *, actor: Actor, trial: Trial, reason: str, now: datetime) -> str:
    if trial.phase == Phase.PENDING_APPROVAL:
        check_may_decide(actor.user, requested_by=_owner_name(session, trial))
        _check_undecided(trial)
        trial.rejected_at, trial.rejected_by, trial.rejection_reason = now, actor.name, reason
        trial_event(session, trial, now=now, kind="Intent", message=f"Rejected by {actor.name}: {reason}")
        audit(
            session,
            actor=actor,
            action="trial.reject",
            obj=("trial", trial.id),
            now=now,
            detail={"reason": reason},
        )
        metrics.DECISIONS.labels(subject="trial", decision="rejected").inc()
        return "trial"
    seconds = _pending_extension(trial)
    check_may_decide(actor.user, requested_by=trial.extension_requested_by)
    _clear_extension(trial)
    trial_event(
        session,
        trial,
        now=now,
        kind="Intent",
        message=f"Extension by {seconds} s rejected by {actor.name}: {reason}",
    )
    audit(
        session,
        actor=actor,
        action="trial.extension.reject",
        obj=("trial", trial.id),
        now=now,
        detail={"seconds": seconds, "reason": reason},
    )
    metrics.DECISIONS.labels(subject="extension", decision="rejected").inc()
    return "extension"


def pending_decisions(session: Session, *, user: User) -> Sequence[Trial]:
    """What waits for an approver, oldest first: requests in PendingApproval nobody decided
    on or withdrew, and running trials with an extension waiting (the approver queue); the
    query form of `rules.waiting_decision`."""
    require_role(user, Role.APPROVER, Role.PLATFORM_ENGINEER, to="see what waits for approval")
    undecided = (
        (col(Trial.phase) == Phase.PENDING_APPROVAL)
        & col(Trial.approved_at).is_(None)
        & col(Trial.rejected_at).is_(None)
        & col(Trial.end_requested_at).is_(None)
    )
    extension = col(Trial.extension_requested_seconds).is_not(None)
    return session.exec(select(Trial).where(undecided | extension).order_by(col(Trial.created_at))).all()


def _check_undecided(trial: Trial) -> None:
    settled = rules.settled(trial)
    if settled is not None:
        raise Conflict(f"the request was already {settled}", reason="AlreadyDecided")


def _pending_extension(trial: Trial) -> int:
    if trial.extension_requested_seconds is None:
        raise Conflict("nothing on this trial waits for approval", reason="NothingToDecide")
    return trial.extension_requested_seconds


def _clear_extension(trial: Trial) -> None:
    trial.extension_requested_seconds = None
    trial.extension_requested_at, trial.extension_requested_by = None, ""


def _owner_name(session: Session, trial: Trial) -> str:
    return owner_names(session, [trial]).get(trial.owner_id, "")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
