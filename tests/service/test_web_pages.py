"""The web pages in process (SQLite and PostgreSQL, the fake runtime): who may open which page
(the same rights as the API), the JSON twins, and the security every page promises: CSRF on
every form, the session cookie's flags, a Content-Security-Policy without 'unsafe-inline',
escaped values, a server-side session that signing out ends.

People as in tests/service/conftest.py: alice owns the trials (civil servant, dwp), bob is her
colleague, carol is in another department, sam supplies the `demo` template (acme), gus is
another supplier, pat a platform engineer, ann an approver.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.main import create_app
from orchestrator.settings import Settings
from tests.fakes import FakeDriver
from tests.service.conftest import AUTH, PEOPLE, QUESTION, SCORES, launch, run_until_ready
from web import rendering
from web.routes import MODULES

PERSONS = (*PEOPLE, "anonymous")
HTTPS = "https://testserver"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Requests over 3000 s wait for an approver; room for the trials the tests make.
    return settings.model_copy(
        update={
            "self_service_max_duration": 3000,
            "max_active_trials_per_user": 1000,
            "max_active_trials_per_department": 1000,
        }
    )


@pytest.fixture
def client(settings: Settings, fake_driver: FakeDriver) -> Iterator[TestClient]:
    """The app over https (the session cookie is `Secure`), without following redirects."""
    app = create_app(settings, with_reconciler=False, driver=fake_driver)
    with TestClient(app, base_url=HTTPS, follow_redirects=False) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def browser(client: TestClient, person: str) -> TestClient:
    """A browser of its own (its own cookies), signed in as `person` through the development
    sign-in, or not signed in at all for "anonymous"."""
    own = TestClient(client.app, base_url=HTTPS, follow_redirects=False)
    if person != "anonymous":
        form = own.get("/sign-in")
        answer = own.post("/sign-in", data={"csrf_token": csrf_of(form.text), "user": person, "next": "/"})
        assert answer.status_code == 303, answer.text
    return own


def post_form(
    visitor: TestClient, page: str, data: dict[str, Any], *, action: str | None = None, **kwargs: Any
) -> Any:
    """Open `page`, then send its form with the page's CSRF token, as a browser would."""
    token = csrf_of(visitor.get(page).text)
    return visitor.post(action or page, data={"csrf_token": token, **data}, **kwargs)


def error_links(html: str) -> list[str]:
    """The targets of the GOV.UK error summary's links."""
    summary = html.split('class="govuk-error-summary', 1)
    assert len(summary) == 2, "no error summary on the page"
    body = summary[1].split("</ul>", 1)[0]
    return re.findall(r'<a href="([^"]+)"', body)


# --- who may open which page -----------------------------------------------------------------


@dataclass
class World:
    client: TestClient
    people: dict[str, dict[str, str]]
    driver: FakeDriver
    trial_id: str = ""
    challenges: dict[str, str] = field(default_factory=dict)
    question_id: int = 0
    session_id: int = 0

    def trial(self) -> str:
        """One Ready trial of alice's, not shared, made once per test."""
        if not self.trial_id:
            body = launch(self.client, self.people["alice"])
            run_until_ready(self.client, self.driver, body["id"])
            self.trial_id = body["id"]
        return self.trial_id

    def challenge(self, *, draft: bool = False) -> str:
        """A challenge of alice's, made once per test: published, with a question from sam and
        a session (or a bare draft)."""
        key = "draft" if draft else "published"
        if key not in self.challenges:
            made = self.client.post(
                "/api/v1/challenges",
                headers=self.people["alice"],
                json={
                    "title": "Fewer missed appointments",
                    "problem": "Claimants miss them.",
                    "closes_at": (datetime.now(UTC) + timedelta(days=10)).isoformat(),
                    "publish": not draft,
                },
            )
            assert made.status_code == 201, made.text
            self.challenges[key] = made.json()["id"]
            if not draft:
                self._engage(self.challenges[key])
        return self.challenges[key]

    def _engage(self, challenge: str) -> None:
        asked = self.client.post(
            f"/api/v1/challenges/{challenge}/questions", headers=self.people["sam"], json={"question": "How?"}
        )
        held = self.client.post(
            f"/api/v1/challenges/{challenge}/sessions",
            headers=self.people["alice"],
            json={
                "title": "Questions and answers",
                "starts_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
                "ends_at": (datetime.now(UTC) + timedelta(days=2, hours=1)).isoformat(),
                "mode": "in_person",
                "place": "Caxton House, London",
                "capacity": 10,
            },
        )
        assert asked.status_code == held.status_code == 201, (asked.text, held.text)
        self.question_id, self.session_id = asked.json()["id"], held.json()["id"]

    def evaluated_trial(self) -> str:
        """That trial, with a complete evaluation (recorded again at each call)."""
        trial_id = self.trial()
        answer = self.client.put(
            f"/api/v1/trials/{trial_id}/evaluation",
            headers=self.people["alice"],
            json={**QUESTION, "scores": SCORES, "decision": "adopt"},
        )
        assert answer.status_code == 200, answer.text
        return trial_id


