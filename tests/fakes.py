"""An in-memory driver for fast tests of our own seams (the reconciler, the API).

It is never the only test of a behaviour: the same flows run on the real Docker engine in
tests/e2e. Each fake trial becomes ready after `ready_after` polls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from orchestrator.drivers.base import LOG_TAIL, Observation, Status, TrialSpec, Usage
from orchestrator.errors import PermanentError, RuntimeUnavailable


@dataclass
class FakeDriver:
    name: str = "fake"
    ready_after: int = 1
    fail_with: str = ""
    available: bool = True
    resources: dict[str, set[str]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    asleep: set[str] = field(default_factory=set)  # trials whose workloads `sleep` stopped
    #: What `usage` reports of each running trial (trial id -> figures), set by a test.
    usage_figures: dict[str, Usage] = field(default_factory=dict)

    def _check(self, call: str) -> None:
        self.calls.append(call)
        if not self.available:
            raise RuntimeUnavailable("the fake runtime is down")

    def start(self, spec: TrialSpec) -> None:
        self._check("start")
        made = self.resources.setdefault(spec.trial_id, set())
        made.update(f"den-{spec.trial_id}-{c.name}" for c in spec.components)

    def poll(self, spec: TrialSpec) -> Observation:
        self._check("poll")
        if spec.trial_id not in self.resources:
            return Observation(Status.MISSING, message="nothing exists")
        if self.fail_with:
            return Observation(Status.FAILED, message=self.fail_with)
        if spec.trial_id in self.asleep:
            return Observation(Status.PENDING, progress=("Asleep",))
        count = self.polls[spec.trial_id] = self.polls.get(spec.trial_id, 0) + 1
        if count < self.ready_after:
            return Observation(Status.PENDING, progress=("Containers created",))
        endpoints = {
            c.name: f"http://127.0.0.1:1/{spec.trial_id}/{c.name}" for c in spec.components if c.ports
        }
        return Observation(Status.READY, endpoints=endpoints, progress=("Containers created", "Ready"))

    def stop(self, trial_id: str) -> None:
        self._check("stop")
        self.resources.pop(trial_id, None)
        self.asleep.discard(trial_id)

    def sleep(self, spec: TrialSpec) -> None:
        self._check("sleep")
        self.asleep.add(spec.trial_id)
        self.polls.pop(spec.trial_id, None)

    def wake(self, spec: TrialSpec) -> None:
        self._check("wake")
        self.asleep.discard(spec.trial_id)

    def remaining(self, trial_id: str) -> list[str]:
        self._check("remaining")
        return sorted(self.resources.get(trial_id, set()))

    def usage(self, trial_id: str) -> Usage:
        self._check("usage")
        if trial_id not in self.resources or trial_id in self.asleep:
            return Usage()
        return self.usage_figures.get(trial_id, Usage())

    def list_trial_ids(self) -> set[str]:
        self._check("list")
        return set(self.resources)

    def running_components(self) -> dict[str, set[str]]:
        self._check("running")
        return {
            trial_id: {name.rsplit("-", 1)[-1] for name in names}
            for trial_id, names in self.resources.items()
            if trial_id not in self.asleep
        }

    def logs(
        self, trial_id: str, component: str, *, follow: bool = False, tail: int = LOG_TAIL
    ) -> Iterator[str]:
        yield f"{trial_id}/{component}: hello"

    def ping(self) -> None:
        self._check("ping")

    def pin_image(self, image: str) -> str:
        """A stable fake digest; an image named `missing...` is not on the fake runtime."""
        self._check("pin")
        if image.rsplit("/", 1)[-1].startswith("missing"):
            raise PermanentError(f"Image {image} is not on the fake runtime", reason="ImageMissing")
        return image.split("@")[0].split(":")[0] + "@sha256:" + hashlib.sha256(image.encode()).hexdigest()
