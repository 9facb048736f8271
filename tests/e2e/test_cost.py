"""Resource use and cost end to end: a real `den serve` with a rate card, on the real Docker
engine and on the Kubernetes test cluster, running a bundled template's real image. The trial's
answer carries its forecast; while it runs, its CPU time and memory (Docker's container stats,
the kubelet's summary through the API server) reach its API answer and its page with a cost so
far; once it is removed and evaluated, the report and `/metrics` carry the final figures.

Never skipped: scripts/test starts both runtimes first.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.server import TOKEN, Server
from tests.e2e.test_idle_and_pools import RUNTIMES, TEMPLATE, den, nothing_left, wait_until

__all__ = ["den"]  # the fixture: a `den serve` on the given runtime
#: Prices high enough that a few seconds' use costs more than nothing to six decimal places.
CARD = '{"currency": "GBP", "cpu_hour": 36, "gib_hour": 3.6}'
SCORES = {
    d: {"score": 3, "evidence": "seen"}
    for d in (
        "user_need",
        "accessibility",
        "security",
        "privacy",
        "interoperability",
        "performance",
        "cost_value",
        "ease_of_adoption",
    )
}


def metric(server: Server, name: str, **labels: str) -> float:
    """A sample's value from `/metrics`, its labels in any order (0 when it is not there)."""
    for line in httpx.get(f"{server.url}/metrics", timeout=10).text.splitlines():
        found = re.match(rf"^{name}{{(.*)}} (\S+)$", line)
        if found and all(f'{k}="{v}"' in found.group(1) for k, v in labels.items()):
            return float(found.group(2))
    return 0.0


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_trials_use_and_cost_are_measured_on_the_runtime_and_shown_everywhere(
    den: Callable[..., Server], engine_client: Any, runtime: str
) -> None:
    server = den(runtime, DEN_RATE_CARD=CARD, DEN_USAGE_SAMPLE_INTERVAL="1")
    asked = server.launch(TEMPLATE, duration=900)
    assert asked["cost"]["currency"] == "GBP" and asked["cost"]["forecast"] > 0, asked
    trial_id = asked["id"]
    ready = server.wait_for(trial_id, "Ready", timeout=180)
    for _ in range(20):  # some work for the sandbox to do
        server.sandbox_get(ready["endpoints"]["web"])

    def measured() -> bool:
        usage = server.trial(trial_id)["usage"]
        return usage["cpu_seconds"] > 0 and usage["peak_memory_bytes"] > 0 and usage["running_seconds"] > 0

    # The kubelet's summary has a new pod's figures some seconds after it starts.
    wait_until(measured, within=90, what="the runtime's figures read", server=server)
    shown = server.trial(trial_id)
    assert shown["cost"]["so_far"] > 0 and shown["cost"]["so_far"] <= shown["cost"]["forecast"], shown
    assert shown["usage"]["peak_memory_bytes"] < 2**30  # a working set, not the node's memory

    page = httpx.get(
        f"{server.url}/trials/{trial_id}.json", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ).json()["trial"]
    assert page["usage_words"]["cpu"].endswith(("seconds", "minutes", "hours")), page["usage_words"]
    assert page["cost_words"]["so_far"].startswith("£") and page["cost_words"]["forecast"].startswith("£")
    assert metric(server, "den_trial_cpu_seconds_total", template=TEMPLATE) > 0
    assert metric(server, "den_trial_cost_total", template=TEMPLATE, currency="GBP") > 0

    assert server.call("POST", f"/api/v1/trials/{trial_id}/end").status_code == 202
    ended = server.wait_for(trial_id, "Stopped", timeout=180)
    assert nothing_left(runtime, engine_client, trial_id)
    assert (
        ended["usage"]["sampled_at"] is None
        and ended["usage"]["cpu_seconds"] >= shown["usage"]["cpu_seconds"]
    )
    evaluated = server.call(
        "PUT",
        f"/api/v1/trials/{trial_id}/evaluation",
        json={
            "hypothesis_held": "yes",
            "hypothesis_evidence": "It ran",
            "criteria_results": [
                {"criterion": c, "met": "yes", "evidence": "seen"} for c in ended["success_criteria"]
            ],
            "scores": SCORES,
            "decision": "iterate",
            "lessons_learned": "Cheap to try",
        },
    )
    assert evaluated.status_code == 200, evaluated.text
    assert evaluated.json()["measured"]["cpu_seconds"] == ended["usage"]["cpu_seconds"]
    report = server.call("GET", "/api/v1/reports/trials").json()
    (row,) = [r for r in report["items"] if r["title"] == f"e2e {TEMPLATE}"]
    assert row["cpu_seconds"] == ended["usage"]["cpu_seconds"] > 0
    assert row["peak_memory_bytes"] == ended["usage"]["peak_memory_bytes"] > 0
    assert row["cost"] == ended["cost"]["so_far"] > 0 and row["currency"] == "GBP"
    csv_text = server.call("GET", "/api/v1/reports/trials?format=csv").text
    assert "cpu_seconds,peak_memory_bytes,cost,currency" in csv_text.splitlines()[0]
    deadline = time.monotonic() + 10
    while metric(server, "den_trial_peak_memory_bytes_count", template=TEMPLATE) < 1:
        assert time.monotonic() < deadline, "the removed sandbox's peak is not in /metrics"
        time.sleep(0.2)
