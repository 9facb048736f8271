"""The driver contract every runtime implements.

Each call is safe to repeat after a crash at any point: `start` converges ("already exists" is
success), `poll` only observes, `stop` is idempotent ("not found" is success). A driver keeps no
state of its own about a trial: everything it needs comes from the `TrialSpec`, and everything
it made is found again by label, so a restarted (or another) orchestrator carries on where the
last one stopped. The fleet-wide calls (`list_trial_ids`, `running_components`) cost the same
whatever the number of trials.

Every resource a driver creates carries the label `innovation-den.io/trial-id=<id>`. What both
runtimes do alike (labels, environment, writable paths, endpoints, failure messages) is in
`common.py`; the readiness probe in `probe.py`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from orchestrator.manifest import Component, Egress

TRIAL_LABEL = "innovation-den.io/trial-id"
COMPONENT_LABEL = "innovation-den.io/component"
TEMPLATE_LABEL = "innovation-den.io/template"
MANAGED_LABEL = "innovation-den.io/managed-by"
MANAGED_VALUE = "innovation-den"
#: Which orchestrator made a resource: several may share one engine or cluster, and each one's
#: orphan sweep must only ever touch its own resources.
INSTANCE_LABEL = "innovation-den.io/instance"
#: Log lines `logs` gives when the caller names no number.
LOG_TAIL = 200


@dataclass(frozen=True)
class TrialSpec:
    """What a driver needs to run one trial: built by the reconciler from the trial row."""

    trial_id: str
    template: str  # name@version, for labels and logs
    components: tuple[Component, ...]
    parameters_env: Mapping[str, str] = field(default_factory=dict)
    egress: tuple[Egress, ...] = ()
    instance: str = "default"  # the orchestrator's DEN_INSTANCE


class Status(StrEnum):
    PENDING = "Pending"  # resources exist (or are being made), not all ready yet
    READY = "Ready"  # every component with a probe answers it
    MISSING = "Missing"  # resources that should exist are gone
    FAILED = "Failed"  # a component exited or cannot start, and will not recover


@dataclass(frozen=True)
class Observation:
    status: Status
    endpoints: Mapping[str, str] = field(default_factory=dict)  # endpoint key -> URL
    message: str = ""
    progress: tuple[str, ...] = ()  # human-readable steps, oldest first, stable across polls


@dataclass(frozen=True)
class Usage:
    """What a trial's workloads use now, as the runtime measures it: the CPU time its running
    containers (pods) have used since each started, summed, in seconds; and the memory they
    hold now (working set: without the page cache the kernel can reclaim), in bytes. Both are
    zero for a trial with nothing running. The CPU figure is cumulative per container, so it
    falls back when a container starts again (a wake): the caller adds up the increases
    (`orchestrator.cost.accumulate`)."""

    cpu_seconds: float = 0.0
    memory_bytes: int = 0


class Driver(Protocol):
    #: The runtime's name (`docker`, `kubernetes`), as `DEN_DRIVER` spells it.
    name: str

    def start(self, spec: TrialSpec) -> None:
        """Ensure every resource of the trial exists, creating only what is missing, and
        return without waiting for readiness (`poll` says when the trial is ready).

        Called by the reconciler once a trial's `Provisioning` phase is committed, and again
        whenever `poll` reports `MISSING` while the trial is provisioning (a start cut short by
        a crash: calling again converges). One runtime request per resource, so a few seconds
        at most. Raises `PermanentError` for what no retry mends (an image the runtime does not
        have, a spec the runtime refuses), `RetryableError` with a `delay` for a condition
        that passes (no network address left, a namespace of the same name still being
        deleted), `RuntimeUnavailable` when the runtime cannot be reached.
        """
        ...

    def poll(self, spec: TrialSpec) -> Observation:
        """What the trial's resources are now: changes nothing.

        Called by the reconciler on each pass for a trial that is provisioning, and for a
        ready trial whose components the liveness check did not find running. Must be quick:
        a few runtime requests (or none: the Kubernetes driver reads its watch caches) and at
        most one readiness probe per component, each within `probe.PROBE_TIMEOUT_CAP` seconds.
        The endpoints are those this machine reaches (`common.endpoints`); a failure's message
        names the component and ends with its last log lines.
        """
        ...

    def stop(self, trial_id: str) -> None:
        """Remove everything labelled with the trial; "not found" is success.

        Called by the reconciler when a trial ends (expiry, a request to end it, a failure
        to clean up) on every pass until `remaining` is empty, and by the orphan sweep. It may
        return before the runtime has finished (a namespace drains in the background); a few
        runtime requests per kind of resource. Raises `RetryableError` when something is
        still in use and the next call will finish the job.
        """
        ...

    def sleep(self, spec: TrialSpec) -> None:
        """Stop the trial's workloads but keep everything else (networks, volumes, Services,
        the namespace), so that `wake` brings the same sandbox back: Docker stops each
        component's container, Kubernetes scales each Deployment to zero replicas. What the
        sandbox held of CPU and memory is free once it returns (or shortly after, as pods end).

        Called by the reconciler once a trial's `Sleeping` phase is committed, and by the
        liveness check when a sleeping trial still has a component running (a sleep cut short
        by a crash). Idempotent: a stopped container or a Deployment already at zero is
        success; a resource that is missing is not an error (`poll` finds out on waking).
        """
        ...

    def wake(self, spec: TrialSpec) -> None:
        """Start again what `sleep` stopped, returning without waiting for readiness: `poll`
        then reports `PENDING` and, once every probe answers, `READY` with the endpoints (which
        may differ from before the sleep, e.g. a new host port). Idempotent: a running
        component is left alone.

        Called by the reconciler once the trial's `Provisioning` phase (reason `Waking`) is
        committed, and again while it is waking if `poll` reports a component not running.
        """
        ...

    def remaining(self, trial_id: str) -> list[str]:
        """What still exists of the trial (`kind/name`, sorted; empty when nothing does), read
        from the runtime itself, so that teardown is verified, not assumed.

        Called by the reconciler right after each `stop`. One runtime request per kind of
        resource.
        """
        ...

    def list_trial_ids(self) -> set[str]:
        """The trials of this orchestrator's instance that have any resource at all.

        Called by the orphan sweep (every `DEN_SWEEP_INTERVAL`). One runtime request per kind
        of resource (or none, from watch caches), whatever the number of trials.
        """
        ...

    def running_components(self) -> dict[str, set[str]]:
        """Trial id -> the components whose sandbox is running (Kubernetes: whose pod is
        ready), for this orchestrator's instance.

        Called by the liveness check (every `DEN_LIVENESS_INTERVAL`). One runtime request (or
        none, from watch caches), whatever the number of trials.
        """
        ...

    def logs(
        self, trial_id: str, component: str, *, follow: bool = False, tail: int = LOG_TAIL
    ) -> Iterator[str]:
        """A component's log lines, oldest first: the last `tail`, then (with `follow`) each
        new one as it comes, for as long as the caller reads.

        Called from the API's threads for `GET .../logs` (never by the reconciler). Finding
        the component is one or two runtime requests; raises `NotFound` when the trial has no
        such component running.
        """
        ...

    def usage(self, trial_id: str) -> Usage:
        """The CPU time and memory the trial's running workloads use (Docker: each container's
        stats; Kubernetes: the kubelet's summary of the pods in the trial's namespace, through
        the API server). Changes nothing; a trial with nothing running uses nothing.

        Called by the usage sampler beside the reconciler (every `DEN_USAGE_SAMPLE_INTERVAL`
        for each running trial, in a lane of its own so a slow answer holds up no transition)
        and once more just before a sleep or a teardown. One runtime request per container
        (Docker) or per node the trial runs on (Kubernetes).
        """
        ...

    def ping(self) -> None:
        """Return when the runtime answers; raise `RuntimeUnavailable` when it cannot be
        reached. One cheap runtime request, touching no trial."""
        ...

    def pin_image(self, image: str) -> str:
        """The runtime's immutable reference of `image` (Docker: the local image id;
        Kubernetes: `name@sha256:...`), for a version being published; `PermanentError`
        (reason `ImageMissing`) when the runtime has no such image.

        Called from the API and the pages when a version is published (on upload, when it
        changes nothing risky; else when a platform engineer publishes it), once per image.
        One runtime request.
        """
        ...
