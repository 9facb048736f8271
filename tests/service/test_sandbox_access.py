"""Each sandbox on its own origin, opened only for its trial's people (in process, SQLite and
PostgreSQL): the hand-over from the den's page to the sandbox origin, single-use grants, the
sandbox's own cookie, share links, and what is (never) forwarded to the workload.

The workload is a real little HTTP server (`echo`) that answers with the request it received,
and sets cookies of its own and some it must not; the fake runtime points the trials' `web`
endpoints at it. People as in tests/service/conftest.py (alice owns, bob is her colleague,
carol another department, sam and gus suppliers, pat a platform engineer, ann an approver).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.main import create_app
from orchestrator import crud
from orchestrator.drivers.base import Observation, TrialSpec
from orchestrator.errors import NotFound
from orchestrator.models import AuditEvent, SandboxGrant, SandboxSession, ShareLink, Trial
from orchestrator.settings import Settings
from tests.fakes import FakeDriver
from tests.service.conftest import AUTH, launch, reconciler, run_until_ready

HTTPS = "https://testserver"
COOKIE = "__Host-den_sandbox"
#: What the workload sets: its own cookies pass, the den's names never.
WORKLOAD_COOKIES = [
    "theirs=1; Path=/",
    "den_sandbox=evil; Path=/",
    "__Host-den_sandbox=evil; Path=/; Secure",
    "__host-DEN_SESSION=evil",
    "wide=1; Domain=sandbox.localhost; Path=/",
]


class Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "body": self.rfile.read(length).decode(),
                "headers": [[k.lower(), v] for k, v in self.headers.items()],
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("content-security-policy", "default-src 'self'")
        for cookie in WORKLOAD_COOKIES:
            self.send_header("set-cookie", cookie)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@dataclasses.dataclass
class EchoDriver(FakeDriver):
    """The fake runtime, with every component answered by the echo server."""

    upstream: str = ""

    def poll(self, spec: TrialSpec) -> Observation:
        seen = super().poll(spec)
        return dataclasses.replace(
            seen, endpoints={name: f"{self.upstream}/{spec.trial_id}/{name}/" for name in seen.endpoints}
        )


@pytest.fixture
def fake_driver(echo: str) -> FakeDriver:
    return EchoDriver(ready_after=1, upstream=echo)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"max_active_trials_per_user": 1000, "max_active_trials_per_department": 1000}
    )


@pytest.fixture
def client(settings: Settings, fake_driver: FakeDriver) -> Iterator[TestClient]:
    app = create_app(settings, with_reconciler=False, driver=fake_driver)
    with TestClient(app, base_url=HTTPS, follow_redirects=False) as test_client:
        yield test_client


def ready(
    client: TestClient,
    people: dict[str, dict[str, str]],
    driver: FakeDriver,
    *,
    shared: bool = False,
    duration: int = 600,
) -> str:
    body = launch(client, people["alice"], shared_with_department=shared, duration=duration)
    run_until_ready(client, driver, body["id"])
    return str(body["id"])


def sandbox(trial_id: str, path: str = "/") -> str:
    return f"https://{trial_id}-web.sandbox.localhost{path}"


def browser(client: TestClient, person: str) -> TestClient:
    """A browser of its own, signed in through the development sign-in."""
    own = TestClient(client.app, base_url=HTTPS, follow_redirects=False)
    form = own.get("/sign-in")
    answer = own.post("/sign-in", data={"csrf_token": csrf_of(form.text), "user": person})
    assert answer.status_code == 303, answer.text
    return own


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def set_cookies(answer: Any) -> list[str]:
    return list(answer.headers.get_list("set-cookie"))


def enter(visitor: TestClient, location: str) -> str:
    """Follow a hand-over to the sandbox origin: its cookie's value (requests below send it
    themselves, so the test client's own jar keeps none)."""
    assert location.startswith("https://") and "/_den/enter?grant=" in location, location
    answer = visitor.get(location)
    assert answer.status_code == 303, answer.text
    (cookie,) = [c for c in set_cookies(answer) if c.startswith(COOKIE + "=")]
    visitor.cookies.delete(COOKIE)
    return cookie.split(";", 1)[0].split("=", 1)[1]


