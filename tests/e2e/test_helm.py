"""The Helm chart (charts/innovation-den), proven on the real test cluster.

- `helm lint --strict`; `helm template` with several values files, each checked for what a
  careful platform engineer would check by hand (Pod Security `restricted` for every pod, no
  wildcard or secret rights, the right Deployments for the database chosen, every value
  commented); bad values refused with an error naming the value;
- a server-side dry run of the rendered objects against the cluster's API server;
- real installs (SQLite in one pod; PostgreSQL with two API replicas and the reconciler apart):
  a trial launched through the installed orchestrator's API gets its namespace with running
  pods, answers through the orchestrator, expires or ends and is torn down; the orchestrator's
  ServiceAccount cannot write outside its own trial namespaces; `helm uninstall` ends the
  trials still running first and leaves nothing behind.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy

from tests.conftest import _fresh_postgres, require
from tests.e2e.chart import (
    CHART,
    ROOT,
    Release,
    helm,
    kubectl,
    pod_specs,
    render,
    render_error,
    restricted_namespace,
    wait_for_phase,
    wait_until,
)
from tests.e2e.cluster import HOST_ADDRESS, POD_SOURCES
from tests.e2e.server import sandbox_get

pytestmark = pytest.mark.kubernetes
VALUE_FILES = ["sqlite-try.yaml", "postgres.yaml", "ingress-tls.yaml", "existing-secrets.yaml"]
FORBIDDEN_VERBS = {"*", "update", "patch", "escalate", "bind", "impersonate", "deletecollection"}
# The chart's PostgreSQL test server: reachable from the cluster's pods with a password.
CHART_PG_PORT = "54330"
CHART_PG_PASSWORD = "chart-test-" + uuid.uuid4().hex[:16]


# --- rendering ---------------------------------------------------------------------------


def test_lint_strict() -> None:
    done = helm("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("values", VALUE_FILES)
def test_every_pod_meets_pod_security_restricted(values: str) -> None:
    specs = list(pod_specs(render(values)))
    assert specs
    for name, spec in specs:
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume, name
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert "privileged" not in context, name
            assert container["resources"]["limits"]["memory"], name
            assert not container["image"].endswith(":latest"), name


def test_sqlite_is_one_pod_with_the_reconciler_and_a_kept_volume() -> None:
    objects = render()
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    assert list(deployments) == ["den-innovation-den-api"]
    api = deployments["den-innovation-den-api"]["spec"]
    assert api["replicas"] == 1 and api["strategy"]["type"] == "Recreate"
    container = api["template"]["spec"]["containers"][0]
    assert "--no-reconciler" not in container["args"]
    assert {p["httpGet"]["path"] for k in ("livenessProbe", "readinessProbe") for p in [container[k]]} == {
        "/healthz",
        "/readyz",
    }
    claim = next(o for o in objects if o["kind"] == "PersistentVolumeClaim")
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    env = {e["name"] for e in container["env"]}
    assert "DEN_DATABASE_URL" not in env and "DEN_BOOTSTRAP_ADMIN_TOKEN" in env


def test_postgres_splits_the_api_from_two_reconcilers_one_leading() -> None:
    objects = render("postgres.yaml")
    deployments = {
        o["metadata"]["labels"]["app.kubernetes.io/component"]: o["spec"]
        for o in objects
        if o["kind"] == "Deployment"
    }
    assert set(deployments) == {"api", "reconciler"}
    assert deployments["api"]["replicas"] == 2
    assert "--no-reconciler" in deployments["api"]["template"]["spec"]["containers"][0]["args"]
    reconciler = deployments["reconciler"]
    # Two, one leading (a Lease named after the pod): an upgrade rolls them one at a time.
    assert reconciler["replicas"] == 2
    assert reconciler["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    env = {e["name"]: e for e in reconciler["template"]["spec"]["containers"][0]["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["DEN_LEADER_IDENTITY"]["value"] == "$(POD_NAME)"
    (spread,) = reconciler["template"]["spec"]["topologySpreadConstraints"]
    assert spread["labelSelector"]["matchLabels"] == reconciler["selector"]["matchLabels"]
    (budget,) = [o["spec"] for o in objects if o["kind"] == "PodDisruptionBudget"]
    assert budget == {"minAvailable": 1, "selector": reconciler["selector"]}
    single = render("postgres.yaml", sets={"reconciler.replicas": "1"})
    assert not [o for o in single if o["kind"] == "PodDisruptionBudget"]  # would block drains
    probes = reconciler["template"]["spec"]["containers"][0]
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for spec in deployments.values():
        init = spec["template"]["spec"]["initContainers"]
        assert [c["args"] for c in init] == [["db", "upgrade"]]
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    secret = next(o for o in objects if o["kind"] == "Secret")
    assert set(secret["data"]) == {"database-url", "bootstrap-admin-token"}


def test_rbac_is_least_privilege() -> None:
    """The reconciler creates what a trial needs; the API only reads (pods, their logs, the
    nodes' images): with PostgreSQL the API pods run as an account of their own."""
    objects = render("postgres.yaml")
    roles = {
        o["metadata"]["labels"]["app.kubernetes.io/component"]: o
        for o in objects
        if o["kind"] == "ClusterRole"
    }
    assert set(roles) == {"reconciler", "api"}
    # Sleep and wake: the replica count of a trial's Deployments, never the Deployments.
    scaling = {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["patch"]}
    assert scaling in roles["reconciler"]["rules"]
    # Resource use: the kubelet's summary through the API server, read-only.
    node_stats = {"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}
    assert node_stats in roles["reconciler"]["rules"]
    for role in roles.values():
        for rule in role["rules"]:
            if role is roles["reconciler"] and rule == scaling:
                continue
            assert not FORBIDDEN_VERBS & set(rule["verbs"]), rule
            assert "*" not in rule["resources"] and "secrets" not in rule["resources"], rule
            assert "*" not in rule["apiGroups"], rule
    writes = {
        r for rule in roles["reconciler"]["rules"] if "create" in rule["verbs"] for r in rule["resources"]
    }
    assert writes == {
        "namespaces",
        "services",
        "serviceaccounts",
        "resourcequotas",
        "limitranges",
        "deployments",
        "networkpolicies",
    }
    assert {(r, tuple(rule["verbs"])) for rule in roles["api"]["rules"] for r in rule["resources"]} == {
        ("pods", ("get", "list")),
        ("pods/log", ("get",)),
        ("nodes", ("get", "list")),
    }
    bindings = {o["roleRef"]["name"]: o["subjects"] for o in objects if o["kind"] == "ClusterRoleBinding"}
    assert bindings == {
        roles["reconciler"]["metadata"]["name"]: [
            {"kind": "ServiceAccount", "name": "den-innovation-den", "namespace": "den-system"}
        ],
        roles["api"]["metadata"]["name"]: [
            {"kind": "ServiceAccount", "name": "den-innovation-den-api", "namespace": "den-system"}
        ],
    }
    # Leader election: its own Lease in the release's namespace, nothing else, and no delete.
    (role,) = [o for o in objects if o["kind"] == "Role"]
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["den-leader-den"],
            "verbs": ["get", "update"],
        },
    ]
    (role_binding,) = [o for o in objects if o["kind"] == "RoleBinding"]
    assert role_binding["roleRef"]["name"] == role["metadata"]["name"]
    assert role_binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "den-innovation-den", "namespace": "den-system"}
    ]
    accounts = {
        spec["serviceAccountName"] for name, spec in pod_specs(objects) if name.startswith("Deployment/")
    }
    assert accounts == {"den-innovation-den", "den-innovation-den-api"}
    assert {o["kind"] for o in objects} >= {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    # SQLite: one pod runs the API and the reconciler, under the reconciler's account.
    (sqlite,) = [spec for _, spec in pod_specs(render()) if "serviceAccountName" in spec]
    assert sqlite["serviceAccountName"] == "den-innovation-den"


def test_the_release_namespace_denies_ingress_but_to_the_api_from_outside_trials() -> None:
    policies = {o["metadata"]["name"]: o["spec"] for o in render() if o["kind"] == "NetworkPolicy"}
    assert policies["den-innovation-den-default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    (rule,) = policies["den-innovation-den-api"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": "http"}]
    assert rule["from"] == [
        {
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "innovation-den.io/managed-by", "operator": "NotIn", "values": ["innovation-den"]}
                ]
            }
        }
    ]


