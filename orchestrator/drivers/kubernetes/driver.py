"""The Kubernetes driver: the only module that talks to the cluster (official client).

`start` applies the trial's objects (built and checked by `manifests.py`), creating only what
is missing; `sleep` scales each Deployment to zero replicas and `wake` back to one, through
the scale subresource (the one write the driver makes to an existing object), keeping the
namespace, its Services and policies; `stop` deletes the namespace, and `remaining` reads it
back until it is gone, so teardown is verified. Everything observed (`poll`,
`running_components`, `list_trial_ids`) comes from informers: one list and one watch stream
per kind, whatever the number of trials.
`logs` alone reads the API server directly (one list of a trial's pods, then the log), so the
API's pods, which only serve logs, need no watch and no rights beyond reading pods and logs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from orchestrator.drivers import common, probe
from orchestrator.drivers.base import (
    COMPONENT_LABEL,
    INSTANCE_LABEL,
    LOG_TAIL,
    MANAGED_LABEL,
    MANAGED_VALUE,
    TRIAL_LABEL,
    Observation,
    Status,
    TrialSpec,
    Usage,
)
from orchestrator.drivers.kubernetes import images, manifests
from orchestrator.drivers.kubernetes.informer import Informer, Summary, wait_synced
from orchestrator.drivers.kubernetes.lease import load_configuration
from orchestrator.errors import NotFound, PermanentError, RetryableError, RuntimeUnavailable
from orchestrator.settings import Settings

log = structlog.get_logger("kubernetes")
FATAL_WAITING = {
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
}
SYNC_TIMEOUT = 30.0
#: The chart's admission policy admits a trial's pods only once its quota exists, looked up
#: in the API server's cache: a pod created the moment after them can
#: meet a cache that has not seen them yet. The ReplicaSet controller retries, so this refusal
#: is waited out (a guard that stays unmet ends as a start timeout), not a failure.
ADMISSION_CACHE_LAG = "no params found for policy binding"
#: How long `wake` waits for a sleep still under way to be carried out (each old pod told to
#: end, as the API server and the watch cache both say): scaled back up before that, a
#: Deployment may keep its old pod for a moment and end it just after, which `poll` would take
#: for the woken one.
SETTLE_TIMEOUT = 15.0
#: Past its deletion deadline (its grace period), a pod still ending is on a node that does
#: not answer: `poll` stops waiting for it to go after this many seconds more.
ENDING_GRACE = 10.0


def _summarise_namespace(obj: Any) -> Summary:
    return {
        "name": obj.metadata.name,
        "trial": (obj.metadata.labels or {}).get(TRIAL_LABEL),
        "phase": obj.status.phase if obj.status else None,
    }


def _summarise_pod(obj: Any) -> Summary:
    labels = obj.metadata.labels or {}
    statuses = (obj.status.container_statuses or []) if obj.status else []
    conditions = (obj.status.conditions or []) if obj.status else []
    waiting = next((s.state.waiting for s in statuses if s.state and s.state.waiting), None)
    evicted = bool(obj.status and obj.status.reason == "Evicted")
    return {
        "namespace": obj.metadata.namespace,
        "name": obj.metadata.name,
        "trial": labels.get(TRIAL_LABEL),
        "component": labels.get(COMPONENT_LABEL),
        "phase": obj.status.phase if obj.status else None,
        "ready": any(c.type == "Ready" and c.status == "True" for c in conditions),
        "waiting": waiting.reason if waiting else None,
        "waiting_message": (waiting.message or "") if waiting else "",
        "restarts": sum(s.restart_count or 0 for s in statuses),
        "exit_code": next(
            (s.last_state.terminated.exit_code for s in statuses if s.last_state and s.last_state.terminated),
            None,
        ),
        "deleting": obj.metadata.deletion_timestamp is not None,
        "ends_by": obj.metadata.deletion_timestamp.timestamp() if obj.metadata.deletion_timestamp else None,
        # The kubelet evicts a pod past its ephemeral-storage limit (or on node pressure).
        "evicted": (obj.status.message or "Evicted") if evicted else None,
    }


def _summarise_deployment(obj: Any) -> Summary:
    conditions = (obj.status.conditions or []) if obj.status else []
    failure = next((c.message for c in conditions if c.type == "ReplicaFailure" and c.status == "True"), None)
    return {
        "namespace": obj.metadata.namespace,
        "name": obj.metadata.name,
        "trial": (obj.metadata.labels or {}).get(TRIAL_LABEL),
        "failure": failure,
        "replicas": obj.spec.replicas if obj.spec else None,
    }


def _summarise_service(obj: Any) -> Summary:
    return {
        "namespace": obj.metadata.namespace,
        "name": obj.metadata.name,
        "cluster_ip": obj.spec.cluster_ip,
        "ports": {p.name: p.port for p in obj.spec.ports or []},
    }


class KubernetesDriver:
    name = "kubernetes"

    def __init__(
        self,
        api: client.ApiClient,
        *,
        ingress_from: list[dict[str, Any]],
        instance: str = "default",
        pod_pids_limit: int = 0,
        node_loss_seconds: int = manifests.NODE_LOSS_SECONDS,
    ) -> None:
        self.api = api
        self.selector = f"{MANAGED_LABEL}={MANAGED_VALUE},{INSTANCE_LABEL}={instance}"
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.net = client.NetworkingV1Api(api)
        self.ingress_from = ingress_from
        self.pod_pids_limit = pod_pids_limit
        self.node_loss_seconds = node_loss_seconds
        self._informers: dict[str, Informer] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> KubernetesDriver:
        configuration = load_configuration(settings)
        peers: list[dict[str, Any]] = [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": settings.kubernetes_orchestrator_namespace}
                }
            }
        ]
        peers += [
            {"ipBlock": {"cidr": cidr.strip()}}
            for cidr in settings.kubernetes_host_cidr.split(",")
            if cidr.strip()
        ]
        return cls(
            client.ApiClient(configuration),
            ingress_from=peers,
            instance=settings.instance,
            pod_pids_limit=settings.kubernetes_pod_pids_limit,
            node_loss_seconds=settings.kubernetes_node_loss_seconds,
        )

    # --- informers -----------------------------------------------------------------------

    def _caches(self) -> dict[str, Informer]:
        if self._informers is None:
            self._informers = {
                "namespaces": Informer(
                    kind="namespaces",
                    list_fn=self.core.list_namespace,
                    selector=self.selector,
                    summarise=_summarise_namespace,
                ),
                "pods": Informer(
                    kind="pods",
                    list_fn=self.core.list_pod_for_all_namespaces,
                    selector=self.selector,
                    summarise=_summarise_pod,
                ),
                "deployments": Informer(
                    kind="deployments",
                    list_fn=self.apps.list_deployment_for_all_namespaces,
                    selector=self.selector,
                    summarise=_summarise_deployment,
                ),
                "services": Informer(
                    kind="services",
                    list_fn=self.core.list_service_for_all_namespaces,
                    selector=self.selector,
                    summarise=_summarise_service,
                ),
            }
            for informer in self._informers.values():
                informer.start()
        informers = self._informers
        if not wait_synced(list(informers.values()), SYNC_TIMEOUT):
            raise RuntimeUnavailable("the Kubernetes API server did not answer the watches")
        return informers

    def _in(self, kind: str, namespace: str) -> list[Summary]:
        return [s for s in self._caches()[kind].snapshot() if s.get("namespace") == namespace]

    # --- contract ------------------------------------------------------------------------

    def ping(self) -> None:
        with _api("reaching the API server"):
            client.VersionApi(self.api).get_code()

    def start(self, spec: TrialSpec) -> None:
        objects = manifests.trial_objects(
            spec,
            ingress_from=self.ingress_from,
            pod_pids_limit=self.pod_pids_limit,
            node_loss_seconds=self.node_loss_seconds,
        )
        namespace = manifests.namespace_name(spec.trial_id)
        for obj in objects:
            self._create(obj)
        log.info("trial applied", trial_id=spec.trial_id, namespace=namespace, objects=len(objects))

    def _create(self, obj: dict[str, Any]) -> None:
        kind, namespace = obj["kind"], obj["metadata"].get("namespace")
        create: dict[str, Callable[..., Any]] = {
            "Namespace": lambda body: self.core.create_namespace(body),
            "ResourceQuota": lambda body: self.core.create_namespaced_resource_quota(namespace, body),
            "LimitRange": lambda body: self.core.create_namespaced_limit_range(namespace, body),
            "NetworkPolicy": lambda body: self.net.create_namespaced_network_policy(namespace, body),
            "ServiceAccount": lambda body: self.core.create_namespaced_service_account(namespace, body),
            "Deployment": lambda body: self.apps.create_namespaced_deployment(namespace, body),
            "Service": lambda body: self.core.create_namespaced_service(namespace, body),
        }
        try:
            with _api(f"creating {kind} {obj['metadata']['name']}"):
                create[kind](obj)
        except _Exists:
            return  # converging: it is already there

    def poll(self, spec: TrialSpec) -> Observation:
        namespace = manifests.namespace_name(spec.trial_id)
        found = [n for n in self._caches()["namespaces"].snapshot() if n["name"] == namespace]
        if not found or found[0]["phase"] == "Terminating":
            return Observation(Status.MISSING, message=f"namespace {namespace} is missing")
        pods = self._in("pods", namespace)
        deployments = {d["name"]: d for d in self._in("deployments", namespace)}
        progress = [f"Namespace {namespace} created"]
        for component in spec.components:
            failure = self._component_failure(component.name, deployments, pods)
            if failure:
                return Observation(
                    Status.FAILED,
                    message=self._with_logs(failure, namespace, pods, component.name),
                    progress=tuple(progress),
                )
            if component.name not in deployments:
                return Observation(
                    Status.MISSING, message=f"deployment {component.name} is gone", progress=tuple(progress)
                )
        asleep = [c.name for c in spec.components if _asleep(deployments[c.name])]
        if asleep:
            return Observation(
                Status.PENDING,
                message=f"{', '.join(asleep)} scaled to zero replicas (asleep)",
                progress=tuple(progress),
            )
        # A pod still ending (of a sleep just before a wake) may still get the Service's
        # traffic for a moment: ready means the new pod ready and the old one gone.
        ending = {p["component"] for p in pods if _ending(p)}
        ready = {p["component"] for p in pods if p["ready"] and not p["deleting"]} - ending
        progress += [f"{c.name} is ready" for c in spec.components if c.name in ready]
        if all(c.name in ready for c in spec.components):
            addresses = self._service_addresses(namespace)
            endpoints: dict[str, str] = {}
            for component in spec.components:
                endpoints.update(common.endpoints(component, _at(addresses.get(component.name))))
            if self._answering(spec, addresses):
                return Observation(Status.READY, endpoints=endpoints, progress=tuple(progress))
            return Observation(
                Status.PENDING, message="waiting for the services to answer", progress=tuple(progress)
            )
        waiting = [c.name for c in spec.components if c.name not in ready]
        return Observation(
            Status.PENDING, message=f"waiting for {', '.join(waiting)}", progress=tuple(progress)
        )

    @staticmethod
    def _component_failure(name: str, deployments: dict[str, Summary], pods: list[Summary]) -> str | None:
        deployment = deployments.get(name)
        if deployment and deployment["failure"] and ADMISSION_CACHE_LAG not in deployment["failure"]:
            return f"{name}: {deployment['failure']}"
        for pod in pods:
            if pod["component"] == name and pod.get("evicted"):
                return f"{name} was evicted: {pod['evicted']}"
            if pod["component"] == name and pod["waiting"] in FATAL_WAITING:
                if pod["exit_code"] is not None:
                    return f"{name} exited with code {pod['exit_code']} ({pod['waiting']})"
                return f"{name}: {pod['waiting']} {pod['waiting_message']}".strip()
        return None

    def _with_logs(self, failure: str, namespace: str, pods: list[Summary], component: str) -> str:
        """A failed component's last log lines: one request, made only for a failing trial."""
        pod = next((p for p in pods if p["component"] == component and p["exit_code"] is not None), None)
        if pod is None:
            return failure
        try:
            with _api(f"reading the last logs of {component}"):
                text = self.core.read_namespaced_pod_log(
                    pod["name"],
                    namespace,
                    container=component,
                    previous=True,
                    tail_lines=common.FAILED_LOG_LINES,
                )
        except (NotFound, RuntimeUnavailable, PermanentError):
            return failure
        return common.with_last_lines(failure, str(text))

    def _service_addresses(self, namespace: str) -> dict[str, str]:
        """Component name -> its Service's cluster address: where this machine reaches it."""
        return {
            s["name"]: s["cluster_ip"]
            for s in self._in("services", namespace)
            if s["cluster_ip"] and s["cluster_ip"] != "None"
        }

    @staticmethod
    def _answering(spec: TrialSpec, addresses: dict[str, str]) -> bool:
        """Pods can be Ready a moment before their Service routes to them: probe through it,
        on the probe's port when it is exposed (the only ports the orchestrator may reach)."""
        for component in spec.components:
            check = component.readiness_probe
            exposed = {port.container_port for _, port in common.exposed_ports(component)}
            if check is None or check.http_get.port not in exposed:
                continue
            address = addresses.get(component.name)
            if address is None or not probe.answers(check, address, check.http_get.port):
                return False
        return True

    def sleep(self, spec: TrialSpec) -> None:
        """Scale each component's Deployment to zero: its pod ends (within its termination
        grace period), and the namespace, Services and policies stay for `wake`."""
        for component in spec.components:
            self._scale(spec.trial_id, component.name, 0)
        log.info("trial asleep", trial_id=spec.trial_id)

    def wake(self, spec: TrialSpec) -> None:
        """Scale each component's Deployment back to the replicas its manifest gives; one
        already there is left alone (the patch changes nothing). `poll` says when the new pods
        are ready. A sleep only just asked for is first let finish (`SETTLE_TIMEOUT`), so
        that every pod `poll` then finds ready is one that stays."""
        self._settle(manifests.namespace_name(spec.trial_id))
        for component in spec.components:
            self._scale(spec.trial_id, component.name, manifests.REPLICAS)
        log.info("trial woken", trial_id=spec.trial_id)

    def _settle(self, namespace: str) -> None:
        """Wait until no Deployment scaled to zero has a pod not yet told to end. A trial that
        slept a while ago settles at once: two list requests."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while (staying := self._staying(namespace)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if staying:
            log.warning("waking before the sleep finished", namespace=namespace, components=sorted(staying))

    def _staying(self, namespace: str) -> set[str]:
        """Components scaled to zero with a pod not ending, as the API server says (the
        caches may not have seen the sleep yet) or as the pod cache, which `poll` reads, still
        says."""
        with _api(f"reading the workloads of {namespace}"):
            deployments = self.apps.list_namespaced_deployment(namespace, label_selector=self.selector)
            pods = self.core.list_namespaced_pod(namespace, label_selector=self.selector)
        asleep = {d["name"] for d in map(_summarise_deployment, deployments.items) if _asleep(d)}
        seen = [_summarise_pod(p) for p in pods.items] + self._in("pods", namespace)
        return {p["component"] for p in seen if p["component"] in asleep and not p["deleting"]}

    def _scale(self, trial_id: str, deployment: str, replicas: int) -> None:
        """Set a Deployment's replicas through its scale subresource (which can change nothing
        else); a Deployment that is gone is left to `poll`, which reports it `MISSING`."""
        namespace = manifests.namespace_name(trial_id)
        try:
            with _api(f"scaling deployment {deployment} to {replicas}"):
                self.apps.patch_namespaced_deployment_scale(
                    deployment,
                    namespace,
                    {"spec": {"replicas": replicas}},
                    _content_type="application/merge-patch+json",
                )
        except NotFound:
            log.info("deployment gone while scaling", trial_id=trial_id, deployment=deployment)

    def stop(self, trial_id: str) -> None:
        namespace = manifests.namespace_name(trial_id)
        try:
            with _api(f"deleting namespace {namespace}"):
                self.core.delete_namespace(namespace, propagation_policy="Background")
        except NotFound:
            return

    def remaining(self, trial_id: str) -> list[str]:
        """Read back from the API server (not the cache): teardown is verified, not assumed."""
        namespace = manifests.namespace_name(trial_id)
        try:
            with _api(f"reading namespace {namespace}"):
                self.core.read_namespace(namespace)
        except NotFound:
            return []
        return [f"namespace/{namespace}"]

    def list_trial_ids(self) -> set[str]:
        return {n["trial"] for n in self._caches()["namespaces"].snapshot() if n["trial"]}

    def running_components(self) -> dict[str, set[str]]:
        """Components with a ready pod that is not ending, whose Deployment is not scaled to
        zero (its pods stay ready for a moment after a sleep): from the watch caches."""
        caches = self._caches()
        asleep = {(d["namespace"], d["name"]) for d in caches["deployments"].snapshot() if _asleep(d)}
        running: dict[str, set[str]] = {}
        for pod in caches["pods"].snapshot():
            if not (pod["trial"] and pod["component"] and pod["ready"]) or pod["deleting"]:
                continue
            if (pod["namespace"], pod["component"]) not in asleep:
                running.setdefault(pod["trial"], set()).add(pod["component"])
        return running

    def logs(
        self, trial_id: str, component: str, *, follow: bool = False, tail: int = LOG_TAIL
    ) -> Iterator[str]:
        namespace = manifests.namespace_name(trial_id)
        with _api(f"finding the pod of {component}"):
            found = self.core.list_namespaced_pod(
                namespace, label_selector=f"{TRIAL_LABEL}={trial_id},{COMPONENT_LABEL}={component}"
            )
        pods = [
            str(p.metadata.name) for p in found.items if p.metadata and p.metadata.deletion_timestamp is None
        ]
        if not pods:
            raise NotFound(f"no running component {component!r} in trial {trial_id}")
        with _api(f"reading logs of {component}"):
            answer: Any = self.core.read_namespaced_pod_log(
                pods[0],
                namespace,
                container=component,
                follow=follow,
                tail_lines=tail,
                _preload_content=False,
            )
        try:
            for line in answer.stream(decode_content=True):
                yield from line.decode("utf-8", "replace").splitlines()
        finally:
            answer.release_conn()

    def usage(self, trial_id: str) -> Usage:
        """The kubelet's summary (`/stats/summary`, through the API server's node proxy: RBAC
        `nodes/proxy` get) of each node the trial's pods run on, for the pods of its
        namespace: one pod list, then one request per node."""
        namespace = manifests.namespace_name(trial_id)
        try:
            with _api(f"listing the pods of {namespace}"):
                pods = self.core.list_namespaced_pod(namespace, label_selector=self.selector).items
        except NotFound:
            return Usage()
        nodes = sorted({p.spec.node_name for p in pods if p.spec and p.spec.node_name and _running(p)})
        cpu, memory = 0.0, 0
        for node in nodes:
            with _api(f"reading the kubelet's summary of node {node}"):
                answer: Any = self.core.connect_get_node_proxy_with_path(
                    node, "stats/summary", _preload_content=False
                )
            found = summary_usage(json.loads(answer.data), namespace)
            cpu, memory = cpu + found.cpu_seconds, memory + found.memory_bytes
        return Usage(cpu_seconds=cpu, memory_bytes=memory)

    def pin_image(self, image: str) -> str:
        """`repository@sha256:...` of the image a node holds under this tag (from the nodes'
        reported images: one list call); an image not on any node is refused, so a reviewer
        never approves what nobody has seen."""
        with _api("reading the nodes' images"):
            nodes = self.core.list_node().items
        held = [image.names or [] for node in nodes if node.status for image in (node.status.images or [])]
        pinned = images.digest_of(image, held)
        if pinned is None:
            raise PermanentError(
                f"Image {image} is on no node of the cluster under that name, so it cannot be "
                "pinned by digest: load it onto the nodes (or name it by digest, "
                "image@sha256:..., in the manifest), then publish the version.",
                reason="ImageMissing",
            )
        return pinned

    def close(self) -> None:
        for informer in (self._informers or {}).values():
            informer.stop()


def _running(pod: Any) -> bool:
    return bool(pod.status and pod.status.phase == "Running" and pod.metadata.deletion_timestamp is None)


def summary_usage(summary: dict[str, Any], namespace: str) -> Usage:
    """Pure: the CPU time and working set of the pods of `namespace` in a kubelet summary. A
    pod's own figures, or its containers' summed when the kubelet has none for the pod yet
    (the first seconds after it starts)."""
    cpu_ns, memory = 0, 0
    for pod in summary.get("pods") or []:
        if (pod.get("podRef") or {}).get("namespace") != namespace:
            continue
        parts = [pod] if (pod.get("cpu") or {}).get("usageCoreNanoSeconds") is not None else []
        for part in parts or pod.get("containers") or []:
            cpu_ns += int((part.get("cpu") or {}).get("usageCoreNanoSeconds") or 0)
            memory += int((part.get("memory") or {}).get("workingSetBytes") or 0)
    return Usage(cpu_seconds=cpu_ns / 1e9, memory_bytes=memory)


def _ending(pod: Summary) -> bool:
    """Whether a pod is ending, and not yet past its deadline by `ENDING_GRACE` seconds."""
    return pod["ends_by"] is not None and time.time() < pod["ends_by"] + ENDING_GRACE


def _asleep(deployment: Summary) -> bool:
    """Whether a Deployment is scaled to zero replicas (`sleep`)."""
    return deployment.get("replicas") == 0


def _at(address: str | None) -> Callable[[int], tuple[str, int] | None]:
    """Where this machine reaches a port of a component whose Service has `address`."""
    return lambda port: (address, port) if address else None


class _Exists(Exception):
    pass


@contextmanager
def _api(action: str) -> Iterator[None]:
    """Translate client errors into the product's taxonomy."""
    try:
        yield
    except ApiException as exc:
        raise _translate(exc, action) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise RuntimeUnavailable(f"{action}: the API server is unreachable", log_message=str(exc)) from exc


def _translate(exc: ApiException, action: str) -> Exception:
    message = _message(exc)
    if exc.status == 409:
        return _Exists(message)
    if exc.status == 404:
        return NotFound(f"{action}: not found")
    if exc.status == 403 and "being terminated" in message:
        return RetryableError(f"{action}: the namespace is still being deleted", delay=2)
    if exc.status in (429,) or (exc.status or 500) >= 500:
        return RuntimeUnavailable(f"{action}: the API server answered {exc.status}", log_message=message)
    return PermanentError(f"{action}: refused by the cluster: {message}"[:500], reason="RuntimeRejected")


def _message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message", exc.reason))
    except (ValueError, AttributeError):
        return str(exc.reason)
