"""The reconciler: makes the runtime match what the database says, and records what it sees.

Level-triggered and per trial. Each turn of the loop loads only the trials that need work
(starting, stopping, failed, Ready and due to end, decided requests) and hands each one to a
work queue (`orchestrator.workqueue`): runtime calls and readiness probes of different trials
run concurrently within a bound, in separate lanes for starting and ending, and a trial whose
work meets a `RetryableError` is retried alone after its own delay (exponential from the
error's `delay`, capped) while every other trial goes on. Only an unreachable runtime
(`RuntimeUnavailable`) pauses runtime work, until `ping` answers again.

The loop sleeps until the soonest of: the next `expires_at`, a trial's next poll or retry, the
next liveness check or orphan sweep; and it wakes at once when a piece of work finishes or a
commit changes intent (`crud.on_intent_change`, and PostgreSQL's LISTEN/NOTIFY for an API in
another process), so expiry is scheduled, not found by polling.

Crash safety comes from ordering: a phase is committed before the runtime call it leads to
(`crud.commit_phase_before_runtime`), and every driver call converges when repeated, so killing
the process at any point and starting it again finishes the work. With several reconcilers,
only the leader acts (`leader()`, kept by `orchestrator.leadership`); it is asked before every
piece of work and before each call that changes the runtime.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import Engine
from sqlmodel import Session

from orchestrator import catalogue, cost, crud, metrics, review
from orchestrator.crud import notifications
from orchestrator.delivery import DeliveryWorker
from orchestrator.drivers.base import Driver, Status, TrialSpec, Usage
from orchestrator.errors import DenError, NotLeading, RetryableError, RuntimeUnavailable
from orchestrator.lifecycle import FAILURE_REASONS, Phase, Reason, down_too_long, is_expired
from orchestrator.manifest import TemplateManifest
from orchestrator.models import TemplateVersion, Trial
from orchestrator.settings import Settings
from orchestrator.workqueue import MIN_DELAY, Schedule, WorkQueue, retry_delay

log = structlog.get_logger("reconciler")
MAX_BACKOFF = 30.0  # seconds: the longest wait before a retry, of a trial or of the runtime
FAST_POLL = 0.05  # seconds between polls of a sandbox in its first seconds of starting
FAST_POLL_WINDOW = timedelta(seconds=10)
FAILED_TURN_WAIT = 1.0  # seconds: a turn that failed (the database away) waits at least this
# seconds: how long Kubernetes takes to notice that a node stopped answering (the controller
# manager's node-monitor-grace-period: 40 or 50 s by release), before a pod's node-loss wait
NODE_NOTICE_SECONDS = 60
LIVENESS, SWEEP = "~liveness", "~sweep"  # keys of the fleet-wide checks (never trial ids)
RETENTION = "~retention"  # housekeeping: old trials' free text removed, at the sweep's interval
POOLS = "~pools"  # the warm pools kept full (crud/pool_upkeep.py)
USAGE = "~usage"  # the running sandboxes' resource use read (each in the `usage` lane)
POOL_INTERVAL = 1.0  # seconds between pool upkeeps while any pool is configured
SLEEPING_RETRY = 2.0  # seconds: a sandbox waiting for room under the caps to wake looks again
STARTING = (Phase.REQUESTED, Phase.PROVISIONING)


def build_spec(trial: Trial, manifest: TemplateManifest, *, instance: str = "default") -> TrialSpec:
    """Pure: the driver's view of a trial. Parameters reach the workload as upper-case env."""
    env = {name.upper(): _env_value(value) for name, value in trial.parameters.items()}
    return TrialSpec(
        trial_id=trial.id,
        template=manifest.ref,
        components=tuple(manifest.spec.components),
        parameters_env=env,
        egress=tuple(manifest.spec.egress),
        instance=instance,
    )


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def stop_reason(trial: Trial, *, now: datetime, quarantined: bool = False) -> tuple[Reason, str] | None:
    """Pure: why a live trial should stop now, if it should."""
    if trial.end_requested_at is not None and quarantined:
        return Reason.TEMPLATE_QUARANTINED, "Ending: the template version was quarantined"
    if trial.end_requested_at is not None:
        return Reason.USER_REQUESTED, "Ending: the owner asked to end the trial"
    if is_expired(now=now, expires_at=trial.expires_at):
        return Reason.EXPIRED, "Ending: the trial's time is up"
    return None


def lane(trial: Trial, *, now: datetime) -> str:
    """Pure: which pool works on the trial. Starting sandboxes (polls, probes) never hold up
    ending ones (teardowns, decisions), and the other way round."""
    waking = trial.phase == Phase.SLEEPING and trial.wake_requested_at is not None
    starting = (Phase(trial.phase) in STARTING or waking) and trial.end_requested_at is None
    if starting and not is_expired(now=now, expires_at=trial.expires_at):
        return "start"
    return "end"


