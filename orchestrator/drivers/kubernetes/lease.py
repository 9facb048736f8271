"""Leader election on Kubernetes: a coordination.k8s.io/v1 Lease, as client-go does it.

The leader writes its name (`holderIdentity`) and a fresh `renewTime` every renew interval;
every write carries the `resourceVersion` it read, so two candidates can never both win (the
API server refuses the second write with 409 Conflict). A standby never trusts another
machine's clock: it notes, on its own monotonic clock, when it first saw the Lease's current
version, and takes the Lease only once that version has stood unchanged for the holder's
`leaseDurationSeconds`, or at once when the holder gave it up (an empty holder). The leader
stops acting before that moment: `orchestrator.leadership` keeps its flag up for
`validity` seconds after the start of its latest successful renewal, less than the duration.

The decisions are pure (`may_take`, `claimed`); `LeaseClaim` does the reading and writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from orchestrator.settings import Settings

log = structlog.get_logger("leadership")


@dataclass(frozen=True)
class Seen:
    """A version of the Lease as this candidate saw it, and when (monotonic seconds)."""

    holder: str
    version: str
    duration: float
    at: float


def may_take(seen: Seen, *, identity: str, at: float) -> bool:
    """Pure: whether `identity` may write itself in as the holder now."""
    if seen.holder in ("", identity):
        return True
    return at >= seen.at + seen.duration


def wait_before_taking(seen: Seen | None, *, identity: str, at: float) -> float | None:
    """Pure: seconds until the Lease seen may be taken (None: no Lease seen yet)."""
    if seen is None or may_take(seen, identity=identity, at=at):
        return None
    return seen.at + seen.duration - at


def claimed(spec: Any, *, identity: str, duration: int, now: datetime) -> dict[str, Any]:
    """Pure: the Lease spec with `identity` holding it from `now` (a change of holder counts
    one more transition and restarts `acquireTime`)."""
    stamp = micro_time(now)
    holder = getattr(spec, "holder_identity", None) or ""
    transitions = getattr(spec, "lease_transitions", None) or 0
    taking = holder != identity
    acquired = getattr(spec, "acquire_time", None)
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": duration,
        "renewTime": stamp,
        "acquireTime": stamp if taking or acquired is None else micro_time(acquired),
        "leaseTransitions": transitions + (1 if taking and holder else 0),
    }


def micro_time(moment: datetime) -> str:
    """The API server's MicroTime: RFC 3339 in UTC with exactly six fractional digits."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load_configuration(settings: Settings) -> client.Configuration:
    """The cluster's address and credentials: `DEN_KUBECONFIG`, else the pod's own
    ServiceAccount, else `~/.kube/config`."""
    configuration = client.Configuration()
    if settings.kubeconfig:
        config.load_kube_config(config_file=settings.kubeconfig, client_configuration=configuration)
        return configuration
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)
    return configuration


