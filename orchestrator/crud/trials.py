"""Trials as people ask for them: the request (checked against caps and the self-service
limit), what each person may see and filter, and ending a trial. Phases are the reconciler's:
nothing here writes one, except the first (Requested, or PendingApproval past self-service)."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, case, false, func, literal
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from orchestrator import catalogue, metrics, rules
from orchestrator import parameters as parameter_subset
from orchestrator.access import SEES_ALL, Role, check_may_end, check_may_start_trial
from orchestrator.crud import pools
from orchestrator.crud.common import Actor, audit, pk, trial_event
from orchestrator.crud.locks import hold_caps, lock_trial
from orchestrator.crud.memo import Memo, forget_on_commit
from orchestrator.crud.notifications import notify_approval_waiting
from orchestrator.crud.templates import resolve_template
from orchestrator.errors import AlreadyExists, NotFound, Problem, ValidationFailed
from orchestrator.lifecycle import ACTIVE_PHASES, HOLDING_PHASES, Phase, Reason
from orchestrator.manifest import TemplateManifest
from orchestrator.models import TemplateVersion, Trial, TrialEvent, TrialMember, User
from orchestrator.settings import Settings


@dataclass(frozen=True)
class TrialRequest:
    template: str
    title: str
    hypothesis: str
    duration_seconds: int | None = None
    problem_statement: str = ""
    success_criteria: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    shared_with_department: bool = False
    justification: str = ""  # why it needs longer than self-service allows


@dataclass(frozen=True)
class TrialFilter:
    """Label-like selectors (`denctl get tr -l phase=Ready,owner=alice`)."""

    phase: str | None = None
    template: str | None = None  # name, or name@version
    owner: str | None = None
    department: str | None = None
    name: str | None = None  # the owner-chosen name (`metadata.name`)


def create_trial(
    session: Session,
    *,
    actor: Actor,
    request: TrialRequest,
    settings: Settings,
    now: datetime,
    name: str | None = None,
) -> Trial:
    """`name`: the owner's own name for the trial (`metadata.name`), unique among theirs."""
    check_may_start_trial(actor.user)
    if name is not None:
        check_name_free(session, owner_id=pk(actor.user), name=name)
    version = resolve_template(session, ref=request.template)
    manifest = catalogue.stored_manifest(version.manifest, version.digest)
    duration = request.duration_seconds or manifest.spec.limits.default_duration
    problems = rules.duration_problems(duration, manifest, settings)
    problems += parameter_problems(manifest, request.parameters)
    if problems:
        raise ValidationFailed(problems)
    reserved = rules.reservation(manifest)
    pending = rules.needs_approval(duration, settings=settings, template=manifest.metadata.name)
    hold_caps(session)  # before the pool is looked at: two requests never see the same sandbox
    pool = None if pending else pools.pool_for(settings, manifest, request.parameters)
    waiting = pools.waiting_sandbox(session, key=pool.key, version_id=pk(version), now=now) if pool else None
    # A pooled sandbox's CPU and memory are already counted: taking it adds none.
    asked = rules.Reservation(0, 0) if waiting is not None else reserved
    check_caps(session, user=actor.user, template=manifest.metadata.name, ask=asked, settings=settings)
    if name is not None:  # again under the cap lock: two requests at once never both take it
        check_name_free(session, owner_id=pk(actor.user), name=name)
    idle_timeout = manifest.spec.limits.idle_timeout or settings.idle_timeout
    if waiting is not None:
        taken = _from_pool(
            session,
            sandbox=waiting,
            actor=actor,
            request=request,
            name=name,
            duration=duration,
            idle_timeout=idle_timeout,
            manifest=manifest,
            now=now,
        )
        if taken is not None:
            return taken
        # Taken by the reconciler meanwhile (ending it): start cold, counted in full.
        check_caps(session, user=actor.user, template=manifest.metadata.name, ask=reserved, settings=settings)
    if pools.has_pool(settings, manifest.metadata.name) and not pending:
        metrics.POOL_REQUESTS.labels(template=manifest.metadata.name, outcome="miss").inc()
    trial = Trial(
        owner_id=pk(actor.user),
        name=name,
        department=actor.user.department,
        template_version_id=pk(version),
        template_name=manifest.metadata.name,
        template_version=manifest.metadata.version,
        title=request.title,
        problem_statement=request.problem_statement,
        hypothesis=request.hypothesis,
        success_criteria=list(request.success_criteria or manifest.spec.success_criteria),
        parameters=request.parameters,
        duration_seconds=duration,
        shared_with_department=request.shared_with_department,
        justification=request.justification if pending else "",
        cpu_millicores=reserved.cpu_millicores,
        memory_mib=reserved.memory_mib,
        # A trial waiting for approval starts its clock when approved.
        expires_at=None if pending else now + timedelta(seconds=duration),
        phase=Phase.PENDING_APPROVAL if pending else Phase.REQUESTED,
        reason=Reason.AWAITING_APPROVAL if pending else Reason.CREATED,
        message=(
            f"Waiting for an approver: {duration} s is over the self-service limit of "
            f"{rules.self_service_limit(settings, manifest.metadata.name)} s"
        )
        if pending
        else "Waiting for the reconciler",
        phase_changed_at=now,
        driver=settings.driver,
        created_at=now,
        idle_timeout_seconds=idle_timeout,
    )
    session.add(trial)
    session.flush()
    trial_event(session, trial, now=now, kind="Transition", message=f"Requested by {actor.name}")
    audit(
        session,
        actor=actor,
        action="trial.create",
        obj=("trial", trial.id),
        now=now,
        detail={"template": manifest.ref, "duration_seconds": duration, "pending_approval": pending},
    )
    if pending:
        notify_approval_waiting(
            session, trial=trial, subject="trial", requested_by=actor.name, settings=settings, now=now
        )
    metrics.TRIAL_REQUESTS.labels(outcome="pending_approval" if pending else "self_service").inc()
    return trial