def poll_delay(trial: Trial, *, now: datetime, interval: float) -> float:
    """Pure: a sandbox that has just been started is watched closely (most become ready within
    a few seconds, and every poll saved there is latency a person waits for); after that, the
    configured interval. A sleeping sandbox waiting for room under the caps looks again every
    `SLEEPING_RETRY` seconds."""
    if trial.phase == Phase.SLEEPING:
        return max(interval, SLEEPING_RETRY)
    if Phase(trial.phase) in STARTING and now - trial.phase_changed_at < FAST_POLL_WINDOW:
        return min(interval, FAST_POLL)
    return interval


def _totals(trial: Trial) -> cost.Totals:
    return cost.Totals(
        cpu_seconds=trial.cpu_seconds,
        peak_memory_bytes=trial.peak_memory_bytes,
        running_seconds=trial.running_seconds,
        last_counter=trial.usage_counter_seconds,
        sampled_at=trial.usage_sampled_at,
    )


def _after(before: cost.Totals, reading: Usage, *, now: datetime, running: bool) -> cost.Totals:
    return cost.accumulate(
        before, cpu_seconds=reading.cpu_seconds, memory_bytes=reading.memory_bytes, now=now, running=running
    )


def _always() -> bool:
    return True


@dataclass
class Reconciler:
    engine: Engine
    driver: Driver
    settings: Settings
    #: Whether this reconciler leads (cheap: a flag kept by `orchestrator.leadership`).
    leader: Callable[[], bool] = _always
    wake: threading.Event = field(default_factory=threading.Event)
    #: time.monotonic() at the end of the loop's latest turn (successful or not): the health
    #: endpoint of `den reconcile` reports the loop stuck when it grows old.
    last_turn: float = field(default_factory=time.monotonic)
    runtime_up: bool = True
    _schedule: Schedule = field(default_factory=Schedule)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _paused_until: datetime | None = None
    _outages: int = 0
    _next_check: dict[str, datetime] = field(default_factory=dict)
    _manifests: dict[int, TemplateManifest] = field(default_factory=dict)
    #: Trials this process has asked the runtime to wake: after a restart, a trial found
    #: waking is asked again (the crash may have come before the call).
    _woken: set[str] = field(default_factory=set)
    #: Trials whose runtime this process is putting to sleep at this moment.
    _sleeping: set[str] = field(default_factory=set)
    # Ready trials seen with a component not running and no failure to say why (a pod whose
    # node was lost, waiting to start elsewhere): since when. Forgotten on a restart, which
    # only gives them longer.
    _down_since: dict[str, datetime] = field(default_factory=dict)
    _pool_short: dict[str, str] = field(default_factory=dict)  # pools not full, and why (logged once)
    _clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _queue: WorkQueue = field(init=False)

    def __post_init__(self) -> None:
        # An in-memory database is one connection: its trials are worked on one at a time.
        size = 1 if self.engine.url.database in (None, "", ":memory:") else self.settings.reconciler_workers
        self._queue = WorkQueue(
            lanes={"start": size, "end": size, "fleet": 1, "usage": size}, on_done=self.wake.set
        )

    # --- one turn ------------------------------------------------------------------------

    def reconcile_once(self, *, now: datetime) -> datetime:
        """One pass run to completion, at a fixed `now`: every due trial is worked on (several
        at once) and the pass returns when all of that work has finished, with when to wake
        next. `run()` does the same without waiting for the work."""
        self.dispatch(now=now, clock=lambda: now, polls=False)
        self._queue.drain()
        return self.next_wake(now=now)

    def dispatch(self, *, now: datetime, clock: Callable[[], datetime], polls: bool = True) -> None:
        """Hand every trial that needs work, and the fleet-wide checks when due, to the work
        queue; `clock` gives each piece of work its own `now` when it starts. `polls=False`
        (a one-off pass) also polls trials whose next poll is not due yet; a trial backing off
        after a retryable error always waits."""
        if not self.leader() or not self._runtime_answers(now=now):
            return
        self._clock = clock
        with metrics.RECONCILE_SECONDS.time(), Session(self.engine) as session:
            due = crud.trials_needing_work(session, now=now)
        with self._lock:
            self._schedule.keep_only({trial.id for trial in due})
            ready = [t for t in due if self._schedule.due(t.id, now=now, polls=polls)]
        for trial in ready:
            self._submit(trial.id, lane=lane(trial, now=now), clock=clock)
        self.warn_expiring(now=now)
        checks = (
            (LIVENESS, self._check_liveness),
            (SWEEP, self.sweep_orphans),
            (RETENTION, self.apply_retention),
            (POOLS, self.keep_pools),
            (USAGE, self.sample_usage),
        )
        for key, check in checks:
            if key not in self._next_check or self._next_check[key] <= now:
                self._submit_check(key, check, clock=clock)

    def warn_expiring(self, *, now: datetime) -> int:
        """Write the expiry warnings due at `now` to the notification outbox (each once: a
        repeated pass writes nothing new); the delivery worker sends them."""
        with crud.quiet(Session(self.engine)) as session:
            written = notifications.enqueue_due_warnings(session, settings=self.settings, now=now)
            session.commit()
        if written:
            log.info("expiry_warnings_written", notifications=written)
        return written

    def next_wake(self, *, now: datetime) -> datetime:
        with Session(self.engine) as session:
            expiry = crud.next_expiry(session, after=now)
            warning = notifications.next_warning(session, offsets=self.settings.warning_offsets, after=now)
        with self._lock:
            retry = self._schedule.earliest(after=now)
        # Only times still to come: work in flight wakes the loop itself when it finishes.
        times = [
            now + timedelta(seconds=self.settings.liveness_interval),
            *(
                t
                for t in (expiry, warning, retry, self._paused_until, *self._next_check.values())
                if t is not None and t > now
            ),
        ]
        return max(min(times), now + timedelta(seconds=MIN_DELAY))

    def _runtime_answers(self, *, now: datetime) -> bool:
        """While the runtime is away nothing is asked of it but `ping`, after a back-off."""
        if self._paused_until is None:
            return True
        if now < self._paused_until:
            return False
        try:
            self.driver.ping()
        except RuntimeUnavailable as exc:
            self._runtime_away(exc, now=now)
            return False
        self._runtime_back()
        return True

    def _runtime_away(self, exc: RuntimeUnavailable, *, now: datetime) -> None:
        with self._lock:
            if self._paused_until is not None and now < self._paused_until:
                return  # the same outage, met by other work of the same turn
            self._outages += 1
            pause = retry_delay(attempt=self._outages, base=0.5, cap=MAX_BACKOFF)
            self._paused_until = now + timedelta(seconds=pause)
        if self.runtime_up:
            log.warning("runtime_unavailable", error=exc.log_message, retry_in=pause)
        self.runtime_up = False
        metrics.RUNTIME_UP.set(0)
        metrics.RECONCILE_ERRORS.labels(reason=exc.reason).inc()

    def _runtime_back(self) -> None:
        with self._lock:
            self._outages, self._paused_until = 0, None
        if not self.runtime_up:
            log.info("runtime_available")
        self.runtime_up = True
        metrics.RUNTIME_UP.set(1)

    # --- work items ----------------------------------------------------------------------

    def _submit(self, trial_id: str, *, lane: str, clock: Callable[[], datetime]) -> None:
        self._queue.submit(trial_id, lane=lane, work=lambda: self._work(trial_id, clock=clock))

    def _submit_check(self, key: str, check: Callable[..., object], *, clock: Callable[[], datetime]) -> None:
        def work() -> None:
            now = clock()
            try:
                self._guard()
                check(now=now)
            except RuntimeUnavailable as exc:
                self._runtime_away(exc, now=now)
            except NotLeading:
                pass
            except Exception:  # a fleet check that fails is tried again at its next time
                metrics.RECONCILE_ERRORS.labels(reason="Unexpected").inc()
                log.exception("check_error", check=key)
            self._next_check[key] = now + timedelta(seconds=self._interval(key))

        self._queue.submit(key, lane="fleet", work=work)

    def _interval(self, key: str) -> float:
        if key == LIVENESS:
            return self.settings.liveness_interval
        if key == POOLS and self.settings.warm_pools:
            return POOL_INTERVAL
        if key == USAGE:
            return self.settings.usage_sample_interval
        return self.settings.sweep_interval

    def _work(self, trial_id: str, *, clock: Callable[[], datetime]) -> None:
        """Advance one trial, then schedule when to look at it again."""
        now = clock()
        try:
            self._guard()
            again = self._reconcile_trial(trial_id, now=now)
        except NotLeading:
            return
        except RuntimeUnavailable as exc:
            self._runtime_away(exc, now=now)
            return
        except RetryableError as exc:
            self._retry(trial_id, reason=exc.reason, error=exc.log_message, base=exc.delay, now=now)
            return
        except Exception:  # a bug met by one trial must not stall every other trial
            metrics.RECONCILE_ERRORS.labels(reason="Unexpected").inc()
            log.exception("trial_error", trial_id=trial_id)
            self._retry(trial_id, reason="Unexpected", error="", base=1.0, now=now)
            return
        with self._lock:
            self._schedule.done(
                trial_id,
                again_at=now + timedelta(seconds=max(MIN_DELAY, again if again is not None else 0.0)),
            )

    def _retry(self, trial_id: str, *, reason: str, error: str, base: float, now: datetime) -> None:
        with self._lock:
            when = self._schedule.retry(trial_id, now=now, base=base, cap=MAX_BACKOFF)
        metrics.RECONCILE_ERRORS.labels(reason=reason).inc()
        log.warning(
            "trial_retry",
            trial_id=trial_id,
            reason=reason,
            error=error,
            retry_in=round((when - now).total_seconds(), 3),
        )

    def _guard(self) -> None:
        if not self.leader():
            raise NotLeading("This reconciler no longer leads")

    def _reconcile_trial(self, trial_id: str, *, now: datetime) -> float | None:
        """Advance one trial in its own transactions; seconds until it needs looking at again
        (None: only when something changes)."""
        with crud.quiet(Session(self.engine, expire_on_commit=False)) as session:
            trial = session.get(Trial, trial_id)
            if trial is None:
                return None
            try:
                busy = self._advance(session, trial, now=now)
                session.commit()
            except RetryableError:
                session.rollback()
                raise
            except DenError as exc:
                session.rollback()
                log.warning("trial_failed", trial_id=trial_id, reason=exc.reason, error=exc.log_message)
                if self._record_failure(trial_id, reason=Reason.RUNTIME_ERROR, message=exc.detail, now=now):
                    return self._reconcile_trial(trial_id, now=now)  # clean up at once
                return FAST_POLL
        if not busy:
            return None
        return poll_delay(trial, now=now, interval=self.settings.poll_interval)

    def _advance(self, session: Session, trial: Trial, *, now: datetime) -> bool:
        """One step of the trial's life; True while it still needs watching."""
        phase = Phase(trial.phase)
        if phase is Phase.STOPPED:  # ended since the turn that handed out this work
            return False
        if phase is Phase.PENDING_APPROVAL:
            return self._settle_approval(session, trial, now=now)
        if phase is Phase.FAILED:
            return self._begin_teardown(
                session, trial, Reason(trial.reason), "Removing whatever was made", now=now
            )
        if phase is Phase.STOPPING:
            return self._teardown(session, trial, now=now)
        quarantined = trial.end_requested_at is not None and crud.version_quarantined(session, trial)
        ending = stop_reason(trial, now=now, quarantined=quarantined)
        if ending is not None:
            if ending[0] is Reason.EXPIRED and trial.expires_at is not None:
                metrics.TEARDOWN_DELAY.observe((now - trial.expires_at).total_seconds())
            return self._begin_teardown(session, trial, *ending, now=now)
        if phase is Phase.REQUESTED:
            self._commit_phase(
                session, trial, Phase.PROVISIONING, Reason.STARTING, "Creating the sandbox", now
            )
            self._guard()
            self.driver.start(self._spec(session, trial))
            return True
        if phase is Phase.PROVISIONING:
            return self._provision(session, trial, now=now)
        if phase is Phase.SLEEPING:
            return self._wake(session, trial, now=now)
        if (
            phase is Phase.READY
            and trial.sleeps_at is not None
            and trial.sleeps_at <= now
            and not trial.pooled
        ):
            self._sleep(session, trial, now=now)
        return False

    def _sleep(self, session: Session, trial: Trial, *, now: datetime) -> None:
        """Nobody visited for the idle timeout: the phase first, then the runtime (a crash
        between the two is mended by the liveness check, which finds it still running)."""
        self._last_reading(trial, now=now)
        self._commit_phase(
            session,
            trial,
            Phase.SLEEPING,
            Reason.IDLE,
            f"Asleep: nobody visited the sandbox for {trial.idle_timeout_seconds} s; the next visit wakes it",
            now,
            sleeps_at=None,
            wake_requested_at=None,
        )
        metrics.SLEEPS.inc()
        self._guard()
        self._sleeping.add(trial.id)  # the liveness check leaves it to this call meanwhile
        try:
            self.driver.sleep(self._spec(session, trial))
        finally:
            self._sleeping.discard(trial.id)

    def _wake(self, session: Session, trial: Trial, *, now: datetime) -> bool:
        """A visit asked for the sandbox: wake it once the caps have room for its CPU and
        memory again (others may have taken them while it slept)."""
        if trial.wake_requested_at is None:
            return False
        over = crud.resources_over_caps(session, trial=trial, settings=self.settings)
        if over:
            message = f"Waiting for room to wake: {over}"
            if trial.message != message:
                trial.message = message
                crud.record_progress(session, trial=trial, message=message, now=now)
            return True
        self._commit_phase(
            session,
            trial,
            Phase.PROVISIONING,
            Reason.WAKING,
            "Waking up: a visit asked for the sandbox",
            now,
            wake_requested_at=None,
        )
        self._guard()
        spec = self._spec(session, trial)
        # A sleep still under way ends first (its process may have died with its stop call in
        # the runtime's hands): a container woken while it stops would be stopped after.
        self.driver.sleep(spec)
        self.driver.wake(spec)
        self._woken.add(trial.id)
        return True

    def _settle_approval(self, session: Session, trial: Trial, *, now: datetime) -> bool:
        """Act on an approver's decision (or the owner withdrawing): people wrote the intent,
        the phase is written here. Nothing was made yet, so a refusal needs no teardown."""
        if trial.rejected_at is not None:
            self._transition(
                session,
                trial,
                Phase.STOPPED,
                Reason.REJECTED,
                f"Rejected by {trial.rejected_by}: {trial.rejection_reason}",
                now,
                ended_at=now,
            )
            return False
        if trial.end_requested_at is not None:
            reason, message = (
                (
                    Reason.TEMPLATE_QUARANTINED,
                    "The template version was quarantined before approval: nothing was made",
                )
                if crud.version_quarantined(session, trial)
                else (Reason.USER_REQUESTED, "Withdrawn before approval: nothing was made")
            )
            self._transition(session, trial, Phase.STOPPED, reason, message, now, ended_at=now)
            return False
        if trial.approved_at is None:
            return False
        self._commit_phase(
            session, trial, Phase.REQUESTED, Reason.APPROVED, f"Approved by {trial.approved_by}", now
        )
        return self._advance(session, trial, now=now)

    def _provision(self, session: Session, trial: Trial, *, now: datetime) -> bool:
        spec = self._spec(session, trial)
        waking = trial.reason == Reason.WAKING
        if waking and trial.id not in self._woken:
            # Waking when this process started: the process before it may have died while
            # putting the sandbox to sleep, and the runtime may still be stopping it (a Docker
            # stop goes on without its caller). Finishing that sleep first means the sandbox
            # found running after the wake is the woken one, not one about to stop.
            self._guard()
            self.driver.sleep(spec)
            self.driver.wake(spec)
            self._woken.add(trial.id)
        observed = self.driver.poll(spec)
        if not waking:  # the start-up's steps, not each wake's again
            crud.record_new_progress(session, trial=trial, steps=observed.progress, now=now)
        if observed.status is Status.READY:
            if waking:
                metrics.WAKE_SECONDS.observe((now - trial.phase_changed_at).total_seconds())
                self._woken.discard(trial.id)
            elif not trial.pooled:  # a pooled sandbox kept nobody waiting
                metrics.TIME_TO_READY.observe((now - trial.created_at).total_seconds())
            self._transition(
                session,
                trial,
                Phase.READY,
                Reason.STARTED,
                "The sandbox is awake again" if waking else "The sandbox is ready",
                now,
                ready_at=trial.ready_at or now,
                usage_sampled_at=now,  # its running time counts from here
                endpoints=dict(observed.endpoints),
                sleeps_at=crud.sleeps_at(
                    now=now, idle_timeout=trial.idle_timeout_seconds, pooled=trial.pooled
                ),
            )
            return False
        if observed.status is Status.FAILED:
            return self._fail_then_clean(
                session, trial, Reason.RUNTIME_ERROR, observed.message or "A component failed to start", now
            )
        waited = (now - trial.phase_changed_at).total_seconds()
        if waited > self.settings.start_timeout:
            detail = f": {observed.message}" if observed.message else ""
            return self._fail_then_clean(
                session,
                trial,
                Reason.START_TIMEOUT,
                f"Not ready after {self.settings.start_timeout} s{detail}",
                now,
            )
        if observed.status is Status.MISSING:
            # Half made (e.g. a crash between runtime calls): starting again converges.
            self._guard()
            self.driver.start(spec)
        return True

    def _fail_then_clean(
        self, session: Session, trial: Trial, reason: Reason, message: str, now: datetime
    ) -> bool:
        self._commit_phase(session, trial, Phase.FAILED, reason, message, now)
        return self._begin_teardown(session, trial, reason, "Removing whatever was made", now=now)

    def _begin_teardown(
        self, session: Session, trial: Trial, reason: Reason, message: str, *, now: datetime
    ) -> bool:
        if trial.phase not in (Phase.SLEEPING, Phase.PENDING_APPROVAL, Phase.REQUESTED):  # it may run
            self._last_reading(trial, now=now)
        if trial.peak_memory_bytes:
            metrics.TRIAL_PEAK_MEMORY.labels(template=trial.template_name).observe(trial.peak_memory_bytes)
        self._commit_phase(session, trial, Phase.STOPPING, reason, message, now)
        return self._teardown(session, trial, now=now)

    def _teardown(self, session: Session, trial: Trial, *, now: datetime) -> bool:
        self._guard()
        self.driver.stop(trial.id)
        left = self.driver.remaining(trial.id)
        if left:
            crud.record_new_progress(
                session, trial=trial, now=now, steps=(f"Still removing: {', '.join(sorted(left)[:5])}",)
            )
            return True
        reason = Reason(trial.reason)
        message = {
            Reason.EXPIRED: "Time is up: the sandbox was removed and nothing remains",
            Reason.USER_REQUESTED: "Ended on request: the sandbox was removed and nothing remains",
            Reason.TEMPLATE_QUARANTINED: "The template version was quarantined: the sandbox was "
            "removed and nothing remains",
        }.get(reason, f"Stopped after a failure ({reason}); nothing remains")
        if reason in FAILURE_REASONS:
            message = f"{message}: {crud.last_failure_message(session, trial)}"[:2000]
        self._transition(session, trial, Phase.STOPPED, reason, message, now, ended_at=now, endpoints={})
        return False

    # --- fleet-wide checks: one runtime call each, whatever the number of trials ---------

    def _check_liveness(self, *, now: datetime) -> None:
        """Ready trials must have every component running; a suspect is polled to say why."""
        running = self.driver.running_components()
        with Session(self.engine) as session:
            # Not one that is ending (its time up, or an end asked for): its teardown converges
            # whatever is left, and its reason is why it ends, never what is missing.
            suspects = [
                (trial, self._spec(session, trial))
                for trial in crud.ready_trials(session)
                if stop_reason(trial, now=now) is None
                and not {c.name for c in self._manifest(session, trial).spec.components}
                <= running.get(trial.id, set())
            ]
        with Session(self.engine) as session:
            # Not one this process is putting to sleep right now: its containers stop over a few
            # seconds, and a second stop racing the first could still be stopping them once a
            # visit has woken them.
            restless = [
                self._spec(session, trial)
                for trial in crud.sleeping_trials(session)
                if running.get(trial.id) and trial.id not in self._sleeping
            ]
        for spec in restless:  # a sleep cut short (a crash before the runtime call)
            log.warning("sleeping_trial_running", trial_id=spec.trial_id)
            self._guard()
            self.driver.sleep(spec)
        for gone in set(self._down_since) - {trial.id for trial, _ in suspects}:
            del self._down_since[gone]  # running again, or no longer Ready
        for trial, spec in suspects:
            observed = self.driver.poll(spec)
            if observed.status is Status.PENDING:
                since = self._down_since.setdefault(trial.id, now)
                if down_too_long(now=now, down_since=since, limit_seconds=self._down_limit()):
                    self._fail(
                        trial.id,
                        reason=Reason.RUNTIME_ERROR,
                        now=now,
                        message=f"Not running for {self._down_limit()} s and not started again "
                        f"({observed.message or 'no reason given'})",
                    )
            elif observed.status is Status.MISSING:
                self._fail(
                    trial.id,
                    reason=Reason.RUNTIME_MISSING,
                    now=now,
                    message=observed.message or "The sandbox's resources disappeared",
                )
            elif observed.status is Status.FAILED:
                self._fail(
                    trial.id,
                    reason=Reason.RUNTIME_ERROR,
                    now=now,
                    message=observed.message or "A component stopped",
                )

    def _down_limit(self) -> int:
        """How long a Ready trial's component may be down before the trial fails: the wait
        before Kubernetes moves a pod off a lost node, its notice of the loss, then a start."""
        return self.settings.kubernetes_node_loss_seconds + NODE_NOTICE_SECONDS + self.settings.start_timeout

    def sweep_orphans(self, *, now: datetime) -> list[str]:
        """Remove runtime resources that belong to no live trial (read runtime first)."""
        present = self.driver.list_trial_ids()
        with Session(self.engine) as session:
            live = crud.live_trial_ids(session)
        orphans = sorted(present - live)
        for trial_id in orphans:
            log.warning("orphan_removed", trial_id=trial_id)
            self._guard()
            self.driver.stop(trial_id)
            metrics.ORPHANS_REMOVED.inc()
            with crud.quiet(Session(self.engine)) as session:
                crud.record_orphan_removed(session, trial_id=trial_id, now=now)
                session.commit()
        return orphans

    # --- resource use: read beside the reconciler's work, never in its way -----------------

    def sample_usage(self, *, now: datetime) -> list[str]:
        """Hand each running sandbox's reading to the `usage` lane (one piece of work per
        trial, so a slow runtime answer for one holds up neither the others nor any
        transition); the trials handed out."""
        with Session(self.engine) as session:
            running = crud.running_trial_ids(session)
        for trial_id in running:
            self._queue.submit(f"{USAGE}:{trial_id}", lane="usage", work=self._sampler(trial_id))
        return running

    def _sampler(self, trial_id: str) -> Callable[[], None]:
        def work() -> None:
            try:
                self._sample(trial_id, now=self._clock())
            except Exception:  # a reading that fails is taken again at the next interval
                metrics.RECONCILE_ERRORS.labels(reason="Unexpected").inc()
                log.exception("usage_error", trial_id=trial_id)

        return work

    def _sample(self, trial_id: str, *, now: datetime) -> None:
        try:
            self._guard()
            reading = self.driver.usage(trial_id)
        except NotLeading:
            return
        except DenError as exc:  # read again at the next interval
            log.warning("usage_unread", trial_id=trial_id, reason=exc.reason, error=exc.log_message)
            return
        with crud.quiet(Session(self.engine)) as session:
            trial = session.get(Trial, trial_id)  # read after the runtime call: a sleep or an
            if trial is None or trial.phase not in (Phase.PROVISIONING, Phase.READY):  # end since
                return  # took the last reading itself
            before, template, memory_mib = _totals(trial), trial.template_name, trial.memory_mib
            after = _after(before, reading, now=now, running=True)
            written = crud.record_usage(session, trial_id=trial_id, before=before, after=after, now=now)
            session.commit()
        if written:
            self._count_usage(template, memory_mib, before, after)

    def _last_reading(self, trial: Trial, *, now: datetime) -> None:
        """Read a sandbox once more before it sleeps or is removed (on `trial`, committed with
        the phase that follows). A runtime that cannot say holds up neither: the time up to
        now still counts, the CPU since the last reading is lost."""
        try:
            reading = self.driver.usage(trial.id)
        except DenError as exc:
            log.warning("usage_unread", trial_id=trial.id, reason=exc.reason, error=exc.log_message)
            reading = Usage(cpu_seconds=trial.usage_counter_seconds)
        self._take_reading(trial, reading, now=now, running=False)

    def _take_reading(self, trial: Trial, reading: Usage, *, now: datetime, running: bool) -> None:
        before = _totals(trial)
        after = _after(before, reading, now=now, running=running)
        trial.cpu_seconds, trial.peak_memory_bytes = after.cpu_seconds, after.peak_memory_bytes
        trial.running_seconds, trial.usage_counter_seconds = after.running_seconds, after.last_counter
        trial.usage_sampled_at = after.sampled_at
        self._count_usage(trial.template_name, trial.memory_mib, before, after)

    def _count_usage(self, template: str, memory_mib: int, before: cost.Totals, after: cost.Totals) -> None:
        metrics.TRIAL_CPU_SECONDS.labels(template=template).inc(after.cpu_seconds - before.cpu_seconds)
        card = self.settings.rate_card
        if card is not None:
            spent = [
                cost.cost(
                    cpu_seconds=t.cpu_seconds,
                    memory_mib=memory_mib,
                    running_seconds=t.running_seconds,
                    card=card,
                )
                for t in (before, after)
            ]
            metrics.TRIAL_COST.labels(template=template, currency=card.currency).inc(
                max(0.0, spent[1] - spent[0])
            )

    def keep_pools(self, *, now: datetime) -> crud.Upkeep:
        """Keep every warm pool full and fresh (no runtime call: the trials it starts or
        retires are worked on like any other)."""
        with Session(self.engine) as session:
            done = crud.pool_upkeep(session, settings=self.settings, now=now)
            session.commit()  # not quiet: the trials it wrote wake the loop at once
            ready = crud.pool_ready_counts(session)
        for pool in crud.configured_pools(self.settings):
            metrics.POOL_SIZE.labels(template=pool.template, pool=pool.key).set(ready.get(pool.key, 0))
        if done.started or done.retired:
            log.info("pools_kept", started=len(done.started), retired=len(done.retired))
        for key, why in done.short.items():
            if self._pool_short.get(key) != why:
                log.warning("pool_short", pool=key, why=why)
        self._pool_short = dict(done.short)
        return done

    def apply_retention(self, *, now: datetime) -> list[str]:
        """Remove the free text of trials that ended longer ago than `DEN_RETENTION_DAYS`: one
        bounded batch per pass, the rest at the next (no runtime call)."""
        if self.settings.retention_days <= 0:
            return []
        with crud.quiet(Session(self.engine)) as session:
            removed = crud.remove_old_text(session, now=now, days=self.settings.retention_days)
            session.commit()
        if removed:
            log.info("trial_text_removed", trials=len(removed))
        return removed

    # --- helpers -------------------------------------------------------------------------

    def _fail(self, trial_id: str, *, reason: Reason, message: str, now: datetime) -> None:
        """A failure seen by a fleet-wide check: recorded, and the teardown handed to the
        ending lane at once."""
        if self._record_failure(trial_id, reason=reason, message=message, now=now):
            with self._lock:
                self._schedule.forget(trial_id)
            self._submit(trial_id, lane="end", clock=self._clock)

    def _record_failure(self, trial_id: str, *, reason: Reason, message: str, now: datetime) -> bool:
        """Commit `Failed` for a live trial; False when it was not live (nothing written)."""
        with crud.quiet(Session(self.engine)) as session:
            trial = session.get(Trial, trial_id)
            if trial is None or trial.phase not in (*STARTING, Phase.READY):
                return False
            self._transition(session, trial, Phase.FAILED, reason, message, now)
            session.commit()
        return True

    def _transition(
        self,
        session: Session,
        trial: Trial,
        to: Phase,
        reason: Reason,
        message: str,
        now: datetime,
        **observed: object,
    ) -> None:
        self._notify(session, trial, to, reason, message, now)
        crud.record_transition(
            session, trial=trial, to=to, reason=reason, message=message, now=now, **observed
        )
        self._count(trial, to, reason)

    def _commit_phase(
        self,
        session: Session,
        trial: Trial,
        to: Phase,
        reason: Reason,
        message: str,
        now: datetime,
        **observed: object,
    ) -> None:
        self._notify(session, trial, to, reason, message, now)
        crud.commit_phase_before_runtime(
            session, trial=trial, to=to, reason=reason, message=message, now=now, **observed
        )
        self._count(trial, to, reason)

    def _notify(
        self, session: Session, trial: Trial, to: Phase, reason: Reason, message: str, now: datetime
    ) -> None:
        """The people and webhooks told of a transition, written in its transaction."""
        notifications.notify_transition(
            session, trial=trial, to=to, reason=str(reason), message=message, settings=self.settings, now=now
        )

    @staticmethod
    def _count(trial: Trial, to: Phase, reason: Reason) -> None:
        metrics.TRANSITIONS.labels(phase=str(to), reason=str(reason)).inc()
        log.info("transition", trial_id=trial.id, phase=str(to), reason=str(reason))

    def _manifest(self, session: Session, trial: Trial) -> TemplateManifest:
        """The manifest as it runs, its images pinned as published. Versions are immutable and
        pinned before their first trial, so they are cached for the process's life."""
        manifest = self._manifests.get(trial.template_version_id)
        if manifest is None:
            version = session.get(TemplateVersion, trial.template_version_id)
            assert version is not None  # a foreign key guarantees it
            manifest = review.with_pins(
                catalogue.stored_manifest(version.manifest, version.digest), version.pinned_images
            )
            self._manifests[trial.template_version_id] = manifest
        return manifest

    def _spec(self, session: Session, trial: Trial) -> TrialSpec:
        return build_spec(trial, self._manifest(session, trial), instance=self.settings.instance)

    # --- the loop ------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, clock: Callable[[], datetime] | None = None) -> None:
        """Reconcile until `stop` is set. Work runs in the queue's pools; the loop only hands
        it out and sleeps until the next thing to do."""
        now_fn = clock or (lambda: datetime.now(UTC))
        unregister = crud.on_intent_change(self.wake.set)
        listener = crud.listen_for_intent(self.engine, self.wake.set, stop)
        if self.settings.wake_socket:
            crud.listen_on_socket(self.settings.wake_socket, self.wake.set, stop)
        # Notifications go out beside the loop, never inside a turn: a mail server that hangs
        # holds up only its own delivery.
        delivery = DeliveryWorker(engine=self.engine, settings=self.settings, leader=self.leader).start(stop)
        try:
            while not stop.is_set():
                self.wake.clear()  # before the turn: a wake-up during it is never lost
                wait, failed = self._turn(now_fn)
                self.last_turn = time.monotonic()
                # A failed turn waits its minimum whatever wakes it: the loop never spins.
                (stop if failed else self.wake).wait(timeout=wait)
        finally:
            unregister()
            self._queue.shutdown()
            delivery.join(timeout=self.settings.notify_timeout + 5)
            if listener is not None:
                listener.join(timeout=5)

    def _turn(self, now_fn: Callable[[], datetime]) -> tuple[float, bool]:
        """Hand out what is due; how long to sleep, and whether the turn failed."""
        now = now_fn()
        try:
            self.dispatch(now=now, clock=now_fn)
            wait = (self.next_wake(now=now) - now_fn()).total_seconds()
        except Exception:  # the loop must survive anything (the database away); it is logged
            metrics.RECONCILE_ERRORS.labels(reason="Unexpected").inc()
            log.exception("reconcile_error")
            return FAILED_TURN_WAIT, True
        return max(MIN_DELAY, min(wait, self.settings.idle_wakeup)), False
