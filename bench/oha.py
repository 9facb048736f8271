"""`oha`, an HTTP load generator written in Rust, as the open-loop benchmarks drive it.

Each `Load` is one oha process offering a constant rate (`-q`) for a fixed time (`-z`) with
`--latency-correction`: a request's latency is counted from when it was due, not from when a
free connection sent it, so a slow server cannot slow the offered load down and hide its own
queue (no coordinated omission). oha sends the same headers with every request, so a load
carries one caller's credentials; it picks each request's URL at random from a file
(`--urls-from-file`), so one load can mix several requests of one method. Every answered
request is stored, with its URL and status, in an SQLite file of oha's (`--db-url`): the
percentiles of several loads are then computed together, per request, from the requests
themselves, never averaged from per-process percentiles. Requests that got no answer at all
(refused, reset, timed out) are counted from oha's JSON summary (`errorDistribution`).

oha's own CPU time is read from /proc while it runs (at the end of the load window, before it
writes its results) and from `wait4` when it ends, so the generator's cost is reported apart
from the server's.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import process_cpu_seconds

VERSION = "1.16.0"
ROOT_DIR = Path("/var/cache/innovation-den/oha")
BINARY = ROOT_DIR / "bin" / "oha"
#: Turns a URL into the name of its request (`/api/v1/trials/{id}`), by which results group.
NameOf = Callable[[str], str]


def ensure_oha() -> Path:
    """The oha binary, built from the Rust crate registry with cargo (pinned, `--locked`) the
    first time it is missing (a few minutes on 2 cores)."""
    if BINARY.exists() and _version(BINARY) == VERSION:
        return BINARY
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not Path(cargo).exists():
        raise SystemExit("oha is missing and cargo is not installed: install Rust's cargo, then run again")
    print(f"building oha {VERSION} into {ROOT_DIR} with cargo (a few minutes)", flush=True)
    subprocess.run(
        [cargo, "install", "oha", "--version", VERSION, "--locked", "--root", str(ROOT_DIR)],
        check=True,
    )
    return BINARY


def _version(binary: Path) -> str:
    try:
        answer = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return answer.stdout.split()[-1] if answer.stdout.split() else ""


@dataclass(frozen=True)
class Load:
    """One oha process: `rate` requests/s of `method` on `urls` (picked at random, so a URL
    listed twice is asked for twice as often), with `headers` and `body`."""

    label: str
    rate: float
    urls: tuple[str, ...]
    method: str = "GET"
    headers: tuple[str, ...] = ()
    body: str | None = None

    def argv(self, binary: Path, *, duration: float, folder: Path, index: int) -> list[str]:
        urls = folder / f"urls-{index}.txt"
        urls.write_text("\n".join(self.urls) + "\n")
        # Connections enough for two seconds of requests in flight: a slower server gets more
        # requests than it answers, as from people who do not wait for each other. Beyond that
        # oha holds requests back (the latency correction still counts their wait, but those
        # still held at the end are never sent: `Measured.unsent` counts them).
        connections = max(8, math.ceil(self.rate * 2))
        argv = [
            str(binary),
            "-q",
            f"{self.rate:.3f}",
            "-z",
            f"{duration:g}s",
            "-c",
            str(connections),
            "-w",  # requests in flight at the end are waited for, not counted as aborted
            "--latency-correction",
            "--no-tui",
            "--output-format",
            "json",
            "--worker-threads",
            "1",
            "--urls-from-file",
            "--db-url",
            str(folder / f"requests-{index}.db"),
            "-m",
            self.method,
            "-t",
            "30s",
        ]
        for header in self.headers:
            argv += ["-H", header]
        if self.body is not None:
            argv += ["-d", self.body, "-T", "application/json"]
        return [*argv, str(urls)]


@dataclass
class Outcome:
    """What one oha process measured."""

    load: Load
    latencies: dict[str, list[float]]  # request name -> seconds, each answered request
    statuses: dict[str, Counter[int]]  # request name -> status code -> count
    errors: Counter[str]  # no answer: oha's reason -> count
    cpu_in_window: float  # seconds of oha CPU while it offered load
    cpu_total: float  # ... and in all, writing its results too
    summary: dict[str, object] = field(default_factory=dict)


@dataclass
class Batch:
    """Loads that ran together, over the same window."""

    outcomes: list[Outcome]
    seconds: float


def run_together(binary: Path, loads: list[Load], *, duration: float, name: NameOf) -> Batch:
    """Run `loads` at once for `duration` seconds, each request named by `name`."""
    with _folder() as folder:
        processes = [
            subprocess.Popen(
                load.argv(binary, duration=duration, folder=folder, index=index),
                stdout=(folder / f"out-{index}.json").open("wb"),
                stderr=(folder / f"err-{index}.txt").open("wb"),
            )
            for index, load in enumerate(loads)
        ]
        started = time.monotonic()
        time.sleep(max(0.0, duration - 0.25))
        in_window = [_cpu(p.pid) for p in processes]
        totals = [_reap(p) for p in processes]
        seconds = time.monotonic() - started
        outcomes = [
            _outcome(load, folder, index, in_window[index], totals[index], name)
            for index, load in enumerate(loads)
        ]
        return Batch(outcomes=outcomes, seconds=min(seconds, duration))


def _cpu(pid: int) -> float:
    try:
        return process_cpu_seconds(pid)
    except OSError:
        return float("nan")  # it ended early: its total says what it used


def _reap(process: subprocess.Popen[bytes]) -> float:
    """Wait for `process`; its user plus system CPU seconds (exact, from the kernel)."""
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def _outcome(load: Load, folder: Path, index: int, in_window: float, total: float, name: NameOf) -> Outcome:
    err = (folder / f"err-{index}.txt").read_text(errors="replace")
    out = (folder / f"out-{index}.json").read_text(errors="replace")
    try:
        summary = json.loads(out)
    except json.JSONDecodeError:
        raise RuntimeError(f"oha ({load.label}) gave no result:\n{err[-2000:]}") from None
    latencies: dict[str, list[float]] = {}
    statuses: dict[str, Counter[int]] = {}
    database = folder / f"requests-{index}.db"
    if database.exists():
        with sqlite3.connect(database) as rows:
            for url, seconds, status in rows.execute("SELECT url, duration, status FROM oha"):
                request = f"{load.method} {name(url)}"
                latencies.setdefault(request, []).append(float(seconds))
                statuses.setdefault(request, Counter())[int(status)] += 1
    errors = Counter({str(k): int(v) for k, v in summary.get("errorDistribution", {}).items()})
    return Outcome(
        load=load,
        latencies=latencies,
        statuses=statuses,
        errors=errors,
        cpu_in_window=total if math.isnan(in_window) else in_window,
        cpu_total=total,
        summary=summary,
    )


@contextmanager
def _folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="den-bench-oha-") as folder:
        yield Path(folder)