def _from_pool(
    session: Session,
    *,
    sandbox: Trial,
    actor: Actor,
    request: TrialRequest,
    name: str | None,
    duration: int,
    idle_timeout: int,
    manifest: TemplateManifest,
    now: datetime,
) -> Trial | None:
    """The request served by the pooled `sandbox` (Ready: it answers at once), or None when it
    was taken meanwhile. Its parameters stay those it was started with: the request's, with the
    template's defaults filled in."""
    started = time.perf_counter()
    fields = {
        "name": name,
        "title": request.title,
        "problem_statement": request.problem_statement,
        "hypothesis": request.hypothesis,
        "success_criteria": list(request.success_criteria or manifest.spec.success_criteria),
        "duration_seconds": duration,
        "shared_with_department": request.shared_with_department,
        "justification": "",
        "idle_timeout_seconds": idle_timeout,
        "phase_changed_at": now,
    }
    if not pools.claim(session, sandbox=sandbox, owner=actor.user, fields=fields, now=now):
        return None
    trial = session.get(Trial, sandbox.id)
    assert trial is not None  # just claimed, under the cap lock
    trial_event(
        session,
        trial,
        now=now,
        kind="Transition",
        message=f"Requested by {actor.name}: taken from the warm pool",
    )
    audit(
        session,
        actor=actor,
        action="trial.create",
        obj=("trial", trial.id),
        now=now,
        detail={
            "template": manifest.ref,
            "duration_seconds": duration,
            "pending_approval": False,
            "pooled": True,
        },
    )
    metrics.TRIAL_REQUESTS.labels(outcome="self_service").inc()
    metrics.POOL_REQUESTS.labels(template=manifest.metadata.name, outcome="hit").inc()
    metrics.POOL_HANDOUT.observe(time.perf_counter() - started)
    return trial


def parameter_problems(manifest: TemplateManifest, parameters: dict[str, Any]) -> list[Problem]:
    """Only declared parameters, each checked against the template's parameter subset by our
    own linear-time checker (patterns on RE2): one request cannot hold the process."""
    return parameter_subset.value_problems(manifest.spec.parameters, parameters)


def check_caps(
    session: Session, *, user: User, template: str, ask: rules.Reservation, settings: Settings
) -> None:
    """Global caps over every trial not yet stopped, then the template's over its own.

    Counted under the cap lock, held until the caller's transaction ends: the trial it then
    inserts is counted by the next request, never missed by one counting at the same time."""
    hold_caps(session)
    den_wide, of_template = usage(session, user=user, template=template)
    scopes = [
        ("the den", rules.global_caps(settings), den_wide),
        (f"template {template}", rules.caps_for(settings, template), of_template),
    ]
    for scope, caps, held in scopes:
        rules.check_caps(
            rules.CapCheck(scope=scope, usage=held, caps=caps, ask=ask, has_department=bool(user.department))
        )


