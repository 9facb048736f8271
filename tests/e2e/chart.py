"""The Helm chart under test: the helm binary, rendering, and a release on the cluster.

`scripts/test` builds helm from Go modules (`scripts/ensure-helm`) and the orchestrator image
(`scripts/image`, loaded into the cluster's nodes), and exports DEN_TEST_HELM and
DEN_TEST_ORCHESTRATOR_IMAGE; a run without them fails in CI (never skips).
"""

from __future__ import annotations

import base64
import glob
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import yaml

from tests.conftest import ROOT, require
from tests.e2e.cluster import host_cidr, kubeconfig

CHART = ROOT / "charts" / "innovation-den"
VALUES = ROOT / "tests" / "fixtures" / "helm"


def helm_binary() -> str:
    path = os.environ.get("DEN_TEST_HELM", "")
    require(bool(path) and os.access(path, os.X_OK), "helm (scripts/ensure-helm)")
    return path


def kubectl_binary() -> str:
    """The test cluster's own kubectl (scripts/testbed caches it beside the other binaries; it
    drives kind's cluster as well)."""
    found = (
        os.environ.get("DEN_TEST_KUBECTL")
        or next(iter(sorted(glob.glob("/var/cache/innovation-den/k8s/v*/bin/kubectl"))), "")
        or shutil.which("kubectl")
        or ""
    )
    require(bool(found), "kubectl (scripts/testbed up)")
    return found


def orchestrator_image() -> tuple[str, str]:
    """(repository, tag) of the image scripts/image built and loaded into the test cluster."""
    image = os.environ.get("DEN_TEST_ORCHESTRATOR_IMAGE", "")
    require(bool(image), "the orchestrator image (scripts/image)")
    repository, _, tag = image.rpartition(":")
    return repository, tag


def run(
    argv: list[str], *, check: bool = True, stdin: str | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=timeout,
        env={**os.environ, "KUBECONFIG": kubeconfig()},
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}\n{done.stdout}")
    return done


def helm(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return run([helm_binary(), *args], check=check, timeout=timeout)


def kubectl(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return run([kubectl_binary(), *args], check=check, stdin=stdin)


def value_args(values: list[str], sets: dict[str, str] | None = None) -> list[str]:
    args: list[str] = []
    for name in values:
        args += ["-f", str(VALUES / name)]
    for key, value in (sets or {}).items():
        args += ["--set-string" if key.startswith("settings.") else "--set", f"{key}={value}"]
    return args


def render(
    *values: str, sets: dict[str, str] | None = None, namespace: str = "den-system"
) -> list[dict[str, Any]]:
    """`helm template` as a list of objects."""
    out = helm(
        "template", "den", str(CHART), "--namespace", namespace, *value_args(list(values), sets)
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def render_error(*values: str, sets: dict[str, str] | None = None) -> str:
    """What `helm template` says when it refuses the values (it must refuse them)."""
    done = helm("template", "den", str(CHART), *value_args(list(values), sets), check=False)
    assert done.returncode != 0, f"helm accepted the values:\n{done.stdout[:2000]}"
    return done.stderr


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            yield f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]["spec"]


def restricted_namespace(name: str) -> None:
    """The release's namespace, enforcing Pod Security `restricted` like a careful cluster."""
    kubectl("create", "namespace", name)
    kubectl(
        "label",
        "namespace",
        name,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    )


def host_peers() -> dict[str, str]:
    """`networkPolicy.apiFrom` and `healthFrom` for the host's addresses, as an operator
    reaching the release from outside the cluster sets them: the tests call a release's
    ClusterIP and its reconcilers' health port from the host. On one node that traffic comes
    from the node itself, which NetworkPolicy lets through anyway; on kind it reaches a worker's
    pod from another address (the host's, or the control-plane node's, which masquerades a
    ClusterIP call)."""
    cidrs = [c.strip() for c in host_cidr().split(",") if c.strip()]
    return {
        f"networkPolicy.{value}[{i}].ipBlock.cidr": cidr
        for value in ("apiFrom", "healthFrom")
        for i, cidr in enumerate(cidrs)
    }


@dataclass
class Release:
    """A real `helm install` of the chart on the cluster (tests/e2e/cluster.py), in a namespace
    of its own."""

    name: str
    namespace: str
    values: list[str]
    sets: dict[str, str] = field(default_factory=dict)

    def install(self) -> Release:
        restricted_namespace(self.namespace)
        repository, tag = orchestrator_image()
        helm(
            "install",
            self.name,
            str(CHART),
            "--namespace",
            self.namespace,
            "--wait",
            "--timeout",
            "180s",
            *value_args(
                self.values,
                {"image.repository": repository, "image.tag": tag, **host_peers(), **self.sets},
            ),
        )
        return self

    def upgrade(self, sets: dict[str, str]) -> None:
        """`helm upgrade --reuse-values` with more values, waiting for every pod to roll."""
        self.sets.update(sets)
        helm(
            "upgrade",
            self.name,
            str(CHART),
            "--namespace",
            self.namespace,
            "--reuse-values",
            "--wait",
            "--timeout",
            "180s",
            *value_args([], sets),
        )
        for deployment in kubectl("get", "deployments", "-n", self.namespace, "-o", "name").stdout.split():
            kubectl("rollout", "status", deployment, "-n", self.namespace, "--timeout=180s")

    @property
    def fullname(self) -> str:
        return f"{self.name}-innovation-den"

    @property
    def instance(self) -> str:
        return self.sets.get("instance", self.name)

    @property
    def url(self) -> str:
        service = json.loads(
            kubectl("get", "service", self.fullname, "-n", self.namespace, "-o", "json").stdout
        )
        return f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}"

    @property
    def token(self) -> str:
        secret = json.loads(
            kubectl("get", "secret", f"{self.fullname}-settings", "-n", self.namespace, "-o", "json").stdout
        )
        return base64.b64decode(secret["data"]["bootstrap-admin-token"]).decode()

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=15, headers={"Authorization": f"Bearer {self.token}"})

    def uninstall(self) -> str:
        """`helm uninstall`; what it printed (a test that finds something left shows it)."""
        done = helm(
            "uninstall", self.name, "--namespace", self.namespace, "--wait", "--timeout", "300s", check=False
        )
        return f"helm uninstall exited {done.returncode}: {done.stdout}{done.stderr}"

    def trial_namespaces(self) -> list[str]:
        out = kubectl(
            "get", "namespaces", "-l", f"innovation-den.io/instance={self.instance}", "-o", "name"
        ).stdout
        return [line.removeprefix("namespace/") for line in out.split()]

    def remove(self) -> None:
        """Whatever a failed test left: the release, its trials' namespaces, its namespace."""
        if helm("status", self.name, "--namespace", self.namespace, check=False).returncode == 0:
            self.uninstall()
        for namespace in self.trial_namespaces():
            kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        kubectl(
            "delete",
            "namespace",
            self.namespace,
            "--ignore-not-found",
            "--wait=true",
            "--timeout=120s",
            check=False,
        )


def wait_for_phase(api: httpx.Client, trial_id: str, *phases: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    trial: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = api.get(f"/api/v1/trials/{trial_id}")
        assert answer.status_code == 200, answer.text
        trial = answer.json()
        if trial["phase"] in phases:
            return trial
        time.sleep(0.5)
    raise AssertionError(f"trial {trial_id} not {phases} after {timeout} s: {trial}")


def wait_until(what: str, check: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    raise AssertionError(f"{what}: not after {timeout} s")
