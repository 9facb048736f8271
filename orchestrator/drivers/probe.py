"""The HTTP readiness probe both runtimes use: a sandbox is ready when its endpoint answers."""

from __future__ import annotations

import http.client

from orchestrator.manifest import ReadinessProbe

#: Seconds one probe may wait, whatever a manifest says: `poll` must stay quick.
PROBE_TIMEOUT_CAP = 2.0


def timeout(probe: ReadinessProbe) -> float:
    """How long one probe waits: the manifest's timeout, at most `PROBE_TIMEOUT_CAP`."""
    return min(probe.timeout_seconds, PROBE_TIMEOUT_CAP)


def answers(probe: ReadinessProbe, host: str, port: int) -> bool:
    """True when the component answers its readiness probe at `host:port` (where this machine
    reaches the probe's port) within `timeout(probe)`."""
    return http_ok(host, port, probe.http_get.path, timeout(probe))


def http_ok(host: str, port: int, path: str, timeout: float) -> bool:
    """True when GET `path` answers 2xx or 3xx within `timeout` seconds."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"User-Agent": "innovation-den-probe"})
        return 200 <= connection.getresponse().status < 400
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