def test_health_from_lets_named_peers_reach_the_reconcilers_health_port_only() -> None:
    assert not any(o["metadata"]["name"].endswith("-health") for o in render("postgres.yaml")), (
        "no rule for the health port unless asked"
    )
    peer = "networkPolicy.healthFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name"
    policies = {
        o["metadata"]["name"]: o["spec"]
        for o in render("postgres.yaml", sets={peer: "monitoring"})
        if o["kind"] == "NetworkPolicy"
    }
    health = policies["den-innovation-den-health"]
    assert health["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "reconciler"
    (rule,) = health["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": "health"}]
    monitoring = {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    assert rule["from"] == [{"namespaceSelector": monitoring}]
    assert policies["den-innovation-den-default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_existing_secrets_and_outside_rbac_render_no_secret_or_cluster_object() -> None:
    objects = render("existing-secrets.yaml")
    kinds = {o["kind"] for o in objects}
    assert not kinds & {
        "Secret",
        "ClusterRole",
        "ClusterRoleBinding",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
        "Job",
        "Role",
        "RoleBinding",
    }
    env = next(iter(pod_specs(objects)))[1]["containers"][0]["env"]
    sources = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env}
    assert sources["DEN_DATABASE_URL"] == {"name": "den-database", "key": "url"}
    assert sources["DEN_BOOTSTRAP_ADMIN_TOKEN"]["name"] == "den-bootstrap"


def test_single_sign_on_and_the_sandboxes_wildcard_host() -> None:
    """OIDC settings in the ConfigMap, the client secret only in the Secret, and the sandbox
    domain routed by the Ingress with its own wildcard certificate."""
    objects = render(
        "ingress-tls.yaml",
        sets={
            "sandboxDomain": "sandbox.example.net",
            "ingress.sandboxTlsSecretName": "sandbox-tls",
            "oidc.issuer": "https://id.example/realms/den",
            "oidc.clientId": "den",
            "oidc.clientSecret": "client-secret-value",
            "oidc.groups.hmrc-staff.role": "civil_servant",
            "oidc.groups.hmrc-staff.department": "HMRC",
        },
    )
    config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    assert config["DEN_OIDC_ISSUER"] == "https://id.example/realms/den"
    assert json.loads(config["DEN_OIDC_GROUPS"]) == {
        "hmrc-staff": {"role": "civil_servant", "department": "HMRC"}
    }
    assert config["DEN_PUBLIC_URL"] == "https://den.example.gov.uk"
    assert config["DEN_SANDBOX_DOMAIN"] == "sandbox.example.net"
    assert "client-secret-value" not in json.dumps(config)
    secret = next(o for o in objects if o["kind"] == "Secret")
    assert base64.b64decode(secret["data"]["oidc-client-secret"]).decode() == "client-secret-value"
    ingress = next(o for o in objects if o["kind"] == "Ingress")["spec"]
    assert [rule["host"] for rule in ingress["rules"]] == ["den.example.gov.uk", "*.sandbox.example.net"]
    assert {"hosts": ["*.sandbox.example.net"], "secretName": "sandbox-tls"} in ingress["tls"]


def test_ingress_with_tls() -> None:
    ingress = next(o for o in render("ingress-tls.yaml") if o["kind"] == "Ingress")
    assert ingress["spec"]["tls"] == [{"hosts": ["den.example.gov.uk"], "secretName": "den-tls"}]
    assert ingress["spec"]["ingressClassName"] == "nginx"


def test_every_value_is_commented() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    uncommented = []
    for number, line in enumerate(lines):
        if re.match(r"^\s*[A-Za-z][\w-]*:", line):
            previous = next((p for p in reversed(lines[:number]) if p.strip()), "")
            if not previous.lstrip().startswith("#"):
                uncommented.append(f"values.yaml:{number + 1}: {line.strip()}")
    assert not uncommented


@pytest.mark.parametrize(
    ("sets", "named"),
    [
        ({"api.replica": "2"}, "replica"),
        ({"api.replicas": "0"}, "/api/replicas"),
        ({"reconciler.replicas": "0"}, "/reconciler/replicas"),
        ({"settings.DEN_LEADER_IDENTITY": "x"}, "settings.DEN_LEADER_IDENTITY is set by the chart"),
        ({"api.replicas": "2"}, "api.replicas > 1 needs PostgreSQL"),
        ({"image.tag": "latest"}, "/image/tag"),
        ({"bootstrapToken.value": "short"}, "/bootstrapToken/value"),
        ({"settings.DEN_DRIVER": "docker"}, "settings.DEN_DRIVER is set by the chart"),
        ({"settings.PATH": "/tmp"}, "'PATH' does not match pattern '^DEN_"),
        ({"instance": "Not_Valid"}, "/instance"),
        ({"database.url": "mysql://x"}, "/database/url"),
        ({"service.type": "ExternalName"}, "/service/type"),
        ({"sandboxDomain": "sb.example.net"}, "sandboxDomain needs publicUrl"),
        ({"oidc.issuer": "https://id.example/realms/den"}, "oidc.clientId is needed"),
        ({"oidc.issuer": "id.example"}, "/oidc/issuer"),
        ({"oidc.groups.staff.role": "root"}, "/oidc/groups/staff/role"),
        ({"settings.DEN_OIDC_ISSUER": "https://id.example"}, "settings.DEN_OIDC_ISSUER is set by"),
    ],
)
def test_bad_values_are_refused_naming_the_value(sets: dict[str, str], named: str) -> None:
    assert named in render_error(sets=sets)


# --- the cluster ---------------------------------------------------------------------------


@pytest.fixture
def namespace() -> Iterator[str]:
    name = "den-chart-dry-" + uuid.uuid4().hex[:6]
    restricted_namespace(name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.mark.parametrize("values", ["sqlite-try.yaml", "postgres.yaml"])
def test_server_side_dry_run_is_accepted_without_warnings(namespace: str, values: str) -> None:
    """Every rendered object passes the API server's validation and admission (Pod Security
    `restricted` enforced and warned on the namespace) without being created."""
    manifest = helm(
        "template",
        "den",
        str(CHART),
        "--namespace",
        namespace,
        "-f",
        str(ROOT / "tests" / "fixtures" / "helm" / values),
        "--set",
        f"instance=dry{namespace[-6:]}",
    ).stdout
    done = kubectl("apply", "--dry-run=server", "--namespace", namespace, "-f", "-", stdin=manifest)
    assert "Warning" not in done.stderr, done.stderr
    created = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(created) == len([d for d in manifest.split("\n---") if "kind:" in d])
    assert kubectl("get", "deployments", "-n", namespace, "-o", "name").stdout == ""


def _sandbox_answers(release: Release, trial: dict[str, Any]) -> None:
    """Each endpoint answers on its own origin, reached through the release's Service."""
    for url in trial["endpoints"].values():
        answer = sandbox_get(url, den=release.url, token=release.token, timeout=10)
        assert answer.status_code == 200, (url, answer.status_code)


def _pods_running(namespace: str, count: int) -> None:
    pods = json.loads(kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
    running = [p for p in pods if p["status"]["phase"] == "Running"]
    assert len(running) == count, [p["status"] for p in pods]


def _confined(release: Release, trial_namespace: str) -> None:
    """The orchestrator's ServiceAccount writes in its own trial namespaces, nowhere else."""
    account = f"system:serviceaccount:{release.namespace}:{release.fullname}"
    as_it = ["--as", account]
    attempts = {
        "deployment in default": [
            "create",
            "deployment",
            "x",
            "--image=innovation-den/base:bookworm",
            "-n",
            "default",
        ],
        "service in kube-system": ["create", "service", "clusterip", "x", "--tcp=80", "-n", "kube-system"],
        "unlabelled namespace": ["create", "namespace", f"den-{uuid.uuid4().hex[:12]}"],
        "the release's namespace": ["delete", "namespace", release.namespace, "--dry-run=server"],
        "secrets": ["get", "secrets", "-n", release.namespace],
        "configmap in its trial namespace": ["create", "configmap", "x", "-n", trial_namespace],
    }
    for what, argv in attempts.items():
        done = kubectl(*as_it, *argv, check=False)
        assert done.returncode != 0 and "forbidden" in done.stderr.lower(), (what, done.stderr)
    allowed = kubectl(
        *as_it, "create", "serviceaccount", "probe", "-n", trial_namespace, "--dry-run=server", check=False
    )
    assert allowed.returncode == 0, allowed.stderr


def _service(namespace: str, **spec: Any) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "x", "namespace": namespace},
            "spec": {"selector": {"a": "b"}, "ports": [{"port": 80}], **spec},
        }
    )


