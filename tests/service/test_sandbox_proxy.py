"""The den's proxy in front of the sandboxes, against real servers on loopback: a real
`den serve`-like uvicorn server (in a thread, SQLite) and a hostile workload (`Hostile`, a
threaded http.server) that the fake runtime points every trial's `web` endpoint at.

What it shows: only allow-listed response headers pass; the workload's cookies stay on its
host; its redirects stay on its origin; and one slow or flooded trial neither starves another
trial's sandbox nor the den's API (api/sandbox_proxy.py). The limits are made small here:
LIMIT requests in flight per trial, WAIT seconds of queueing, TIMEOUT seconds to answer.
Timing bounds are generous: the test machine is small and noisy.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from api.main import create_app
from api.sandbox_headers import RESPONSE_HEADERS
from orchestrator import crud, db
from orchestrator.drivers.base import Observation, TrialSpec
from orchestrator.reconciler import Reconciler
from orchestrator.settings import Settings
from tests.conftest import ADMIN_TOKEN, FIXTURES
from tests.e2e.server import sandbox_get
from tests.fakes import FakeDriver
from tests.service.conftest import serving

LIMIT, WAIT, TIMEOUT = 2, 0.5, 6.0
PROMPT = 5.0  # "at once", on a loaded two-core machine (ordering is checked too)
TOKEN = "token-alice-" + "x" * 20
#: What the hostile workload sends beside its content: none of it may reach a browser.
FORBIDDEN = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Access-Control-Allow-Origin": "https://evil.example",
    "Access-Control-Allow-Credentials": "true",
    "Alt-Svc": 'h2="evil.example:443"',
    "Server-Timing": "db;dur=53",
    "Clear-Site-Data": '"cookies", "storage"',
    "Refresh": "0; url=https://evil.example/",
    "Link": "<https://evil.example/x.js>; rel=preload; as=script",
    "X-Den-Trial": "t000000000000",
    "X-Accel-Redirect": "/internal/secrets",
    "Report-To": '{"endpoints":[{"url":"https://evil.example/r"}]}',
    "NEL": '{"report_to":"default","max_age":31536000}',
    "WWW-Authenticate": 'Basic realm="Innovation Den sign-in"',
    "X-Powered-By": "PHP/5.1",
    "Content-Location": "https://evil.example/",
    "X-Hop": "named in Connection",
}
ALLOWED = {
    "Content-Type": "text/plain; charset=utf-8",
    "Cache-Control": "max-age=60",
    "ETag": '"v1"',
    "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT",
    "Vary": "Accept-Encoding",
    "Content-Language": "en-GB",
    "Content-Disposition": 'inline; filename="a.txt"',
    "Content-Security-Policy": "default-src 'self'",
}
COOKIES = [
    "a=1; Domain=sandbox.localhost; Path=/",
    "b=2; domain = .localhost",
    "=den_sandbox=fixed",
    "__Host-den_session=evil; Path=/; Secure",
    "c=3; Path=/; HttpOnly",
]


class Hostile(BaseHTTPRequestHandler):
    """`/<trial>/web/<what>`: headers, echo, redirect?to=&status=, slow?seconds=, hold (streams
    dots until the test lets go), stall (starts its body, then falls silent); else `ok`."""

    server: HostileServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        what = parts.path.split("/", 3)[3] if parts.path.count("/") >= 3 else ""
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        getattr(self, "_" + what, self._ok)(query)

    def _ok(self, query: dict[str, str]) -> None:
        self._answer(200, b"ok", {"Content-Type": "text/plain"})

    def _headers(self, query: dict[str, str]) -> None:
        self.send_response(200)
        for name, value in {
            **FORBIDDEN,
            **ALLOWED,
            "X-Frame-Options": "ALLOWALL",
            "Connection": "close, X-Hop",
        }.items():
            self.send_header(name, value)
        for cookie in COOKIES:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"hi")

    def _echo(self, query: dict[str, str]) -> None:
        body = json.dumps([[k.lower(), v] for k, v in self.headers.items()]).encode()
        self._answer(200, body, {"Content-Type": "application/json"})

    def _redirect(self, query: dict[str, str]) -> None:
        self._answer(int(query.get("status", "302")), b"", {"Location": query["to"]})

    def _slow(self, query: dict[str, str]) -> None:
        time.sleep(float(query["seconds"]))
        self._answer(200, b"late", {})

    def _hold(self, query: dict[str, str]) -> None:
        self.send_response(200)
        self.end_headers()
        with self.server.lock:
            self.server.holding += 1
        try:
            deadline = time.monotonic() + 30
            while not self.server.release.is_set() and time.monotonic() < deadline:
                self.wfile.write(b".")
                self.wfile.flush()
                time.sleep(0.1)
            self.wfile.write(b"done")
        finally:
            with self.server.lock:
                self.server.holding -= 1

    def _stall(self, query: dict[str, str]) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"start")
        self.wfile.flush()
        time.sleep(20)
        self.wfile.write(b"end")

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Hostile)
        self.lock, self.holding, self.release = threading.Lock(), 0, threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the den hung up on a slow answer: that is the point


@dataclasses.dataclass
class UpstreamDriver(FakeDriver):
    upstream: str = ""

    def poll(self, spec: TrialSpec) -> Observation:
        seen = super().poll(spec)
        return dataclasses.replace(
            seen, endpoints={name: f"{self.upstream}/{spec.trial_id}/{name}/" for name in seen.endpoints}
        )


@dataclasses.dataclass
class Den:
    url: str
    upstream: str
    hostile: HostileServer
    app: Any
    trials: list[str]

    def get(self, trial_id: str, path: str, **kwargs: Any) -> httpx.Response:
        return sandbox_get(
            f"http://{trial_id}-web.sandbox.localhost{path}", den=self.url, token=TOKEN, **kwargs
        )

    def api(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def _settings(tmp: Path) -> Settings:
    shutil.copytree(FIXTURES / "templates", tmp / "templates")
    url = f"sqlite:///{tmp / 'den.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    return Settings(
        database_url=url,
        templates_dir=tmp / "templates",
        data_dir=tmp / "data",
        bootstrap_admin_token=ADMIN_TOKEN,
        min_trial_duration=1,
        poll_interval=0.05,
        max_active_trials_per_user=1000,
        max_active_trials_per_department=1000,
        sandbox_max_concurrent_requests=LIMIT,
        sandbox_queue_wait=WAIT,
        sandbox_request_timeout=TIMEOUT,
    )


@pytest.fixture(scope="module")
def den(tmp_path_factory: pytest.TempPathFactory, hostile: HostileServer) -> Iterator[Den]:
    upstream = f"http://127.0.0.1:{hostile.server_address[1]}"
    driver = UpstreamDriver(ready_after=1, upstream=upstream)
    settings = _settings(tmp_path_factory.mktemp("den"))
    app = create_app(settings, with_reconciler=False, driver=driver)
    with serving(app) as url:
        with db.session_scope(app.state.engine) as session:
            now = datetime.now(UTC)
            alice = crud.create_user(
                session,
                actor=None,
                now=now,
                data=crud.NewUser(name="alice", role="civil_servant", department="dwp"),
            )
            crud.issue_token(session, user=alice, now=now, token=TOKEN)
        trials = [_ready(url, app, driver, settings) for _ in range(2)]
        yield Den(url=url, upstream=upstream, hostile=hostile, app=app, trials=trials)
        hostile.release.set()


def _ready(url: str, app: Any, driver: FakeDriver, settings: Settings) -> str:
    made = httpx.post(
        f"{url}/api/v1/trials",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"template": "demo", "title": "A trial", "hypothesis": "It helps", "duration_seconds": 600},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    reconciler = Reconciler(engine=app.state.engine, driver=driver, settings=settings)
    for _ in range(2):
        reconciler.reconcile_once(now=datetime.now(UTC))
    trial_id = str(made.json()["id"])
    assert (
        httpx.get(f"{url}/api/v1/trials/{trial_id}", headers={"Authorization": f"Bearer {TOKEN}"}).json()[
            "phase"
        ]
        == "Ready"
    )
    return trial_id


def timed(call: Any, *args: Any, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = call(*args, **kwargs)
    return answer, time.monotonic() - started


# --- headers ---------------------------------------------------------------------------------


def test_only_allow_listed_headers_of_the_workload_reach_the_browser(den: Den) -> None:
    answer = den.get(den.trials[0], "/headers")
    assert answer.status_code == 200 and answer.text == "hi"
    names = {name.lower() for name in answer.headers}
    for name in FORBIDDEN:
        assert name.lower() not in names, name
    for name, value in ALLOWED.items():
        assert value in answer.headers.get_list(name), name
    # Anything else is the den's own (uvicorn's date and server among them).
    assert names <= RESPONSE_HEADERS | {"x-frame-options", "x-content-type-options", "date", "server"}, (
        names - RESPONSE_HEADERS
    )
    assert "BaseHTTP" not in answer.headers["server"]
    assert answer.headers.get_list("x-frame-options") == ["DENY"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in answer.headers.get_list("content-security-policy")


def test_the_workloads_cookies_stay_on_its_own_host(den: Den) -> None:
    answer = den.get(den.trials[0], "/headers")
    assert answer.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2", "c=3; Path=/; HttpOnly"]


def test_nothing_of_the_den_nor_the_visitors_address_reaches_the_workload(den: Den) -> None:
    answer = den.get(
        den.trials[0],
        "/echo",
        headers={
            "cookie": "theirs=1; __Host-den_session=s; den_sandbox=s2",
            "x-den-trial": "spoof",
            "x-den-role": "platform_engineer",
            "authorization": "Bearer den-secret",
            "x-forwarded-for": "203.0.113.9",
            "x-real-ip": "203.0.113.9",
            "forwarded": "for=203.0.113.9",
            "connection": "keep-alive, x-secret",
            "x-secret": "hop",
            "accept-language": "cy",
        },
    )
    assert answer.status_code == 200, answer.text
    seen = dict(answer.json())
    assert seen["cookie"] == "theirs=1" and seen["accept-language"] == "cy"
    assert seen["x-forwarded-host"] == f"{den.trials[0]}-web.sandbox.localhost"
    for name in (
        "x-den-token",
        "x-den-trial",
        "x-den-role",
        "authorization",
        "x-real-ip",
        "forwarded",
        "x-secret",
    ):
        assert name not in seen, name
    assert "203.0.113.9" not in answer.text and TOKEN not in answer.text


# --- redirects -------------------------------------------------------------------------------

OWN = "{trial}-web.sandbox.localhost"
REFUSED = [
    "https://evil.example/",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    " //evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http:evil.example",
    "https:/evil.example",
    "https://{other}-web.sandbox.localhost/",  # another sandbox
    "http://127.0.0.1:{den_port}/api/v1/trials",  # the den itself
    "https://localhost/trials",
    "https://sandbox.localhost/",
    "https://{own}.evil.example/",
    "https://{own}@evil.example/",
    "https://evil.example@{own}/",
    "https://{own}:8443/",
    "{upstream}/{other}/web/",  # the workload's internal address, but another trial's
    "http://127.0.0.1:1/",
    "ftp://{own}/",
]
PASSED = [
    ("/next?a=1", "/next?a=1"),
    ("next", "next"),
    ("../up", "../up"),
    ("?page=2", "?page=2"),
    ("#top", "#top"),
    ("./", "./"),
    ("https://{own}/x", "https://{own}/x"),
    ("http://{own}:80/y", "http://{own}:80/y"),
    ("//{own}/z", "//{own}/z"),
    ("{upstream}/{trial}/web/inside?q=1#f", "/inside?q=1#f"),
    ("{upstream}/{trial}/web", "/"),
]


def _fill(template: str, den: Den) -> str:
    return template.format(
        own=OWN.format(trial=den.trials[0]),
        trial=den.trials[0],
        other=den.trials[1],
        upstream=den.upstream,
        den_port=urlsplit(den.url).port,
    )


def _refused(den: Den, location: str, status: int = 302) -> None:
    answer = den.get(den.trials[0], f"/redirect?status={status}&to={quote(location, safe='')}")
    assert answer.status_code == 502, (location, answer.headers)
    assert answer.json()["reason"] == "SandboxRedirectRefused"
    assert "location" not in answer.headers and "refresh" not in answer.headers


@pytest.mark.parametrize("target", REFUSED)
def test_a_redirect_off_the_sandboxs_own_origin_is_refused(den: Den, target: str) -> None:
    _refused(den, _fill(target, den))


@pytest.mark.parametrize("status", [300, 301, 303, 307, 308])
def test_every_kind_of_redirect_is_checked(den: Den, status: int) -> None:
    _refused(den, "https://evil.example/", status)


@pytest.mark.parametrize(("target", "expected"), PASSED)
def test_a_redirect_within_the_sandboxs_own_origin_passes(den: Den, target: str, expected: str) -> None:
    location = _fill(target, den)
    answer = den.get(den.trials[0], f"/redirect?to={quote(location, safe='')}")
    assert answer.status_code == 302, answer.text
    assert answer.headers["location"] == _fill(expected, den)


def test_an_off_origin_location_on_another_answer_is_only_dropped(den: Den) -> None:
    created = den.get(den.trials[0], "/redirect?status=201&to=https%3A%2F%2Fevil.example%2F")
    assert created.status_code == 201 and "location" not in created.headers
    unchanged = den.get(den.trials[0], "/redirect?status=304&to=%2Fsame")
    assert unchanged.status_code == 304 and unchanged.headers["location"] == "/same"


# --- one trial cannot starve the others ------------------------------------------------------


def test_a_slow_sandbox_times_out_while_others_and_the_den_answer_promptly(den: Den) -> None:
    slow, other = den.trials
    with ThreadPoolExecutor(max_workers=LIMIT) as pool:
        waiting = [
            pool.submit(timed, den.get, slow, "/slow?seconds=20", timeout=30) for _ in range(LIMIT)
        ]  # every place of the slow trial taken
        time.sleep(0.3)
        answer, took = timed(den.get, other, "/")
        assert answer.status_code == 200 and answer.text == "ok"
        assert took < PROMPT, took
        api, took = timed(den.api, f"/api/v1/trials/{slow}")
        assert api.status_code == 200 and took < PROMPT, took
        # ... all while the slow trial's requests were still waiting for their workload.
        assert not any(future.done() for future in waiting)
        for future in waiting:
            answer, took = future.result()
            assert answer.status_code == 504, answer.text
            assert answer.json()["reason"] == "SandboxTimeout"
            assert TIMEOUT - 0.2 < took < TIMEOUT + 6, took
    # Its places are given back: the slow trial answers again.
    assert den.get(slow, "/").status_code == 200


def test_a_flooded_sandbox_answers_busy_while_another_trial_is_served(den: Den) -> None:
    flooded, other = den.trials
    proxy = den.app.state.sandbox_proxy
    first_bytes: list[float] = []

    def hold() -> tuple[int, bytes]:
        with httpx.stream(
            "GET",
            f"{den.url}/hold",
            headers={"host": f"{flooded}-web.sandbox.localhost", "x-den-token": TOKEN},
            timeout=20,
        ) as answer:
            chunks = answer.iter_raw()
            body = next(chunks)
            first_bytes.append(time.monotonic())  # streamed: before the workload is done
            return answer.status_code, body + b"".join(chunks)

    den.hostile.release.clear()
    with ThreadPoolExecutor(max_workers=LIMIT + 6) as pool:
        holders = [pool.submit(hold) for _ in range(LIMIT)]
        deadline = time.monotonic() + 10
        while (den.hostile.holding < LIMIT or len(first_bytes) < LIMIT) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert den.hostile.holding == LIMIT and len(first_bytes) == LIMIT
        flood = [pool.submit(timed, den.get, flooded, "/", timeout=10) for _ in range(6)]
        time.sleep(0.1)
        answer, took = timed(den.get, other, "/")
        assert answer.status_code == 200 and took < PROMPT, took
        api, took = timed(den.api, "/api/v1/trials")
        assert api.status_code == 200 and took < PROMPT, took
        for future in flood:
            busy, took = future.result()
            assert busy.status_code == 503, busy.text
            assert busy.json()["reason"] == "SandboxBusy" and busy.headers["retry-after"]
            assert took < WAIT + PROMPT, took
        assert den.hostile.holding == LIMIT, "the flood reached the workload"
        den.hostile.release.set()
        for holder in holders:
            status, body = holder.result(timeout=20)
            assert status == 200 and body.endswith(b"done") and body.startswith(b".")
    assert den.get(flooded, "/").status_code == 200
    deadline = time.monotonic() + 5  # the den gives a place back just after the last byte
    while proxy.gates.in_use(flooded) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proxy.gates.in_use(flooded) == 0 and proxy.gates.in_use(other) == 0


def test_a_sandbox_that_falls_silent_mid_answer_is_cut_off(den: Den) -> None:
    started = time.monotonic()
    with pytest.raises(httpx.HTTPError):  # a broken answer, never one that looks whole
        den.get(den.trials[1], "/stall", timeout=20)
    assert time.monotonic() - started < TIMEOUT + 6
