"""Pure builders for a trial's Kubernetes objects, and the checks every object must pass.

No client, no I/O: each function turns a `TrialSpec` into plain dicts (the API's JSON), so
they are tested without a cluster. One trial is one namespace, labelled for Pod Security
`restricted` and with the trial id, holding a ResourceQuota, a LimitRange, default-deny
NetworkPolicies plus the allows the template declares (and DNS, to the cluster's DNS pods
only), a ServiceAccount with no token, and a Deployment and a Service per component.
`check_objects` refuses anything outside an allow-list of kinds or any pod that would not meet
`restricted`, before anything is applied.

Limits: CPU, memory and ephemeral storage are set on every container (and counted by the
quota); writable paths are size-limited tmpfs. Environment, tmpfs sizes and labels follow the
rules both runtimes share (`orchestrator/drivers/common.py`). Kubernetes has no per-container PID limit: each
component is one pod of one container, and the node's kubelet caps every pod at its
`podPidsLimit`, so `check_pids` refuses a component that declares more than the nodes give, and
each pod records what it declared and what the node enforces (annotations).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from orchestrator.drivers import common
from orchestrator.drivers.base import COMPONENT_LABEL, TEMPLATE_LABEL, TRIAL_LABEL, TrialSpec
from orchestrator.errors import PermanentError, Problem, ValidationFailed
from orchestrator.manifest import Component, parse_cpu, parse_memory

Obj = dict[str, Any]
SERVICE_ACCOUNT = "den-sandbox"
UID = common.SANDBOX_UID
ALLOWED_KINDS = frozenset(
    {"Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "ServiceAccount", "Deployment", "Service"}
)
#: How long a pod stays bound to a node that has stopped answering (NotReady or unreachable)
#: before Kubernetes evicts it and its Deployment starts it on another node: the default of
#: `DEN_KUBERNETES_NODE_LOSS_SECONDS`. Kubernetes' own is 300 s, five minutes of a time-box.
NODE_LOSS_SECONDS = 30
NODE_LOSS_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
PIDS_DECLARED = "innovation-den.io/pids-declared"
PIDS_ENFORCED = "innovation-den.io/pids-enforced"
#: Every container's disk: with a read-only root and tmpfs writable paths only its logs (and
#: an empty writable layer) count. The kubelet rotates logs at 10Mi; a burst past this is a
#: flood, and the kubelet evicts the pod (the trial then fails, naming the limit).
EPHEMERAL_STORAGE = 64 * 2**20
#: Where the cluster's DNS pods run and how they are labelled (kubeadm, kind, GKE, EKS and
#: the testbed's CoreDNS all use these): a sandbox's DNS goes to them and nowhere else.
DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}
#: Pods per component's Deployment: a sandbox is one instance (`sleep` scales it to zero,
#: `wake` back to this).
REPLICAS = 1


def namespace_name(trial_id: str) -> str:
    name = f"den-{trial_id}"
    if not (name.replace("-", "").isalnum() and name.islower() and len(name) <= 63):
        raise PermanentError(f"trial id {trial_id!r} cannot name a namespace", reason="InvalidTrialId")
    return name


def _label_value(text: str) -> str:
    """A label value ends with a letter or digit (a version may end '1.0.0-rc-'), within 63."""
    return text.replace("@", "-")[:63].rstrip("-_.")


def labels(spec: TrialSpec, component: str | None = None) -> dict[str, str]:
    return {**common.labels(spec, component), TEMPLATE_LABEL: _label_value(spec.template)}


def _meta(spec: TrialSpec, name: str, component: str | None = None) -> Obj:
    return {"name": name, "namespace": namespace_name(spec.trial_id), "labels": labels(spec, component)}


def namespace(spec: TrialSpec) -> Obj:
    pod_security = {
        f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")
    }
    pod_security["pod-security.kubernetes.io/enforce-version"] = "latest"
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace_name(spec.trial_id), "labels": {**labels(spec), **pod_security}},
    }


def check_pids(spec: TrialSpec, *, pod_pids_limit: int) -> None:
    """A component cannot get more PIDs than the node's `podPidsLimit` gives any pod; 0 means
    the nodes set none (then nothing is enforced, and nothing can be refused for it)."""
    problems = [
        Problem(
            f"spec.components.{index}.resources.pids",
            f"{c.name} declares {c.resources.pids} processes, more than the "
            f"{pod_pids_limit} this cluster's nodes allow a pod",
            f"declare at most {pod_pids_limit}",
        )
        for index, c in enumerate(spec.components)
        if pod_pids_limit and c.resources.pids > pod_pids_limit
    ]
    if problems:
        raise ValidationFailed(problems)


def _totals(spec: TrialSpec) -> tuple[int, int]:
    cpu = sum(parse_cpu(c.resources.cpu) for c in spec.components)
    memory = sum(parse_memory(c.resources.memory) for c in spec.components)
    return cpu, memory


#: Quota admission charges a create before it meets "already exists", and the charge stays
#: until the quota controller recounts (minutes): each time the orchestrator converges a trial
#: again (after a restart, or an API server that dropped a request) it charges the Services
#: once more. Only the orchestrator can create Services in a trial namespace, so this headroom
#: costs no isolation; the types that matter (NodePort, LoadBalancer) stay at 0.
SERVICE_RETRY_HEADROOM = 16


def resource_quota(spec: TrialSpec) -> Obj:
    """Room for the components twice: a rollout surges, and a repeated create of an object that
    exists must meet "already exists", not "over quota"."""
    cpu, memory = _totals(spec)
    pods = 2 * len(spec.components)
    services = pods + SERVICE_RETRY_HEADROOM
    storage = str(pods * EPHEMERAL_STORAGE)
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta(spec, "den-quota"),
        "spec": {
            "hard": {
                "requests.cpu": f"{2 * cpu}m",
                "limits.cpu": f"{2 * cpu}m",
                "requests.memory": str(2 * memory),
                "limits.memory": str(2 * memory),
                "requests.ephemeral-storage": storage,
                "limits.ephemeral-storage": storage,
                "pods": str(pods),
                "services": str(services),
                "services.nodeports": "0",
                "services.loadbalancers": "0",
                "persistentvolumeclaims": "0",
                "secrets": "4",
                "configmaps": "4",
            }
        },
    }


def limit_range(spec: TrialSpec) -> Obj:
    largest_cpu = max(parse_cpu(c.resources.cpu) for c in spec.components)
    largest_memory = max(parse_memory(c.resources.memory) for c in spec.components)
    storage = str(EPHEMERAL_STORAGE)
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _meta(spec, "den-limits"),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "max": {
                        "cpu": f"{largest_cpu}m",
                        "memory": str(largest_memory),
                        "ephemeral-storage": storage,
                    },
                    "default": {"cpu": "100m", "memory": str(64 * 2**20), "ephemeral-storage": storage},
                    "defaultRequest": {
                        "cpu": "100m",
                        "memory": str(64 * 2**20),
                        "ephemeral-storage": storage,
                    },
                }
            ]
        },
    }


def _policy(spec: TrialSpec, name: str, body: Obj) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(spec, name),
        "spec": {"podSelector": {}, **body},
    }


def network_policies(spec: TrialSpec, *, ingress_from: list[Obj]) -> list[Obj]:
    """Deny all, then allow: within the trial, DNS (to the cluster's DNS pods only, not to any
    server on port 53), the orchestrator in, declared egress out."""
    policies = [
        _policy(spec, "den-default-deny", {"policyTypes": ["Ingress", "Egress"]}),
        _policy(
            spec,
            "den-same-trial",
            {
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
        ),
        _policy(
            spec,
            "den-dns",
            {
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": DNS_NAMESPACE}
                                },
                                "podSelector": {"matchLabels": dict(DNS_POD_LABELS)},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        ),
    ]
    exposed = [
        {"protocol": "TCP", "port": p.container_port} for c in spec.components for p in c.ports if p.expose
    ]
    if exposed and ingress_from:
        policies.append(
            _policy(
                spec,
                "den-orchestrator-in",
                {"policyTypes": ["Ingress"], "ingress": [{"from": ingress_from, "ports": exposed}]},
            )
        )
    egress = egress_rules(spec)
    if egress:
        policies.append(_policy(spec, "den-declared-egress", {"policyTypes": ["Egress"], "egress": egress}))
    return policies


def egress_rules(spec: TrialSpec) -> list[Obj]:
    """NetworkPolicy can only name addresses: declared CIDRs become ipBlocks. Host names cannot
    be expressed and are refused on Kubernetes rather than silently opened wide."""
    rules: list[Obj] = []
    problems: list[Problem] = []
    for index, entry in enumerate(spec.egress):
        try:
            network = ipaddress.ip_network(entry.host, strict=False)
        except ValueError:
            problems.append(
                Problem(
                    f"spec.egress.{index}.host",
                    f"{entry.host!r} is a host name; the Kubernetes runtime can only allow addresses",
                    "declare an IPv4 CIDR instead",
                )
            )
            continue
        rules.append(
            {
                "to": [{"ipBlock": {"cidr": str(network)}}],
                "ports": [{"protocol": "TCP", "port": port} for port in entry.ports],
            }
        )
    if problems:
        raise ValidationFailed(problems)
    return rules


def service_account(spec: TrialSpec) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(spec, SERVICE_ACCOUNT),
        "automountServiceAccountToken": False,
    }


def _env(spec: TrialSpec, component: Component) -> list[Obj]:
    values = common.environment(spec, component)
    return [{"name": key, "value": value} for key, value in sorted(values.items())]


def _volumes(component: Component) -> tuple[list[Obj], list[Obj]]:
    size = common.tmpfs_bytes(component)
    volumes, mounts = [], []
    for index, path in enumerate(component.writable_paths):
        name = f"writable-{index}"
        volumes.append({"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": str(size)}})
        mounts.append({"name": name, "mountPath": path})
    return volumes, mounts


def _container(spec: TrialSpec, component: Component, mounts: list[Obj]) -> Obj:
    resources = {
        "cpu": f"{parse_cpu(component.resources.cpu)}m",
        "memory": str(parse_memory(component.resources.memory)),
        "ephemeral-storage": str(EPHEMERAL_STORAGE),
    }
    container: Obj = {
        "name": component.name,
        "image": component.image,
        "imagePullPolicy": "IfNotPresent",
        "env": _env(spec, component),
        "volumeMounts": mounts,
        "ports": [
            {"name": p.name, "containerPort": p.container_port, "protocol": "TCP"} for p in component.ports
        ],
        "resources": {"requests": resources, "limits": resources},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if component.command:
        container["command"] = list(component.command)
    probe = component.readiness_probe
    if probe is not None:
        container["readinessProbe"] = {
            "httpGet": {"path": probe.http_get.path, "port": probe.http_get.port},
            "periodSeconds": max(1, round(probe.period_seconds)),
            "timeoutSeconds": max(1, round(probe.timeout_seconds)),
            "failureThreshold": 3,
        }
    return container


def deployment(
    spec: TrialSpec,
    component: Component,
    *,
    pod_pids_limit: int = 0,
    node_loss_seconds: int = NODE_LOSS_SECONDS,
) -> Obj:
    volumes, mounts = _volumes(component)
    pids = {
        PIDS_DECLARED: str(component.resources.pids),
        PIDS_ENFORCED: str(pod_pids_limit) if pod_pids_limit else "unlimited",
    }
    selector = {TRIAL_LABEL: spec.trial_id, COMPONENT_LABEL: component.name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(spec, component.name, component.name),
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "Recreate"},
            "progressDeadlineSeconds": 600,
            "template": {
                "metadata": {"labels": labels(spec, component.name), "annotations": pids},
                "spec": {
                    "serviceAccountName": SERVICE_ACCOUNT,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "hostNetwork": False,
                    "hostPID": False,
                    "hostIPC": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "fsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [_container(spec, component, mounts)],
                    "volumes": volumes,
                    "terminationGracePeriodSeconds": 5,
                    "restartPolicy": "Always",
                    "tolerations": [
                        {
                            "key": taint,
                            "operator": "Exists",
                            "effect": "NoExecute",
                            "tolerationSeconds": node_loss_seconds,
                        }
                        for taint in NODE_LOSS_TAINTS
                    ],
                },
            },
        },
    }


def service(spec: TrialSpec, component: Component) -> Obj | None:
    """A ClusterIP Service named after the component, so the others reach it by name."""
    if not component.ports:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(spec, component.name, component.name),
        "spec": {
            "type": "ClusterIP",
            "selector": {TRIAL_LABEL: spec.trial_id, COMPONENT_LABEL: component.name},
            "ports": [
                {"name": p.name, "port": p.container_port, "targetPort": p.container_port, "protocol": "TCP"}
                for p in component.ports
            ],
        },
    }


def trial_objects(
    spec: TrialSpec,
    *,
    ingress_from: list[Obj],
    pod_pids_limit: int = 0,
    node_loss_seconds: int = NODE_LOSS_SECONDS,
) -> list[Obj]:
    """Every object of a trial, in the order they are applied (the namespace first, then its
    quota, which the chart's admission policy requires before any pod)."""
    check_pids(spec, pod_pids_limit=pod_pids_limit)
    objects = [
        namespace(spec),
        resource_quota(spec),
        limit_range(spec),
        *network_policies(spec, ingress_from=ingress_from),
        service_account(spec),
    ]
    for component in spec.components:
        objects.append(
            deployment(spec, component, pod_pids_limit=pod_pids_limit, node_loss_seconds=node_loss_seconds)
        )
        svc = service(spec, component)
        if svc is not None:
            objects.append(svc)
    check_objects(objects, trial_id=spec.trial_id)
    return objects


# --- the checks ---------------------------------------------------------------------------


def check_objects(objects: list[Obj], *, trial_id: str) -> None:
    """Refuse anything not on the allow-list, outside the trial's namespace, unlabelled, or
    whose pods would not meet Pod Security `restricted`: before anything is applied."""
    problems: list[Problem] = []
    expected_ns = namespace_name(trial_id)
    for index, obj in enumerate(objects):
        where = f"objects.{index}({obj.get('kind')}/{obj.get('metadata', {}).get('name')})"
        kind, meta = obj.get("kind"), obj.get("metadata", {})
        if kind not in ALLOWED_KINDS:
            problems.append(
                Problem(where, f"kind {kind!r} is not allowed", f"use one of {sorted(ALLOWED_KINDS)}")
            )
            continue
        if meta.get("labels", {}).get(TRIAL_LABEL) != trial_id:
            problems.append(Problem(where, "missing the trial label", f"label {TRIAL_LABEL}"))
        if kind != "Namespace" and meta.get("namespace") != expected_ns:
            problems.append(Problem(where, "outside the trial's namespace", expected_ns))
        if kind == "Deployment":
            problems += pod_problems(obj["spec"]["template"]["spec"], where=where)
    if problems:
        raise ValidationFailed(
            problems,
            detail="refused before reaching the cluster: "
            + "; ".join(f"{p.field}: {p.message}" for p in problems[:5]),
        )


def pod_problems(pod: Mapping[str, Any], *, where: str) -> list[Problem]:
    """The Pod Security `restricted` rules (v1.33), as a pure check of a pod spec."""
    problems: list[Problem] = []

    def refuse(field: str, message: str) -> None:
        problems.append(
            Problem(f"{where}.{field}", message, "sandboxes run unprivileged, read-only, with no host access")
        )

    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            refuse(field, f"{field} is not allowed")
    for volume in pod.get("volumes", []):
        if set(volume) - {
            "name",
            "emptyDir",
            "configMap",
            "secret",
            "projected",
            "downwardAPI",
            "persistentVolumeClaim",
            "ephemeral",
            "csi",
        }:
            refuse(f"volumes.{volume.get('name')}", "only emptyDir-like volumes are allowed")
    pod_context = pod.get("securityContext", {})
    for index, container in enumerate([*pod.get("initContainers", []), *pod.get("containers", [])]):
        _check_container(container, pod_context, refuse, index)
    return problems


def _check_container(
    container: Mapping[str, Any],
    pod_context: Mapping[str, Any],
    refuse: Callable[[str, str], None],
    index: int,
) -> None:
    context = container.get("securityContext", {})
    prefix = f"containers.{index}.securityContext"
    if context.get("privileged"):
        refuse(f"{prefix}.privileged", "privileged containers are not allowed")
    if context.get("allowPrivilegeEscalation") is not False:
        refuse(f"{prefix}.allowPrivilegeEscalation", "must be false")
    if context.get("capabilities", {}).get("drop") != ["ALL"] or set(
        context.get("capabilities", {}).get("add", [])
    ) - {"NET_BIND_SERVICE"}:
        refuse(f"{prefix}.capabilities", "must drop ALL and add nothing")
    if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")):
        refuse(f"{prefix}.runAsNonRoot", "must be true")
    if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
        refuse(f"{prefix}.runAsUser", "must not be 0")
    seccomp = context.get("seccompProfile") or pod_context.get("seccompProfile") or {}
    if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
        refuse(f"{prefix}.seccompProfile", "must be RuntimeDefault or Localhost")
    for port in container.get("ports", []):
        if port.get("hostPort"):
            refuse(f"containers.{index}.ports", "hostPort is not allowed")