PROBE_IMAGE = "innovation-den/open-data-dashboard:1.0.0"


def _restricted_pod(namespace: str, script: str = "pass") -> str:
    limits = {"cpu": "100m", "memory": "64Mi", "ephemeral-storage": "16Mi"}
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "probe", "namespace": namespace},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        # A sandbox image (python3 inside): the test cluster
                        # holds only the images scripts/test loads into it.
                        "name": "probe",
                        "image": PROBE_IMAGE,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["python3", "-c", script],
                        "resources": {"requests": limits, "limits": limits},
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
            },
        }
    )


def _admission_refuses(release: Release, trial_namespace: str) -> None:
    """The chart's admission policies, as the orchestrator's ServiceAccount: no Service but a
    plain ClusterIP one, and no pod in a trial namespace before its quota and default deny."""
    as_it = ["--as", f"system:serviceaccount:{release.namespace}:{release.fullname}"]
    refused = {
        "must be of type ClusterIP": [{"type": "NodePort"}, {"type": "LoadBalancer"}],
        "must not have externalIPs": [{"externalIPs": ["203.0.113.7"]}],
    }
    for message, specs in refused.items():
        for spec in specs:
            done = kubectl(*as_it, "create", "-f", "-", check=False, stdin=_service(trial_namespace, **spec))
            assert done.returncode != 0 and message in done.stderr, (spec, done.stderr)
    bare = f"den-{uuid.uuid4().hex[:12]}"
    kubectl(
        *as_it,
        "create",
        "-f",
        "-",
        stdin=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": bare,
                    "labels": {
                        "innovation-den.io/managed-by": "innovation-den",
                        "innovation-den.io/instance": release.instance,
                        "pod-security.kubernetes.io/enforce": "restricted",
                    },
                },
            }
        ),
    )
    try:

        def pod() -> subprocess.CompletedProcess[str]:
            return kubectl("create", "--dry-run=server", "-f", "-", check=False, stdin=_restricted_pod(bare))

        done = pod()
        assert done.returncode != 0 and "no params found" in done.stderr, done.stderr
        assert "-needs-quota" in done.stderr, done.stderr
        quota = {
            "pods": "2",
            "requests.cpu": "1",
            "limits.cpu": "1",
            "requests.memory": "1Gi",
            "limits.memory": "1Gi",
            "requests.ephemeral-storage": "1Gi",
            "limits.ephemeral-storage": "1Gi",
        }
        kubectl(
            *as_it,
            "create",
            "-f",
            "-",
            stdin=json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "ResourceQuota",
                    "metadata": {"name": "den-quota", "namespace": bare},
                    "spec": {"hard": quota},
                }
            ),
        )
        done = pod()  # a quota that lets NodePorts through is no trial's quota
        assert done.returncode != 0 and "until its ResourceQuota den-quota" in done.stderr
    finally:
        kubectl("delete", "namespace", bare, "--wait=false", check=False)