def share_link_path(world: World) -> str:
    """The den page of a new share link (alice's) to her Ready trial."""
    made = world.client.post(
        f"/api/v1/trials/{world.trial()}/share-links",
        headers=world.people["alice"],
        json={"expires_in_seconds": 600},
    )
    assert made.status_code == 201, made.text
    return "/share/" + str(made.json()["url"]).rsplit("/share/", 1)[1]


def everyone(status: int, anonymous: int = 303) -> dict[str, int]:
    return {**dict.fromkeys(PEOPLE, status), "anonymous": anonymous}


def only(status: int, *allowed: str, others: int = 403, hidden: tuple[str, ...] = ()) -> dict[str, int]:
    found = {person: status if person in allowed else others for person in PEOPLE}
    found.update({person: 404 for person in hidden if person not in allowed})
    return {**found, "anonymous": 303}


UNSHARED = ("bob", "carol", "sam", "gus")  # cannot see alice's trial: 404, never 403
WRITERS = ("alice", "bob", "carol", "ann")  # civil servants and approvers write challenges
#: Pages that are downloads, not the JSON twin of a page.
DOWNLOADS = {"/challenges/{challenge_id}/ocds.json"}
#: route (as FastAPI names its path) -> (the path to open, expected status per person)
PAGES: dict[str, tuple[Callable[[World], str], dict[str, int]]] = {
    "/": (lambda w: "/", everyone(200, anonymous=200)),
    "/sign-in": (lambda w: "/sign-in", everyone(200, anonymous=200)),
    "/signed-out": (lambda w: "/signed-out", everyone(200, anonymous=200)),
    # Single sign-on is not set up here (tests/service/test_sign_in_pages.py sets it up).
    "/sign-in/start": (lambda w: "/sign-in/start", everyone(404, anonymous=404)),
    "/sign-in/callback": (lambda w: "/sign-in/callback?state=x&code=y", everyone(404, anonymous=404)),
    "/accessibility": (lambda w: "/accessibility", everyone(200, anonymous=200)),
    "/cookies": (lambda w: "/cookies", everyone(200, anonymous=200)),
    "/privacy": (lambda w: "/privacy", everyone(200, anonymous=200)),
    "/feedback": (lambda w: "/feedback?page=/techmap", everyone(200, anonymous=200)),
    "/account/notifications": (lambda w: "/account/notifications", everyone(200)),
    "/techmap": (lambda w: "/techmap?q=demo&area=testing", everyone(200)),
    "/templates/{name}": (lambda w: "/templates/demo", everyone(200)),
    "/templates/{name}/start/{step}": (
        lambda w: "/templates/demo/start/title",
        only(200, "alice", "bob", "carol", "pat", "ann"),
    ),
    "/trials": (lambda w: "/trials?phase=Ready", everyone(200)),
    "/trials/{trial_id}": (
        lambda w: f"/trials/{w.trial()}",
        only(200, "alice", "pat", "ann", hidden=UNSHARED),
    ),
    "/trials/{trial_id}/confirmation": (
        lambda w: f"/trials/{w.trial()}/confirmation",
        only(200, "alice", "pat", "ann", hidden=UNSHARED),
    ),
    "/trials/{trial_id}/end": (
        lambda w: f"/trials/{w.trial()}/end",
        only(200, "alice", "pat", "ann", hidden=UNSHARED),
    ),
    "/trials/{trial_id}/reject": (
        lambda w: f"/trials/{w.trial()}/reject",
        only(200, "pat", "ann", hidden=UNSHARED),
    ),
    # Nothing waits on a Ready trial: the approvers are told so (409).
    "/trials/{trial_id}/decide": (
        lambda w: f"/trials/{w.trial()}/decide",
        only(409, "pat", "ann", hidden=UNSHARED),
    ),
    "/trials/{trial_id}/decided": (
        lambda w: f"/trials/{w.trial()}/decided?decision=approved",
        only(200, "pat", "ann", hidden=UNSHARED),
    ),
    "/trials/{trial_id}/evaluation": (
        lambda w: f"/trials/{w.trial()}/evaluation",
        only(200, "alice", hidden=UNSHARED),
    ),
    "/trials/{trial_id}/evaluation/{part}": (
        lambda w: f"/trials/{w.trial()}/evaluation/question",
        only(200, "alice", hidden=UNSHARED),
    ),
    "/trials/{trial_id}/evaluation.pdf": (
        lambda w: f"/trials/{w.evaluated_trial()}/evaluation.pdf",
        only(200, "alice", "pat", "ann", hidden=UNSHARED),
    ),
    # Only the trial's people open its sandbox: an approver who sees the trial gets 404 too.
    "/trials/{trial_id}/open/{component}": (
        lambda w: f"/trials/{w.trial()}/open/web",
        only(200, "alice", "pat", others=404),
    ),
    "/share/{secret}": (lambda w: share_link_path(w), everyone(200, anonymous=200)),
    "/reports": (lambda w: "/reports?by=supplier&decision=adopt", everyone(200)),
    "/reports/trial-report.{extension}": (lambda w: "/reports/trial-report.csv", everyone(200)),
    "/supplier": (lambda w: "/supplier", only(200, "sam", "gus")),
    "/supplier/publish": (lambda w: "/supplier/publish", only(200, "sam", "gus", "pat")),
    # Nothing uploaded yet: a link to the upload.
    "/supplier/publish/check": (lambda w: "/supplier/publish/check", only(200, "sam", "gus", "pat")),
    "/guide/templates": (lambda w: "/guide/templates", everyone(200, anonymous=200)),
    "/approvals": (lambda w: "/approvals", only(200, "pat", "ann")),
    "/platform": (lambda w: "/platform?phase=Ready", only(200, "pat")),
    "/platform/feedback": (lambda w: "/platform/feedback", only(200, "pat")),
    "/platform/templates/{name}/{version}": (lambda w: "/platform/templates/demo/1.0.0", only(200, "pat")),
    "/challenges": (lambda w: "/challenges", everyone(200)),
    "/challenges/new/{step}": (lambda w: "/challenges/new/title", only(200, *WRITERS)),
    "/challenges/{challenge_id}": (lambda w: f"/challenges/{w.challenge()}", everyone(200)),
    # A draft is its owner's (and the den's operators', who may not publish it).
    "/challenges/{challenge_id}/publish": (
        lambda w: f"/challenges/{w.challenge(draft=True)}/publish",
        only(200, "alice", hidden=("bob", "carol", "sam", "gus")),
    ),
    "/challenges/{challenge_id}/close": (lambda w: f"/challenges/{w.challenge()}/close", only(200, "alice")),
    "/challenges/{challenge_id}/respond": (
        lambda w: f"/challenges/{w.challenge()}/respond",
        only(200, "sam", "gus"),
    ),
    "/challenges/{challenge_id}/ask": (lambda w: f"/challenges/{w.challenge()}/ask", only(200, "sam", "gus")),
    "/challenges/{challenge_id}/questions/{question_id}/answer": (
        lambda w: f"/challenges/{w.challenge()}/questions/{w.question_id}/answer",
        only(200, "alice"),
    ),
    "/challenges/{challenge_id}/sessions/new": (
        lambda w: f"/challenges/{w.challenge()}/sessions/new",
        only(200, "alice"),
    ),
    "/challenges/{challenge_id}/sessions/{session_id}/materials": (
        lambda w: f"/challenges/{w.challenge()}/sessions/{w.session_id}/materials",
        only(200, "alice"),
    ),
    "/challenges/{challenge_id}/offer": (lambda w: f"/challenges/{w.challenge()}/offer", only(200, "alice")),
    # Still open: the owner is told to close it first (422).
    "/challenges/{challenge_id}/decision": (
        lambda w: f"/challenges/{w.challenge()}/decision",
        only(422, "alice"),
    ),
    "/challenges/{challenge_id}/uk2.txt": (
        lambda w: f"/challenges/{w.challenge()}/uk2.txt",
        only(200, "alice", "pat", "ann"),
    ),
    # JSON, as the twins are: a visitor not signed in is answered 401, not sent to sign in.
    "/challenges/{challenge_id}/ocds.json": (
        lambda w: f"/challenges/{w.challenge()}/ocds.json",
        {**only(200, "alice", "pat", "ann"), "anonymous": 401},
    ),
}