class LeaseClaim:
    """A claim on one Lease (see the module docstring). `acquire` and `renew` raise on an API
    server that does not answer: the caller then keeps its flag until its deadline."""

    name = "kubernetes"
    grace = 0.0  # a Lease is only taken after the old holder's flag is down

    def __init__(
        self,
        api: client.CoordinationV1Api,
        *,
        namespace: str,
        lease: str,
        identity: str,
        duration: int,
        interval: float,
    ) -> None:
        self.api, self.namespace, self.lease = api, namespace, lease
        self.identity, self.duration = identity, duration
        self.validity = duration - interval  # stop one renewal before any standby may take it
        self.timeout = (min(2.0, interval), min(3.0, interval * 1.5))  # connect, read
        self._seen: Seen | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, identity: str) -> LeaseClaim:
        api = client.CoordinationV1Api(client.ApiClient(load_configuration(settings)))
        return cls(
            api,
            namespace=settings.kubernetes_orchestrator_namespace,
            lease=lease_name(settings.instance),
            identity=identity,
            duration=settings.leader_lease_seconds,
            interval=settings.leader_renew_interval,
        )

    def describe(self) -> str:
        return f"Lease {self.namespace}/{self.lease} as {self.identity}"

    def acquire(self, *, now: datetime, at: float) -> bool:
        current = self._read(at=at)
        if current is None:
            return self._create(now=now, at=at)
        if self._seen is not None and not may_take(self._seen, identity=self.identity, at=at):
            return False
        return self._write(current, now=now, at=at)

    def renew(self, *, now: datetime, at: float) -> bool:
        current = self._read(at=at)
        if current is None or _holder(current) != self.identity:
            return False  # deleted, or someone else holds it: lost
        return self._write(current, now=now, at=at)

    def release(self) -> None:
        """Give the Lease up (an empty holder: a standby takes it at its next try)."""
        try:
            current = self.api.read_namespaced_lease(
                self.lease, self.namespace, _request_timeout=self.timeout
            )
            spec = current.spec
            if spec is None or (spec.holder_identity or "") != self.identity:
                return
            given_up = {
                "holderIdentity": None,
                "leaseDurationSeconds": 1,
                "leaseTransitions": spec.lease_transitions or 0,
            }
            self.api.replace_namespaced_lease(
                self.lease,
                self.namespace,
                self._body(given_up, version=_version(current)),
                _request_timeout=self.timeout,
            )
        except Exception as exc:  # best effort: the Lease then simply expires
            log.warning("lease_release_failed", lease=self.lease, error=str(exc))

    def retry_in(self, *, at: float) -> float | None:
        return wait_before_taking(self._seen, identity=self.identity, at=at)

    # --- reading and writing -------------------------------------------------------------

    def _read(self, *, at: float) -> Any:
        try:
            current = self.api.read_namespaced_lease(
                self.lease, self.namespace, _request_timeout=self.timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                self._seen = None
                return None
            raise
        self._see(current, at=at)
        return current

    def _see(self, lease: Any, *, at: float) -> None:
        holder, version = _holder(lease), _version(lease)
        if self._seen is None or (self._seen.holder, self._seen.version) != (holder, version):
            declared = lease.spec.lease_duration_seconds if lease.spec else None
            self._seen = Seen(
                holder=holder, version=version, at=at, duration=float(declared or self.duration)
            )

    def _create(self, *, now: datetime, at: float) -> bool:
        spec = claimed(None, identity=self.identity, duration=self.duration, now=now)
        try:
            created = self.api.create_namespaced_lease(
                self.namespace, self._body(spec), _request_timeout=self.timeout
            )
        except ApiException as exc:
            if exc.status == 409:  # another candidate created it first
                return False
            raise
        self._see(created, at=at)
        return True

    def _write(self, current: Any, *, now: datetime, at: float) -> bool:
        spec = claimed(current.spec, identity=self.identity, duration=self.duration, now=now)
        try:
            written = self.api.replace_namespaced_lease(
                self.lease,
                self.namespace,
                self._body(spec, version=_version(current)),
                _request_timeout=self.timeout,
            )
        except ApiException as exc:
            if exc.status == 409:  # written by someone else since it was read
                return False
            raise
        self._see(written, at=at)
        return True

    def _body(self, spec: dict[str, Any], *, version: str | None = None) -> Any:
        """A Lease as the API takes it (a dict: the client's models would write MicroTime in
        a form the API server refuses when the microseconds are zero)."""
        metadata = {
            "name": self.lease,
            "namespace": self.namespace,
            **({"resourceVersion": version} if version else {}),
        }
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}


def _holder(lease: Any) -> str:
    return (lease.spec.holder_identity if lease.spec else None) or ""


def _version(lease: Any) -> str:
    return str(lease.metadata.resource_version)


def lease_name(instance: str) -> str:
    """The Lease of an orchestrator instance's reconcilers (the chart's Role names it too)."""
    return f"den-leader-{instance}"
