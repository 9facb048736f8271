"""The Docker driver: one bridge network and one hardened container per component, per trial.

Network design (chosen by experiment on Docker Engine 20.10, see the driver's PR note):

- A trial's network `den-<trial id>` is `internal` unless the template declares egress. On an
  internal network Docker installs FORWARD rules that drop every packet leaving the bridge (and
  every packet entering it from another bridge), and its embedded DNS does not forward outside
  names, so a sandbox reaches nothing else forwarded; two trials cannot reach each other.
- Docker leaves the host itself open: a packet to any of the host's addresses (the bridge's
  gateway included) is INPUT, not forwarding, so even an internal sandbox reached every service
  listening on the host. The host firewall (`firewall.py`: nftables rules on the trial's bridge,
  named `dn<hash>`) drops every new connection from a sandbox to the host, and lets a sandbox
  forward only to its declared destinations. Those rules are a precondition of every trial:
  they are installed before the network and containers exist, and a den that cannot install
  them (no `nft`, not root) fails the trial with `HostFirewallUnavailable`, never runs it
  unprotected.
- Docker publishes no ports for a container that is only on an internal network. The host,
  however, owns the bridge's gateway address and reaches the container's address directly, so an
  endpoint is `http://<container address on the trial network>:<port>/`: reachable from this
  machine only (forwarded traffic from any other interface is dropped), never from the network.
  A second, non-internal "ingress" network would make publishing work, but its default route
  forwards the sandbox's packets out of the host (masquerading off only hides their source), so
  "no egress" would stop being true without host firewall rules that this driver cannot own.
- A template that declares egress gets a normal bridge network; its exposed ports are then
  published on `docker_publish_host` (loopback) and the endpoint is that address. The kernel
  limits it to the declared destinations: TCP to the declared ranges and ports, and to the
  addresses a declared name resolves to when the trial first starts (recorded on the network,
  so a restart of the den reuses them, and written into the containers' `/etc/hosts`, since the
  sandbox's own DNS queries to the outside are dropped too). A wildcard name cannot be resolved
  to addresses and is refused on Docker (`EgressRefused`); so is any destination, declared or
  resolved, that the den's egress policy refuses (`orchestrator/egress.py`).

An endpoint always comes from what Docker reports (a published binding if there is one, else the
container's address), so `poll` gives the right URL in both cases.

`sleep` stops a trial's containers and keeps everything else (the network, its firewall chain,
the containers themselves); `wake` reinstalls the chain and starts them again. A restarted
container may come back with another address on the bridge, or another published host port:
the firewall matches the bridge, never an address, so it holds the woken sandbox to exactly its
declared egress, and `poll` reads the endpoints afresh every time.

Every call converges: `start` creates only what is missing ("already exists" is success, a
container left `created` by a crash is started, one attached to a network that is gone is
replaced) and refills the trial's firewall chain, `stop` removes whatever carries the trial
label ("not found" is success), then the firewall chain once the bridge is gone; the rules
live in the kernel, so they outlast a restart of the den, and the orphan sweep finds chains of
trials that are gone by the instance and trial id each one records. Images are
never pulled. Docker SDK errors become `RuntimeUnavailable` (engine unreachable, 5xx) or a
`PermanentError` (a request Docker refuses).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import structlog

from orchestrator.drivers import common, probe
from orchestrator.drivers.base import (
    COMPONENT_LABEL,
    LOG_TAIL,
    TRIAL_LABEL,
    Observation,
    Status,
    TrialSpec,
    Usage,
)
from orchestrator.drivers.docker import firewall, specs
from orchestrator.drivers.docker.nft import Nftables
from orchestrator.egress import EgressPolicy
from orchestrator.errors import (
    DenError,
    NotFound,
    PermanentError,
    RetryableError,
    RuntimeUnavailable,
)
from orchestrator.manifest import Component
from orchestrator.settings import Settings

log = structlog.get_logger(__name__)

_GONE = ("exited", "dead")
#: States `sleep` stops; `wake` starts the ones a stop (or a crash mid-start) leaves.
_AWAKE = ("running", "restarting", "paused")
_STOPPED = ("created", "exited")
#: Seconds a component has to end on SIGTERM when put to sleep before Docker kills it.
STOP_TIMEOUT = 5


@contextmanager
def _engine(action: str) -> Iterator[None]:
    """Turn docker SDK errors into ours: 5xx and I/O are retryable, other refusals are not."""
    try:
        yield
    except DenError:
        raise
    except docker.errors.APIError as exc:
        status = exc.status_code or 500
        if status >= 500:
            raise RuntimeUnavailable(
                f"The Docker engine failed while {action}; it will be retried.", log_message=str(exc)
            ) from exc
        raise PermanentError(
            f"Docker refused {action}: {exc.explanation or exc}",
            reason="RuntimeRejected",
            log_message=str(exc),
        ) from exc
    except (docker.errors.DockerException, OSError) as exc:  # requests errors are OSErrors
        raise RuntimeUnavailable(
            f"The Docker engine cannot be reached while {action}.", log_message=str(exc)
        ) from exc


@dataclass(frozen=True)
class _Seen:
    """One container as the list call reports it (a sparse summary, no inspect)."""

    id: str
    name: str
    component: str
    state: str
    address: str  # on the trial network; "" until running
    published: dict[int, tuple[str, int]] = field(default_factory=dict)  # port -> host, port

    @classmethod
    def from_summary(cls, attrs: dict[str, Any], network_id: str) -> _Seen:
        networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
        address = next(
            (n.get("IPAddress") or "" for n in networks.values() if n.get("NetworkID") == network_id), ""
        )
        published: dict[int, tuple[str, int]] = {}
        for port in attrs.get("Ports") or []:
            host = port.get("IP") or "0.0.0.0"
            if port.get("PublicPort") and ":" not in host:  # the IPv4 binding is enough
                host = "127.0.0.1" if host == "0.0.0.0" else host
                published.setdefault(port["PrivatePort"], (host, port["PublicPort"]))
        return cls(
            id=attrs["Id"],
            name=(attrs.get("Names") or ["/"])[0].lstrip("/"),
            component=specs.component_of(attrs.get("Labels")),
            state=str(attrs.get("State", "")),
            address=address,
            published=published,
        )

    def target(self, container_port: int) -> tuple[str, int] | None:
        """Where the host reaches `container_port`: a published binding, else the address."""
        if container_port in self.published:
            return self.published[container_port]
        return (self.address, container_port) if self.address else None


class DockerDriver:
    name = "docker"

    def __init__(
        self,
        *,
        client: Any = None,
        base_url: str = "",
        publish_host: str = "127.0.0.1",
        instance: str = "default",
        policy: EgressPolicy | None = None,
        nft: Sequence[str] = ("nft",),
        resolve: Callable[[str], list[str]] | None = None,
    ) -> None:
        self._client = client
        self._base_url = base_url
        self.publish_host = publish_host
        self.instance = instance
        # Without settings, the defaults' policy (model_construct reads no environment).
        self.policy = policy or EgressPolicy.from_settings(Settings.model_construct())
        self.firewall = Nftables(nft)
        self._resolve = resolve or _resolve

    @classmethod
    def from_settings(cls, settings: Settings) -> DockerDriver:
        return cls(
            base_url=settings.docker_host,
            publish_host=settings.docker_publish_host,
            instance=settings.instance,
            policy=EgressPolicy.from_settings(settings),
        )

    @property
    def client(self) -> Any:
        """The docker SDK client, made on first use (so a down engine is a retryable error)."""
        if self._client is None:
            with _engine("connecting"):
                self._client = (
                    docker.DockerClient(base_url=self._base_url, version="auto")
                    if self._base_url
                    else docker.from_env(version="auto")
                )
        return self._client

    def ping(self) -> None:
        with _engine("checking the engine"):
            self.client.ping()

    # --- start ----------------------------------------------------------------------------

    def start(self, spec: TrialSpec) -> None:
        specs.validate(spec)
        with _engine(f"starting trial {spec.trial_id}"):
            volumes = {c.name: self._image_volumes(c.image) for c in spec.components}
            network = self._find_network(spec.trial_id)
            allowed = self._recorded(network) if network is not None else self._destinations(spec)
            self._protect(spec, allowed)  # before anything of the sandbox can run
            if network is None:
                network = self._ensure_network(spec, allowed)
                if self._recorded(network) != allowed:  # made meanwhile by another start
                    allowed = self._recorded(network)
                    self._protect(spec, allowed)
            for component in spec.components:
                self._ensure_container(spec, component, network.id, volumes[component.name], allowed)

    def _destinations(self, spec: TrialSpec) -> tuple[firewall.Destination, ...]:
        """The declared egress as addresses, names resolved now (first start only)."""
        names = {
            rule.host
            for rule in spec.egress
            if "/" not in rule.host and not self.policy.name_refusal(rule.host)
        }
        resolved = {name: self._resolve(name) for name in sorted(names)}
        return firewall.destinations(spec.egress, self.policy, resolved)

    def _protect(self, spec: TrialSpec, allowed: Sequence[firewall.Destination]) -> None:
        self.firewall.apply(
            firewall.trial_script(
                spec.trial_id, instance=spec.instance, allowed=allowed, never=self.policy.never()
            ),
            action=f"isolating trial {spec.trial_id}",
        )
        log.info(
            "firewall rules installed",
            trial_id=spec.trial_id,
            bridge=firewall.bridge_name(spec.trial_id),
            destinations=len(allowed),
        )

    @staticmethod
    def _recorded(network: Any) -> tuple[firewall.Destination, ...]:
        """What the trial may reach, as recorded on its network; a network made before the
        host firewall (a bridge not named for it) cannot be protected and is refused."""
        options = network.attrs.get("Options") or {}
        if options.get(firewall.BRIDGE_OPTION) != firewall.bridge_name(
            (network.attrs.get("Labels") or {}).get(TRIAL_LABEL, "")
        ):
            raise PermanentError(
                f"Network {network.name} was made without a bridge the host firewall can "
                "match (by an older den): end the trial and start a new one.",
                reason="HostFirewallUnavailable",
            )
        return firewall.from_label(network.attrs.get("Labels"))

    def _image_volumes(self, image: str) -> list[str]:
        """The image's `VOLUME` paths; a missing image is a permanent error (never pulled)."""
        try:
            attrs = self.client.images.get(image).attrs
        except docker.errors.ImageNotFound as exc:
            raise PermanentError(
                f"Image {image} is not on this Docker engine, and images are never pulled: "
                "build it with `den images build` (bundled templates) or load it with "
                "`docker load`.",
                reason="ImageMissing",
            ) from exc
        return sorted((attrs.get("Config") or {}).get("Volumes") or {})

    def _find_network(self, trial_id: str) -> Any:
        name = specs.network_name(trial_id)
        found = [n for n in self.client.networks.list(filters=specs.trial_filter(trial_id)) if n.name == name]
        # Two same-named networks can only come from a race; always pick the same one.
        return min(found, key=lambda n: (n.attrs.get("Created", ""), n.id), default=None)

    def _ensure_network(self, spec: TrialSpec, allowed: Sequence[firewall.Destination]) -> Any:
        network = self._find_network(spec.trial_id)
        if network is not None:
            return network
        try:
            network = self.client.networks.create(**specs.network_kwargs(spec, allowed))
            log.info("network created", trial_id=spec.trial_id, network=network.name)
        except docker.errors.APIError as exc:
            if "address pool" in str(exc):
                raise RetryableError(
                    "No address range is left for another sandbox network; retry when a trial "
                    "ends, or give dockerd larger `default-address-pools`.",
                    reason="NetworkPoolExhausted",
                    log_message=str(exc),
                    delay=30.0,
                ) from exc
            if exc.status_code != 409:
                raise
            network = self._find_network(spec.trial_id)  # made meanwhile: that is success
            if network is None:
                raise
        return network

    def _ensure_container(
        self,
        spec: TrialSpec,
        component: Component,
        network_id: str,
        volumes: list[str],
        allowed: Sequence[firewall.Destination],
    ) -> None:
        kwargs = specs.container_kwargs(
            spec,
            component,
            network=network_id,
            publish_host=self.publish_host,
            image_volumes=volumes,
            allowed=allowed,
        )
        container = self._create_or_get(kwargs)
        if not self._attached(container, network_id):
            # Left over from a network that is gone: it could never start; replace it.
            container.remove(force=True, v=True)
            container = self._create_or_get(kwargs)
        if container.status == "created":
            self._start_container(container, component.name)
            log.info("container started", trial_id=spec.trial_id, component=component.name)

    def _create_or_get(self, kwargs: dict[str, Any]) -> Any:
        try:
            return self.client.containers.create(**kwargs)
        except docker.errors.ImageNotFound as exc:
            raise PermanentError(
                f"Image {kwargs['image']} disappeared while starting: build it with `den images build`.",
                reason="ImageMissing",
            ) from exc
        except docker.errors.NotFound as exc:  # the network went away since we found it
            raise RetryableError(
                "The trial network disappeared while starting; retrying.",
                reason="NetworkGone",
                log_message=str(exc),
            ) from exc
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise
        return self.client.containers.get(kwargs["name"])

    @staticmethod
    def _attached(container: Any, network_id: str) -> bool:
        """Whether the container is on this very network (not a same-named one gone since)."""
        if container.attrs.get("HostConfig", {}).get("NetworkMode") == network_id:
            return True  # a created container has no endpoint yet, only its network mode
        networks = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
        return any(n.get("NetworkID") == network_id for n in networks.values())

    @staticmethod
    def _start_container(container: Any, component: str) -> None:
        try:
            container.start()
        except docker.errors.APIError as exc:
            if exc.status_code is not None and 400 <= exc.status_code < 500:
                raise PermanentError(
                    f"Component {component} cannot start: {exc.explanation}", reason="ContainerStartFailed"
                ) from exc
            raise

    # --- poll -----------------------------------------------------------------------------

    def poll(self, spec: TrialSpec) -> Observation:
        with _engine(f"observing trial {spec.trial_id}"):
            network = self._find_network(spec.trial_id)
            if network is None:
                name = specs.network_name(spec.trial_id)
                return Observation(Status.MISSING, message=f"Network {name} is gone")
            summaries = self.client.containers.list(
                all=True, sparse=True, filters=specs.trial_filter(spec.trial_id)
            )
            seen = {s.component: s for s in (_Seen.from_summary(c.attrs, network.id) for c in summaries)}
            try:
                return self._observe(spec, network.name, seen)
            except docker.errors.NotFound:  # removed between the list and a closer look
                return Observation(Status.MISSING, message="A container of the trial is gone")

    def _observe(self, spec: TrialSpec, network: str, seen: dict[str, _Seen]) -> Observation:
        created = [f"Network {network} created"]
        running: list[str] = []
        ready: list[str] = []
        endpoints: dict[str, str] = {}
        waiting: list[str] = []
        for component in spec.components:
            container = seen.get(component.name)
            if container is None:
                name = specs.container_name(spec.trial_id, component.name)
                return Observation(
                    Status.MISSING, message=f"Container {name} is gone", progress=tuple(created)
                )
            created.append(f"Container {component.name} created")
            failure = self._failure(container)
            if failure:
                return Observation(Status.FAILED, message=failure, progress=tuple(created + running))
            if container.state != "running":
                waiting.append(f"{component.name} is {container.state}")
                continue
            running.append(f"Container {component.name} running")
            endpoints.update(common.endpoints(component, container.target))
            if self._ready(component, container):
                ready.append(f"{component.name} is ready")
            else:
                waiting.append(f"waiting for {component.name} to answer its readiness probe")
        progress = tuple(created + running + ready)
        if waiting:
            message = "; ".join(waiting)
            return Observation(Status.PENDING, endpoints, message[0].upper() + message[1:], progress)
        return Observation(Status.READY, endpoints, "All components are ready", progress)

    def _failure(self, container: _Seen) -> str:
        """Why a container will never become ready, or "" if it still may."""
        if container.state not in (*_GONE, "created"):
            return ""
        state = self.client.api.inspect_container(container.id)["State"]
        if container.state == "created":
            error = state.get("Error") or ""
            return f"Component {container.component} cannot start: {error}" if error else ""
        why = " (out of memory)" if state.get("OOMKilled") else ""
        raw = self.client.api.logs(container.id, tail=common.FAILED_LOG_LINES)
        output = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return common.with_last_lines(
            f"Component {container.component} exited with code {state.get('ExitCode')}{why}", output
        )

    @staticmethod
    def _ready(component: Component, container: _Seen) -> bool:
        check = component.readiness_probe
        if check is None:
            return True
        target = container.target(check.http_get.port)
        return target is not None and probe.answers(check, *target)

    # --- sleep, wake ----------------------------------------------------------------------

    def sleep(self, spec: TrialSpec) -> None:
        """Stop each running container of the trial, all at once (so that a trial of many
        components sleeps within one `STOP_TIMEOUT`), keeping the network, the firewall chain
        and the stopped containers for `wake`. A stopped or missing container is success.

        `poll` of a sleeping trial reports its containers as exited (`FAILED`): Docker keeps
        no mark of why a container stopped, and the reconciler polls a sleeping trial only
        once it has woken it.
        """
        with _engine(f"putting trial {spec.trial_id} to sleep"):
            awake = [c for c in self._containers(spec.trial_id) if c.state in _AWAKE]
            if awake:
                with ThreadPoolExecutor(max_workers=len(awake)) as pool:
                    list(pool.map(self._stop_container, awake))
        log.info("trial asleep", trial_id=spec.trial_id, stopped=len(awake))

    def _containers(self, trial_id: str) -> list[_Seen]:
        """The trial's containers, whatever their state: one list call."""
        found = self.client.containers.list(all=True, sparse=True, filters=specs.trial_filter(trial_id))
        return [_Seen.from_summary(c.attrs, "") for c in found]

    def _stop_container(self, container: _Seen) -> None:
        with suppress(docker.errors.NotFound):  # removed meanwhile: nothing left to stop
            self.client.api.stop(container.id, timeout=STOP_TIMEOUT)

    def wake(self, spec: TrialSpec) -> None:
        """Refill the trial's firewall chain (the rules come before the sandbox runs, as on
        `start`), then start each container that is stopped; a running one is left alone.
        A trial whose network is gone is left to `poll`, which reports it `MISSING`."""
        with _engine(f"waking trial {spec.trial_id}"):
            network = self._find_network(spec.trial_id)
            if network is None:
                return
            self._protect(spec, self._recorded(network))
            stopped = [c for c in self._containers(spec.trial_id) if c.state in _STOPPED]
            for container in stopped:
                self._wake_container(spec, container)

    def _wake_container(self, spec: TrialSpec, container: _Seen) -> None:
        try:
            found = self.client.containers.get(container.id)
        except docker.errors.NotFound:
            return  # removed since the list: `poll` reports it missing
        self._start_container(found, container.component)
        log.info("container woken", trial_id=spec.trial_id, component=container.component)

    # --- stop, remaining, list ------------------------------------------------------------

    def stop(self, trial_id: str) -> None:
        labelled = specs.trial_filter(trial_id)
        with _engine(f"removing trial {trial_id}"):
            for container in self.client.containers.list(all=True, sparse=True, filters=labelled):
                self._quietly(self.client.api.remove_container, container.id, v=True, force=True)
            for network in self.client.networks.list(filters=labelled):
                self._remove_network(network.id)
            for volume in self.client.volumes.list(filters=labelled):
                self._quietly(self.client.api.remove_volume, volume.name, force=True)
        self.firewall.remove(trial_id)  # last: the rules stay as long as the bridge does
        log.info("trial removed", trial_id=trial_id)

    @staticmethod
    def _quietly(remove: Any, *args: Any, **kwargs: Any) -> None:
        """Remove something; already gone, or already being removed, is success."""
        try:
            remove(*args, **kwargs)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409 or "in progress" not in str(exc):
                raise

    def _remove_network(self, network_id: str) -> None:
        api = self.client.api
        for attempt in (1, 2):
            try:
                self._quietly(api.remove_network, network_id)
                return
            except docker.errors.APIError as exc:
                if exc.status_code not in (403, 409):
                    raise
                if attempt == 2:  # still in use: the next stop will finish the job
                    raise RetryableError(
                        "The trial network is still in use; retrying.",
                        reason="TeardownIncomplete",
                        log_message=str(exc),
                    ) from exc
            # An endpoint left by a container removed meanwhile (or a concurrent start):
            # detach whatever is still attached to this trial's network, then try once more.
            try:
                attached = api.inspect_network(network_id).get("Containers") or {}
            except docker.errors.NotFound:
                return
            for container_id in attached:
                self._quietly(api.disconnect_container_from_network, container_id, network_id, force=True)

    def remaining(self, trial_id: str) -> list[str]:
        labelled = specs.trial_filter(trial_id)
        with _engine(f"listing what is left of trial {trial_id}"):
            containers = self.client.containers.list(all=True, sparse=True, filters=labelled)
            names = [f"container/{_Seen.from_summary(c.attrs, '').name}" for c in containers]
            names += [f"network/{n.name}" for n in self.client.networks.list(filters=labelled)]
            names += [f"volume/{v.name}" for v in self.client.volumes.list(filters=labelled)]
        chains = self.firewall.trials(instance=self.instance)
        names += [f"nftables/{chains[trial_id]}"] if trial_id in chains else []
        return sorted(names)

    def list_trial_ids(self) -> set[str]:
        """Trials with any container, network or volume: one list call per kind."""
        any_trial = specs.trial_filter(instance=self.instance)
        with _engine("listing trials"):
            labels = [
                c.attrs.get("Labels") or {}
                for c in self.client.containers.list(all=True, sparse=True, filters=any_trial)
            ]
            labels += [n.attrs.get("Labels") or {} for n in self.client.networks.list(filters=any_trial)]
            labels += [v.attrs.get("Labels") or {} for v in self.client.volumes.list(filters=any_trial)]
        found = {found[TRIAL_LABEL] for found in labels if found.get(TRIAL_LABEL)}
        return found | set(self.firewall.trials(instance=self.instance))

    def running_components(self) -> dict[str, set[str]]:
        """Trial id -> components whose containers are running: one list call."""
        with _engine("listing running sandboxes"):
            found = [
                c.attrs.get("Labels") or {}
                for c in self.client.containers.list(
                    sparse=True, filters=specs.trial_filter(instance=self.instance)
                )
            ]
        running: dict[str, set[str]] = {}
        for labels in found:
            if labels.get(TRIAL_LABEL) and labels.get(COMPONENT_LABEL):
                running.setdefault(labels[TRIAL_LABEL], set()).add(labels[COMPONENT_LABEL])
        return running

    # --- usage ------------------------------------------------------------------------------

    def usage(self, trial_id: str) -> Usage:
        """The trial's running containers' stats, summed: one list call, then one stats call
        per container (`one_shot`: the engine answers at once instead of sampling for a
        second), side by side."""
        with _engine(f"reading the resource use of trial {trial_id}"):
            running = [
                c.id for c in self.client.containers.list(sparse=True, filters=specs.trial_filter(trial_id))
            ]
            if not running:
                return Usage()
            with ThreadPoolExecutor(max_workers=min(len(running), 4)) as pool:
                found = list(pool.map(self._stats, running))
        return Usage(
            cpu_seconds=sum(u.cpu_seconds for u in found), memory_bytes=sum(u.memory_bytes for u in found)
        )

    def _stats(self, container_id: str) -> Usage:
        try:
            return container_usage(self.client.api.stats(container_id, stream=False, one_shot=True))
        except docker.errors.NotFound:  # removed meanwhile: it uses nothing
            return Usage()

    # --- images -----------------------------------------------------------------------------

    def pin_image(self, image: str) -> str:
        """The engine's immutable id of a local image (`sha256:...`), which a container can be
        made from: what a reviewer approved is what runs, even if the tag is moved later."""
        with _engine(f"pinning image {image}"):
            try:
                return str(self.client.images.get(image).id)
            except docker.errors.ImageNotFound as exc:
                raise PermanentError(
                    f"Image {image} is not on this Docker engine, and images are never pulled: "
                    "build or load it, then publish the version.",
                    reason="ImageMissing",
                ) from exc

    # --- logs -----------------------------------------------------------------------------

    def logs(
        self, trial_id: str, component: str, *, follow: bool = False, tail: int = LOG_TAIL
    ) -> Iterator[str]:
        """A component's log lines (stdout and stderr), oldest first; `follow` keeps going."""
        name = specs.container_name(trial_id, component)
        with _engine(f"reading the logs of {name}"):
            try:
                container = self.client.containers.get(name)
            except docker.errors.NotFound as exc:
                raise NotFound(
                    f"Trial {trial_id} has no component {component} (its container is gone)."
                ) from exc
            chunks = container.logs(stream=True, follow=follow, tail=tail)
        return _lines(chunks, name)


