"""End to end through the REST API, on the real Docker engine, with a real server process.

Never skipped: scripts/test starts the engine and builds the bundled images first. Every test
checks the promise a user would notice: the sandbox answers, and when it ends nothing labelled
with the trial is left in the engine, whatever was killed on the way.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import httpx
import pytest

from orchestrator.drivers.base import INSTANCE_LABEL, TRIAL_LABEL
from tests.e2e.engine import leftovers, remove_instance
from tests.e2e.server import Server

pytestmark = pytest.mark.docker


@pytest.fixture
def server(tmp_path: Path, engine_client: Any) -> Iterator[Server]:
    running = Server(data_dir=tmp_path).start()
    yield running
    running.stop()
    remove_instance(engine_client, running.instance)


def answers_200(server: Server, url: str) -> bool:
    """The sandbox at `url` (its own origin) answers a script with the admin's token."""
    try:
        return server.sandbox_get(url).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize(
    "template", ["open-data-dashboard", "citizen-enquiry-assistant", "case-management-prototype"]
)
def test_launch_reach_ready_endpoints_answer_then_end_early_leaves_nothing(
    server: Server, engine_client: Any, template: str
) -> None:
    trial = server.launch(template)
    ready = server.wait_for(trial["id"], "Ready")
    assert ready["endpoints"], ready
    for name, url in ready["endpoints"].items():
        assert url == f"http://{trial['id']}-{name}.sandbox.localhost:{server.port}/", url
        assert answers_200(server, url), url
        # Without a token or a sandbox session: sent to the den's open page, no workload.
        unknown = httpx.get(f"{server.url}/", headers={"host": urlsplit(url).netloc}, timeout=5)
        assert unknown.status_code == 303 and "/open/" in unknown.headers["location"]
    assert server.call("POST", f"/api/v1/trials/{trial['id']}/end").status_code == 202
    stopped = server.wait_for(trial["id"], "Stopped", timeout=60)
    assert stopped["reason"] == "UserRequested" and stopped["endpoints"] == {}
    assert leftovers(engine_client, trial["id"]) == []
    for url in ready["endpoints"].values():
        assert not answers_200(server, url)
    phases = [e["phase"] for e in server.events(trial["id"]) if e["kind"] == "Transition"]
    assert phases == ["Requested", "Provisioning", "Ready", "Stopping", "Stopped"]


def test_the_case_management_web_component_shows_cases_from_its_api(server: Server) -> None:
    trial = server.launch("case-management-prototype")
    ready = server.wait_for(trial["id"], "Ready")
    assert set(ready["endpoints"]) == {"web"}  # the api component is not exposed
    page = server.sandbox_get(ready["endpoints"]["web"]).text
    assert "case" in page.lower()


def test_a_ten_second_trial_expires_within_two_seconds_of_expires_at(
    server: Server, engine_client: Any
) -> None:
    trial = server.launch("open-data-dashboard", duration=10)
    server.wait_for(trial["id"], "Ready")
    stopped = server.wait_for(trial["id"], "Stopped", timeout=40)
    assert stopped["reason"] == "Expired"
    expires_at = datetime.fromisoformat(stopped["expires_at"])
    stopping = next(e for e in server.events(trial["id"]) if e["phase"] == "Stopping")
    delay = (datetime.fromisoformat(stopping["at"]) - expires_at).total_seconds()
    assert 0 <= delay <= 2, f"teardown started {delay:.2f} s after expires_at"
    assert leftovers(engine_client, trial["id"]) == []


def test_kill_during_provisioning_then_restart_converges_with_no_orphans(
    server: Server, engine_client: Any
) -> None:
    trial = server.launch("case-management-prototype")
    time.sleep(random.uniform(0.0, 0.4))  # somewhere inside the start of the sandbox
    server.kill()
    server.start()
    ready = server.wait_for(trial["id"], "Ready")
    assert all(answers_200(server, url) for url in ready["endpoints"].values())
    server.call("POST", f"/api/v1/trials/{trial['id']}/end")
    server.wait_for(trial["id"], "Stopped")
    assert leftovers(engine_client, trial["id"]) == []


def test_kill_during_teardown_then_restart_finishes_it(server: Server, engine_client: Any) -> None:
    trial = server.launch("case-management-prototype")
    server.wait_for(trial["id"], "Ready")
    server.call("POST", f"/api/v1/trials/{trial['id']}/end")
    time.sleep(random.uniform(0.0, 0.3))
    server.kill()
    server.start()
    stopped = server.wait_for(trial["id"], "Stopped")
    assert stopped["reason"] == "UserRequested"
    assert leftovers(engine_client, trial["id"]) == []


def test_resources_removed_behind_our_back_end_the_trial_as_runtime_missing(
    server: Server, engine_client: Any, tmp_path: Path
) -> None:
    trial = server.launch("open-data-dashboard")
    server.wait_for(trial["id"], "Ready")
    server.stop()
    for container in engine_client.containers.list(
        all=True, filters={"label": f"{TRIAL_LABEL}={trial['id']}"}
    ):
        container.remove(force=True)
    server.start()
    stopped = server.wait_for(trial["id"], "Stopped")
    assert stopped["reason"] == "RuntimeMissing"
    assert leftovers(engine_client, trial["id"]) == []


def test_orphans_of_no_live_trial_are_swept_at_start(server: Server, engine_client: Any) -> None:
    server.stop()
    orphan = engine_client.containers.create(
        "innovation-den/base:bookworm",
        ["sleep", "600"],
        name="den-torphan00000-web",
        labels={TRIAL_LABEL: "torphan00000", INSTANCE_LABEL: server.instance},
    )
    try:
        server.start()
        deadline = time.monotonic() + 30
        while leftovers(engine_client, "torphan00000") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert leftovers(engine_client, "torphan00000") == []
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            orphan.remove(force=True)


def test_the_engine_going_away_and_back_is_survived(server: Server) -> None:
    """The API keeps serving while the runtime is unreachable (simulated by a bad DOCKER_HOST),
    and trials wait rather than fail."""
    server.stop()
    server.env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    server.start()
    trial = server.launch("open-data-dashboard")
    time.sleep(2)
    assert server.trial(trial["id"])["phase"] in ("Requested", "Provisioning")
    assert server.call("GET", "/readyz").status_code == 200
    server.stop()
    del server.env["DOCKER_HOST"]
    server.start()
    server.wait_for(trial["id"], "Ready")
