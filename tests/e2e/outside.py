"""A stand-in for "the internet": a test host in a network namespace of our own.

Egress tests must never send traffic off this machine, so "outside" is a network namespace
joined to the host by a veth pair, with an address in TEST-NET-2 (198.51.100.0/24, never
routed publicly) and a small HTTP listener. A sandbox reaches it only if its packets are
forwarded by the host, exactly as they would be to any outside address (and masqueraded, so
the test host needs no route back: it has none, so nothing it does can leave the machine).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

NAMESPACE = "den-outside"
HOST_SIDE, NS_SIDE = "den-out0", "den-out1"
HOST_ADDRESS, OUTSIDE_ADDRESS, PORT = "198.51.100.1", "198.51.100.2", 8080


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True)


def _cleanup() -> None:
    _ip("netns", "del", NAMESPACE, check=False)
    _ip("link", "del", HOST_SIDE, check=False)


@contextmanager
def outside_host() -> Iterator[tuple[str, int]]:
    """(address, port) of an HTTP listener outside every sandbox network, on this machine."""
    _cleanup()
    _ip("netns", "add", NAMESPACE)
    server = None
    try:
        _ip("link", "add", HOST_SIDE, "type", "veth", "peer", "name", NS_SIDE)
        _ip("link", "set", NS_SIDE, "netns", NAMESPACE)
        _ip("addr", "add", f"{HOST_ADDRESS}/30", "dev", HOST_SIDE)
        _ip("link", "set", HOST_SIDE, "up")
        _ip("-n", NAMESPACE, "addr", "add", f"{OUTSIDE_ADDRESS}/30", "dev", NS_SIDE)
        _ip("-n", NAMESPACE, "link", "set", NS_SIDE, "up")
        server = subprocess.Popen(
            ["ip", "netns", "exec", NAMESPACE, "python3", "-m", "http.server", str(PORT),
             "--bind", OUTSIDE_ADDRESS], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_listening(OUTSIDE_ADDRESS, PORT)
        yield OUTSIDE_ADDRESS, PORT
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        _cleanup()


def _wait_listening(host: str, port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"the outside test host did not listen on {host}:{port}")
