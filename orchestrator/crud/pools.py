"""Warm pools: sandboxes started before anyone asks, handed out whole to the request that
can use one (`DEN_WARM_POOLS`).

A pooled sandbox is a trial like any other, marked `pooled` and owned by the pool's own
account (`POOL_USER`, disabled: nobody signs in as it) until a request takes it. So it has its
trial id from birth (the label contract and the orphan sweep hold unchanged), is started,
watched, expired (at `DEN_WARM_POOL_MAX_AGE`) and torn down by the one reconciler, and counts
in the den's total CPU and memory caps. It is invisible to people (`visible_trials_query`)
and counts against no person or department.

Handing out is one conditional UPDATE under the cap lock (`claim`): of two requests at the
same moment, one takes the sandbox and the other finds it taken and starts cold (or takes
another), so a pooled sandbox is never handed out twice. Keeping the pools full
(`pool_upkeep.py`) is the reconciler's.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Update, bindparam, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from orchestrator.crud.activity import sleeps_at
from orchestrator.lifecycle import Phase
from orchestrator.manifest import TemplateManifest
from orchestrator.models import Trial, User, UTCDateTime
from orchestrator.settings import Settings, WarmPool

POOL_USER = "warm-pool"
#: A pooled sandbox this close to its maximum age is left to be replaced, not handed out: the
#: reconciler may be ending it already.
HANDOUT_MARGIN = timedelta(seconds=30)


@dataclass(frozen=True)
class Pool:
    """One configured pool: `key` names it (template and parameters)."""

    template: str
    size: int
    parameters: Mapping[str, Any]
    key: str


def configured_pools(settings: Settings) -> list[Pool]:
    """Pure: `DEN_WARM_POOLS` as a list of pools (a size alone: the template's defaults)."""
    found: list[Pool] = []
    for template, value in sorted(settings.warm_pools.items()):
        listed: Sequence[Any] = (
            [{"size": value}] if isinstance(value, int) else (value if isinstance(value, list) else [value])
        )
        for entry in (WarmPool.model_validate(item) for item in listed):
            found.append(
                Pool(
                    template=template,
                    size=entry.size,
                    parameters=dict(entry.parameters),
                    key=pool_key(template, entry.parameters),
                )
            )
    return found


def pool_key(template: str, parameters: Mapping[str, Any]) -> str:
    """Pure: `template` and a digest of the parameters as given (canonical JSON)."""
    digest = hashlib.sha256(json.dumps(dict(parameters), sort_keys=True, default=str).encode()).hexdigest()
    return f"{template}#{digest[:16]}"


def with_defaults(manifest: TemplateManifest, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Pure: `parameters` with each declared parameter's default filled in where absent: what
    the sandbox runs with, whichever way it was asked for."""
    declared = manifest.spec.parameters.get("properties", {})
    filled = {
        name: spec["default"]
        for name, spec in declared.items()
        if isinstance(spec, dict) and "default" in spec
    }
    return {**filled, **parameters}


def pool_for(settings: Settings, manifest: TemplateManifest, parameters: Mapping[str, Any]) -> Pool | None:
    """Pure: the configured pool of the template whose sandboxes a request with these
    parameters can use (the same values once defaults are filled in), if any."""
    wanted = with_defaults(manifest, parameters)
    for pool in configured_pools(settings):
        if pool.template == manifest.metadata.name and with_defaults(manifest, pool.parameters) == wanted:
            return pool
    return None


def has_pool(settings: Settings, template: str) -> bool:
    return any(pool.template == template and pool.size > 0 for pool in configured_pools(settings))


def pool_user(session: Session, *, now: datetime) -> User:
    """The account that owns every pooled sandbox: made on first use, disabled, bound to no
    provider account (its `oidc_subject` is one no provider sends)."""
    found = session.exec(select(User).where(User.name == POOL_USER)).first()
    if found is not None:
        return found
    user = User(
        name=POOL_USER,
        display_name="Warm pool",
        role="civil_servant",
        created_at=now,
        disabled_at=now,
        oidc_subject="innovation-den warm-pool",
    )
    session.add(user)
    session.flush()
    return user


def waiting_sandbox(session: Session, *, key: str, version_id: int, now: datetime) -> Trial | None:
    """The oldest pooled sandbox of the pool `key` and the version asked for that is Ready
    and may be handed out now. Read under the cap lock (the caller holds it)."""
    params = {"key": key, "version_id": version_id, "after": now + HANDOUT_MARGIN}
    return session.exec(_waiting_query(), params=params).first()


@functools.cache
def _waiting_query() -> SelectOfScalar[Trial]:
    """Built once: every trial request that a pool could serve runs it under the cap lock."""
    return (
        select(Trial)
        .where(
            col(Trial.pooled).is_(True),
            col(Trial.pool_key) == bindparam("key"),
            col(Trial.template_version_id) == bindparam("version_id"),
            col(Trial.phase) == Phase.READY,
            col(Trial.end_requested_at).is_(None),
            col(Trial.expires_at) > bindparam("after", type_=UTCDateTime()),
        )
        .order_by(col(Trial.created_at))
        .limit(1)
    )


def claim(session: Session, *, sandbox: Trial, owner: User, fields: Mapping[str, Any], now: datetime) -> bool:
    """Make the pooled `sandbox` the trial described by `fields` (the request's: the names of
    `CLAIMED_FIELDS`), owned by `owner`, in one conditional UPDATE: False when another request
    or the reconciler got to it first (it is no longer pooled, Ready and unended), and then
    nothing was written."""
    duration = int(fields["duration_seconds"])
    values = {
        **{name: fields[name] for name in CLAIMED_FIELDS},
        "owner_id": owner.id,
        "department": owner.department,
        "created_at": now,
        "ready_at": now,
        "expires_at": now + timedelta(seconds=duration),
        "sleeps_at": sleeps_at(now=now, idle_timeout=int(fields["idle_timeout_seconds"])),
        "updated_at": now,
        "usage_sampled_at": now,
    }
    taken = session.connection().execute(_claim_statement(), {"sandbox": sandbox.id, **values})
    if taken.rowcount != 1:
        return False
    session.expire(sandbox)
    return True


#: What a request sets on the pooled sandbox it takes.
CLAIMED_FIELDS = (
    "name",
    "title",
    "problem_statement",
    "hypothesis",
    "success_criteria",
    "duration_seconds",
    "shared_with_department",
    "justification",
    "idle_timeout_seconds",
    "phase_changed_at",
)


@functools.cache
def _claim_statement() -> Update:
    """Built once (every hand-out runs it under the cap lock), each value a bound parameter
    typed by its column."""
    given = (*CLAIMED_FIELDS, "owner_id", "department", "created_at", "ready_at", "expires_at")
    return (
        update(Trial)
        .where(
            col(Trial.id) == bindparam("sandbox"),
            col(Trial.pooled).is_(True),
            col(Trial.phase) == Phase.READY,
            col(Trial.end_requested_at).is_(None),
        )
        .values(
            {
                **{name: bindparam(name) for name in (*given, "sleeps_at", "updated_at", "usage_sampled_at")},
                "pooled": False,
                "last_activity_at": None,
                # The trial's resource use starts now (the pool's wait is no one's): from the
                # runtime's counter as it stands at the next reading (`usage_counter_seconds`
                # is never read while pooled, so that reading counts the start-up too, as a
                # cold start's does).
                "cpu_seconds": 0.0,
                "peak_memory_bytes": 0,
                "running_seconds": 0.0,
                "message": "The sandbox is ready: it was waiting in the warm pool",
            }
        )
    )


def ready_counts(session: Session) -> dict[str, int]:
    """Pooled sandboxes Ready and unended, by pool key, for the pool size gauge."""
    rows = session.exec(
        select(Trial.pool_key).where(
            col(Trial.pooled).is_(True), Trial.phase == Phase.READY, col(Trial.end_requested_at).is_(None)
        )
    ).all()
    counts: dict[str, int] = {}
    for key in rows:
        counts[key] = counts.get(key, 0) + 1
    return counts
