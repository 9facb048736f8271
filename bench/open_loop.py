#!/usr/bin/env python3
"""Benchmark: API and page latency at a constant, open-loop request rate, 10,000 trials on record.

The load comes from oha (bench/oha.py; built with cargo the first time) at a fixed rate, with
latency counted from when each request was due (`--latency-correction`): a slow answer never
slows the offered load, so queueing in the server shows in the figures. Each scenario runs
with `GET /healthz` (no database, no authentication) offered beside it in the same window, so
the ratio p95 / healthz p95 compares like with like.

The data, per database (SQLite, and PostgreSQL on the server `scripts/ensure-postgres` runs):
- `--people` civil servants (default 50) in 5 departments, each with an API token;
- `--trials` trials on record (default 10,000): all but `--active` of them ended (`Stopped`),
  written straight into the database before the server starts (bench/records.py), with their
  timelines, audit records and, for 40 %, an evaluation;
- `--active` trials active (default 1,000), made through the API once the server is up:
  `--ready` of them (default 20) real sandboxes of bench/templates/idle, `Ready` on Docker;
  the others waiting for an approver (`PendingApproval`: longer than the self-service limit,
  so they launch nothing but are counted, listed and watched like any active trial). The
  writes scenario adds about `--rate-writes` / 2 trials waiting for an approver per second.

The scenarios, one after another, each `--duration` seconds, spread over `--callers` of the
civil servants (default 5, one per department; each oha process carries one caller's token or
web session, as oha sends the same headers with every request):
- reads, `--rate-reads` req/s (default 200), in equal parts: the caller's trials
  (`GET /api/v1/trials?limit=50`), one trial, the catalogue. Target p95 <= 50 ms.
- pages, `--rate-pages` req/s (default 50), signed in through development sign-in, in equal
  parts: the techmap, the trials list (`/trials`), a trial's page. Target p95 <= 100 ms.
- writes, `--rate-writes` req/s (default 50), in equal parts: `POST /api/v1/trials` (over the
  self-service limit, so it waits for an approver) and `PUT /api/v1/trials/{id}/evaluation`
  (an ended trial of the caller's). Target p95 <= 100 ms and no failure.
Then the resident memory of every process of the server (`den serve` and the worker
processes it starts, `--workers`). Target: 300 MB in all.

Printed per database: achieved rate, p50/p95/p99, failures (non-2xx by status code, and
requests with no answer, with the errors the server logged), requests due but never sent
(every connection of oha's was waiting: a server that far behind fails its target), the
server's CPU (all its processes) and oha's own CPU, each as a share of one core, p95 /
healthz p95, and the CPU that other work on the machine used meanwhile (figures taken on a
busy machine are not comparable); then PASS or FAIL per target. Everything the run
creates (sandboxes, the database, oha's files) is removed at the end, after a failure or
Ctrl-C too.

    .venv/bin/python bench/open_loop.py [--duration 30] [--databases sqlite,postgresql] \\
        [--rate-reads 200] [--rate-pages 50] [--rate-writes 50] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402
    NO_CAPS,
    docker_client,
    fresh_postgres,
    metric,
    percentile,
    records,
    running_server,
    tree_cpu_seconds,
)
from bench import oha as oha_  # noqa: E402
from bench.open_loop_parts import (  # noqa: E402
    drop_postgres,
    evaluation_body,
    log_size,
    machine_busy_seconds,
    memory,
    request_name,
    server_errors,
    serves_workers,
    sign_in,
)
from cli import logs  # noqa: E402
from orchestrator.settings import Settings  # noqa: E402
from tests.e2e.server import Server  # noqa: E402

TEMPLATE = "open-data-dashboard"  # the template of the trials the load asks for and evaluates
IDLE = "bench-idle"  # bench/templates/idle: the real sandboxes
SELF_SERVICE = 3600
PENDING = 7200  # over the self-service limit: the trial waits for an approver
SCENARIOS = ("reads", "pages", "writes")
TARGET_MS = {"reads": 50.0, "pages": 100.0, "writes": 100.0}
MEMORY_TARGET_MB = 300.0
ACTIVE = ("PendingApproval", "Requested", "Provisioning", "Ready", "Sleeping", "Stopping", "Failed")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-reads", type=float, default=200.0, help="API reads per second")
    parser.add_argument("--rate-pages", type=float, default=50.0, help="page views per second")
    parser.add_argument("--rate-writes", type=float, default=50.0, help="API writes per second")
    parser.add_argument("--rate-healthz", type=float, default=10.0, help="/healthz per second beside each")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per scenario")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--trials", type=int, default=10_000, help="trials on record in all")
    parser.add_argument("--active", type=int, default=1000, help="of them active")
    parser.add_argument("--ready", type=int, default=20, help="of the active, real Ready sandboxes")
    parser.add_argument("--people", type=int, default=50, help="civil servants owning the trials")
    parser.add_argument("--callers", type=int, default=5, help="of them, those sending the load")
    parser.add_argument("--workers", type=int, default=0, help="`den serve --workers N` (0: its default)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="which, in this order")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds of quiet before each")
    args = parser.parse_args()
    if not 0 <= args.ready <= args.active <= args.trials:
        parser.error("--ready <= --active <= --trials, please")
    if not 1 <= args.callers <= args.people:
        parser.error("--callers must be between 1 and --people")
    return args


# --- results -------------------------------------------------------------------------------


@dataclass
class Measured:
    """One scenario's requests (or one kind of them), over its window."""

    name: str
    offered: float
    seconds: float
    latencies: list[float] = field(default_factory=list)  # s, answered requests
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # no answer

    @property
    def failures(self) -> int:
        return sum(n for s, n in self.statuses.items() if not 200 <= s < 300) + self.errors.total()

    @property
    def unsent(self) -> int:
        """Requests due in the window that oha never sent (every connection was waiting)."""
        if math.isnan(self.offered):
            return 0
        return max(0, round(self.offered * self.seconds) - self.statuses.total() - self.errors.total())

    @property
    def rate(self) -> float:
        return (self.statuses.total() + self.errors.total()) / self.seconds

    def ms(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000 if self.latencies else math.nan


@dataclass
class Scenario:
    name: str
    overall: Measured
    parts: list[Measured]
    healthz: Measured
    server_cpu: float  # share of one core
    generator_cpu: float
    memory: list[tuple[int, str, float, float]]  # pid, command, RSS MB, PSS MB
    active: int
    logged: Counter[str]  # errors the server logged meanwhile
    others_cpu: float  # share of one core the machine spent on anything else


@dataclass
class Plan:
    """Who sends the load, and what they ask for."""

    callers: list[records.Person]
    cookies: dict[str, str]  # caller -> Cookie header of their web session
    trials: dict[str, list[str]]  # caller -> some of their trials (ended and active)
    evaluable: dict[str, list[str]]  # caller -> their ended trials of TEMPLATE
    criteria: list[str]
    list_query: str
    notes: list[str] = field(default_factory=list)


# --- the data --------------------------------------------------------------------------------


def templates_dir(folder: Path) -> Path:
    """The bundled templates and bench/templates/idle together, as one template directory."""
    folder.mkdir()
    suppliers = []
    for source in (ROOT / "sandbox_templates", ROOT / "bench" / "templates"):
        suppliers += yaml.safe_load((source / "suppliers.yaml").read_text())
        for manifest in sorted(source.glob("*/template.yaml")):
            (folder / manifest.parent.name).symlink_to(manifest.parent, target_is_directory=True)
    (folder / "suppliers.yaml").write_text(yaml.safe_dump(suppliers))
    return folder


def make_active(server: Server, record: records.Record, args: argparse.Namespace) -> dict[str, list[str]]:
    """`--active` trials through the API, round the people: `--ready` Ready sandboxes (of the
    callers), the rest waiting for an approver. Each caller's new trial ids."""
    people = record.people
    jobs = [(people[i % args.callers], IDLE, SELF_SERVICE) for i in range(args.ready)]
    jobs += [(people[i % len(people)], TEMPLATE, PENDING) for i in range(args.active - args.ready)]
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda job: _request(server, *job), jobs))
    by_caller: dict[str, list[str]] = {}
    for (person, _template, _duration), trial in zip(jobs, made, strict=True):
        by_caller.setdefault(person.name, []).append(trial)
    _wait_ready(server, args.ready)
    return by_caller


