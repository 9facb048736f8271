"""The driver contract every runtime implements.

Each call is safe to repeat after a crash at any point:

- `start(spec)` ensures every resource of the trial exists (creating only what is missing;
  "already exists" is success) and returns at once with a `Handle`; it does not wait for
  readiness.
- `poll(spec, handle)` only observes: it changes nothing and reports an `Observation`.
- `stop(trial_id)` is idempotent teardown of everything labelled with the trial ("not found" is
  success); `remaining(trial_id)` lists what still exists, so teardown can be verified.
- `list_trial_ids()` answers, in one runtime call per kind of resource, which trials have any
  resource at all (for the orphan sweep); `running_components()` answers, in one call, which
  components of which trials are running (for the liveness check). Both cost the same whatever
  the number of trials.

Every resource a driver creates carries the label `innovation-den.io/trial-id=<id>`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from orchestrator.manifest import Component, Egress

TRIAL_LABEL = "innovation-den.io/trial-id"
COMPONENT_LABEL = "innovation-den.io/component"
MANAGED_LABEL = "innovation-den.io/managed-by"
MANAGED_VALUE = "innovation-den"
#: Which orchestrator made a resource: several may share one engine or cluster, and each one's
#: orphan sweep must only ever touch its own resources.
INSTANCE_LABEL = "innovation-den.io/instance"


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
    endpoints: Mapping[str, str] = field(default_factory=dict)  # component -> URL
    message: str = ""
    progress: tuple[str, ...] = ()  # human-readable steps, oldest first, stable across polls


#: Opaque, JSON-serialisable state a driver keeps on the trial row (e.g. container ids).
Handle = dict[str, Any]


class Driver(Protocol):
    name: str

    def start(self, spec: TrialSpec) -> Handle: ...

    def poll(self, spec: TrialSpec, handle: Handle) -> Observation: ...

    def stop(self, trial_id: str) -> None: ...

    def remaining(self, trial_id: str) -> list[str]: ...

    def list_trial_ids(self) -> set[str]: ...

    def running_components(self) -> dict[str, set[str]]: ...

    def logs(
        self, trial_id: str, component: str, *, follow: bool = False, tail: int = 200
    ) -> Iterator[str]: ...

    def ping(self) -> None:
        """Raise `RuntimeUnavailable` when the runtime cannot be reached."""
        ...

    def pin_image(self, image: str) -> str:
        """The runtime's immutable reference of `image` (Docker: the local image id;
        Kubernetes: `name@sha256:...`), for a version being published; `PermanentError`
        (reason `ImageMissing`) when the runtime has no such image."""
        ...
