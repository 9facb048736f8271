#!/usr/bin/env python3
"""Benchmark: API latency at a constant request rate, on SQLite and on PostgreSQL.

For each database a real `den serve` is started (PostgreSQL: a fresh database on the server
`scripts/ensure-postgres` runs, migrated with `den db upgrade`) and filled through the API:
`--callers` civil servants in 5 departments, `--trials` trials among them (each waiting for an
approver, a quarter withdrawn so they are Stopped and can be evaluated). Then locust
(bench/locustfile.py) offers `--rate` requests/s for `--duration` s, one scenario at a time:
- baseline: GET /healthz (no database, no authentication);
- reads, in equal parts: GET /api/v1/trials (the caller's own), GET /api/v1/templates,
  GET /api/v1/trials/{id};
- writes, in equal parts: POST /api/v1/trials (over the self-service limit, so it waits for an
  approver and launches nothing) and PUT /api/v1/trials/{id}/evaluation.
Prints the achieved rate, p50/p95/p99 and failures of each, the server's CPU use, and the
ratio of each scenario's p95 to the baseline's. Target: reads p95 <= 50 ms at 200 requests/s
on 2 cores.

    scripts/bootstrap bench   # once: installs locust (the `bench` extra)
    .venv/bin/python bench/api_load.py [--rate 200] [--duration 30] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402
    NO_CAPS,
    fresh_postgres,
    metric,
    process_cpu_seconds,
    running_server,
    trial_body,
)
from tests.e2e.server import Server  # noqa: E402

TEMPLATE = "open-data-dashboard"
SELF_SERVICE = 600
PENDING = 3600  # over the self-service limit: the trial waits for an approver
SCENARIOS = ("healthz", "reads", "writes")
RATE_PER_USER = 2.0  # each simulated user's pace; the rate sets how many users there are


@dataclass(frozen=True)
class Result:
    name: str
    requests: int
    failures: int
    rate: float
    p50: float
    p95: float
    p99: float


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second offered")
    parser.add_argument("--duration", type=int, default=30, help="seconds per scenario")
    parser.add_argument("--trials", type=int, default=1000, help="trials in the database")
    parser.add_argument("--callers", type=int, default=50, help="civil servants calling")
    parser.add_argument("--databases", default="sqlite,postgresql")
    return parser.parse_args()


# --- the data ----------------------------------------------------------------------------


def caller(server: Server, index: int, trials: int) -> dict[str, Any]:
    """A civil servant with a token and `trials` trials waiting for approval, a quarter of
    them withdrawn (so Stopped, and open to evaluation)."""
    name = f"bench-{index}"
    server.call(
        "POST",
        "/api/v1/users",
        json={
            "name": name,
            "role": "civil_servant",
            "department": f"department-{index % 5}",
        },
    ).raise_for_status()
    answer = server.call("POST", f"/api/v1/users/{name}/tokens", json={"name": "load"})
    answer.raise_for_status()
    token = answer.json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    made = []
    for _ in range(trials):
        created = httpx.post(
            f"{server.url}/api/v1/trials", headers=auth, timeout=30, json=trial_body(TEMPLATE, PENDING)
        )
        created.raise_for_status()
        made.append(created.json()["id"])
    stopped = made[: max(1, trials // 4)]
    for trial in stopped:
        httpx.post(f"{server.url}/api/v1/trials/{trial}/end", headers=auth, timeout=30).raise_for_status()
    return {"token": token, "trials": made, "stopped": stopped}


def seed(server: Server, callers: int, trials: int) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda i: caller(server, i, max(1, trials // callers)), range(callers)))
    expected = sum(len(c["stopped"]) for c in made)
    deadline = time.monotonic() + 120
    while metric(server, 'den_trials{phase="Stopped"}') < expected:
        if time.monotonic() > deadline:
            raise RuntimeError("withdrawn trials did not stop:\n" + server.log_tail())
        time.sleep(0.2)
    return made


# --- one scenario ------------------------------------------------------------------------


def offer(server: Server, plan: dict[str, Any], args: argparse.Namespace) -> tuple[list[Result], float]:
    """Run locust for one scenario; its results (per request and in all) and the server's CPU
    use in that time, as a share of one core."""
    assert server.process is not None
    users = max(1, round(args.rate / RATE_PER_USER))
    with tempfile.TemporaryDirectory(prefix="den-bench-load-") as folder:
        plan_path = Path(folder) / "plan.json"
        plan_path.write_text(json.dumps({**plan, "rate_per_user": args.rate / users}))
        cpu, started = process_cpu_seconds(server.process.pid), time.monotonic()
        subprocess.run(
            [
                str(Path(sys.executable).with_name("locust")),
                "-f",
                str(ROOT / "bench" / "locustfile.py"),
                "--headless",
                "--users",
                str(users),
                "--spawn-rate",
                str(users),
                "--reset-stats",
                "--run-time",
                f"{args.duration}s",
                "--host",
                server.url,
                "--csv",
                f"{folder}/out",
                "--only-summary",
                "--loglevel",
                "WARNING",
                "--exit-code-on-error",
                "0",
            ],
            env={**os.environ, "BENCH_PLAN": str(plan_path)},
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        used = (process_cpu_seconds(server.process.pid) - cpu) / (time.monotonic() - started)
        with open(f"{folder}/out_stats.csv", newline="") as stats:
            return [_result(r) for r in csv.DictReader(stats)], used


def _result(found: dict[str, str]) -> Result:
    name = "all" if found["Name"] == "Aggregated" else f"{found['Type']} {found['Name']}"
    return Result(
        name=name,
        requests=int(found["Request Count"]),
        failures=int(found["Failure Count"]),
        rate=float(found["Requests/s"]),
        p50=_ms(found["50%"]),
        p95=_ms(found["95%"]),
        p99=_ms(found["99%"]),
    )


def _ms(value: str) -> float:
    """A percentile from locust's CSV ("N/A" when nothing was measured)."""
    return float(value) if value.replace(".", "", 1).isdigit() else float("nan")