CONNECT = """
import socket, time
time.sleep(8)  # kube-router programs a new pod's chains a moment after it starts
try:
    socket.create_connection(({host!r}, {port}), timeout=3).close()
    print("open")
except OSError:
    print("closed")
"""


def _reach(namespace: str, host: str, port: int) -> str:
    """'open' or 'closed': a TCP connection from a new pod in `namespace`."""
    kubectl("create", "-f", "-", stdin=_restricted_pod(namespace, CONNECT.format(host=host, port=port)))
    try:
        kubectl(
            "wait", "pod/probe", "-n", namespace, "--timeout=90s", "--for=jsonpath={.status.phase}=Succeeded"
        )
        return kubectl("logs", "probe", "-n", namespace).stdout.strip()
    finally:
        kubectl("delete", "pod", "probe", "-n", namespace, "--wait=false", check=False)


def _closed_to_sandboxes(release: Release) -> None:
    """A pod in a trial-labelled namespace (with no egress policy of its own, as if a trial
    declared egress to the whole pod network) cannot reach the API pod; a pod elsewhere can."""
    pods = json.loads(
        kubectl(
            "get", "pods", "-n", release.namespace, "-l", "app.kubernetes.io/component=api", "-o", "json"
        ).stdout
    )["items"]
    api_ip = pods[0]["status"]["podIP"]
    sandbox = f"den-np-{uuid.uuid4().hex[:8]}"
    restricted_namespace(sandbox)
    kubectl(
        "label",
        "namespace",
        sandbox,
        "innovation-den.io/managed-by=innovation-den",
        f"innovation-den.io/instance=np{uuid.uuid4().hex[:6]}",
    )
    try:
        assert _reach(sandbox, api_ip, 8000) == "closed"
        assert _reach(release.namespace, api_ip, 8000) == "open"
    finally:
        kubectl("delete", "namespace", sandbox, "--wait=false", check=False)


