"""The HTTP readiness probe both runtimes use: a sandbox is ready when its endpoint answers."""

from __future__ import annotations

import http.client


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