def _request(server: Server, person: records.Person, template: str, duration: int) -> str:
    answer = httpx.post(
        f"{server.url}/api/v1/trials",
        headers={"Authorization": f"Bearer {person.token}"},
        json={
            "template": template,
            "title": "benchmark",
            "hypothesis": "It answers",
            "duration_seconds": duration,
        },
        timeout=60,
    )
    if answer.status_code != 201:
        raise RuntimeError(f"POST /api/v1/trials ({template}) answered {answer.status_code}: {answer.text}")
    return str(answer.json()["id"])


def _wait_ready(server: Server, ready: int) -> None:
    deadline = time.monotonic() + 300 + 5 * ready
    while (found := metric(server, 'den_trials{phase="Ready"}')) < ready:
        failed = metric(server, 'den_trials{phase="Failed"}')
        if failed or time.monotonic() > deadline:
            raise RuntimeError(
                f"{found:.0f} of {ready} sandboxes Ready, {failed:.0f} failed:\n{server.log_tail()}"
            )
        time.sleep(0.5)


def plan(
    server: Server, record: records.Record, active: dict[str, list[str]], args: argparse.Namespace
) -> Plan:
    callers = record.people[: args.callers]
    found = Plan(
        callers=callers,
        cookies={p.name: sign_in(server, p.name) for p in callers},
        trials={},
        evaluable={p.name: record.stopped.get(p.name, {}).get(TEMPLATE, []) for p in callers},
        criteria=record.criteria[TEMPLATE],
        list_query="?limit=50",
    )
    for person in callers:
        ended = [t for ids in record.stopped.get(person.name, {}).values() for t in ids]
        found.trials[person.name] = ended[:40] + active.get(person.name, [])[:10]
        if not found.evaluable[person.name]:
            raise RuntimeError(f"{person.name} has no ended {TEMPLATE} trial to evaluate: use more --trials")
    _probe(server, found)
    return found