def resources_over_caps(session: Session, *, trial: Trial, settings: Settings) -> str:
    """Why the caps have no room now for `trial`'s CPU and memory ("": they have), for a
    sleeping sandbox about to wake. Counted under the cap lock, held until the caller's
    transaction ends."""
    hold_caps(session)
    owner = session.get(User, trial.owner_id)
    assert owner is not None  # a foreign key guarantees it
    den_wide, of_template = usage(session, user=owner, template=trial.template_name)
    ask = rules.Reservation(trial.cpu_millicores, trial.memory_mib)
    over = rules.resources_over(den_wide, rules.global_caps(settings), ask) + rules.resources_over(
        of_template, rules.caps_for(settings, trial.template_name), ask
    )
    return over[0] if over else ""


def usage(session: Session, *, user: User, template: str) -> tuple[rules.Usage, rules.Usage]:
    """What the active trials hold, den-wide and of `template`, in one aggregate query: it
    runs under the cap lock on every trial request, so it reads one index and nothing else
    (`ix_trial_holding`, migration 0011, holds every column it sums). The statement is built
    once: building its thirty-odd expressions cost ten times what running it does."""
    params = {"owner_id": user.id, "department": user.department, "template": template}
    # A ten-column aggregate: SQLModel's typed `exec` has no overload for it.
    row = [int(v) for v in session.connection().execute(_usage_query(), params).one()]
    return _usage(row[:5]), _usage(row[5:])


@functools.cache
def _usage_query() -> Select[Any]:
    def total(value: Any, condition: ColumnElement[bool] | None = None) -> Any:
        return func.coalesce(func.sum(value if condition is None else case((condition, value), else_=0)), 0)

    def one_of(column: Any, phases: Iterable[Phase]) -> ColumnElement[bool]:
        # Each a bound value of its own: a list given to `in_` is expanded into the SQL
        # again on every run.
        return column.in_([literal(str(phase)) for phase in sorted(phases)])  # type: ignore[no-any-return]

    # A pooled sandbox is no one's trial, but its CPU and memory are held; a sleeping one is
    # still a trial, but holds neither.
    person = col(Trial.pooled).is_(False)
    mine = person & (col(Trial.owner_id) == bindparam("owner_id"))
    theirs = person & (col(Trial.department) == bindparam("department"))
    same = col(Trial.template_name) == bindparam("template")
    holds = one_of(col(Trial.phase), HOLDING_PHASES)
    return (
        sql_select(
            total(1, person),
            total(1, mine),
            total(1, theirs),
            total(Trial.cpu_millicores, holds),
            total(Trial.memory_mib, holds),
            total(1, person & same),
            total(1, mine & same),
            total(1, theirs & same),
            total(Trial.cpu_millicores, holds & same),
            total(Trial.memory_mib, holds & same),
        )
        .select_from(Trial)
        .where(one_of(col(Trial.phase), ACTIVE_PHASES))
    )


def _usage(counted: list[int]) -> rules.Usage:
    trials, of_user, of_department, cpu, memory = counted
    return rules.Usage(
        trials=trials, of_user=of_user, of_department=of_department, cpu_millicores=cpu, memory_mib=memory
    )


def visible_trials_query(user: User) -> SelectOfScalar[Trial]:
    """The trials `user` may see: the owner's, their department's when shared, those they are
    a member of, every one for approvers and platform engineers; none for a supplier, not even
    of its own templates (suppliers see aggregates)."""
    query = select(Trial).where(col(Trial.pooled).is_(False))  # a warm pool's are no one's yet
    if user.role in SEES_ALL:
        return query
    if user.role == Role.SUPPLIER:
        return query.where(false())
    shared = (
        col(Trial.shared_with_department).is_(True)
        & (col(Trial.department) == user.department)
        & (col(Trial.department) != "")
    )
    return query.where((col(Trial.owner_id) == user.id) | shared | col(Trial.id).in_(member_of(user)))


def member_of(user: User) -> SelectOfScalar[str]:
    """The ids of the trials `user` is a member of (crud/members.py)."""
    return select(TrialMember.trial_id).where(TrialMember.user_id == user.id)


