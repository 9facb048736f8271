"""The users that bench/api_load.py runs with locust: one scenario per run, from a plan file.

The plan (JSON, path in BENCH_PLAN) names the scenario, each user's rate and the callers
(a token, the caller's trials, and those of them that have ended). Every simulated user is
paced by `constant_throughput`, so the offered rate stays constant whatever the latency, as
long as one request takes less than the pause between two of a user's requests.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from locust import constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

PLAN: dict[str, Any] = json.loads(Path(os.environ["BENCH_PLAN"]).read_text())
DIMENSIONS = (
    "user_need",
    "accessibility",
    "security",
    "privacy",
    "interoperability",
    "performance",
    "cost_value",
    "ease_of_adoption",
)


class Caller(FastHttpUser):
    abstract = True
    wait_time = constant_throughput(PLAN["rate_per_user"])

    def on_start(self) -> None:
        self.caller = random.choice(PLAN["callers"])
        self.auth = {"Authorization": f"Bearer {self.caller['token']}"}


class Health(Caller):
    """The baseline: no database, no authentication."""

    abstract = PLAN["scenario"] != "healthz"

    @task
    def healthz(self) -> None:
        self.client.get("/healthz")


class Reader(Caller):
    abstract = PLAN["scenario"] != "reads"

    @task
    def list_trials(self) -> None:
        self.client.get("/api/v1/trials", headers=self.auth)

    @task
    def list_templates(self) -> None:
        self.client.get("/api/v1/templates", headers=self.auth)

    @task
    def one_trial(self) -> None:
        trial = random.choice(self.caller["trials"])
        self.client.get(f"/api/v1/trials/{trial}", headers=self.auth, name="/api/v1/trials/{id}")


class Writer(Caller):
    abstract = PLAN["scenario"] != "writes"

    @task
    def request_trial(self) -> None:
        """Longer than the self-service limit, so it waits for an approver: no sandbox."""
        self.client.post(
            "/api/v1/trials",
            headers=self.auth,
            json={
                "template": PLAN["template"],
                "title": "load",
                "hypothesis": "It holds",
                "duration_seconds": PLAN["pending_duration"],
            },
        )

    @task
    def evaluate(self) -> None:
        trial = random.choice(self.caller["stopped"])
        scores = {d: {"score": random.randint(1, 5), "evidence": "measured"} for d in DIMENSIONS}
        self.client.put(
            f"/api/v1/trials/{trial}/evaluation",
            headers=self.auth,
            name="/api/v1/trials/{id}/evaluation",
            json={"scores": scores, "decision": "iterate"},
        )