def _api_reads_only(release: Release) -> None:
    """The API pods' own ServiceAccount reads pods, their logs and nodes, and writes nothing."""
    account = f"system:serviceaccount:{release.namespace}:{release.fullname}-api"
    pods = json.loads(
        kubectl(
            "get", "pods", "-n", release.namespace, "-l", "app.kubernetes.io/component=api", "-o", "json"
        ).stdout
    )["items"]
    assert {p["spec"]["serviceAccountName"] for p in pods} == {f"{release.fullname}-api"}
    for verb, resource, answer in [
        ("create", "namespaces", "no"),
        ("create", "pods", "no"),
        ("create", "services", "no"),
        ("create", "deployments.apps", "no"),
        ("delete", "namespaces", "no"),
        ("get", "secrets", "no"),
        ("watch", "pods", "no"),
        ("get", "pods/log", "yes"),
        ("list", "pods", "yes"),
        ("list", "nodes", "yes"),
    ]:
        done = kubectl("auth", "can-i", verb, resource, "--all-namespaces", "--as", account, check=False)
        assert done.stdout.strip() == answer, (verb, resource, done.stdout, done.stderr)
    done = kubectl("--as", account, "create", "namespace", f"den-{uuid.uuid4().hex[:12]}", check=False)
    assert done.returncode != 0 and "forbidden" in done.stderr.lower(), done.stderr