def web_routes(method: str) -> set[str]:
    """Every page (or form) route of the web package."""
    return {
        route.path
        for module in MODULES
        for route in module.router.routes
        if isinstance(route, APIRoute) and method in (route.methods or ())
    }


def test_the_page_matrix_covers_every_page(client: TestClient) -> None:
    served = client.get("/openapi.json").json()["paths"]
    pages = web_routes("GET")
    assert not pages & set(served), "pages stay out of the API's OpenAPI document"
    twins = {path for path in pages if path.endswith(".json")} - DOWNLOADS
    assert {p.removesuffix(".json") for p in twins} - {"/index"} <= pages
    assert pages - twins == set(PAGES)


@pytest.mark.parametrize("route", sorted(PAGES))
def test_page_as_every_person(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver, route: str
) -> None:
    world = World(client=client, people=people, driver=fake_driver)
    make, expected = PAGES[route]
    seen = {}
    for person in PERSONS:
        visitor = browser(client, person)
        answer = visitor.get(make(world))
        seen[person] = answer.status_code
        if answer.status_code == 303:  # anonymous: sent to sign in, and back afterwards
            assert answer.headers["location"].startswith("/sign-in?next=/"), answer.headers
        elif answer.headers["content-type"].startswith("text/html"):
            assert "govuk-template" in answer.text  # errors are GOV.UK pages too
    assert seen == expected


