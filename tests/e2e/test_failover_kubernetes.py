"""Failover on the test cluster, with the chart's two reconciler replicas (PostgreSQL), while
trials run and one is due to expire each time (measured and printed):

1. the pod holding the Lease is deleted with `--grace-period=0 --force`: the other pod takes
   the Lease within 15 s, the trial due meanwhile is torn down, the replacement pod stands by;
2. the new leader's process is frozen (SIGSTOP from the node: a hung process, a paused
   machine; it cannot give the Lease up, and the kubelet does not restart it): its Lease runs
   out and the replacement pod takes it within 15 s, the trial due meanwhile is torn down,
   and the old leader, thawed, finds it lost its lead and does not act.

Then the trial still running is ended, and nothing is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client, config

from tests.e2e.chart import Release, kubectl, wait_for_phase, wait_until
from tests.e2e.cluster import kubeconfig
from tests.e2e.test_helm import chart_database  # noqa: F401 (a fixture)

pytestmark = pytest.mark.kubernetes
TAKEOVER_LIMIT = 15.0


def _reconciler_pods(release: Release) -> list[str]:
    """Names of the release's reconciler pods that run and are not being deleted."""
    pods = json.loads(
        kubectl(
            "get",
            "pods",
            "-n",
            release.namespace,
            "-l",
            "app.kubernetes.io/component=reconciler",
            "-o",
            "json",
        ).stdout
    )
    return sorted(
        p["metadata"]["name"]
        for p in pods["items"]
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    )


def _trial(api: Any, duration: int) -> dict[str, Any]:
    created = api.post(
        "/api/v1/trials",
        json={
            "template": "open-data-dashboard",
            "title": "Failover",
            "hypothesis": "It survives",
            "duration_seconds": duration,
        },
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def _signal(pod: str, signal_number: int) -> None:
    """Signal the reconciler process of `pod` from the node (the test cluster's one node is
    this machine)."""
    needle = f"\0POD_NAME={pod}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            ours = entry.name.isdigit() and needle in b"\0" + (entry / "environ").read_bytes()
            ours = ours and b"reconcile" in (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if ours:
            os.kill(int(entry.name), signal_number)
            found.append(entry.name)
    assert found, f"no process of pod {pod} on this machine"


def _leads(pod: str, namespace: str, *, within: float = 60) -> bool:
    """What the pod's /readyz says. A process thawed after a long freeze may have been
    restarted meanwhile by its liveness probe: its health server is then answered again once
    it is back (refused connections until then are waited out)."""
    deadline = time.monotonic() + within
    while True:
        ip = json.loads(kubectl("get", "pod", pod, "-n", namespace, "-o", "json").stdout)
        try:
            answer = httpx.get(f"http://{ip['status']['podIP']}:8001/readyz", timeout=5)
            return bool(answer.json()["leader"])
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _teardown_delay(api: Any, trial: dict[str, Any]) -> float:
    """Seconds from the trial's `expires_at` to its teardown starting, once it is Stopped."""
    assert wait_for_phase(api, trial["id"], "Stopped", timeout=120)["reason"] == "Expired"
    events = api.get(f"/api/v1/trials/{trial['id']}/events").json()["items"]
    stopping = next(
        datetime.fromisoformat(e["at"])
        for e in events
        if e["kind"] == "Transition" and e["phase"] == "Stopping"
    )
    return (stopping - datetime.fromisoformat(trial["expires_at"])).total_seconds()


def _sleep_until_just_before(trial: dict[str, Any], ahead: float = 2.0) -> None:
    due = datetime.fromisoformat(trial["expires_at"])
    time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds() - ahead))


def test_the_standby_pod_takes_the_lease_when_the_leader_pod_is_force_deleted(chart_database: str) -> None:  # noqa: F811
    release = Release(
        name="chart-ha",
        namespace="den-ha-" + uuid.uuid4().hex[:6],
        values=["postgres.yaml"],
        sets={"database.url": chart_database},
    )
    leases = client.CoordinationV1Api(config.new_client_from_config(config_file=kubeconfig()))

    def lease() -> Any:
        return leases.read_namespaced_lease(f"den-leader-{release.instance}", release.namespace)

    def holder() -> str:
        return str(lease().spec.holder_identity or "")

    try:
        release.install()
        wait_until("two reconcilers running", lambda: len(_reconciler_pods(release)) == 2)
        wait_until("one of them holding the Lease", lambda: holder() in _reconciler_pods(release), timeout=60)
        leader = holder()
        (standby,) = set(_reconciler_pods(release)) - {leader}
        with release.api() as api:
            running = _trial(api, 600)
            expiring = _trial(api, 60)
            for trial in (running, expiring):
                wait_for_phase(api, trial["id"], "Ready", timeout=120)
            _sleep_until_just_before(expiring)

            killed = time.monotonic()
            kubectl("delete", "pod", leader, "-n", release.namespace, "--grace-period=0", "--force")
            while holder() != standby:
                assert time.monotonic() - killed < 60, f"the Lease is still {holder()!r}"
                time.sleep(0.1)
            took = time.monotonic() - killed
            late = _teardown_delay(api, expiring)
            print(
                f"\npod force-deleted: the standby took the Lease after {took:.2f} s; the "
                f"trial due meanwhile began its teardown {late:.2f} s after its expires_at"
            )
            assert took < TAKEOVER_LIMIT and late < TAKEOVER_LIMIT

            # The Deployment replaced the deleted pod: it stands by, the new leader leads on.
            wait_until("the replacement pod running", lambda: len(_reconciler_pods(release)) == 2)
            assert holder() == standby

            # The leader's process frozen: the Lease has to run out.
            (replacement,) = set(_reconciler_pods(release)) - {standby}
            expiring = _trial(api, 30)
            wait_for_phase(api, expiring["id"], "Ready", timeout=120)
            _sleep_until_just_before(expiring)
            frozen = time.monotonic()
            _signal(standby, signal.SIGSTOP)
            try:
                while holder() != replacement:
                    assert time.monotonic() - frozen < 60, f"the Lease is still {lease().spec}"
                    time.sleep(0.1)
                took = time.monotonic() - frozen
                late = _teardown_delay(api, expiring)
            finally:
                _signal(standby, signal.SIGCONT)
            print(
                f"leader frozen (SIGSTOP): the other pod took the Lease after {took:.2f} s; "
                f"the trial due meanwhile began its teardown {late:.2f} s after its "
                "expires_at"
            )
            assert took < TAKEOVER_LIMIT and late < TAKEOVER_LIMIT
            time.sleep(3)  # thawed: its flag ran out while frozen; its next renewal is refused
            assert not _leads(standby, release.namespace) and holder() == replacement

            assert api.post(f"/api/v1/trials/{running['id']}/end").status_code in (200, 202)
            assert wait_for_phase(api, running["id"], "Stopped", timeout=120)["reason"] == "UserRequested"
        wait_until("no trial namespace left", lambda: release.trial_namespaces() == [])
        release.uninstall()
    finally:
        release.remove()
