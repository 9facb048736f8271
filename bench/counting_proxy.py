"""A pass-through proxy in front of a runtime's HTTP API that counts the requests it forwards.

The orchestrator is pointed at the proxy (`DEN_DOCKER_HOST=unix://...` for the Docker engine;
a kubeconfig whose server is the proxy's plain-HTTP address for Kubernetes, the proxy holding
the client certificate), so every call the product makes to its runtime is counted where it
crosses the wire, whatever layer of the product made it. Requests are parsed only far enough
to find where each one ends (Content-Length or chunked bodies); responses, watch streams and
upgraded connections pass through untouched.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

Connect = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
_ID = re.compile(r"/(?:[0-9a-f]{12,64}|den-[a-z0-9-]+|t[0-9a-z]{11})(?=/|$)")
_NAMESPACE = re.compile(r"/namespaces/[^/]+")
_VERSION = re.compile(r"^/v[0-9.]+/")


def request_key(method: str, target: str) -> str:
    """`GET /containers/json`, `WATCH /api/v1/pods`: method and path without names or ids."""
    path, _, query = target.partition("?")
    path = _NAMESPACE.sub("/namespaces/{ns}", _ID.sub("/{id}", _VERSION.sub("/", path)))
    if method == "GET" and "watch=true" in query.lower():
        method = "WATCH"
    return f"{method} {path}"


class CountingProxy:
    def __init__(self, connect: Connect) -> None:
        self.connect = connect
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        # The loop keeps only weak references to tasks: these keep open connections alive.
        self._tasks: set[asyncio.Future[None]] = set()

    # --- life ----------------------------------------------------------------------------

    @classmethod
    def to_unix(cls, upstream: str) -> CountingProxy:
        return cls(lambda: asyncio.open_unix_connection(upstream, limit=2**22))

    @classmethod
    def to_tls(cls, host: str, port: int, context: ssl.SSLContext) -> CountingProxy:
        return cls(lambda: asyncio.open_connection(host, port, ssl=context, limit=2**22))

    def serve_unix(self, path: Path) -> None:
        self._start(asyncio.start_unix_server(self._handle, str(path), limit=2**22))

    def serve_tcp(self) -> int:
        """Listen on a free loopback port; returns it."""
        self._start(asyncio.start_server(self._handle, "127.0.0.1", 0, limit=2**22))
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def _start(self, starting: Awaitable[asyncio.Server]) -> None:
        threading.Thread(target=self._loop.run_forever, daemon=True, name="proxy").start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(starting), self._loop).result()

    @staticmethod
    async def _listen(starting: Awaitable[asyncio.Server]) -> asyncio.Server:
        return await starting

    def close(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.counts)

    # --- one connection ------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await self.connect()
        except OSError:
            writer.close()
            return
        back = asyncio.ensure_future(_pump(up_reader, writer))
        this = asyncio.ensure_future(self._requests(reader, up_writer))
        self._tasks |= {back, this}
        try:
            await this
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            up_writer.close()
            await back
            self._tasks -= {back, this}

    async def _requests(self, reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            with self._lock:
                self.counts[request_key(method, target)] += 1
            up.write(head)
            headers = head.lower()
            if b"\r\nupgrade:" in headers:  # a hijacked stream from here on: pass it through
                await _pump(reader, up)
                return
            if b"transfer-encoding: chunked" in headers:
                await _chunks(reader, up)
            else:
                length = re.search(rb"\r\ncontent-length:\s*(\d+)", headers)
                if length:
                    up.write(await reader.readexactly(int(length.group(1))))
            await up.drain()


async def _chunks(reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        up.write(size_line)
        size = int(size_line.split(b";")[0].strip(), 16)
        up.write(await reader.readexactly(size + 2))
        if size == 0:
            return


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(2**16):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()