def _why_left(release: Release, namespaces: list[str], uninstalled: str) -> str:
    """What a failed uninstall left, and what its hook (`denctl delete trials --all --wait`)
    and the trials' namespaces said."""
    said = [uninstalled]
    for namespace in namespaces:
        said.append(kubectl("get", "namespace", namespace, "-o", "yaml", check=False).stdout[-1500:])
        said.append(kubectl("get", "pods", "-n", namespace, "-o", "wide", check=False).stdout)
    for pod in kubectl("get", "pods", "-n", release.namespace, "-o", "name", check=False).stdout.split():
        said.append(
            f"{pod}:\n" + kubectl("logs", "-n", release.namespace, pod, "--tail", "60", check=False).stdout
        )
    said.append(kubectl("get", "jobs,events", "-n", release.namespace, check=False).stdout[-3000:])
    return "\n".join(said)


def _nothing_left(release: Release, uninstalled: str = "") -> None:
    """After `helm uninstall`: no trial namespace, no cluster-wide object, nothing in the
    release's namespace but what Kubernetes puts in every namespace."""
    left = release.trial_namespaces()
    assert left == [], _why_left(release, left, uninstalled)
    selector = f"app.kubernetes.io/instance={release.name}"
    for kind in (
        "clusterroles",
        "clusterrolebindings",
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
    ):
        assert kubectl("get", kind, "-l", selector, "-o", "name").stdout == "", kind
    wait_until(
        "the release's pods gone",
        lambda: kubectl("get", "pods", "-n", release.namespace, "-o", "name").stdout == "",
    )
    left = kubectl(
        "get", "all,configmaps,secrets,serviceaccounts,jobs,pvc", "-n", release.namespace, "-o", "name"
    ).stdout.split()
    assert sorted(left) == ["configmap/kube-root-ca.crt", "serviceaccount/default"], left