def visit(client: TestClient, trial_id: str, cookie: str, path: str = "/", **kwargs: Any) -> Any:
    headers = {"cookie": f"{COOKIE}={cookie}", **kwargs.pop("headers", {})}
    return client.get(sandbox(trial_id, path), headers=headers, **kwargs)


def grant_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["grant"][0]


def engine_of(client: TestClient) -> Any:
    return client.app.state.engine  # type: ignore[attr-defined]


def audit_actions(client: TestClient, trial_id: str) -> list[str]:
    with Session(engine_of(client)) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.object_id == trial_id)).all()
        return [row.action for row in rows]


# --- the address --------------------------------------------------------------------------


def test_endpoints_are_each_sandboxs_own_origin_in_the_api_and_the_pages(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    api = client.get(f"/api/v1/trials/{trial_id}", headers=AUTH).json()
    assert api["endpoints"] == {"web": f"https://{trial_id}-web.sandbox.localhost/"}
    twin = client.get(f"/trials/{trial_id}.json", headers=people["alice"]).json()
    assert twin["trial"]["endpoints"] == api["endpoints"]
    listed = client.get("/trials.json", headers=people["alice"]).json()["trials"]
    assert [t["endpoints"] for t in listed if t["id"] == trial_id] == [api["endpoints"]]
    page = browser(client, "alice").get(f"/trials/{trial_id}").text
    assert f'href="/trials/{trial_id}/open/web"' in page and "/sandboxes/" not in page
    # Someone who sees the trial but may not open its sandbox is not offered the link.
    assert f"/trials/{trial_id}/open/web" not in browser(client, "ann").get(f"/trials/{trial_id}").text


def test_the_old_den_paths_send_to_the_open_page_and_never_serve_the_workload(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    answer = client.get(f"/sandboxes/{trial_id}/web/cases/1?q=a&b=2", headers=people["alice"])
    assert answer.status_code == 303
    assert answer.headers["location"] == (f"/trials/{trial_id}/open/web?next=/cases/1%3Fq%3Da%26b%3D2")
    posted = client.post(f"/sandboxes/{trial_id}/web/form", headers=people["alice"])
    assert posted.status_code == 405 and "method" not in posted.text
    assert (
        client.get(f"/sandboxes/{trial_id}/web")
        .headers["location"]
        .startswith(f"/trials/{trial_id}/open/web?next=/")
    )


# --- the hand-over ---------------------------------------------------------------------------


def test_the_owner_passes_the_interstitial_and_gets_the_sandboxs_own_cookie(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    alice = browser(client, "alice")
    page = alice.get(f"/trials/{trial_id}/open/web?next=/cases")
    assert page.status_code == 200
    assert "synthetic (made-up) data only" in page.text
    assert "Do not enter real personal data" in page.text
    assert "will be deleted on" in page.text and "in 9 minutes" in page.text
    # The Continue form is a POST with the session's CSRF token; nothing is granted before it.
    with Session(engine_of(client)) as session:
        assert session.exec(select(SandboxGrant)).all() == []
    answer = alice.post(
        f"/trials/{trial_id}/open/web", data={"csrf_token": csrf_of(page.text), "next": "/cases"}
    )
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(f"https://{trial_id}-web.sandbox.localhost/_den/enter?grant=")
    assert location.endswith("&next=/cases")
    grant = grant_of(location)
    with Session(engine_of(client)) as session:  # only the grant's hash is stored
        row = session.exec(select(SandboxGrant)).one()
        assert row.token_hash == hashlib.sha256(grant.encode()).hexdigest()
        assert grant not in json.dumps(row.model_dump(mode="json"))
        assert row.expires_at - row.created_at == timedelta(seconds=60)

    entered = alice.get(location)
    assert entered.status_code == 303 and entered.headers["location"] == "/cases"
    (cookie,) = set_cookies(entered)
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert cookie.startswith(COOKIE + "=")
    assert {"httponly", "secure", "path=/", "samesite=lax"} <= set(attributes)
    assert not any(a.startswith("domain=") for a in attributes), "host-only"
    max_age = next(int(a.split("=")[1]) for a in attributes if a.startswith("max-age="))
    assert 500 < max_age <= 600, "no longer than the trial"
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    with Session(engine_of(client)) as session:
        stored = session.exec(select(SandboxSession)).one()
        assert stored.token_hash == hashlib.sha256(value.encode()).hexdigest()

    seen = visit(client, trial_id, value, "/cases?page=2")
    assert seen.status_code == 200, seen.text
    assert seen.json()["path"] == f"/{trial_id}/web/cases?page=2"
    # A later visit of the den's page, with a live sandbox session, goes straight through.
    again = alice.get(f"/trials/{trial_id}/open/web")
    assert again.status_code == 303 and "/_den/enter?grant=" in again.headers["location"]
    assert enter(alice, again.headers["location"]) != value
    assert audit_actions(client, trial_id).count("sandbox.open") == 2


def test_without_a_session_the_sandbox_sends_browsers_to_the_dens_open_page(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    for cookie in ("", f"{COOKIE}=forged", "den_sandbox=forged"):
        answer = client.get(sandbox(trial_id, "/cases?x=1"), headers={"cookie": cookie})
        assert answer.status_code == 303
        assert answer.headers["location"] == (
            f"https://localhost/trials/{trial_id}/open/web?next=/cases%3Fx%3D1"
        )
        assert "application/json" not in answer.headers.get("content-type", "")
    # The den's own cookie means nothing on the sandbox origin.
    alice = browser(client, "alice")
    den_cookie = "; ".join(f"{k}={v}" for k, v in alice.cookies.items())
    assert client.get(sandbox(trial_id), headers={"cookie": den_cookie}).status_code == 303


def test_the_den_page_is_not_found_to_anyone_who_may_not_open_the_sandbox(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    for person in ("bob", "carol", "sam", "gus", "ann"):
        answer = browser(client, person).get(f"/trials/{trial_id}/open/web")
        assert answer.status_code == 404, person
        assert "Page not found" in answer.text
    assert browser(client, "alice").get(f"/trials/{trial_id}/open/db").status_code == 404
    signed_out = TestClient(client.app, base_url=HTTPS, follow_redirects=False)
    answer = signed_out.get(f"/trials/{trial_id}/open/web")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in?next=")


@pytest.mark.parametrize("shared", [False, True])
def test_the_department_opens_a_shared_trial_only(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver, shared: bool
) -> None:
    trial_id = ready(client, people, fake_driver, shared=shared)
    answer = client.post(f"/api/v1/trials/{trial_id}/open", json={}, headers=people["bob"])
    assert answer.status_code == (201 if shared else 404), answer.text
    assert client.get(
        sandbox(trial_id), headers={"x-den-token": people["bob"]["Authorization"][7:]}
    ).status_code == (200 if shared else 404)
    assert client.post(f"/api/v1/trials/{trial_id}/open", json={}, headers=people["carol"]).status_code == 404


def test_a_grant_works_once_for_its_own_sandbox_within_a_minute(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id, other = ready(client, people, fake_driver), ready(client, people, fake_driver)
    made = client.post(f"/api/v1/trials/{trial_id}/open", json={"component": "web"}, headers=people["alice"])
    assert made.status_code == 201, made.text
    location = made.json()["url"]
    # Another sandbox's origin refuses it, and does not use it up.
    stolen = location.replace(f"{trial_id}-web.", f"{other}-web.")
    assert client.get(stolen).status_code == 403
    first = client.get(location)
    assert first.status_code == 303
    client.cookies.clear()  # another browser, without the cookie it was given
    replayed = client.get(location)
    assert replayed.status_code == 403 and "expired" in replayed.text
    assert not set_cookies(replayed)
    # The browser that was let in may come back to it (the Back button): it just goes on.
    cookie = set_cookies(first)[0].split(";", 1)[0]
    again = client.get(location, headers={"cookie": cookie})
    assert again.status_code == 303 and not set_cookies(again)
    # A grant made more than a minute ago is dead.
    with Session(engine_of(client)) as session:
        trial = session.get(Trial, trial_id)
        assert trial is not None
        actor = crud.Actor(user=crud.get_user(session, name="alice"))
        old = crud.hand_over(
            session, actor=actor, trial=trial, component="web", now=datetime.now(UTC) - timedelta(seconds=61)
        )
        session.commit()
    late = client.get(sandbox(trial_id, f"/_den/enter?grant={old}&next=/"))
    assert late.status_code == 403 and not set_cookies(late)


def _use_at_once(engine: Any, grant: str, trial_id: str, tries: int = 2) -> list[bool]:
    """`tries` threads, each with its own database session, consume the grant together."""
    barrier = threading.Barrier(tries)
    won: list[bool] = []

    def use() -> None:
        with Session(engine) as session:
            barrier.wait()
            opened = crud.consume_grant(
                session,
                secret=grant,
                trial_id=trial_id,
                component="web",
                now=datetime.now(UTC),
                longest=timedelta(hours=1),
            )
            session.commit()
            won.append(opened is not None)

    threads = [threading.Thread(target=use) for _ in range(tries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return won


def test_two_concurrent_uses_of_one_grant_cannot_both_succeed(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    for _ in range(5):
        location = client.post(f"/api/v1/trials/{trial_id}/open", json={}, headers=people["alice"]).json()[
            "url"
        ]
        assert sorted(_use_at_once(engine_of(client), grant_of(location), trial_id)) == [False, True]
    with Session(engine_of(client)) as session:
        assert len(session.exec(select(SandboxSession)).all()) == 5


def test_ending_the_trial_closes_its_address_at_once(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    cookie = enter(
        client, client.post(f"/api/v1/trials/{trial_id}/open", json={}, headers=people["alice"]).json()["url"]
    )
    token = {"x-den-token": people["alice"]["Authorization"][7:]}
    assert visit(client, trial_id, cookie).status_code == 200
    assert client.get(sandbox(trial_id), headers=token).status_code == 200
    assert client.post(f"/api/v1/trials/{trial_id}/end", headers=people["alice"]).status_code == 202
    # Before the reconciler has even acted: the end was asked for, the address is dead.
    assert visit(client, trial_id, cookie).status_code == 303
    assert client.get(sandbox(trial_id), headers=token).status_code == 404
    den = reconciler(client, fake_driver)
    for _ in range(3):
        den.reconcile_once(now=datetime.now(UTC))
    assert client.get(f"/api/v1/trials/{trial_id}", headers=AUTH).json()["phase"] == "Stopped"
    assert visit(client, trial_id, cookie).status_code == 303
    assert client.post(f"/api/v1/trials/{trial_id}/open", json={}, headers=people["alice"]).status_code == 409


def test_an_expired_trial_closes_before_the_reconciler_acts(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    cookie = enter(
        client, client.post(f"/api/v1/trials/{trial_id}/open", json={}, headers=people["alice"]).json()["url"]
    )
    with Session(engine_of(client)) as session:
        trial = session.get(Trial, trial_id)
        assert trial is not None
        trial.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(trial)
        session.commit()
    assert visit(client, trial_id, cookie).status_code == 303


# --- scripts ----------------------------------------------------------------------------


def test_a_script_sends_its_token_and_bad_tokens_get_no_workload(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    token = people["alice"]["Authorization"][7:]
    assert client.get(sandbox(trial_id), headers={"x-den-token": token}).status_code == 200
    unknown = client.get(sandbox(trial_id), headers={"x-den-token": "den_nonsense"})
    assert unknown.status_code == 401 and unknown.json()["reason"] == "Unauthenticated"
    # The den's own Authorization header opens nothing on the sandbox origin.
    assert client.get(sandbox(trial_id), headers=people["alice"]).status_code == 303
    for person in ("bob", "carol", "sam", "gus", "ann"):
        answer = client.get(sandbox(trial_id), headers={"x-den-token": people[person]["Authorization"][7:]})
        assert answer.status_code == 404, person
        assert "method" not in answer.text  # never the workload's answer


def test_the_open_api_names_the_component_when_several_could_be_meant(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    made = client.post(f"/api/v1/trials/{trial_id}/open", json={}, headers=people["alice"])
    assert made.status_code == 201 and made.json()["component"] == "web"
    unknown = client.post(
        f"/api/v1/trials/{trial_id}/open", json={"component": "db"}, headers=people["alice"]
    )
    assert unknown.status_code == 404 and "it exposes web" in unknown.json()["detail"]
    bad = client.post(f"/api/v1/trials/{trial_id}/open", json={"component": "Web!"}, headers=people["alice"])
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "component"
    waiting = launch(client, people["alice"])["id"]
    for body in ({}, {"component": "web"}):
        refused = client.post(f"/api/v1/trials/{waiting}/open", json=body, headers=people["alice"])
        assert refused.status_code == 409 and refused.json()["reason"] == "NotRunning"


# --- what reaches the workload ----------------------------------------------------------------


def test_den_credentials_never_reach_the_workload_and_it_cannot_set_den_cookies(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    cookie = enter(
        client, client.post(f"/api/v1/trials/{trial_id}/open", json={}, headers=people["alice"]).json()["url"]
    )
    sent = (
        f"theirs=1; __Host-den_session=s1; den_session=s2; {COOKIE}={cookie}; "
        "den_sign_in=s3; __Host-den_sign_in=s4; other=2"
    )
    answer = client.post(
        sandbox(trial_id, "/form"),
        content=b"a=1",
        headers={
            "cookie": sent,
            "authorization": "Bearer den-token-for-the-den",
            "x-forwarded-host": "evil.example",
            "content-type": "application/x-www-form-urlencoded",
        },
    )
    assert answer.status_code == 200, answer.text
    seen = answer.json()
    headers = dict(seen["headers"])
    assert seen["method"] == "POST" and seen["body"] == "a=1"
    assert headers["cookie"] == "theirs=1; other=2"
    assert "authorization" not in headers and "x-den-token" not in headers
    assert headers["x-forwarded-host"] == f"{trial_id}-web.sandbox.localhost"
    assert headers["x-forwarded-proto"] == "https"
    assert "den-token-for-the-den" not in answer.text and cookie not in answer.text
    # Its own cookies pass back, host-only; den cookie names never.
    assert set_cookies(answer) == ["theirs=1; Path=/", "wide=1; Path=/"]
    policies = answer.headers.get_list("content-security-policy")
    assert "default-src 'self'" in policies and "frame-ancestors 'none'" in policies
    assert not any("sandbox" in p for p in policies), "no opaque-origin sandbox CSP any more"
    assert answer.headers["x-frame-options"] == "DENY"
    # A script's token is not forwarded either.
    scripted = client.get(
        sandbox(trial_id), headers={"x-den-token": people["alice"]["Authorization"][7:]}
    ).json()
    assert "x-den-token" not in dict(scripted["headers"])


def test_paths_under_den_are_reserved_and_other_names_are_no_sandbox(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    cookie = enter(
        client, client.post(f"/api/v1/trials/{trial_id}/open", json={}, headers=people["alice"]).json()["url"]
    )
    reserved = visit(client, trial_id, cookie, "/_den/anything")
    assert reserved.status_code == 404 and "method" not in reserved.text
    for host in (
        "sandbox.localhost",
        "www.sandbox.localhost",
        f"{trial_id}.sandbox.localhost",
        f"{trial_id}-web.x.sandbox.localhost",
    ):
        answer = client.get(f"https://{host}/api/v1/trials", headers=people["alice"])
        assert answer.status_code == 404, host  # never the den's API, nor a workload
        assert "items" not in answer.text
    # A sandbox's name with a port is the same sandbox.
    assert (
        client.get(
            f"https://{trial_id}-web.sandbox.localhost:8443/", headers={"cookie": f"{COOKIE}={cookie}"}
        ).status_code
        == 200
    )


def test_a_session_of_one_sandbox_opens_no_other(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    first, second = ready(client, people, fake_driver), ready(client, people, fake_driver)
    cookie = enter(
        client, client.post(f"/api/v1/trials/{first}/open", json={}, headers=people["alice"]).json()["url"]
    )
    assert visit(client, first, cookie).status_code == 200
    assert visit(client, second, cookie).status_code == 303


def test_without_secure_cookies_the_cookie_is_den_sandbox(
    settings: Settings, fake_driver: FakeDriver, people: dict[str, dict[str, str]], client: TestClient
) -> None:
    plain = settings.model_copy(update={"session_cookie_secure": False, "public_url": "http://den.test:8000"})
    with TestClient(
        create_app(plain, with_reconciler=False, driver=fake_driver), follow_redirects=False
    ) as other:
        trial_id = ready(other, people, fake_driver)
        location = other.post(f"/api/v1/trials/{trial_id}/open", json={}, headers=people["alice"]).json()[
            "url"
        ]
        assert location.startswith(f"http://{trial_id}-web.sandbox.localhost:8000/_den/enter")
        (cookie,) = set_cookies(other.get(location))
        assert cookie.startswith("den_sandbox=") and "secure" not in cookie.lower()
        other.cookies.clear()
        nowhere = other.get(f"http://{trial_id}-web.sandbox.localhost:8000/x")
        assert nowhere.headers["location"] == (f"http://den.test:8000/trials/{trial_id}/open/web?next=/x")


# --- share links --------------------------------------------------------------------------


def share(client: TestClient, trial_id: str, headers: dict[str, str], **body: Any) -> Any:
    return client.post(
        f"/api/v1/trials/{trial_id}/share-links",
        headers=headers,
        json={"expires_in_seconds": 3600, "note": "for a participant", **body},
    )


def test_a_share_link_opens_the_sandbox_without_signing_in_until_revoked(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    made = share(client, trial_id, people["alice"])
    assert made.status_code == 201, made.text
    link = made.json()
    assert set(link) == {"id", "url", "note", "created_at", "expires_at", "created_by", "revoked_at"}
    assert link["created_by"] == "alice" and link["revoked_at"] is None
    path = urlsplit(link["url"]).path
    assert link["url"] == f"{HTTPS}{path}" and path.startswith("/share/")
    secret = path.removeprefix("/share/")
    listed = client.get(f"/api/v1/trials/{trial_id}/share-links", headers=people["alice"]).json()
    assert [item["id"] for item in listed["items"]] == [link["id"]]
    assert secret not in json.dumps(listed) and "url" not in listed["items"][0]
    with Session(engine_of(client)) as session:
        assert session.exec(select(ShareLink)).one().token_hash == hashlib.sha256(secret.encode()).hexdigest()

    stranger = TestClient(client.app, base_url=HTTPS, follow_redirects=False)
    page = stranger.get(path)
    assert page.status_code == 200 and "Do not enter real personal data" in page.text
    assert "Continue" in page.text and "This link works until" in page.text
    answer = stranger.post(f"{path}/open/web", data={"csrf_token": csrf_of(page.text), "next": "/"})
    assert answer.status_code == 303, answer.text
    cookie = enter(stranger, answer.headers["location"])
    assert visit(client, trial_id, cookie).status_code == 200
    assert audit_actions(client, trial_id)[-2:] == ["share_link.create", "share_link.use"]

    revoked = client.delete(f"/api/v1/trials/{trial_id}/share-links/{link['id']}", headers=people["alice"])
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    again = client.delete(f"/api/v1/trials/{trial_id}/share-links/{link['id']}", headers=people["alice"])
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    assert audit_actions(client, trial_id).count("share_link.revoke") == 1
    # At once: the session it opened, its page, its form.
    assert visit(client, trial_id, cookie).status_code == 303
    assert stranger.get(path).status_code == 404
    assert stranger.post(f"{path}/open/web", data={"csrf_token": csrf_of(page.text)}).status_code == 404
    assert (
        client.delete(f"/api/v1/trials/{trial_id}/share-links/999999", headers=people["alice"]).status_code
        == 404
    )


def test_a_share_link_dies_when_it_expires(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    link = share(client, trial_id, people["alice"], expires_in_seconds=60).json()
    secret = urlsplit(link["url"]).path.removeprefix("/share/")
    stranger = TestClient(client.app, base_url=HTTPS, follow_redirects=False)
    page = stranger.get(f"/share/{secret}")
    cookie = enter(
        stranger,
        stranger.post(f"/share/{secret}/open/web", data={"csrf_token": csrf_of(page.text)}).headers[
            "location"
        ],
    )
    later = datetime.now(UTC) + timedelta(seconds=61)
    with Session(engine_of(client)) as session:
        assert (
            crud.upstream_for_cookie(
                session, tokens=[cookie], trial_id=trial_id, component="web", now=datetime.now(UTC)
            )
            is not None
        )
        assert (
            crud.upstream_for_cookie(session, tokens=[cookie], trial_id=trial_id, component="web", now=later)
            is None
        )
        with pytest.raises(NotFound):
            crud.share_link_by_secret(session, secret=secret, now=later)
        stored = session.exec(select(SandboxSession)).one()
        assert stored.expires_at <= datetime.fromisoformat(link["expires_at"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"note": "no expiry"}, "expires_in_seconds"),
        ({"expires_in_seconds": 59}, "expires_in_seconds"),
        ({"expires_in_seconds": 7 * 86400 + 1}, "expires_in_seconds"),
        ({"expires_in_seconds": "soon"}, "expires_in_seconds"),
        ({"expires_in_seconds": 600, "note": "x" * 201}, "note"),
        ({"expires_in_seconds": 600, "colour": "red"}, "colour"),
    ],
)
def test_share_link_validation_errors_name_the_field(
    client: TestClient,
    people: dict[str, dict[str, str]],
    fake_driver: FakeDriver,
    body: dict[str, Any],
    field: str,
) -> None:
    trial_id = launch(client, people["alice"])["id"]
    answer = client.post(f"/api/v1/trials/{trial_id}/share-links", headers=people["alice"], json=body)
    assert answer.status_code == 422, answer.text
    assert [p["field"] for p in answer.json()["problems"]] == [field]


def test_only_the_owner_or_a_platform_engineer_shares_and_never_an_ended_trial(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver, shared=True)
    assert share(client, trial_id, people["pat"]).status_code == 201
    assert share(client, trial_id, people["bob"]).status_code == 403  # sees it, may not share
    assert share(client, trial_id, people["ann"]).status_code == 403
    assert share(client, trial_id, people["carol"]).status_code == 404
    client.post(f"/api/v1/trials/{trial_id}/end", headers=people["alice"])
    ended = share(client, trial_id, people["alice"])
    assert ended.status_code == 409 and ended.json()["reason"] == "NotRunning"
