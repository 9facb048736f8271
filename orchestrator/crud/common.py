"""What every writer shares: the acting person, the audit log, and a trial's timeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from orchestrator.models import (
    AuditEvent,
    SandboxTemplate,
    Supplier,
    TemplateVersion,
    Trial,
    TrialEvent,
    User,
)


def pk(row: Supplier | SandboxTemplate | TemplateVersion | User) -> int:
    """The primary key of a stored row (flushed rows always have one)."""
    assert row.id is not None, "row was not flushed"
    return row.id


@dataclass(frozen=True)
class Actor:
    """Who is acting, and from where: recorded on every write."""

    user: User
    source: str = ""
    # Acting with an API token that expires: nothing it makes may outlive it.
    token_expires_at: datetime | None = None

    @property
    def name(self) -> str:
        return self.user.name


def audit(
    session: Session,
    *,
    actor: Actor | None,
    action: str,
    obj: tuple[str, str],
    now: datetime,
    detail: dict[str, Any] | None = None,
    source: str = "",
) -> None:
    """One audit record per write. Without an actor the writer is the system itself (start-up,
    the reconciler, `den` on the database); `source` then says which."""
    session.add(
        AuditEvent(
            at=now,
            actor=actor.name if actor else "system",
            action=action,
            object_type=obj[0],
            object_id=obj[1],
            source=actor.source if actor else source,
            detail=detail or {},
        )
    )


def list_audit(session: Session, *, limit: int = 100, object_id: str | None = None) -> Sequence[AuditEvent]:
    """The newest audit records first."""
    query = select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(limit)
    if object_id:
        query = query.where(AuditEvent.object_id == object_id)
    return session.exec(query).all()


def trial_event(session: Session, trial: Trial, *, now: datetime, kind: str, message: str) -> None:
    """Append to the trial's timeline; every write to a trial goes through here, so it also
    marks the trial changed for watchers."""
    trial.updated_at = now
    session.add(trial)
    session.add(
        TrialEvent(
            trial_id=trial.id,
            at=now,
            kind=kind,
            phase=trial.phase,
            reason=trial.reason,
            message=message[:2000],
        )
    )
