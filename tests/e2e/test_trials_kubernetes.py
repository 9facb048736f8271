"""End to end through the REST API on the real Kubernetes test cluster (scripts/testbed).

Pods really run the bundled templates' images; endpoints answer through the orchestrator; a
trial's namespace is gone when it ends or expires; Pod Security admission refuses a pod that
breaks `restricted` even when applied directly, past the orchestrator's own checks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from orchestrator.catalogue import iter_bundled
from tests.e2e.cluster import den_settings, kubeconfig
from tests.e2e.server import Server, on_kubernetes
from tests.unit.test_catalogue import GOOD

pytestmark = pytest.mark.kubernetes
IMAGES = {
    m.metadata.name: {c.image for c in m.spec.components}
    for _, m in iter_bundled(Path(__file__).resolve().parents[2] / "sandbox_templates")
}


@pytest.fixture(scope="module")
def core() -> Iterator[Any]:
    api = k8s_config.new_client_from_config(config_file=kubeconfig())
    yield k8s.CoreV1Api(api)
    api.close()


@pytest.fixture
def server(tmp_path: Path, core: Any) -> Iterator[Server]:
    env = den_settings()
    with on_kubernetes(tmp_path, core, env) as running:
        yield running


def namespace_gone(core: Any, trial_id: str, within: float = 90) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            core.read_namespace(f"den-{trial_id}")
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        time.sleep(0.5)
    return False


@pytest.mark.parametrize("template", ["open-data-dashboard", "case-management-prototype"])
def test_pods_run_the_bundled_images_and_answer_then_ending_removes_the_namespace(
    server: Server, core: Any, template: str
) -> None:
    trial = server.launch(template)
    ready = server.wait_for(trial["id"], "Ready", timeout=120)
    pods = core.list_namespaced_pod(f"den-{trial['id']}").items
    assert {p.spec.containers[0].image for p in pods} == IMAGES[template]
    assert all(p.status.phase == "Running" for p in pods)
    for url in ready["endpoints"].values():
        assert server.sandbox_get(url, timeout=10).status_code == 200, url
    assert server.call("POST", f"/api/v1/trials/{trial['id']}/end").status_code == 202
    stopped = server.wait_for(trial["id"], "Stopped", timeout=120)
    assert stopped["reason"] == "UserRequested"
    assert namespace_gone(core, trial["id"], within=1), "Stopped only once the namespace is gone"


def test_expiry_removes_the_namespace_on_time(server: Server, core: Any) -> None:
    trial = server.launch("open-data-dashboard", duration=15)
    server.wait_for(trial["id"], "Ready", timeout=60)
    stopped = server.wait_for(trial["id"], "Stopped", timeout=120)
    assert stopped["reason"] == "Expired"
    stopping = next(e for e in server.events(trial["id"]) if e["phase"] == "Stopping")
    delay = (
        datetime.fromisoformat(stopping["at"]) - datetime.fromisoformat(stopped["expires_at"])
    ).total_seconds()
    assert 0 <= delay <= 2, f"teardown started {delay:.2f} s after expires_at"
    assert namespace_gone(core, trial["id"], within=1)


def test_a_privileged_template_is_refused_before_anything_reaches_the_cluster(
    server: Server, core: Any
) -> None:
    before = {n.metadata.name for n in core.list_namespace().items}
    bad = {**GOOD, "metadata": {**GOOD["metadata"], "name": "evil", "supplier": "civic-insight"}}
    bad["spec"] = {
        **GOOD["spec"],
        "components": [{**GOOD["spec"]["components"][0], "privileged": True, "hostNetwork": True}],
    }
    answer = server.call("POST", "/api/v1/templates", json=bad)
    assert answer.status_code == 422
    assert {p["field"] for p in answer.json()["problems"]} == {
        "spec.components.0.privileged",
        "spec.components.0.hostNetwork",
    }
    assert {n.metadata.name for n in core.list_namespace().items} == before


@pytest.mark.parametrize(
    "breach",
    [
        {"securityContext": {"privileged": True}},
        {"securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}},
    ],
)
def test_pod_security_admission_refuses_a_bad_pod_applied_directly(
    server: Server, core: Any, breach: dict[str, Any]
) -> None:
    trial = server.launch("open-data-dashboard")
    server.wait_for(trial["id"], "Ready", timeout=60)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "intruder"},
        "spec": {
            "containers": [{"name": "x", "image": "innovation-den/open-data-dashboard:1.0.0", **breach}]
        },
    }
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(f"den-{trial['id']}", pod)
    assert refused.value.status == 403
    assert "PodSecurity" in refused.value.body
    host_path = {**pod, "spec": {**pod["spec"], "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}}
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(f"den-{trial['id']}", host_path)
    assert refused.value.status == 403
