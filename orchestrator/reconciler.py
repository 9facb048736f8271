"""The reconciler: makes the runtime match what the database says, and records what it sees.

`reconcile_once(now=...)` is level-triggered: it loads only the trials that need work (starting,
stopping, failed, or Ready and due to end), acts on each in its own transaction, and returns
when it next needs to wake: the next `expires_at`, the next poll of a starting sandbox, or the
next liveness check / orphan sweep. `run()` is the loop around it; it sleeps until that time or
until the API signals a change, so expiry is scheduled, not found by polling.

Crash safety comes from ordering: a phase is committed before the runtime call it leads to, and
every driver call converges when repeated, so killing the process at any point and starting it
again finishes the work. Runtime outages (`RetryableError`) back off and never touch the trial.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from orchestrator import catalogue, crud, metrics, review
from orchestrator.drivers.base import Driver, Observation, Status, TrialSpec
from orchestrator.errors import DenError, RetryableError
from orchestrator.lifecycle import FAILURE_REASONS, Phase, Reason, is_expired
from orchestrator.manifest import TemplateManifest
from orchestrator.models import TemplateVersion, Trial, TrialEvent
from orchestrator.settings import Settings

log = structlog.get_logger("reconciler")
MAX_BACKOFF = 30.0
FAST_POLL = 0.05  # seconds between polls of a sandbox in its first seconds of starting
FAST_POLL_WINDOW = timedelta(seconds=10)


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


@dataclass
class Reconciler:
    engine: Engine
    driver: Driver
    settings: Settings
    wake: threading.Event = field(default_factory=threading.Event)
    #: time.monotonic() at the end of the loop's latest turn (successful or not): the health
    #: endpoint of `den reconcile` reports the loop stuck when it grows old.
    last_turn: float = field(default_factory=time.monotonic)
    _last_liveness: datetime | None = None
    _last_sweep: datetime | None = None
    _manifests: dict[int, TemplateManifest] = field(default_factory=dict)

    # --- one pass ------------------------------------------------------------------------

    def reconcile_once(self, *, now: datetime) -> datetime:
        """Act on every trial that needs it; return when to wake next."""
        with metrics.RECONCILE_SECONDS.time():
            with Session(self.engine, expire_on_commit=False) as session:
                due = crud.trials_needing_work(session, now=now)
            wake_at = [now + timedelta(seconds=self.settings.liveness_interval)]
            for trial in due:
                if self._reconcile_trial(trial.id, now=now):
                    wake_at.append(now + timedelta(seconds=self._poll_delay(trial, now=now)))
            wake_at += self._periodic(now=now)
            with Session(self.engine) as session:
                expiry = crud.next_expiry(session)
            if expiry is not None:
                wake_at.append(expiry)
            return max(min(wake_at), now)

    def _poll_delay(self, trial: Trial, *, now: datetime) -> float:
        """A sandbox that has just been started is watched closely (most become ready within a
        few seconds, and every poll saved there is latency a person waits for); after that,
        the configured interval."""
        starting = trial.phase in (Phase.REQUESTED, Phase.PROVISIONING)
        if starting and now - trial.phase_changed_at < FAST_POLL_WINDOW:
            return min(self.settings.poll_interval, FAST_POLL)
        return self.settings.poll_interval

    def _periodic(self, *, now: datetime) -> list[datetime]:
        liveness = timedelta(seconds=self.settings.liveness_interval)
        sweep = timedelta(seconds=self.settings.sweep_interval)
        if self._last_liveness is None or now - self._last_liveness >= liveness:
            self._check_liveness(now=now)
            self._last_liveness = now
        if self._last_sweep is None or now - self._last_sweep >= sweep:
            self.sweep_orphans(now=now)
            self._last_sweep = now
        return [self._last_liveness + liveness, self._last_sweep + sweep]

    def _reconcile_trial(self, trial_id: str, *, now: datetime) -> bool:
        """Advance one trial; True while it still needs polling."""
        bound = log.bind(trial_id=trial_id)
        with Session(self.engine, expire_on_commit=False) as session:
            trial = session.get(Trial, trial_id)
            if trial is None:
                return False
            try:
                busy = self._advance(session, trial, now=now)
                session.commit()
                return busy
            except RetryableError:
                session.rollback()
                raise
            except DenError as exc:
                session.rollback()
                bound.warning("trial_failed", reason=exc.reason, error=exc.log_message)
                self._fail(trial_id, reason=Reason.RUNTIME_ERROR, message=exc.detail, now=now)
                return True
            except Exception:  # a bug met by one trial must not stall every other trial
                session.rollback()
                metrics.RECONCILE_ERRORS.labels(reason="Unexpected").inc()
                bound.exception("trial_error")
                return True

    def _advance(self, session: Session, trial: Trial, *, now: datetime) -> bool:
        phase = Phase(trial.phase)
        if phase is Phase.PENDING_APPROVAL:
            return self._settle_approval(session, trial, now=now)
        if phase is Phase.FAILED:
            return self._begin_teardown(
                session, trial, Reason(trial.reason), "Removing whatever was made", now=now
            )
        if phase is Phase.STOPPING:
            return self._teardown(session, trial, now=now)
        ending = stop_reason(trial, now=now, quarantined=self._quarantined(session, trial))
        if ending is not None:
            if ending[0] is Reason.EXPIRED and trial.expires_at is not None:
                metrics.TEARDOWN_DELAY.observe((now - trial.expires_at).total_seconds())
            return self._begin_teardown(session, trial, *ending, now=now)
        if phase is Phase.REQUESTED:
            self._transition(session, trial, Phase.PROVISIONING, Reason.STARTING, "Creating the sandbox", now)
            session.commit()  # the phase is durable before the runtime is touched
            trial.runtime_handle = self.driver.start(self._spec(session, trial))
            session.add(trial)
            return True
        if phase is Phase.PROVISIONING:
            return self._provision(session, trial, now=now)
        return False

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
                if self._quarantined(session, trial)
                else (Reason.USER_REQUESTED, "Withdrawn before approval: nothing was made")
            )
            self._transition(session, trial, Phase.STOPPED, reason, message, now, ended_at=now)
            return False
        if trial.approved_at is None:
            return False
        self._transition(
            session, trial, Phase.REQUESTED, Reason.APPROVED, f"Approved by {trial.approved_by}", now
        )
        session.commit()  # durable before the sandbox is asked for, in this same pass
        return self._advance(session, trial, now=now)

    def _provision(self, session: Session, trial: Trial, *, now: datetime) -> bool:
        spec = self._spec(session, trial)
        observed = self.driver.poll(spec, trial.runtime_handle)
        self._record_progress(session, trial, observed, now=now)
        if observed.status is Status.READY:
            metrics.TIME_TO_READY.observe((now - trial.created_at).total_seconds())
            self._transition(
                session,
                trial,
                Phase.READY,
                Reason.STARTED,
                "The sandbox is ready",
                now,
                ready_at=now,
                endpoints=dict(observed.endpoints),
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
            trial.runtime_handle = self.driver.start(spec)
            session.add(trial)
        return True

    def _fail_then_clean(
        self, session: Session, trial: Trial, reason: Reason, message: str, now: datetime
    ) -> bool:
        self._transition(session, trial, Phase.FAILED, reason, message, now)
        session.commit()
        return self._begin_teardown(session, trial, reason, "Removing whatever was made", now=now)

    def _begin_teardown(
        self, session: Session, trial: Trial, reason: Reason, message: str, *, now: datetime
    ) -> bool:
        self._transition(session, trial, Phase.STOPPING, reason, message, now)
        session.commit()  # durable before the runtime is touched
        return self._teardown(session, trial, now=now)

    def _teardown(self, session: Session, trial: Trial, *, now: datetime) -> bool:
        self.driver.stop(trial.id)
        left = self.driver.remaining(trial.id)
        if left:
            self._record_progress(
                session,
                trial,
                Observation(Status.PENDING, progress=(f"Still removing: {', '.join(sorted(left)[:5])}",)),
                now=now,
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
            message = f"{message}: {self._failure_message(session, trial)}"[:2000]
        self._transition(session, trial, Phase.STOPPED, reason, message, now, ended_at=now, endpoints={})
        return False

    # --- fleet-wide checks: one runtime call each, whatever the number of trials ---------

    def _check_liveness(self, *, now: datetime) -> None:
        """Ready trials must have every component running; a suspect is polled to say why."""
        running = self.driver.running_components()
        with Session(self.engine) as session:
            ready = session.exec(select(Trial).where(Trial.phase == Phase.READY)).all()
            suspects = [
                (trial, self._spec(session, trial))
                for trial in ready
                if not {c.name for c in self._manifest(session, trial).spec.components}
                <= running.get(trial.id, set())
            ]
        for trial, spec in suspects:
            observed = self.driver.poll(spec, trial.runtime_handle)
            if observed.status is Status.MISSING:
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

    def sweep_orphans(self, *, now: datetime) -> list[str]:
        """Remove runtime resources that belong to no live trial (read runtime first)."""
        present = self.driver.list_trial_ids()
        with Session(self.engine) as session:
            live = crud.live_trial_ids(session)
        orphans = sorted(present - live)
        for trial_id in orphans:
            log.warning("orphan_removed", trial_id=trial_id)
            self.driver.stop(trial_id)
            metrics.ORPHANS_REMOVED.inc()
            with Session(self.engine) as session:
                crud.audit(session, actor=None, action="orphan.remove", obj=("runtime", trial_id), now=now)
                session.commit()
        return orphans

    # --- helpers -------------------------------------------------------------------------

    def _fail(self, trial_id: str, *, reason: Reason, message: str, now: datetime) -> None:
        with Session(self.engine) as session:
            trial = session.get(Trial, trial_id)
            if trial is None or trial.phase not in (Phase.REQUESTED, Phase.PROVISIONING, Phase.READY):
                return
            self._transition(session, trial, Phase.FAILED, reason, message, now)
            session.commit()
        self._reconcile_trial(trial_id, now=now)  # clean up at once, not on the next pass

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
        crud.record_transition(
            session, trial=trial, to=to, reason=reason, message=message, now=now, **observed
        )
        metrics.TRANSITIONS.labels(phase=str(to), reason=str(reason)).inc()
        log.info("transition", trial_id=trial.id, phase=str(to), reason=str(reason))

    def _record_progress(
        self, session: Session, trial: Trial, observed: Observation, *, now: datetime
    ) -> None:
        if not observed.progress:
            return
        seen = set(
            session.exec(
                select(TrialEvent.message).where(
                    TrialEvent.trial_id == trial.id, col(TrialEvent.kind) == "Progress"
                )
            ).all()
        )
        for step in observed.progress:
            if step not in seen:
                crud.record_progress(session, trial=trial, message=step, now=now)

    @staticmethod
    def _quarantined(session: Session, trial: Trial) -> bool:
        """Only asked of trials that are ending, so the status read is rare."""
        if trial.end_requested_at is None:
            return False
        version = session.get(TemplateVersion, trial.template_version_id)
        return version is not None and version.status == "Quarantined"

    @staticmethod
    def _failure_message(session: Session, trial: Trial) -> str:
        return (
            session.exec(
                select(TrialEvent.message)
                .where(TrialEvent.trial_id == trial.id, TrialEvent.phase == Phase.FAILED)
                .order_by(col(TrialEvent.id).desc())
            ).first()
            or trial.message
        )

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
        """Reconcile until `stop` is set; back off while the runtime is unavailable."""
        now_fn = clock or (lambda: datetime.now(UTC))
        backoff = 0.0
        while not stop.is_set():
            now = now_fn()
            try:
                wake_at = self.reconcile_once(now=now)
                metrics.RUNTIME_UP.set(1)
                backoff = 0.0
            except RetryableError as exc:
                metrics.RUNTIME_UP.set(0)
                metrics.RECONCILE_ERRORS.labels(reason=exc.reason).inc()
                backoff = min(max(backoff * 2, 0.5), MAX_BACKOFF)
                log.warning("reconcile_retry", reason=exc.reason, error=exc.log_message, retry_in=backoff)
                wake_at = now + timedelta(seconds=backoff)
            except Exception:  # the loop must survive anything; the error is logged
                metrics.RECONCILE_ERRORS.labels(reason="Unexpected").inc()
                log.exception("reconcile_error")
                backoff = min(max(backoff * 2, 0.5), MAX_BACKOFF)
                wake_at = now + timedelta(seconds=backoff)
            self.last_turn = time.monotonic()
            delay = (wake_at - now_fn()).total_seconds()
            self.wake.wait(timeout=max(0.0, min(delay, self.settings.idle_wakeup)))
            self.wake.clear()
