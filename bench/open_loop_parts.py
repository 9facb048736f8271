"""What bench/open_loop.py needs beside the load: a signed-in web session, the body of an
evaluation, the name of a request, the server's processes (CPU, memory), and its options."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench import ROOT, process_pss_mib, process_rss_mib, process_tree
from orchestrator.evaluation import DIMENSIONS
from tests.e2e.server import Server

MIB = 1024 * 1024 / 1e6  # MB in a MiB
_ID = re.compile(r"/t[0-9a-f]{12}(?=/|$)")


def sign_in(server: Server, user: str) -> str:
    """The `Cookie` header of a web session of `user`, made as a browser makes it: the sign-in
    page (its CSRF cookie), then development sign-in (`DEN_DEV_SIGN_IN`)."""
    with httpx.Client(base_url=server.url, timeout=30, follow_redirects=False) as web:
        page = web.get("/sign-in")
        page.raise_for_status()
        sent = _cookies(page)
        match = re.search(r'name="csrf_token"\s+value="([^"]+)"', page.text)
        if match is None:
            raise RuntimeError("the sign-in page has no csrf_token field")
        answer = web.post(
            "/sign-in",
            data={"user": user, "next": "/", "csrf_token": match.group(1)},
            headers={"Cookie": "; ".join(f"{k}={v}" for k, v in sent.items())},
        )
    session = {k: v for k, v in _cookies(answer).items() if k.endswith("den_session")}
    if answer.status_code != 303 or not session:
        raise RuntimeError(
            f"development sign-in as {user} answered {answer.status_code} with no session "
            f"(is DEN_DEV_SIGN_IN on?): {answer.text[:300]}"
        )
    return "; ".join(f"{k}={v}" for k, v in session.items())


def _cookies(answer: httpx.Response) -> dict[str, str]:
    """The cookies an answer sets, whether or not they are marked secure (a browser on
    loopback would keep them; httpx's cookie jar would not send them over plain HTTP)."""
    found: dict[str, str] = {}
    for header in answer.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        found.update({name: morsel.value for name, morsel in jar.items() if morsel.value})
    return found


def evaluation_body(criteria: list[str]) -> str:
    """A complete evaluation (every answer given) of a trial with these success criteria."""
    return json.dumps(
        {
            "hypothesis_held": "partly",
            "hypothesis_evidence": "Seen in the trial's sessions.",
            "criteria_results": [{"criterion": c, "met": "yes", "evidence": "Measured."} for c in criteria],
            "scores": {d: {"score": 4, "evidence": "Observed in use."} for d in DIMENSIONS},
            "decision": "iterate",
            "lessons_learned": "Try it with a second team.",
        }
    )


def request_name(url: str) -> str:
    """`/api/v1/trials/t1a2b3c4d5e6/evaluation` -> `/api/v1/trials/{id}/evaluation`."""
    parts = urlsplit(url)
    path = _ID.sub("/{id}", parts.path)
    return path + (f"?{parts.query}" if parts.query else "")


def memory(pid: int) -> list[tuple[int, str, float, float]]:
    """(pid, command, RSS MB, PSS MB) of `pid` and every process below it."""
    found = []
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            command = (
                Path(f"/proc/{member}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
            found.append(
                (member, command.strip()[:70], process_rss_mib(member) * MIB, process_pss_mib(member) * MIB)
            )
    return found


def serves_workers() -> bool:
    """Whether this checkout's `den serve` takes `--workers`."""
    answer = subprocess.run(
        [sys.executable, "-m", "cli.den", "serve", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return "--workers" in answer.stdout


def drop_postgres(url: str) -> None:
    """Remove a database that `bench.fresh_postgres` made (its server stopped first)."""
    from sqlalchemy import create_engine, text

    base, name = url.rsplit("/", 1)
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def log_size(server: Server) -> int:
    path = server.data_dir / "server.log"
    return path.stat().st_size if path.exists() else 0


def server_errors(server: Server, since: int) -> Counter[str]:
    """The errors the server logged after byte `since` of its log, by what they say (its last
    line of a traceback): what a 500 was."""
    path = server.data_dir / "server.log"
    found: Counter[str] = Counter()
    if not path.exists():
        return found
    with path.open("rb") as log:
        log.seek(since)
        for raw in log.read().decode(errors="replace").splitlines():
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                if "Error" in raw or "Traceback" in raw:
                    found[raw.strip()[:160]] += 1
                continue
            if isinstance(line, dict) and line.get("level") in ("error", "critical", "exception"):
                detail = str(line.get("exception", "")).strip().splitlines()[-1:] or [""]
                found[f"{line.get('event', '?')}: {detail[0]}"[:160]] += 1
    return found


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core), from /proc/stat: the share
    not the server's nor oha's is other work on the machine, which the figures suffer."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