def _probe(server: Server, found: Plan) -> None:
    """Each kind of request once, so that a mistake shows before the load, not as failures."""
    person = found.callers[0]
    auth = {"Authorization": f"Bearer {person.token}"}
    answer = httpx.get(f"{server.url}/api/v1/trials{found.list_query}", headers=auth, timeout=30)
    if answer.status_code == 422:
        found.notes.append(
            "GET /api/v1/trials has no `limit` here: the reads list every trial the caller sees"
        )
        found.list_query = ""
    checks = [
        ("GET", f"/api/v1/trials{found.list_query}", auth, None),
        ("GET", f"/api/v1/trials/{found.trials[person.name][0]}", auth, None),
        ("GET", "/api/v1/templates", auth, None),
        (
            "PUT",
            f"/api/v1/trials/{found.evaluable[person.name][0]}/evaluation",
            auth,
            evaluation_body(found.criteria),
        ),
    ]
    cookie = {"Cookie": found.cookies[person.name]}
    checks += [
        ("GET", path, cookie, None)
        for path in ("/techmap", "/trials", f"/trials/{found.trials[person.name][0]}")
    ]
    for method, path, headers, body in checks:
        answer = httpx.request(
            method,
            server.url + path,
            headers={**headers, "Content-Type": "application/json"},
            content=body,
            timeout=30,
        )
        if not 200 <= answer.status_code < 300:
            raise RuntimeError(f"{method} {path} answered {answer.status_code}: {answer.text[:500]}")


# --- the load --------------------------------------------------------------------------------


def loads(scenario: str, found: Plan, args: argparse.Namespace, url: str) -> list[oha_.Load]:
    share = len(found.callers)
    made = []
    for person in found.callers:
        auth = (f"Authorization: Bearer {person.token}",)
        mine = found.trials[person.name]
        if scenario == "reads":
            urls = [f"{url}/api/v1/trials{found.list_query}", f"{url}/api/v1/templates"] * len(mine)
            made.append(
                oha_.Load(
                    "reads",
                    args.rate_reads / share,
                    (*urls, *(f"{url}/api/v1/trials/{t}" for t in mine)),
                    headers=auth,
                )
            )
        elif scenario == "pages":
            urls = [f"{url}/techmap", f"{url}/trials"] * len(mine)
            made.append(
                oha_.Load(
                    "pages",
                    args.rate_pages / share,
                    (*urls, *(f"{url}/trials/{t}" for t in mine)),
                    headers=(f"Cookie: {found.cookies[person.name]}",),
                )
            )
        else:
            body = json.dumps(
                {"template": TEMPLATE, "title": "load", "hypothesis": "It holds", "duration_seconds": PENDING}
            )
            made.append(
                oha_.Load(
                    "writes", args.rate_writes / 2 / share, (f"{url}/api/v1/trials",), "POST", auth, body
                )
            )
            evaluate = tuple(f"{url}/api/v1/trials/{t}/evaluation" for t in found.evaluable[person.name][:50])
            made.append(
                oha_.Load(
                    "writes",
                    args.rate_writes / 2 / share,
                    evaluate,
                    "PUT",
                    auth,
                    evaluation_body(found.criteria),
                )
            )
    offered = {"reads": args.rate_reads, "pages": args.rate_pages, "writes": args.rate_writes}[scenario]
    print(
        f"  {scenario}: {offered:.0f} req/s for {args.duration:g} s ({len(made)} oha processes)", flush=True
    )
    return [*made, oha_.Load("healthz", args.rate_healthz, (f"{url}/healthz",))]


