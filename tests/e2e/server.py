"""A real `den serve` process for end-to-end tests: started, killed with SIGKILL, restarted."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-admin-token-" + "z" * 24


def sandbox_get(
    url: str, *, den: str, token: str | None, timeout: float = 5, method: str = "GET", **kwargs: Any
) -> httpx.Response:
    """Fetch `url`, on a sandbox's own origin (`http://<trial>-<component>.sandbox.localhost:
    <port>/...`, as the API's `endpoints` give it), as a script does: with an API token as
    `X-Den-Token` (None: without, as a browser bringing its cookie does). Python does not
    resolve `*.localhost` by itself, so the request is sent to the den's own address (`den`:
    the same process answers the sandbox origins) with the sandbox's name as its Host header.
    Redirects are answered, not followed."""
    parts, via = urlsplit(url), urlsplit(den)
    target = f"{via.scheme}://{via.netloc}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
    headers = {"host": parts.netloc, **({"x-den-token": token} if token else {}), **kwargs.pop("headers", {})}
    return httpx.request(method, target, headers=headers, timeout=timeout, follow_redirects=False, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    launched: list[str] = field(default_factory=list)
    serve_args: tuple[str, ...] = ()

    @property
    def instance(self) -> str:
        """Each test server sweeps only its own sandboxes, never another run's."""
        return f"e2e-{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """The server's settings: also those of any other `den` process working beside it."""
        return {
            **os.environ,
            "DEN_DATA_DIR": str(self.data_dir),
            "DEN_BOOTSTRAP_ADMIN_TOKEN": TOKEN,
            "DEN_MIN_TRIAL_DURATION": "1",
            "DEN_POLL_INTERVAL": "0.1",
            "DEN_DRIVER": "docker",
            "DEN_LOG_FORMAT": "json",
            "DEN_INSTANCE": self.instance,
            **self.env,
        }

    def spawn(self, *args: str, log_name: str) -> subprocess.Popen[bytes]:
        """Another `den` command with the server's settings, its output in `log_name`."""
        log = (self.data_dir / log_name).open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "cli.den", *args],
            cwd=ROOT,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def start(self, timeout: float = 90) -> Server:
        """Start `den serve` and wait for /readyz. The wait is long because a fresh database is
        migrated first, and the test tiers share two cores; a server that never gets ready is
        stopped before the failure is raised, so nothing is left running."""
        self.process = self.spawn("serve", "--port", str(self.port), *self.serve_args, log_name="server.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_tail()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"den serve did not become ready in {timeout:g} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no clean-up code of ours runs."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 40) -> str:
        path = self.data_dir / "server.log"
        return "\n".join(path.read_text().splitlines()[-lines:]) if path.exists() else ""

    # --- API ---------------------------------------------------------------------------

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method, self.url + path, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}, **kwargs
        )

    def sandbox_get(
        self, url: str, *, token: str | None = TOKEN, timeout: float = 5, **kwargs: Any
    ) -> httpx.Response:
        """A sandbox URL of this server's trials, fetched with the admin's token unless told
        otherwise (see `sandbox_get` above)."""
        return sandbox_get(url, den=self.url, token=token, timeout=timeout, **kwargs)

    def launch(self, template: str, *, duration: int = 600, **extra: Any) -> dict[str, Any]:
        answer = self.call(
            "POST",
            "/api/v1/trials",
            json={
                "template": template,
                "title": f"e2e {template}",
                "hypothesis": "It works",
                "duration_seconds": duration,
                **extra,
            },
        )
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        self.launched.append(body["id"])
        return body

    def trial(self, trial_id: str) -> dict[str, Any]:
        answer = self.call("GET", f"/api/v1/trials/{trial_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def events(self, trial_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.call("GET", f"/api/v1/trials/{trial_id}/events").json()["items"]
        return items

    def wait_for(self, trial_id: str, *phases: str, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        trial = self.trial(trial_id)
        while trial["phase"] not in phases:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"trial {trial_id} is {trial['phase']} ({trial['message']}), "
                    f"not {phases}:\n{self.log_tail()}"
                )
            time.sleep(0.05)
            trial = self.trial(trial_id)
        return trial


@contextlib.contextmanager
def on_kubernetes(data_dir: Path, core: Any, env: dict[str, str]) -> Iterator[Server]:
    """A real `den serve` with the Kubernetes driver (`env` names the cluster); the namespaces
    of the trials it launched are deleted afterwards, whatever happened."""
    from kubernetes.client.exceptions import ApiException

    running = Server(data_dir=data_dir, env={"DEN_DRIVER": "kubernetes", **env}).start()
    try:
        yield running
    finally:
        running.stop()
        for trial_id in running.launched:
            try:
                core.delete_namespace(f"den-{trial_id}")
            except ApiException as exc:
                if exc.status != 404:
                    raise
