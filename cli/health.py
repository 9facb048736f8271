"""The small HTTP server of `den reconcile --health-port`: /healthz, /readyz and /metrics.

- /healthz answers 200 while the reconciler's loop keeps turning (its latest turn, successful
  or not, ended less than `stale_after` seconds ago) and 503 when it is stuck: a liveness probe
  then restarts the process.
  A standby (another reconciler leads) is alive too: its loop turns, it just does nothing.
- /readyz answers 200 when the database answers, 503 otherwise; its body says whether this
  reconciler leads (`"leader": true`) or stands by.
- /metrics is the Prometheus exposition of the reconciler's counters and gauges.

Standard library only (http.server in a daemon thread): the reconciler has no web framework.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def health_status(last_turn: float, *, now: float, stale_after: float) -> tuple[int, dict[str, object]]:
    """(status, body) of /healthz: pure, `now` and `last_turn` on the monotonic clock."""
    age = round(now - last_turn, 3)
    if age > stale_after:
        return 503, {
            "reason": "ReconcilerStuck",
            "detail": f"the reconciler's last turn ended {age} s ago (limit {stale_after} s)",
        }
    return 200, {"status": "alive", "last_turn_age_seconds": age}


def serve_health(
    host: str,
    port: int,
    *,
    last_turn: Callable[[], float],
    database_ok: Callable[[], str | None],
    stale_after: float,
    leader: Callable[[], bool] = lambda: True,
) -> ThreadingHTTPServer:
    """Start the server in a daemon thread and return it (call shutdown() to stop it).
    `database_ok` returns None when the database answers, else what went wrong; `leader`
    whether this reconciler leads."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                status, body = health_status(last_turn(), now=time.monotonic(), stale_after=stale_after)
                self._send(status, json.dumps({**body, "leader": leader()}).encode(), "application/json")
            elif self.path == "/readyz":
                problem = database_ok()
                body = (
                    {"status": "ready", "leader": leader()}
                    if problem is None
                    else {"reason": "DatabaseUnavailable", "detail": problem[:200]}
                )
                self._send(200 if problem is None else 503, json.dumps(body).encode(), "application/json")
            elif self.path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b'{"reason": "NotFound", "detail": "no such path"}', "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # probes every few seconds are not worth a log line

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