def measure(server: Server, binary: Path, scenario: str, found: Plan, args: argparse.Namespace) -> Scenario:
    assert server.process is not None
    pid = server.process.pid
    batch_loads = loads(scenario, found, args, server.url)
    cpu, busy, started, log = (
        tree_cpu_seconds(pid),
        machine_busy_seconds(),
        time.monotonic(),
        log_size(server),
    )
    batch = oha_.run_together(binary, batch_loads, duration=args.duration, name=request_name)
    elapsed = time.monotonic() - started
    server_cpu = (tree_cpu_seconds(pid) - cpu) / elapsed
    machine = (machine_busy_seconds() - busy) / elapsed
    generator = sum(o.cpu_total for o in batch.outcomes) / elapsed
    offered = {"reads": args.rate_reads, "pages": args.rate_pages, "writes": args.rate_writes}[scenario]
    overall, parts, healthz = _grouped(scenario, offered, batch, args.rate_healthz)
    active = sum(int(metric(server, f'den_trials{{phase="{p}"}}')) for p in ACTIVE)
    return Scenario(
        name=scenario,
        overall=overall,
        parts=parts,
        healthz=healthz,
        server_cpu=server_cpu,
        generator_cpu=sum(o.cpu_in_window for o in batch.outcomes) / batch.seconds,
        memory=memory(pid),
        active=active,
        logged=server_errors(server, log),
        others_cpu=max(0.0, machine - server_cpu - generator),
    )


def _grouped(
    scenario: str, offered: float, batch: oha_.Batch, healthz_rate: float
) -> tuple[Measured, list[Measured], Measured]:
    overall = Measured(scenario, offered, batch.seconds)
    healthz = Measured("healthz", healthz_rate, batch.seconds)
    parts: dict[str, Measured] = {}
    for outcome in batch.outcomes:
        whole = healthz if outcome.load.label == "healthz" else overall
        whole.errors += outcome.errors
        for request, latencies in outcome.latencies.items():
            whole.latencies += latencies
            whole.statuses += outcome.statuses[request]
            if whole is overall:
                part = parts.setdefault(request, Measured(request, math.nan, batch.seconds))
                part.latencies += latencies
                part.statuses += outcome.statuses[request]
    return overall, sorted(parts.values(), key=lambda p: p.name), healthz


# --- the report ------------------------------------------------------------------------------


def report(database: str, scenarios: list[Scenario], notes: list[str]) -> list[tuple[str, bool]]:
    print(f"\n{database}: latency in ms, counted from when each request was due (open loop)")
    print(
        f"  {'scenario / request':<42}{'offered':>8}{'req/s':>8}{'p50':>8}{'p95':>8}{'p99':>8}"
        f"{'failed':>8}{'unsent':>8}{'server CPU':>11}{'oha CPU':>9}{'p95/hz':>8}"
    )
    verdicts = []
    for s in scenarios:
        ratio = s.overall.ms(0.95) / s.healthz.ms(0.95)
        extra = f"{s.server_cpu * 100:9.0f} %{s.generator_cpu * 100:7.0f} %{ratio:8.2f}"
        print(_line(s.name, s.overall) + extra)
        for part in s.parts:
            print(_line(f"  {part.name}", part))
        print(_line("  beside it: GET /healthz", s.healthz))
        if s.overall.failures:
            codes = ", ".join(
                f"{c} x{n}" for c, n in sorted(s.overall.statuses.items()) if not 200 <= c < 300
            )
            errors = ", ".join(f"{e} x{n}" for e, n in s.overall.errors.most_common())
            print(f"    failed: {codes or 'no non-2xx'}; no answer: {errors or 'none'}")
        print(f"    meanwhile other work on the machine used {s.others_cpu * 100:.0f} % of one core")
        for text, count in s.logged.most_common(3):
            print(f"    the server logged {count} x {text}")
        verdicts.append(_verdict(database, s))
    for s in scenarios:
        rss, pss = sum(m[2] for m in s.memory), sum(m[3] for m in s.memory)
        print(f"  memory after {s.name}: {s.active} trials active, RSS {rss:.1f} MB, PSS {pss:.1f} MB")
    for s in scenarios[-1:]:
        total_rss = sum(m[2] for m in s.memory)
        print(f"  each den process after {s.name}, MB:")
        for pid, command, rss, pss in s.memory:
            print(f"    pid {pid:<8} RSS {rss:7.1f}  PSS {pss:7.1f}  {command}")
        print(f"    total    RSS {total_rss:7.1f}  PSS {sum(m[3] for m in s.memory):7.1f}")
        verdicts.append(
            (
                f"{database}: memory of all den processes after {s.name} ({s.active} active), "
                f"RSS {total_rss:.0f} MB <= {MEMORY_TARGET_MB:.0f} MB",
                total_rss <= MEMORY_TARGET_MB,
            )
        )
    for note in notes:
        print(f"  note: {note}")
    return verdicts