def test_install_sqlite_trial_expires_and_uninstall_leaves_nothing() -> None:
    release = Release(
        name="chart-sqlite", namespace="den-chart-" + uuid.uuid4().hex[:6], values=["sqlite-try.yaml"]
    )
    try:
        release.install()
        with release.api() as api:
            created = api.post(
                "/api/v1/trials",
                json={
                    "template": "open-data-dashboard",
                    "title": "Chart",
                    "hypothesis": "It installs",
                    "duration_seconds": 20,
                },
            )
            assert created.status_code == 201, created.text
            trial = wait_for_phase(api, created.json()["id"], "Ready", timeout=90)
            trial_namespace = f"den-{trial['id']}"
            assert release.trial_namespaces() == [trial_namespace]
            _pods_running(trial_namespace, 1)
            _sandbox_answers(release, trial)
            _confined(release, trial_namespace)
            _admission_refuses(release, trial_namespace)
            _closed_to_sandboxes(release)
            policies = json.loads(
                kubectl(
                    "get",
                    "validatingadmissionpolicies",
                    "-l",
                    f"app.kubernetes.io/instance={release.name}",
                    "-o",
                    "json",
                ).stdout
            )["items"]
            assert len(policies) == 2
            for policy in policies:
                checked = policy.get("status", {}).get("typeChecking", {})
                assert not checked.get("expressionWarnings"), checked
            stopped = wait_for_phase(api, trial["id"], "Stopped", timeout=90)
            assert stopped["reason"] == "Expired"
            assert release.trial_namespaces() == []
            # A trial still running when the release is uninstalled is ended first.
            running = api.post(
                "/api/v1/trials",
                json={
                    "template": "citizen-enquiry-assistant",
                    "title": "Left running",
                    "hypothesis": "Uninstall ends it",
                    "duration_seconds": 3600,
                },
            )
            assert running.status_code == 201, running.text
            wait_for_phase(api, running.json()["id"], "Ready", timeout=90)
        _nothing_left(release, release.uninstall())
    finally:
        release.remove()


