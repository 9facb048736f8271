"""Keeping the warm pools full and fresh: the reconciler's fleet-wide check (`upkeep`).

Each pass, for every configured pool (`DEN_WARM_POOLS`), in one transaction under the cap lock:

- **retire** the pooled sandboxes that no longer belong: their version is no longer the
  template's newest published one (a newer one was published, or it was deprecated or
  quarantined), their pool is gone or smaller than it was. Retiring is asking for the end
  (`end_requested_at`), by a conditional UPDATE that only applies while the sandbox is still
  pooled, so a request that took it a moment before keeps it;
- **start** what is missing, as `Requested` trials of the pool's account, while the den's
  total CPU and memory caps (and the template's) have room, and no more than
  `STARTING_AT_ONCE` pooled sandboxes are starting at a time over all pools: a burst of
  hand-outs is refilled a few at a time, so that starting sandboxes for the pool never takes
  the machine (and the database's write lock) from the requests it serves. A pool whose sandboxes failed to
  start within `FAILURE_BACKOFF` waits that long before trying again, so a broken template
  does not start and fail sandboxes in a loop.

The reconciler then starts, watches, expires (at `DEN_WARM_POOL_MAX_AGE`) and tears them down
like any other trial.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import update
from sqlmodel import Session, col, select

from orchestrator import catalogue, rules
from orchestrator import parameters as parameter_subset
from orchestrator.crud.common import pk, trial_event
from orchestrator.crud.locks import hold_caps
from orchestrator.crud.pools import Pool, configured_pools, pool_user, with_defaults
from orchestrator.crud.templates import latest_versions
from orchestrator.crud.trials import usage
from orchestrator.lifecycle import FAILURE_REASONS, LIVE_PHASES, Phase, Reason
from orchestrator.models import TemplateVersion, Trial
from orchestrator.settings import Settings

log = structlog.get_logger("pools")
FAILURE_BACKOFF = timedelta(seconds=60)
#: Pooled sandboxes starting at the same time, at most (all pools together).
STARTING_AT_ONCE = 2


@dataclass
class Upkeep:
    """What one pass did: trial ids started and retired, and pools it could not fill (why)."""

    started: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    short: dict[str, str] = field(default_factory=dict)


def upkeep(session: Session, *, settings: Settings, now: datetime) -> Upkeep:
    """One pass over every pool; the caller commits."""
    pools = configured_pools(settings)
    done = Upkeep()
    live = _live_pooled(session)
    if not pools and not live:
        return done
    hold_caps(session)
    live = _live_pooled(session)  # again under the lock
    newest = {template.name: version for template, version, _supplier in latest_versions(session)}
    wanted = {pool.key: pool for pool in pools}
    by_key: dict[str, list[Trial]] = defaultdict(list)
    for trial in live:
        if trial.end_requested_at is not None or (trial.expires_at is not None and trial.expires_at <= now):
            continue  # ending already (its maximum age reached): it is replaced
        pool = wanted.get(trial.pool_key)
        version = newest.get(pool.template) if pool else None
        if pool is None or version is None or trial.template_version_id != version.id:
            _retire(session, trial, now=now, done=done, why="its version or pool is no longer current")
        else:
            by_key[pool.key].append(trial)
    starting = sum(1 for trial in live if trial.phase in (Phase.REQUESTED, Phase.PROVISIONING))
    for pool in pools:
        kept = sorted(by_key[pool.key], key=lambda t: (t.phase == Phase.READY, t.created_at), reverse=True)
        for trial in kept[pool.size :]:
            _retire(session, trial, now=now, done=done, why="its pool is smaller now")
        missing = pool.size - min(len(kept), pool.size)
        version = newest.get(pool.template)
        if missing <= 0:
            continue
        if version is None:
            done.short[pool.key] = f"template {pool.template} has no published version"
            continue
        if _failed_lately(session, pool, now=now):
            done.short[pool.key] = "its sandboxes failed to start lately; trying again later"
            continue
        room = STARTING_AT_ONCE - starting - len(done.started)
        if room > 0:
            _start(session, pool, version, min(missing, room), settings=settings, now=now, done=done)
    return done


def _live_pooled(session: Session) -> list[Trial]:
    return list(
        session.exec(
            select(Trial).where(
                col(Trial.pooled).is_(True), col(Trial.phase).in_([str(p) for p in LIVE_PHASES])
            )
        ).all()
    )


def _retire(session: Session, trial: Trial, *, now: datetime, done: Upkeep, why: str) -> None:
    ended = session.connection().execute(
        update(Trial)
        .where(col(Trial.id) == trial.id, col(Trial.pooled).is_(True), col(Trial.end_requested_at).is_(None))
        .values(end_requested_at=now, updated_at=now)
    )
    if ended.rowcount:
        done.retired.append(trial.id)
        log.info("pool_sandbox_retired", trial_id=trial.id, pool=trial.pool_key, why=why)


def _failed_lately(session: Session, pool: Pool, *, now: datetime) -> bool:
    failed = session.exec(
        select(Trial.id).where(
            col(Trial.pooled).is_(True),
            Trial.pool_key == pool.key,
            col(Trial.reason).in_([str(r) for r in FAILURE_REASONS]),
            col(Trial.phase_changed_at) > now - FAILURE_BACKOFF,
        )
    ).first()
    return failed is not None


def _start(
    session: Session,
    pool: Pool,
    version: TemplateVersion,
    count: int,
    *,
    settings: Settings,
    now: datetime,
    done: Upkeep,
) -> None:
    manifest = catalogue.stored_manifest(version.manifest, version.digest)
    parameters = with_defaults(manifest, pool.parameters)
    problems = parameter_subset.value_problems(manifest.spec.parameters, parameters)
    if problems:
        done.short[pool.key] = "its parameters do not suit the template: " + "; ".join(
            f"{p.field}: {p.message}" for p in problems
        )
        return
    owner = pool_user(session, now=now)
    reserved = rules.reservation(manifest)
    for _ in range(count):
        den_wide, of_template = usage(session, user=owner, template=pool.template)
        over = rules.resources_over(den_wide, rules.global_caps(settings), reserved) + rules.resources_over(
            of_template, rules.caps_for(settings, pool.template), reserved
        )
        if over:
            done.short[pool.key] = over[0]
            return
        trial = Trial(
            owner_id=pk(owner),
            template_version_id=pk(version),
            template_name=manifest.metadata.name,
            template_version=manifest.metadata.version,
            title=f"Warm pool of {manifest.metadata.name}",
            hypothesis="",
            parameters=parameters,
            duration_seconds=settings.warm_pool_max_age,
            cpu_millicores=reserved.cpu_millicores,
            memory_mib=reserved.memory_mib,
            expires_at=now + timedelta(seconds=settings.warm_pool_max_age),
            phase=Phase.REQUESTED,
            reason=Reason.CREATED,
            message="Starting for the warm pool",
            phase_changed_at=now,
            driver=settings.driver,
            created_at=now,
            pooled=True,
            pool_key=pool.key,
        )
        session.add(trial)
        session.flush()
        trial_event(session, trial, now=now, kind="Transition", message="Started for the warm pool")
        done.started.append(trial.id)
