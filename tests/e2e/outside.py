"""A stand-in for "the internet": a test host in a network namespace of our own.

Egress tests must never send traffic off this machine, so "outside" is a network namespace
joined to the host by a veth pair, with an address in TEST-NET-2 (198.51.100.0/24, never
routed publicly) and a small HTTP listener. A sandbox reaches it only if its packets are
forwarded by the host, exactly as they would be to any outside address (and masqueraded, so
the test host needs no route back: it has none, so nothing it does can leave the machine).

`egress_hosts()` makes two such hosts (A in TEST-NET-2, B in TEST-NET-3; A listens on two ports)
and a listener on this machine itself, bound to every address: what the egress tests need to
show that a sandbox reaches exactly what it declared, and never the host.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

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
            [
                "ip",
                "netns",
                "exec",
                NAMESPACE,
                "python3",
                "-m",
                "http.server",
                str(PORT),
                "--bind",
                OUTSIDE_ADDRESS,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_listening(OUTSIDE_ADDRESS, PORT)
        yield OUTSIDE_ADDRESS, PORT
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        _cleanup()


@dataclass(frozen=True)
class EgressHosts:
    a: str  # listens on `port` and `other_port`
    b: str  # listens on `port`
    port: int
    other_port: int
    host_port: int  # a listener on this machine, on 0.0.0.0


@contextmanager
def _namespace(
    name: str, sides: tuple[str, str], addresses: tuple[str, str], ports: tuple[int, ...]
) -> Iterator[None]:
    """A namespace joined to the host by a veth pair (host side first), with an HTTP listener
    on each of `ports` at its address."""
    host_side, ns_side = sides
    host_address, ns_address = addresses
    _ip("netns", "del", name, check=False)
    _ip("link", "del", host_side, check=False)
    _ip("netns", "add", name)
    servers: list[subprocess.Popen[bytes]] = []
    try:
        _ip("link", "add", host_side, "type", "veth", "peer", "name", ns_side)
        _ip("link", "set", ns_side, "netns", name)
        _ip("addr", "add", f"{host_address}/30", "dev", host_side)
        _ip("link", "set", host_side, "up")
        _ip("-n", name, "addr", "add", f"{ns_address}/30", "dev", ns_side)
        _ip("-n", name, "link", "set", ns_side, "up")
        for port in ports:
            servers.append(
                subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        name,
                        "python3",
                        "-m",
                        "http.server",
                        str(port),
                        "--bind",
                        ns_address,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            _wait_listening(ns_address, port)
        yield
    finally:
        _stop(servers)
        _ip("netns", "del", name, check=False)
        _ip("link", "del", host_side, check=False)


@contextmanager
def _host_listener() -> Iterator[int]:
    """An HTTP listener on this machine itself, on every address, on a free port."""
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        port = int(probe.getsockname()[1])
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "0.0.0.0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening("127.0.0.1", port)
        yield port
    finally:
        _stop([server])


@contextmanager
def egress_hosts() -> Iterator[EgressHosts]:
    hosts = EgressHosts(a="198.51.100.6", b="203.0.113.2", port=8080, other_port=8081, host_port=0)
    with ExitStack() as stack:
        stack.enter_context(
            _namespace(
                "den-egress-a",
                ("den-ega0", "den-ega1"),
                ("198.51.100.5", hosts.a),
                (hosts.port, hosts.other_port),
            )
        )
        stack.enter_context(
            _namespace("den-egress-b", ("den-egb0", "den-egb1"), ("203.0.113.1", hosts.b), (hosts.port,))
        )
        port = stack.enter_context(_host_listener())
        yield EgressHosts(hosts.a, hosts.b, hosts.port, hosts.other_port, port)


def host_addresses() -> list[str]:
    """Every IPv4 address of this machine but loopback (where a sandbox might find the host)."""
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], check=True, capture_output=True, text=True
    ).stdout
    found = [line.split()[3].split("/")[0] for line in out.splitlines()]
    return [address for address in found if not address.startswith("127.")]


def _stop(servers: list[subprocess.Popen[bytes]]) -> None:
    for server in servers:
        server.terminate()
        server.wait(timeout=10)


def _wait_listening(host: str, port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"the outside test host did not listen on {host}:{port}")