def filtered(query: SelectOfScalar[Trial], selectors: TrialFilter) -> SelectOfScalar[Trial]:
    if selectors.phase:
        query = query.where(Trial.phase == selectors.phase)
    if selectors.template:
        name, _, version = selectors.template.partition("@")
        query = query.where(Trial.template_name == name)
        if version:
            query = query.where(Trial.template_version == version)
    if selectors.owner:
        owner_id = select(User.id).where(User.name == selectors.owner).scalar_subquery()
        query = query.where(col(Trial.owner_id) == owner_id)
    if selectors.department:
        query = query.where(Trial.department == selectors.department)
    if selectors.name:
        query = query.where(Trial.name == selectors.name)
    return query


def check_name_free(session: Session, *, owner_id: int, name: str) -> None:
    """A name is the owner's handle on one trial: a second trial of theirs may not take it."""
    taken = session.exec(select(Trial).where(Trial.owner_id == owner_id, Trial.name == name)).first()
    if taken is not None:
        raise AlreadyExists(
            f"you already have a trial named {name!r}: {taken.id} ({taken.phase}); "
            "choose another name, or leave the name out to start another trial"
        )


def list_trials(
    session: Session, *, user: User, selectors: TrialFilter | None = None, limit: int = 500
) -> Sequence[Trial]:
    query = filtered(visible_trials_query(user), selectors or TrialFilter())
    return session.exec(query.order_by(col(Trial.created_at).desc()).limit(limit)).all()


def changed_trials(
    session: Session, *, user: User, selectors: TrialFilter, since: datetime | None
) -> Sequence[Trial]:
    """Visible trials written at or after `since` (all of them when None), for a watch: one
    indexed query on `updated_at`."""
    query = filtered(visible_trials_query(user), selectors)
    if since is not None:
        query = query.where(col(Trial.updated_at) >= since)
    return session.exec(query.order_by(col(Trial.created_at))).all()


def get_trial(session: Session, *, user: User, trial_id: str) -> Trial:
    """A trial the user may see; another user's trial is reported as not found."""
    trial = session.exec(visible_trials_query(user).where(Trial.id == trial_id)).first()
    if trial is None:
        raise NotFound(f"no trial {trial_id!r}")
    return trial


#: People's names by id, kept a second in each process (crud/memo.py): a trial shows its
#: owner's name, and looking it up was a query on every read of a trial or a list.
_NAMES: Memo[str] = Memo()
forget_on_commit((User,), _NAMES.clear, name="names")


def owner_names(session: Session, trials: Iterable[Trial]) -> dict[int, str]:
    """Each trial's owner's name, by owner id (what `presenting.trial` shows): the ones this
    process read in the last second from memory, the rest in one query."""
    owners = {t.owner_id for t in trials}
    names = {owner: known for owner in owners if (known := _NAMES.get(owner)) is not None}
    if missing := owners - names.keys():
        query = select(User.id, User.name).where(col(User.id).in_(missing))
        for owner, name in session.exec(query).all():
            assert owner is not None  # a stored person has an id
            _NAMES.put(owner, name)
            names[owner] = name
    return names


def trial_manifest(session: Session, trial: Trial) -> TemplateManifest:
    version = session.get(TemplateVersion, trial.template_version_id)
    assert version is not None  # a foreign key guarantees it
    return catalogue.stored_manifest(version.manifest, version.digest)


def request_end(session: Session, *, actor: Actor, trial: Trial, now: datetime) -> Trial:
    """Ask for the trial to end (a pending request is withdrawn). Repeating it is harmless;
    the trial's row is held, so a withdrawal and an approval at the same moment never both
    apply."""
    check_may_end(actor.user, trial)
    trial = lock_trial(session, trial)
    rules.check_endable(trial)
    if trial.end_requested_at is None:
        trial.end_requested_at = now
        trial_event(session, trial, now=now, kind="Intent", message=f"End requested by {actor.name}")
        audit(session, actor=actor, action="trial.end", obj=("trial", trial.id), now=now)
    return trial


def trial_events(session: Session, *, trial_id: str) -> Sequence[TrialEvent]:
    return session.exec(
        select(TrialEvent).where(TrialEvent.trial_id == trial_id).order_by(col(TrialEvent.id))
    ).all()


def events_of(session: Session, trial_ids: Sequence[str]) -> dict[str, list[TrialEvent]]:
    """The timelines of many trials in one query, each oldest first."""
    found: dict[str, list[TrialEvent]] = {trial_id: [] for trial_id in trial_ids}
    if trial_ids:
        rows = session.exec(
            select(TrialEvent).where(col(TrialEvent.trial_id).in_(trial_ids)).order_by(col(TrialEvent.id))
        ).all()
        for row in rows:
            found[row.trial_id].append(row)
    return found