def test_a_json_twin_answers_the_same_data_as_its_page_and_takes_api_tokens(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial = launch(client, people["alice"])
    run_until_ready(client, fake_driver, trial["id"])
    alice = browser(client, "alice")
    twin = alice.get(f"/trials/{trial['id']}.json")
    assert twin.status_code == 200 and twin.headers["content-type"] == "application/json"
    api = client.get(f"/api/v1/trials/{trial['id']}", headers=people["alice"]).json()
    page = twin.json()
    assert (page["trial"]["phase"], page["trial"]["expires_at"]) == ("Ready", api["expires_at"])
    assert [e["message"] for e in page["events"]] == [
        e["message"]
        for e in client.get(f"/api/v1/trials/{trial['id']}/events", headers=people["alice"]).json()["items"]
    ]
    html = alice.get(f"/trials/{trial['id']}").text
    assert page["trial"]["title"] in html and "Ready" in html
    # A script with an API token reads the twin; the template's supplier does not see it.
    tokenised = TestClient(client.app, base_url=HTTPS)
    assert tokenised.get(f"/trials/{trial['id']}.json", headers=people["pat"]).status_code == 200
    assert tokenised.get(f"/trials/{trial['id']}.json", headers=people["sam"]).status_code == 404
    refused = tokenised.get(f"/trials/{trial['id']}.json", headers=people["gus"])
    assert refused.status_code == 404 and refused.json()["reason"] == "NotFound"
    techmap = tokenised.get("/techmap.json", headers=AUTH).json()
    listed = [t["name"] for t in techmap["templates"]]
    assert len(listed) == len(set(listed)), "each template once"
    assert set(listed) == {t["name"] for t in client.get("/api/v1/templates", headers=AUTH).json()["items"]}


#: What the pages add to the API's trial; every other field is the API's, with its meaning.
PAGE_ONLY = {"template_name", "template_version", "warn_before_seconds", "usage_words", "cost_words"}


def same_trial(twin: dict[str, Any], api: dict[str, Any]) -> None:
    """The twin's trial is the API's, field for field (the countdown may have ticked between
    the two requests), plus only the page's own fields."""
    assert set(twin) - set(api) == PAGE_ONLY
    assert {k: twin[k] for k in api if k != "time_left_seconds"} == {
        k: v for k, v in api.items() if k != "time_left_seconds"
    }
    assert abs((twin["time_left_seconds"] or 0) - (api["time_left_seconds"] or 0)) <= 1


def test_every_twin_that_shows_a_trial_shows_the_apis_trial(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    running = launch(client, people["alice"])
    run_until_ready(client, fake_driver, running["id"])
    waiting = launch(client, people["alice"], duration=3600)  # past self-service
    api = {t["id"]: t for t in client.get("/api/v1/trials", headers=AUTH).json()["items"]}
    assert api[running["id"]]["endpoints"] and api[waiting["id"]]["phase"] == "PendingApproval"
    alice, ann, pat = browser(client, "alice"), browser(client, "ann"), browser(client, "pat")
    shown = {
        "/trials.json": alice.get("/trials.json").json()["trials"],
        "/index.json": alice.get("/index.json").json()["active_trials"],
        "/platform.json": pat.get("/platform.json").json()["trials"],
        "/approvals.json": [w["trial"] for w in ann.get("/approvals.json").json()["waiting"]],
    } | {
        path: [alice.get(path).json()["trial"]]
        for path in (
            f"/trials/{running['id']}.json",
            f"/trials/{running['id']}/confirmation.json",
            f"/trials/{running['id']}/end.json",
            f"/trials/{running['id']}/evaluation.json",
        )
    }
    for path, trials in shown.items():
        assert trials, path
        for trial in trials:
            same_trial(trial, api[trial["id"]])
    assert shown["/approvals.json"][0]["template"] == "demo@1.0.0"
    assert shown["/approvals.json"][0]["template_name"] == "demo"
    # The hand-over page shows a part of it, named and meaning the same.
    opened = alice.get(f"/trials/{running['id']}/open/web.json").json()["trial"]
    assert set(opened) == {"id", "title", "template", "template_name", "expires_at", "time_left_seconds"}
    assert (opened["template"], opened["expires_at"]) == ("demo@1.0.0", api[running["id"]]["expires_at"])


def test_the_api_still_answers_json_errors_and_a_browser_gets_a_page(client: TestClient) -> None:
    api = client.get("/api/v1/nothing", headers={"accept": "text/html"})
    assert api.status_code == 404 and api.json()["reason"] == "NotFound"
    page = client.get("/nothing", headers={"accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 404 and "Page not found" in page.text
    assert client.get("/nothing").json()["reason"] == "NotFound"  # not a browser: JSON


# --- security -------------------------------------------------------------------------------


def test_every_form_refuses_a_post_without_the_session_csrf_token(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial = launch(client, people["alice"])["id"]
    values = {
        "name": "demo",
        "step": "title",
        "trial_id": trial,
        "version": "1.0.0",
        "component": "web",
        "secret": "dsl_" + "x" * 43,
        "part": "scores",
        "user": "bob",
        "challenge_id": "c" * 13,
        "question_id": 1,
        "session_id": 1,
    }
    posts = web_routes("POST")
    assert posts >= {
        "/sign-in",
        "/sign-out",
        "/templates/{name}/start/{step}",
        "/trials/{trial_id}/extend",
        "/trials/{trial_id}/end",
        "/trials/{trial_id}/evaluation/{part}",
        "/supplier/publish",
    }
    pat, other = browser(client, "pat"), browser(client, "alice")
    stolen = csrf_of(other.get("/techmap").text)  # a real token, of another session
    for path in sorted(posts):
        url = path.format(**values)
        for data in ({}, {"csrf_token": ""}, {"csrf_token": stolen}):
            answer = pat.post(url, data=data, headers={"accept": "text/html"})
            assert answer.status_code == 403, (url, data, answer.status_code)
            assert "CsrfFailed" in answer.text, url
    assert client.get(f"/api/v1/trials/{trial}", headers=AUTH).json()["end_requested_at"] is None


def test_pages_carry_a_strict_content_security_policy_that_names_govuk_inline_script(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    answer = browser(client, "alice").get("/techmap")
    policy = answer.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert "script-src 'self' 'sha256-" in policy and "style-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert answer.headers["cache-control"] == "no-store"
    inline = re.findall(r"<script>(.*?)</script>", answer.text, re.S)
    assert len(inline) == 1 and "govuk-frontend-supported" in inline[0]
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", answer.text) == ["<script>"]
    assert " style=" not in answer.text  # style-src 'self' would block it


def test_the_session_cookie_is_secure_httponly_samesite_and_signing_out_ends_it(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    visitor = TestClient(client.app, base_url=HTTPS, follow_redirects=False)
    form = visitor.get("/sign-in")
    assert form.headers["set-cookie"].startswith("__Host-den_sign_in=")
    answer = visitor.post(
        "/sign-in", data={"csrf_token": csrf_of(form.text), "user": "alice", "next": "//elsewhere.example/"}
    )
    assert answer.headers["location"] == "/"  # never an open redirect
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("__Host-den_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= flags
    copied = cookie.split(";")[0].split("=", 1)[1]
    assert visitor.get("/techmap").status_code == 200
    assert post_form(visitor, "/techmap", {}, action="/sign-out").status_code == 303
    thief = TestClient(
        client.app, base_url=HTTPS, follow_redirects=False, cookies={"__Host-den_session": copied}
    )
    assert thief.get("/techmap").status_code == 303  # the session is gone from the server
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=AUTH).json()["items"]]
    assert {"user.sign_in", "user.sign_out"} <= set(actions)


def test_the_cookie_is_not_secure_only_when_configured_for_plain_http(
    settings: Settings, fake_driver: FakeDriver, people: dict[str, dict[str, str]]
) -> None:
    del people  # alice exists (made on the shared database)
    plain = settings.model_copy(update={"session_cookie_secure": False})
    app = create_app(plain, with_reconciler=False, driver=fake_driver)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as visitor:
        form = visitor.get("/sign-in")
        answer = visitor.post("/sign-in", data={"csrf_token": csrf_of(form.text), "user": "alice"})
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("den_session="))
        assert "secure" not in cookie.lower() and "httponly" in cookie.lower()
        assert visitor.get("/techmap").status_code == 200


def test_every_value_is_escaped(client: TestClient, people: dict[str, dict[str, str]]) -> None:
    nasty = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    trial = launch(client, people["alice"], title=nasty, hypothesis=nasty)
    html = browser(client, "alice").get(f"/trials/{trial['id']}").text
    assert nasty not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_development_sign_in_exists_only_in_development(
    settings: Settings, fake_driver: FakeDriver, people: dict[str, dict[str, str]]
) -> None:
    del people
    with pytest.raises(ValidationError, match="DEN_DEV_SIGN_IN"):
        Settings(environment="production", dev_sign_in=True)
    assert not Settings(environment="production").dev_sign_in_enabled
    assert Settings(environment="development").dev_sign_in_enabled
    off = settings.model_copy(update={"dev_sign_in": False})
    with TestClient(
        create_app(off, with_reconciler=False, driver=fake_driver), base_url=HTTPS, follow_redirects=False
    ) as visitor:
        page = visitor.get("/sign-in")
        assert "Single sign-on is not set up" in page.text and 'value="alice"' not in page.text
        assert visitor.get("/sign-in.json").json()["users"] == []
        token = visitor.cookies["__Host-den_sign_in"]  # no form: post as a forger would
        refused = visitor.post("/sign-in", data={"csrf_token": token, "user": "alice"})
        assert refused.status_code == 403 and "SignInUnavailable" in refused.text


def test_the_service_serves_the_pinned_govuk_frontend_itself(client: TestClient) -> None:
    from importlib.metadata import version

    from web import assets

    # govuk-frontend-jinja 4.1.0 targets govuk-frontend 6.3.0: both pins move together.
    assert version("govuk-frontend-jinja") == "4.1.0"
    pinned = json.loads((assets.HERE / "package.json").read_text())["dependencies"]
    assert pinned == {"govuk-frontend": assets.GOVUK_FRONTEND_VERSION}
    lock = (assets.HERE / "package-lock.json").read_text()
    assert '"integrity": "sha512-' in lock and '"resolved"' not in lock  # hashes, no hosts
    assert assets.installed_version() == assets.GOVUK_FRONTEND_VERSION, "run scripts/bootstrap"
    for path in (
        "/static/govuk-frontend/govuk-frontend.min.css",
        "/static/govuk-frontend/govuk-frontend.min.js",
        "/assets/fonts/bold-b542beb274-v2.woff2",
        "/assets/images/favicon.svg",
        "/static/den/den.mjs",
        "/static/den/den.css",
    ):
        answer = client.get(path)
        assert answer.status_code == 200, path
    assert rendering.INLINE_SCRIPT_HASH.startswith("sha256-")