def _line(label: str, m: Measured) -> str:
    offered = f"{m.offered:8.1f}" if not math.isnan(m.offered) else " " * 8
    unsent = f"{m.unsent:8d}" if not math.isnan(m.offered) else " " * 8
    figures = f"{m.rate:8.1f}{m.ms(0.5):8.1f}{m.ms(0.95):8.1f}{m.ms(0.99):8.1f}{m.failures:8d}{unsent}"
    return f"  {label:<42}{offered}{figures}"


def _verdict(database: str, s: Scenario) -> tuple[str, bool]:
    limit = TARGET_MS[s.name]
    p95 = s.overall.ms(0.95)
    met = p95 <= limit and s.overall.rate >= 0.95 * s.overall.offered
    text = f"{database}: {s.name} p95 {p95:.1f} ms <= {limit:.0f} ms at {s.overall.offered:.0f} req/s"
    if s.name == "writes":
        met = met and s.overall.failures == 0
        text += f", no failure ({s.overall.failures} failed)"
    return text + f" (achieved {s.overall.rate:.1f} req/s)", met


# --- a run -----------------------------------------------------------------------------------


def run_database(database: str, args: argparse.Namespace, binary: Path) -> list[tuple[str, bool]]:
    with tempfile.TemporaryDirectory(prefix="den-bench-open-loop-") as folder:
        templates = templates_dir(Path(folder) / "templates")
        url = fresh_postgres() if database == "postgresql" else f"sqlite:///{folder}/den.db"
        try:
            return _run(database, args, binary, url, templates)
        finally:
            if database == "postgresql":
                drop_postgres(url)


def _run(
    database: str, args: argparse.Namespace, binary: Path, url: str, templates: Path
) -> list[tuple[str, bool]]:
    """One database's run: its data, its server, its scenarios."""
    print(f"{database}: writing {args.trials - args.active} ended trials into the database", flush=True)
    engine = records.prepare(Settings(database_url=url, templates_dir=templates), templates)
    record = records.write(engine, people=args.people, stopped=args.trials - args.active, exclude=(IDLE,))
    engine.dispose()
    env = {
        **NO_CAPS,
        "DEN_DATABASE_URL": url,
        "DEN_TEMPLATES_DIR": str(templates),
        "DEN_SELF_SERVICE_MAX_DURATION": str(SELF_SERVICE),
        "DEN_POLL_INTERVAL": str(Settings().poll_interval),
        "DEN_LOG_LEVEL": "WARNING",
        "DEN_DEV_SIGN_IN": "true",
        "DEN_START_TIMEOUT": "600",
    }
    notes: list[str] = []
    serve_args: tuple[str, ...] = ()
    if args.workers:
        if serves_workers():
            serve_args = ("--workers", str(args.workers))
        else:
            notes.append(f"`den serve` has no --workers here: one process served (not {args.workers})")
    with running_server(env, serve_args) as server:
        print(
            f"{database}: {args.active} active trials through the API ({args.ready} Ready sandboxes)",
            flush=True,
        )
        found = plan(server, record, make_active(server, record, args), args)
        scenarios = []
        for name in args.scenarios.split(","):
            time.sleep(args.pause)  # what the last scenario (or the set-up) left to do
            scenarios.append(measure(server, binary, name, found, args))
        print(f"{database}: removing what the run made", flush=True)
    return report(database, scenarios, notes + found.notes)


def main() -> None:
    args = arguments()
    logs.configure("WARNING")  # the product's own start-up steps, run here, say little
    binary = oha_.ensure_oha()
    if args.ready:
        from orchestrator.images import ensure_base_image

        ensure_base_image(docker_client(), log=lambda line: print(f"  {line}", flush=True))
    verdicts = [v for database in args.databases.split(",") for v in run_database(database, args, binary)]
    print()
    for text, met in verdicts:
        print(f"{'PASS' if met else 'FAIL'}  {text}")


if __name__ == "__main__":
    main()