def _resolve(name: str) -> list[str]:
    """The IPv4 addresses `name` has now (trial networks are IPv4 only)."""
    try:
        answers = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError as exc:
        raise RetryableError(
            f"The declared egress host {name} does not resolve; retrying.",
            reason="EgressUnresolved",
            log_message=str(exc),
            delay=10.0,
        ) from exc
    return sorted({f"{answer[4][0]}/32" for answer in answers})


def _lines(chunks: Iterator[bytes], name: str) -> Iterator[str]:
    """Whole lines out of the stream of byte chunks Docker sends."""
    pending = ""
    with _engine(f"reading the logs of {name}"):
        for chunk in chunks:
            pending += chunk.decode("utf-8", "replace")
            *lines, pending = pending.split("\n")
            yield from lines
    if pending:
        yield pending


def container_usage(stats: dict[str, Any]) -> Usage:
    """Pure: one container's CPU time (the engine counts nanoseconds) and working set (usage
    less the page cache the kernel may reclaim: `inactive_file` under cgroup v2,
    `total_inactive_file` or `cache` under v1, as `docker stats` does). A stopped container's
    stats are empty: zero."""
    cpu = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0
    memory = stats.get("memory_stats") or {}
    detail = memory.get("stats") or {}
    cache = detail.get("inactive_file", detail.get("total_inactive_file", detail.get("cache", 0))) or 0
    used = int(memory.get("usage") or 0)
    return Usage(cpu_seconds=int(cpu) / 1e9, memory_bytes=max(0, used - int(cache)) if used else 0)
