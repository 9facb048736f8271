"""Review on Kubernetes: publishing a version pins each image to the digest the cluster's nodes
hold under its tag, and the version's pods run `name@sha256:...`, whatever the tag names later.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.e2e.server import ROOT, Server
from tests.e2e.test_trials_kubernetes import core, server  # the same cluster and den

pytestmark = pytest.mark.kubernetes
TEMPLATE = "open-data-dashboard"
__all__ = ["core", "server"]  # fixtures, used by name


def node_digests(core: Any, image: str) -> set[str]:
    """The digests the nodes report for `image` (by its tag)."""
    wanted = f"docker.io/{image}"
    found = set()
    for node in core.list_node().items:
        for held in node.status.images or []:
            names = held.names or []
            if wanted in names:
                found.update(n.split("@", 1)[1] for n in names if "@sha256:" in n)
    return found


def test_publishing_pins_the_nodes_digest_and_pods_run_it(server: Server, core: Any) -> None:
    manifest = yaml.safe_load((ROOT / "sandbox_templates" / TEMPLATE / "template.yaml").read_text())
    manifest["metadata"]["version"] = "5.0.0"
    image = manifest["spec"]["components"][0]["image"]
    sent = server.call("POST", "/api/v1/templates", json=manifest)
    assert sent.status_code == 201 and sent.json()["status"] == "PendingReview", sent.text
    published = server.call(
        "POST",
        f"/api/v1/templates/{TEMPLATE}/versions/5.0.0/status",
        json={"status": "Published", "reason": "reviewed"},
    )
    assert published.status_code == 200, published.text
    pinned = published.json()["pinned_images"]["web"]
    repository, _, digest = pinned.partition("@")
    assert repository == image.split(":")[0] and digest.startswith("sha256:")
    assert digest in node_digests(core, image)
    trial = server.launch(f"{TEMPLATE}@5.0.0")
    server.wait_for(trial["id"], "Ready", timeout=120)
    pods = core.list_namespaced_pod(f"den-{trial['id']}").items
    assert [p.spec.containers[0].image for p in pods] == [pinned]
    assert server.call("POST", f"/api/v1/trials/{trial['id']}/end").status_code == 202


def test_an_image_no_node_holds_cannot_be_published(server: Server) -> None:
    manifest = yaml.safe_load((ROOT / "sandbox_templates" / TEMPLATE / "template.yaml").read_text())
    manifest["metadata"]["version"] = "5.0.1"
    manifest["spec"]["components"][0]["image"] = "innovation-den/nowhere:1.0.0"
    assert server.call("POST", "/api/v1/templates", json=manifest).status_code == 201
    refused = server.call(
        "POST",
        f"/api/v1/templates/{TEMPLATE}/versions/5.0.1/status",
        json={"status": "Published", "reason": "reviewed"},
    )
    assert refused.status_code == 422 and refused.json()["reason"] == "ImageMissing"
    assert "innovation-den/nowhere:1.0.0" in refused.json()["detail"]
    detail = server.call("GET", f"/api/v1/templates/{TEMPLATE}").json()
    assert {v["version"]: v["status"] for v in detail["versions"]}["5.0.1"] == "PendingReview"
