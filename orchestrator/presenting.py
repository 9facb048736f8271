"""Rows -> what a client sees of a trial: the one rendering for the REST API (`/api/v1/trials`)
and for the web pages' JSON twins (`/trials.json`, `/trials/{id}.json`, ...). Pure: no I/O, no
clock; the caller looks up the owners' names (`crud.owner_names`) and passes `now`.

The field names are the API's, a fixed contract (PRODUCT.md 7.1); a page that needs more adds
fields of its own beside them (web/views.py), never another meaning for one of these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from orchestrator.lifecycle import time_left
from orchestrator.models import Trial, TrialEvent, TrialEventPublic, TrialPublic
from orchestrator.sandbox_hosts import SandboxAddress


def trial(row: Trial, *, owner: str, now: datetime, sandboxes: SandboxAddress) -> TrialPublic:
    left = time_left(now=now, expires_at=row.expires_at) if row.ended_at is None else None
    return TrialPublic(
        id=row.id,
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
        cpu_millicores=row.cpu_millicores,
        memory_mib=row.memory_mib,
    )


def trials(
    rows: Iterable[Trial], *, owners: Mapping[int, str], now: datetime, sandboxes: SandboxAddress
) -> list[TrialPublic]:
    """Each row with its owner's name from `owners` (owner id -> name)."""
    return [trial(row, owner=owners.get(row.owner_id, ""), now=now, sandboxes=sandboxes) for row in rows]


def endpoints(row: Trial, sandboxes: SandboxAddress) -> dict[str, str]:
    """What users see: one URL per exposed component, each on an origin of its own
    (api/sandbox_origin.py); the runtime's own addresses never leave the den."""
    return {name: sandboxes.url(row.id, name) for name in sorted(row.endpoints)}


def event(row: TrialEvent) -> TrialEventPublic:
    return TrialEventPublic(at=row.at, kind=row.kind, phase=row.phase, reason=row.reason, message=row.message)