def run_database(database: str, args: argparse.Namespace) -> dict[str, tuple[list[Result], float]]:
    env = {**NO_CAPS, "DEN_SELF_SERVICE_MAX_DURATION": str(SELF_SERVICE)}
    if database == "postgresql":
        env["DEN_DATABASE_URL"] = fresh_postgres()
        subprocess.run(
            [str(Path(sys.executable).with_name("den")), "db", "upgrade"],
            check=True,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
        )
    with running_server(env) as server:
        print(f"{database}: filling the database ({args.trials} trials, {args.callers} callers)", flush=True)
        plan = {
            "callers": seed(server, args.callers, args.trials),
            "template": TEMPLATE,
            "pending_duration": PENDING,
        }
        results = {}
        for scenario in SCENARIOS:
            print(f"{database}: {scenario} at {args.rate:.0f} requests/s for {args.duration} s", flush=True)
            results[scenario] = offer(server, {**plan, "scenario": scenario}, args)
        return results


def report(database: str, results: dict[str, tuple[list[Result], float]], rate: float) -> None:
    print(f"\n{database}: {rate:.0f} requests/s offered per scenario (latency in ms)")
    print(
        f"  {'scenario / request':<44}{'req/s':>7}{'p50':>7}{'p95':>7}{'p99':>7}"
        f"{'failed':>8}{'server CPU':>12}"
    )
    baseline = next(r for r in results["healthz"][0] if r.name == "all")
    for scenario, (rows, cpu) in results.items():
        for found in sorted(rows, key=lambda r: r.name != "all"):
            label = scenario if found.name == "all" else f"  {found.name}"
            share = f"{cpu * 100:10.0f} %" if found.name == "all" else ""
            print(
                f"  {label:<44}{found.rate:7.1f}{found.p50:7.0f}{found.p95:7.0f}"
                f"{found.p99:7.0f}{found.failures:8d}{share:>12}"
            )
    for scenario in SCENARIOS[1:]:
        overall = next(r for r in results[scenario][0] if r.name == "all")
        print(f"  ratio p95 {scenario}/healthz: {overall.p95 / max(baseline.p95, 1):.2f}")
    reads = next(r for r in results["reads"][0] if r.name == "all")
    met = reads.p95 <= 50 and reads.rate >= 0.95 * rate and not reads.failures
    print(f"  target reads p95 <= 50 ms at {rate:.0f} requests/s: {'met' if met else 'MISSED'}")


def main() -> None:
    args = arguments()
    everything = {db: run_database(db, args) for db in args.databases.split(",")}
    for database, results in everything.items():
        report(database, results, args.rate)


if __name__ == "__main__":
    main()
