"""The Kubernetes objects of a trial, built and checked without a cluster."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.catalogue import iter_bundled
from orchestrator.drivers.base import TRIAL_LABEL, TrialSpec
from orchestrator.drivers.kubernetes import manifests
from orchestrator.errors import ValidationFailed
from orchestrator.manifest import Egress

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = {m.metadata.name: m for _, m in iter_bundled(ROOT / "sandbox_templates")}
PEERS = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "den"}}}]


def spec_for(name: str, **changes: Any) -> TrialSpec:
    manifest = BUNDLED[name]
    changes.setdefault("components", tuple(manifest.spec.components))
    return TrialSpec(trial_id="tabc123def456", template=manifest.ref, **changes)


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_every_bundled_template_renders_to_restricted_labelled_objects(name: str) -> None:
    objects = manifests.trial_objects(spec_for(name), ingress_from=PEERS)
    (namespace,) = by_kind(objects, "Namespace")
    assert objects[0] is namespace  # applied first
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert all(o["metadata"]["labels"][TRIAL_LABEL] == "tabc123def456" for o in objects)
    assert {o["metadata"].get("namespace") for o in objects if o is not namespace} == {"den-tabc123def456"}
    assert len(by_kind(objects, "Deployment")) == len(BUNDLED[name].spec.components)
    (account,) = by_kind(objects, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    for deployment in by_kind(objects, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        (container,) = pod["containers"]
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] and not context["allowPrivilegeEscalation"]
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert container["resources"]["limits"] == container["resources"]["requests"]


def test_network_policies_deny_by_default_and_allow_only_trial_dns_and_the_orchestrator() -> None:
    objects = manifests.trial_objects(spec_for("case-management-prototype"), ingress_from=PEERS)
    policies = {p["metadata"]["name"]: p["spec"] for p in by_kind(objects, "NetworkPolicy")}
    assert policies["den-default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert set(policies) == {"den-default-deny", "den-same-trial", "den-dns", "den-orchestrator-in"}
    assert policies["den-orchestrator-in"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]


def test_declared_cidr_egress_is_allowed_and_host_names_are_refused() -> None:
    spec = spec_for("open-data-dashboard", egress=(Egress(host="203.0.113.0/24", ports=[443]),))
    objects = manifests.trial_objects(spec, ingress_from=PEERS)
    egress = [p for p in by_kind(objects, "NetworkPolicy") if p["metadata"]["name"] == "den-declared-egress"]
    assert egress[0]["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "203.0.113.0/24"}}]
    with pytest.raises(ValidationFailed, match="host name"):
        manifests.trial_objects(
            spec_for("open-data-dashboard", egress=(Egress(host="api.example.org"),)), ingress_from=PEERS
        )


@pytest.mark.parametrize(
    "breach, field",
    [
        (lambda pod: pod.update(hostNetwork=True), "hostNetwork"),
        (lambda pod: pod.update(hostPID=True), "hostPID"),
        (lambda pod: pod["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "volumes.h"),
        (lambda pod: pod["containers"][0]["securityContext"].update(privileged=True), "privileged"),
        (
            lambda pod: pod["containers"][0]["securityContext"].update(
                capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}
            ),
            "capabilities",
        ),
        (
            lambda pod: pod["containers"][0]["securityContext"].update(allowPrivilegeEscalation=True),
            "allowPrivilegeEscalation",
        ),
        (lambda pod: pod["containers"][0]["securityContext"].update(runAsUser=0), "runAsUser"),
        (lambda pod: pod["containers"][0]["ports"].append({"containerPort": 1, "hostPort": 80}), "ports"),
    ],
)
def test_a_pod_that_breaks_restricted_is_refused_before_the_cluster(breach: Any, field: str) -> None:
    objects = manifests.trial_objects(spec_for("open-data-dashboard"), ingress_from=PEERS)
    tampered = copy.deepcopy(objects)
    breach(by_kind(tampered, "Deployment")[0]["spec"]["template"]["spec"])
    with pytest.raises(ValidationFailed, match="refused before reaching the cluster") as exc:
        manifests.check_objects(tampered, trial_id="tabc123def456")
    assert any(field in p.field for p in exc.value.problems)


def test_kinds_outside_the_allow_list_and_other_namespaces_are_refused() -> None:
    objects = manifests.trial_objects(spec_for("open-data-dashboard"), ingress_from=PEERS)
    role = {"kind": "ClusterRoleBinding", "metadata": {"name": "x", "labels": {}}}
    with pytest.raises(ValidationFailed, match="not allowed"):
        manifests.check_objects([*objects, role], trial_id="tabc123def456")
    moved = copy.deepcopy(objects)
    moved[-1]["metadata"]["namespace"] = "kube-system"
    with pytest.raises(ValidationFailed, match="outside the trial's namespace"):
        manifests.check_objects(moved, trial_id="tabc123def456")


@given(
    st.sampled_from(sorted(BUNDLED)),
    st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True), st.text(max_size=20), max_size=5),
)
def test_parameters_reach_every_container_as_env(name: str, params: dict[str, str]) -> None:
    params = {
        k: v
        for k, v in params.items()
        if not k.startswith("DEN_")
        and k not in {"PATH", "HOME", "HOSTNAME", "USER", "SHELL", "PWD", "ENV", "IFS"}
    }
    try:
        objects = manifests.trial_objects(spec_for(name, parameters_env=params), ingress_from=PEERS)
    except ValidationFailed:
        return  # a reserved name the filter above did not know
    for deployment in by_kind(objects, "Deployment"):
        env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert params.items() <= env.items()
        assert env["DEN_TRIAL_ID"] == "tabc123def456"


def test_quota_leaves_room_for_services_created_again_when_converging() -> None:
    """A repeated create is charged before it meets "already exists": a trial converged after
    a restart must not be refused for the Services it already has."""
    quota = manifests.resource_quota(spec_for("open-data-dashboard"))["spec"]["hard"]
    assert int(quota["services"]) >= 2 + 16
    assert quota["services.nodeports"] == "0" and quota["services.loadbalancers"] == "0"


def test_dns_goes_only_to_the_cluster_dns_pods() -> None:
    """Port 53 of any server is a tunnel out; only the cluster's DNS pods may be asked."""
    objects = manifests.trial_objects(spec_for("open-data-dashboard"), ingress_from=PEERS)
    dns = next(p["spec"] for p in by_kind(objects, "NetworkPolicy") if p["metadata"]["name"] == "den-dns")
    (rule,) = dns["egress"]
    assert rule["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert not any("ipBlock" in peer for peer in rule["to"])
    assert rule["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def test_every_container_has_an_ephemeral_storage_limit_counted_by_quota_and_limit_range() -> None:
    spec = spec_for("case-management-prototype")
    objects = manifests.trial_objects(spec, ingress_from=PEERS)
    for deployment in by_kind(objects, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        resources = pod["containers"][0]["resources"]
        assert resources["limits"]["ephemeral-storage"] == str(manifests.EPHEMERAL_STORAGE)
        assert resources["requests"]["ephemeral-storage"] == str(manifests.EPHEMERAL_STORAGE)
        assert pod["volumes"] and all(v["emptyDir"]["sizeLimit"] for v in pod["volumes"])
    (quota,) = by_kind(objects, "ResourceQuota")
    hard = quota["spec"]["hard"]
    room = 2 * len(spec.components) * manifests.EPHEMERAL_STORAGE
    assert hard["requests.ephemeral-storage"] == hard["limits.ephemeral-storage"] == str(room)
    assert hard["pods"] == str(2 * len(spec.components))
    assert hard["services.nodeports"] == hard["services.loadbalancers"] == "0"
    (limits,) = by_kind(objects, "LimitRange")
    for key in ("max", "default", "defaultRequest"):
        assert limits["spec"]["limits"][0][key]["ephemeral-storage"] == str(manifests.EPHEMERAL_STORAGE)


def test_pids_above_the_nodes_pod_limit_are_refused_and_each_pod_records_both() -> None:
    manifest = BUNDLED["open-data-dashboard"]
    greedy = manifest.spec.components[0].model_copy(
        update={"resources": manifest.spec.components[0].resources.model_copy(update={"pids": 2048})}
    )
    with pytest.raises(ValidationFailed, match="more than the 1024") as refused:
        manifests.trial_objects(
            spec_for("open-data-dashboard", components=(greedy,)), ingress_from=PEERS, pod_pids_limit=1024
        )
    assert [p.field for p in refused.value.problems] == ["spec.components.0.resources.pids"]
    objects = manifests.trial_objects(
        spec_for("open-data-dashboard"), ingress_from=PEERS, pod_pids_limit=1024
    )
    annotations = by_kind(objects, "Deployment")[0]["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {manifests.PIDS_DECLARED: "64", manifests.PIDS_ENFORCED: "1024"}
    unlimited = manifests.trial_objects(
        spec_for("open-data-dashboard", components=(greedy,)), ingress_from=PEERS, pod_pids_limit=0
    )
    pod = by_kind(unlimited, "Deployment")[0]["spec"]["template"]["metadata"]
    assert pod["annotations"][manifests.PIDS_ENFORCED] == "unlimited"
