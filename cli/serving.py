"""`den serve --workers N`: the API and pages in N processes, and exactly one reconciler.

One Python process serves a few hundred small reads a second on one core; a machine with more
cores serves more with more processes. The parent prepares the database once (migrations, the
template directory, the bootstrap token), then:

- runs `den reconcile` as a child process, started again if it ever exits on its own (it
  takes the leadership lock, so even a second den on the same database never acts twice);
- runs uvicorn's process manager, which starts N worker processes (`worker_app`) on one
  listening socket, and replaces any that dies;
- passes every setting on through the environment, with two of its own: `DEN_WAKE_SOCKET`,
  through which the workers' commits wake the reconciler at once on SQLite as NOTIFY does on
  PostgreSQL, and `PROMETHEUS_MULTIPROC_DIR`, so that `/metrics` adds up every process's.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from fastapi import FastAPI

from cli import logs
from orchestrator.settings import Settings, get_settings

RESTART_DELAY = 1.0
STOP_TIMEOUT = 20.0


def worker_app() -> FastAPI:
    """One API process of `den serve --workers N` (uvicorn's factory): the API and the pages,
    no reconciler, on the database the parent prepared; settings from the environment."""
    from api.main import create_app

    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format)
    return create_app(settings, with_reconciler=False, prepared=True)


def serve_workers(
    settings: Settings, *, host: str, port: int, workers: int, reconciler: bool, environment: dict[str, str]
) -> None:
    """Serve until stopped (Ctrl-C or SIGTERM): prepare, then the reconciler and the workers.
    `environment`: settings given on the command line, for the child processes."""
    import uvicorn

    from orchestrator import startup

    state = Path(tempfile.mkdtemp(prefix="den-serve-"))
    metrics_dir = state / "metrics"
    metrics_dir.mkdir()
    os.environ.update(environment)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    if reconciler and not settings.wake_socket and settings.effective_database_url.startswith("sqlite"):
        os.environ["DEN_WAKE_SOCKET"] = str(state / "wake.sock")
    startup.prepare(settings).dispose()
    child = _Reconciler() if reconciler else None
    try:
        if child is not None:
            child.start()
        uvicorn.run(
            "cli.serving:worker_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            proxy_headers=False,
        )
    finally:
        if child is not None:
            child.stop()
        shutil.rmtree(state, ignore_errors=True)


def _end_with_parent() -> None:
    """In the child, before it runs: SIGTERM when the parent dies (Linux's PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


class _Reconciler:
    """`den reconcile` in a child process, kept running until `stop`."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._keep, name="reconciler-process", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _keep(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if self._stop.is_set():
                    return
                # Its own session: a Ctrl-C reaches the parent alone, which stops it in order;
                # and it is told to stop should the parent ever die without doing so.
                self._process = subprocess.Popen(
                    [sys.executable, "-m", "cli.den", "reconcile"],
                    start_new_session=True,
                    preexec_fn=_end_with_parent,
                )
            code = self._process.wait()
            if not self._stop.is_set():
                print(f"den serve: the reconciler exited ({code}); starting it again", file=sys.stderr)
                self._stop.wait(RESTART_DELAY)

    def stop(self) -> None:
        with self._lock:
            self._stop.set()
            process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()  # `den reconcile` finishes its turn and hands leadership over
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