@pytest.fixture
def chart_database() -> Iterator[str]:
    """A fresh database on a PostgreSQL server that the cluster's pods reach with a password."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "ensure-postgres")],
        capture_output=True,
        text=True,
        env={
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "DEN_TEST_PG_PORT": CHART_PG_PORT,
            "DEN_TEST_PG_DIR": "/var/lib/innovation-den/pg-chart",
            "DEN_TEST_PG_LISTEN": HOST_ADDRESS,
            "DEN_TEST_PG_CLIENTS": POD_SOURCES,
            "DEN_TEST_PG_PASSWORD": CHART_PG_PASSWORD,
        },
    )
    require(done.returncode == 0, f"PostgreSQL for the chart ({done.stderr.strip()})")
    local = _fresh_postgres(done.stdout.strip())
    name = local.rsplit("/", 1)[1]
    yield f"postgresql+psycopg://postgres:{CHART_PG_PASSWORD}@{HOST_ADDRESS}:{CHART_PG_PORT}/{name}"
    engine = sqlalchemy.create_engine(local.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def test_install_postgres_two_api_replicas_and_two_reconcilers(chart_database: str) -> None:
    release = Release(
        name="chart-pg",
        namespace="den-chart-" + uuid.uuid4().hex[:6],
        values=["postgres.yaml"],
        sets={"database.url": chart_database},
    )
    try:
        release.install()
        pods = json.loads(kubectl("get", "pods", "-n", release.namespace, "-o", "json").stdout)
        components = sorted(p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pods["items"])
        assert components == ["api", "api", "reconciler", "reconciler"]
        healths = [
            f"http://{p['status']['podIP']}:8001"
            for p in pods["items"]
            if p["metadata"]["labels"]["app.kubernetes.io/component"] == "reconciler"
        ]
        for health in healths:
            assert httpx.get(f"{health}/healthz", timeout=5).json()["status"] == "alive"
            assert httpx.get(f"{health}/readyz", timeout=5).status_code == 200
        # One leads, the other stands by; both are healthy and ready.
        wait_until(
            "exactly one reconciler leading",
            lambda: (
                sorted(httpx.get(f"{h}/readyz", timeout=5).json()["leader"] for h in healths) == [False, True]
            ),
            timeout=30,
        )
        with release.api() as api:
            created = api.post(
                "/api/v1/trials",
                json={
                    "template": "case-management-prototype",
                    "title": "Chart on PostgreSQL",
                    "hypothesis": "Both components start",
                    "duration_seconds": 600,
                },
            )
            assert created.status_code == 201, created.text
            trial = wait_for_phase(api, created.json()["id"], "Ready", timeout=120)
            _pods_running(f"den-{trial['id']}", 2)
            _sandbox_answers(release, trial)
        _api_reads_only(release)
        # An upgrade that changes a setting rolls every pod; the token, the records and the
        # running trial survive it.
        token = release.token
        release.upgrade({"settings.DEN_LOG_LEVEL": "DEBUG"})
        assert release.token == token
        with release.api() as api:
            assert wait_for_phase(api, trial["id"], "Ready")["endpoints"] == trial["endpoints"]
            _sandbox_answers(release, trial)
            assert api.post(f"/api/v1/trials/{trial['id']}/end").status_code in (200, 202)
            stopped = wait_for_phase(api, trial["id"], "Stopped", timeout=120)
            assert stopped["reason"] == "UserRequested"
            assert release.trial_namespaces() == []
        _nothing_left(release, release.uninstall())
        # The records outlive the release: they are in the external database.
        local = chart_database.replace(f"postgres:{CHART_PG_PASSWORD}@{HOST_ADDRESS}", "postgres@127.0.0.1")
        engine = sqlalchemy.create_engine(local)
        with engine.connect() as connection:
            phase = connection.execute(
                sqlalchemy.text("SELECT phase FROM trial WHERE id = :id"), {"id": trial["id"]}
            ).scalar_one()
        engine.dispose()
        assert phase == "Stopped"
    finally:
        release.remove()
