"""The authorisation matrix: every route of the app, called as every kind of person, answers
exactly the status that docs/access.md "Who may do what" (orchestrator/access.py) promises.

Every route counts, as `app.routes` lists them: the REST API, routes left out of the OpenAPI
document (`include_in_schema=False`: the old sandbox paths, `/metrics`, the document itself),
every web page, its JSON twin and its form, and the static file mounts (public).
`test_every_route_has_a_row` fails on a route with no row and names it, with the line to add.
Apps the den hands a request to by its Host header before any route (the sandboxes' own
origins, `<trial>-<component>.<DEN_SANDBOX_DOMAIN>`) have a table of their own, HOST_ROUTED,
checked the same way.

People (tests/service/conftest.py), one per role and relation to the trials:

| person | role | |
| --- | --- | --- |
| alice | civil_servant | owns the trials (dwp) |
| bob | civil_servant | alice's colleague in dwp: sees her trial only when she shares it |
| carol | civil_servant | another department (hmrc) |
| sam | supplier | acme, the supplier of the template trialled (`demo`): sees no trial at all |
| gus | supplier | globex, another supplier |
| pat | platform_engineer | |
| ann | approver | |
| anonymous | | no token, not signed in |

A trial someone may not see answers 404, never 403, so its id tells them nothing; a template
or a page the role may not use answers 403.

How a row is called (`Row.via`):
- "token": with the person's API token (the REST API; the pages' JSON twins take tokens too);
- "browser": in a browser signed in through the development sign-in (its session cookie);
- "form": that browser posting the form with its CSRF token (before signing in, the sign-in
  cookie's, as a real browser would have);
- "public": with the token, like "token", for routes that need none (anonymous gets the same);
- "sandbox": on a sandbox's own origin, the token as `X-Den-Token` (how scripts open one).
`page()` makes the two rows of a page: the HTML in a browser (anonymous sent to sign in: 303
to /sign-in) and its `.json` twin with a token (anonymous 401).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from api.main import create_app
from orchestrator.settings import Settings
from tests.fakes import FakeDriver
from tests.service.conftest import AUTH, PEOPLE, QUESTION, SCORES, launch, run_until_ready
from tests.service.test_web_pages import browser, csrf_of
from tests.unit.test_catalogue import GOOD
from web.pages import twin_path

PERSONS = (*PEOPLE, "anonymous")
HIDDEN = ("bob", "carol", "sam", "gus")  # cannot see an unshared trial of alice's
HTTPS = "https://testserver"
_versions = itertools.count(1)
_names = itertools.count(1)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Room for the many trials the matrix makes; requests over 3000 s wait for an approver.
    return settings.model_copy(
        update={
            "max_active_trials_per_user": 10_000,
            "max_active_trials_per_department": 10_000,
            "self_service_max_duration": 3000,
        }
    )


@pytest.fixture
def client(settings: Settings, fake_driver: FakeDriver) -> Iterator[TestClient]:
    """Over https (the session cookie is `Secure`), redirects answered, not followed."""
    app = create_app(settings, with_reconciler=False, driver=fake_driver)
    with TestClient(app, base_url=HTTPS, follow_redirects=False) as test_client:
        yield test_client


# --- the world each row is called in ---------------------------------------------------------


@dataclass
class World:
    client: TestClient
    people: dict[str, dict[str, str]]
    driver: FakeDriver
    browsers: dict[str, TestClient] = field(default_factory=dict)
    kept: dict[tuple[tuple[str, bool], ...], str] = field(default_factory=dict)

    def trial(
        self,
        *,
        shared: bool = False,
        ready: bool = False,
        pending: bool = False,
        evaluated: bool = False,
        team: bool = False,
    ) -> str:
        """A new trial of alice's (`demo`, acme's template) in the state asked for; a `team`
        trial has carol (hmrc) as a collaborator and bob (dwp) as an assessor."""
        body = launch(
            self.client,
            self.people["alice"],
            duration=3600 if pending else 600,
            shared_with_department=shared,
        )
        if ready or evaluated:
            run_until_ready(self.client, self.driver, body["id"])
        for person, role in (("carol", "collaborator"), ("bob", "assessor")) if team else ():
            added = self.client.post(
                f"/api/v1/trials/{body['id']}/members",
                headers=self.people["alice"],
                json={"user": person, "role": role},
            )
            assert added.status_code == 201, added.text
        if evaluated:
            answer = self.client.put(
                f"/api/v1/trials/{body['id']}/evaluation",
                headers=self.people["alice"],
                json={**QUESTION, "scores": SCORES, "decision": "iterate", "private_notes": "only for us"},
            )
            assert answer.status_code == 200, answer.text
        return str(body["id"])

    def same_trial(self, **state: bool) -> str:
        """One trial in that state for every person of a row: for requests that change
        nothing (a GET), so the row makes one trial, not one per person."""
        key = tuple(sorted(state.items()))
        if key not in self.kept:
            self.kept[key] = self.trial(**state)
        return self.kept[key]

    def token_of_alice(self) -> int:
        answer = self.client.post("/api/v1/users/alice/tokens", headers=AUTH, json={})
        return int(answer.json()["id"])

    def browser(self, person: str) -> TestClient:
        if person not in self.browsers:
            self.browsers[person] = browser(self.client, person)
        return self.browsers[person]

    def csrf(self, person: str) -> str:
        """The token a form of this person's carries (anonymous: the sign-in page's)."""
        return csrf_of(self.browser(person).get("/sign-in" if person == "anonymous" else "/").text)


Request = tuple[str, str, dict[str, Any]]
Case = Callable[[World], Request]


@dataclass(frozen=True)
class Row:
    make: Case
    expected: dict[str, int]  # every person's status, anonymous included
    via: str = "token"  # token | browser | form | public | sandbox
    #: Where anonymous is sent by a 303 (the sign-in page, unless the row says otherwise).
    anonymous_to: str = "/sign-in?next="


def get(path: str) -> Case:
    return lambda _world: ("GET", path, {})


def on_trial(
    method: str,
    suffix: str = "",
    body: dict[str, Any] | None = None,
    *,
    form: dict[str, str] | None = None,
    prefix: str = "/api/v1/trials",
    **state: bool,
) -> Case:
    """A request about a trial of alice's, a new one unless it is a GET; `body` is JSON,
    `form` form fields."""

    def case(world: World) -> Request:
        kwargs = {"json": body} if body is not None else {"data": form} if form else {}
        trial = world.same_trial(**state) if method == "GET" else world.trial(**state)
        return method, f"{prefix}/{trial}{suffix}", kwargs

    return case


def everyone(status: int, *, anonymous: int = 401) -> dict[str, int]:
    return {**dict.fromkeys(PEOPLE, status), "anonymous": anonymous}


def only(
    status: int, *allowed: str, others: int = 403, hidden: int | None = None, anonymous: int = 401
) -> dict[str, int]:
    """`allowed` get `status`, the others `others`; with `hidden`, people who cannot see the
    (unshared) trial get `hidden` instead, whatever their role."""
    found = {person: status if person in allowed else others for person in PEOPLE}
    if hidden is not None:
        found.update({person: hidden for person in HIDDEN if person not in allowed})
    return {**found, "anonymous": anonymous}


def page(path: str, make: Case, expected: dict[str, int]) -> dict[tuple[str, str], Row]:
    """A page in a browser and its JSON twin with a token: `expected` is the twin's; on the
    page, a 401 is a 303 to the sign-in page instead."""

    def twin(world: World) -> Request:
        method, url, kwargs = make(world)
        base, sep, query = url.partition("?")
        return method, twin_path(base) + sep + query, kwargs

    html = {person: 303 if status == 401 else status for person, status in expected.items()}
    return {
        ("GET", path): Row(make, html, via="browser"),
        ("GET", twin_path(path)): Row(twin, expected, via="token"),
    }


def _manifest(supplier: str = "acme") -> dict[str, Any]:
    version = f"1.0.{next(_versions)}"
    return {**GOOD, "metadata": {**GOOD["metadata"], "version": version, "supplier": supplier}}


def _publish(_world: World) -> Request:
    return (
        "POST",
        "/api/v1/templates",
        {"content": yaml.safe_dump(_manifest()), "headers": {"Content-Type": "application/yaml"}},
    )


def _upload(_world: World) -> Request:
    file = ("template.yaml", yaml.safe_dump(_manifest()), "application/yaml")
    return "POST", "/supplier/publish", {"files": {"manifest": file}}


def _user(_world: World) -> Request:
    return "POST", "/api/v1/users", {"json": {"name": f"new{next(_names)}", "role": "civil_servant"}}


def _change_user(world: World) -> Request:
    """A change to a new person (made by the bootstrap platform engineer)."""
    _method, _path, kwargs = _user(world)
    made = world.client.post("/api/v1/users", headers=AUTH, **kwargs)
    assert made.status_code == 201, made.text
    return "PATCH", f"/api/v1/users/{made.json()['name']}", {"json": {"department": "dfe"}}


def _supplier(_world: World) -> Request:
    return "POST", "/api/v1/suppliers", {"json": {"slug": f"new{next(_names)}", "name": "New"}}


def _evaluation_form() -> dict[str, str]:
    """The evaluation's scores page, answered."""
    fields = {f"score-{d}": str(s["score"]) for d, s in SCORES.items()}
    return fields | {f"evidence-{d}": str(s["evidence"]) for d, s in SCORES.items()}


def _sign_in(world: World) -> Request:
    del world
    return "POST", "/sign-in", {"data": {"user": "alice", "next": "/"}}


def _share_link(world: World) -> dict[str, Any]:
    """A share link (made by alice) to a new Ready trial of hers, and the trial's id."""
    trial_id = world.trial(ready=True)
    made = world.client.post(
        f"/api/v1/trials/{trial_id}/share-links",
        headers=world.people["alice"],
        json={"expires_in_seconds": 600},
    )
    assert made.status_code == 201, made.text
    return {**made.json(), "trial": trial_id, "path": urlsplit(made.json()["url"]).path}


def _revoke_share_link(world: World) -> Request:
    link = _share_link(world)
    return "DELETE", f"/api/v1/trials/{link['trial']}/share-links/{link['id']}", {}


SANDBOX = "SandboxDispatch.sandbox"  # each sandbox's own origin (api/sandbox_origin.py)
SANDBOX_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
OLD_SANDBOX = "/sandboxes/t0123456789ab/web"


def on_sandbox(method: str, path: str = "/", *, enter: bool = False) -> Case:
    """A request on the origin of a new Ready trial's `web` sandbox; with `enter`, the
    hand-over with a new grant (made by alice with `POST .../open`)."""

    def case(world: World) -> Request:
        trial_id = world.trial(ready=True)
        url = path
        if enter:
            made = world.client.post(
                f"/api/v1/trials/{trial_id}/open", headers=world.people["alice"], json={}
            )
            assert made.status_code == 201, made.text
            parts = urlsplit(made.json()["url"])
            url = f"{parts.path}?{parts.query}"
        return method, url, {"headers": {"host": f"{trial_id}-web.sandbox.localhost"}}

    return case


EVALUATION = {**QUESTION, "scores": SCORES, "decision": "adopt", "lessons_learned": "Worth it"}
SEES_TRIAL = ("alice", "pat", "ann")  # owner, platform engineer, approver
#: The trial page's form of one's own scores, every dimension scored with evidence.
ASSESSMENT_FORM = {
    **{f"score-{d}": "4" for d in SCORES},
    **{f"evidence-{d}": s["evidence"] for d, s in SCORES.items()},
}

# --- the REST API ------------------------------------------------------------------------------

API: dict[tuple[str, str], Row] = {
    ("GET", "/healthz"): Row(get("/healthz"), everyone(200, anonymous=200), via="public"),
    ("GET", "/readyz"): Row(get("/readyz"), everyone(200, anonymous=200), via="public"),
    ("GET", "/metrics"): Row(get("/metrics"), everyone(200, anonymous=200), via="public"),
    ("GET", "/openapi.json"): Row(get("/openapi.json"), everyone(200, anonymous=200), via="public"),
    ("GET", "/docs"): Row(get("/docs"), everyone(200, anonymous=200), via="public"),
    ("GET", "/docs/oauth2-redirect"): Row(
        get("/docs/oauth2-redirect"), everyone(200, anonymous=200), via="public"
    ),
    ("GET", "/redoc"): Row(get("/redoc"), everyone(200, anonymous=200), via="public"),
    ("GET", "/api/v1/templates"): Row(get("/api/v1/templates"), everyone(200)),
    ("POST", "/api/v1/templates"): Row(_publish, only(201, "sam", "pat")),
    ("GET", "/api/v1/templates/{name}"): Row(get("/api/v1/templates/demo"), everyone(200)),
    ("GET", "/api/v1/templates/{name}/outcomes"): Row(
        get("/api/v1/templates/demo/outcomes"), only(200, "sam", "pat", "ann")
    ),
    ("GET", "/api/v1/templates/{name}/versions/{version}"): Row(
        get("/api/v1/templates/demo/versions/1.0.0"), only(200, "sam", "pat")
    ),
    ("POST", "/api/v1/templates/{name}/versions/{version}/status"): Row(
        lambda w: (
            "POST",
            "/api/v1/templates/demo/versions/1.0.0/status",
            {"json": {"status": "Published", "reason": "reviewed"}},
        ),
        only(200, "pat"),
    ),
    ("GET", "/api/v1/suppliers"): Row(get("/api/v1/suppliers"), everyone(200)),
    ("POST", "/api/v1/suppliers"): Row(_supplier, only(201, "pat")),
    ("POST", "/api/v1/trials"): Row(
        lambda w: (
            "POST",
            "/api/v1/trials",
            {"json": {"template": "demo", "title": "t", "hypothesis": "h", "duration_seconds": 600}},
        ),
        only(201, "alice", "bob", "carol", "pat", "ann"),
    ),
    ("GET", "/api/v1/trials"): Row(get("/api/v1/trials"), everyone(200)),
    ("GET", "/api/v1/trials/{trial_id}"): Row(on_trial("GET"), only(200, *SEES_TRIAL, hidden=404)),
    ("POST", "/api/v1/trials/{trial_id}/extend"): Row(
        on_trial("POST", "/extend", {"duration_seconds": 60}, ready=True),
        only(200, "alice", "pat", hidden=404),
    ),
    ("POST", "/api/v1/trials/{trial_id}/end"): Row(
        on_trial("POST", "/end"), only(202, *SEES_TRIAL, hidden=404)
    ),
    ("GET", "/api/v1/trials/{trial_id}/events"): Row(
        on_trial("GET", "/events"), only(200, *SEES_TRIAL, hidden=404)
    ),
    ("POST", "/api/v1/trials/{trial_id}/approve"): Row(
        on_trial("POST", "/approve", pending=True), only(200, "pat", "ann", hidden=404)
    ),
    ("POST", "/api/v1/trials/{trial_id}/reject"): Row(
        on_trial("POST", "/reject", {"reason": "not now"}, pending=True), only(200, "pat", "ann", hidden=404)
    ),
    ("PUT", "/api/v1/trials/{trial_id}/evaluation"): Row(
        on_trial("PUT", "/evaluation", EVALUATION, ready=True), only(200, "alice", hidden=404)
    ),
    ("GET", "/api/v1/trials/{trial_id}/evaluation"): Row(
        on_trial("GET", "/evaluation", evaluated=True), only(200, *SEES_TRIAL, hidden=404)
    ),
    ("GET", "/api/v1/trials/{trial_id}/logs/{component}"): Row(
        on_trial("GET", "/logs/web", ready=True), only(200, *SEES_TRIAL, hidden=404)
    ),
    # Opening the sandbox is for the trial's people: not approvers, not suppliers.
    ("POST", "/api/v1/trials/{trial_id}/open"): Row(
        on_trial("POST", "/open", {}, ready=True), only(201, "alice", "pat", hidden=404)
    ),
    ("POST", "/api/v1/trials/{trial_id}/share-links"): Row(
        on_trial("POST", "/share-links", {"expires_in_seconds": 600}), only(201, "alice", "pat", hidden=404)
    ),
    ("GET", "/api/v1/trials/{trial_id}/share-links"): Row(
        on_trial("GET", "/share-links"), only(200, "alice", "pat", hidden=404)
    ),
    ("DELETE", "/api/v1/trials/{trial_id}/share-links/{link_id}"): Row(
        _revoke_share_link, only(200, "alice", "pat", hidden=404)
    ),
    # The den's old sandbox paths: whoever asks is sent to the open page, which decides.
    ("GET", "/sandboxes/{trial_id}/{component}"): Row(
        get(OLD_SANDBOX),
        everyone(303, anonymous=303),
        via="public",
        anonymous_to="/trials/t0123456789ab/open/web",
    ),
    ("GET", "/sandboxes/{trial_id}/{component}/{path:path}"): Row(
        get(f"{OLD_SANDBOX}/cases"),
        everyone(303, anonymous=303),
        via="public",
        anonymous_to="/trials/t0123456789ab/open/web",
    ),
    # Team trials: the owner (and platform engineers) manage members; the team sees them.
    ("GET", "/api/v1/trials/{trial_id}/members"): Row(
        on_trial("GET", "/members"), only(200, *SEES_TRIAL, hidden=404)
    ),
    ("POST", "/api/v1/trials/{trial_id}/members"): Row(
        on_trial("POST", "/members", {"user": "carol", "role": "assessor"}),
        only(201, "alice", "pat", hidden=404),
    ),
    ("DELETE", "/api/v1/trials/{trial_id}/members/{user}"): Row(
        on_trial("DELETE", "/members/bob", team=True),
        {**only(204, "alice", "pat", hidden=404), "bob": 403, "carol": 403},
    ),
    ("PUT", "/api/v1/trials/{trial_id}/assessments/me"): Row(
        on_trial("PUT", "/assessments/me", {"scores": SCORES}, ready=True), only(200, "alice", hidden=404)
    ),
    ("GET", "/api/v1/trials/{trial_id}/assessments"): Row(
        on_trial("GET", "/assessments"), only(200, *SEES_TRIAL, hidden=404)
    ),
    ("GET", "/api/v1/reports/trials"): Row(get("/api/v1/reports/trials"), everyone(200)),
    ("POST", "/api/v1/users"): Row(_user, only(201, "pat")),
    ("GET", "/api/v1/users"): Row(get("/api/v1/users"), only(200, "pat")),
    ("PATCH", "/api/v1/users/{name}"): Row(_change_user, only(200, "pat")),
    ("POST", "/api/v1/users/{name}/tokens"): Row(
        lambda w: ("POST", "/api/v1/users/alice/tokens", {"json": {"name": "x"}}), only(201, "alice", "pat")
    ),
    ("GET", "/api/v1/users/{name}/tokens"): Row(get("/api/v1/users/alice/tokens"), only(200, "alice", "pat")),
    ("DELETE", "/api/v1/users/{name}/tokens/{token_id}"): Row(
        lambda w: ("DELETE", f"/api/v1/users/alice/tokens/{w.token_of_alice()}", {}),
        only(200, "alice", "pat"),
    ),
    ("GET", "/api/v1/audit"): Row(get("/api/v1/audit"), only(200, "pat")),
    ("GET", "/api/v1/notifications"): Row(get("/api/v1/notifications?state=failed"), only(200, "pat")),
    ("GET", "/api/v1/users/me/notifications"): Row(get("/api/v1/users/me/notifications"), everyone(200)),
    ("PUT", "/api/v1/users/me/notifications"): Row(
        lambda w: ("PUT", "/api/v1/users/me/notifications", {"json": {"email_events": ["trial.ready"]}}),
        everyone(200),
    ),
}


# --- early engagement ---------------------------------------------------------------------------

CHALLENGE = {
    "title": "Fewer missed appointments",
    "problem": "A third of claimants miss their first appointment.",
    "closes_at": "2099-01-01T12:00:00+00:00",
}
SEES_ALL_RESPONSES = ("alice", "pat", "ann")  # the owner and the den's operators


def _challenge(world: World, *, stage: str = "Published", responded: bool = False) -> dict[str, Any]:
    """A new challenge of alice's at `stage` (Draft, Published or Closed); `responded`: acme
    (sam) responded offering `demo`, asked a question, and the owner scheduled a session."""
    made = world.client.post(
        "/api/v1/challenges", headers=world.people["alice"], json={**CHALLENGE, "publish": stage != "Draft"}
    )
    assert made.status_code == 201, made.text
    found: dict[str, Any] = {"id": made.json()["id"]}
    base = f"/api/v1/challenges/{found['id']}"
    if responded:
        sent = world.client.post(
            f"{base}/responses",
            headers=world.people["sam"],
            json={"summary": "We can help", "templates": ["demo"], "conflict_declared": False},
        )
        assert sent.status_code == 201, sent.text
        asked = world.client.post(
            f"{base}/questions", headers=world.people["sam"], json={"question": "How many?"}
        )
        assert asked.status_code == 201, asked.text
        found["question"] = asked.json()["id"]
        held = world.client.post(
            f"{base}/sessions",
            headers=world.people["alice"],
            json={
                "title": "Questions",
                "starts_at": "2098-06-01T10:00:00+00:00",
                "ends_at": "2098-06-01T11:00:00+00:00",
                "mode": "online",
                "place": "https://meet.example.gov.uk/x",
                "capacity": 50,
            },
        )
        assert held.status_code == 201, held.text
        found["session"] = held.json()["id"]
    if stage == "Closed":
        assert world.client.post(f"{base}/close", headers=world.people["alice"]).status_code == 200
    return found


def on_challenge(
    method: str,
    suffix: str = "",
    body: dict[str, Any] | None = None,
    *,
    form: dict[str, str] | None = None,
    prefix: str = "/api/v1/challenges",
    **state: Any,
) -> Case:
    """A request about a new challenge of alice's; `suffix` may name its `{question}` and
    `{session}`; `body` is JSON, `form` form fields."""

    def case(world: World) -> Request:
        found = _challenge(world, **state)
        kwargs = {"json": body} if body is not None else {"data": form} if form else {}
        return method, f"{prefix}/{found['id']}" + suffix.format(**found), kwargs

    return case


OFFER = {"hypothesis": "It helps", "success_criteria": ["Fewer missed"], "duration_seconds": 600}
CHALLENGES: dict[tuple[str, str], Row] = {
    ("POST", "/api/v1/challenges"): Row(
        lambda w: ("POST", "/api/v1/challenges", {"json": CHALLENGE}),
        only(201, "alice", "bob", "carol", "ann"),
    ),
    ("GET", "/api/v1/challenges"): Row(get("/api/v1/challenges?stage=Published"), everyone(200)),
    # A draft is its owner's: the others cannot see it, the den's operators see but do not change it.
    ("GET", "/api/v1/challenges/{challenge_id}"): Row(
        on_challenge("GET", stage="Draft"), only(200, *SEES_ALL_RESPONSES, others=404)
    ),
    ("PUT", "/api/v1/challenges/{challenge_id}"): Row(
        on_challenge("PUT", "", CHALLENGE, stage="Draft"),
        {**only(200, "alice", others=404), "pat": 403, "ann": 403},
    ),
    ("POST", "/api/v1/challenges/{challenge_id}/publish"): Row(
        on_challenge("POST", "/publish", stage="Draft"),
        {**only(200, "alice", others=404), "pat": 403, "ann": 403},
    ),
    ("POST", "/api/v1/challenges/{challenge_id}/close"): Row(
        on_challenge("POST", "/close"), only(200, "alice")
    ),
    ("PUT", "/api/v1/challenges/{challenge_id}/decision"): Row(
        on_challenge("PUT", "/decision", {"decision": "Adopt"}, stage="Closed"), only(200, "alice")
    ),
    ("GET", "/api/v1/challenges/{challenge_id}/responses"): Row(
        on_challenge("GET", "/responses", responded=True), only(200, *SEES_ALL_RESPONSES, "sam", "gus")
    ),
    # `demo` is acme's: globex (gus) may respond, but not offering another supplier's template.
    ("POST", "/api/v1/challenges/{challenge_id}/responses"): Row(
        on_challenge(
            "POST",
            "/responses",
            {"summary": "We can help", "templates": ["demo"], "conflict_declared": False},
        ),
        {**only(201, "sam"), "gus": 422},
    ),
    ("GET", "/api/v1/challenges/{challenge_id}/questions"): Row(
        on_challenge("GET", "/questions", responded=True), everyone(200)
    ),
    ("POST", "/api/v1/challenges/{challenge_id}/questions"): Row(
        on_challenge("POST", "/questions", {"question": "When?"}), only(201, "sam", "gus")
    ),
    ("PUT", "/api/v1/challenges/{challenge_id}/questions/{question_id}/answer"): Row(
        on_challenge("PUT", "/questions/{question}/answer", {"answer": "Soon"}, responded=True),
        only(200, "alice"),
    ),
    ("GET", "/api/v1/challenges/{challenge_id}/sessions"): Row(
        on_challenge("GET", "/sessions", responded=True), everyone(200)
    ),
    ("POST", "/api/v1/challenges/{challenge_id}/sessions"): Row(
        on_challenge(
            "POST",
            "/sessions",
            {
                "title": "Demo day",
                "starts_at": "2098-06-02T10:00:00+00:00",
                "ends_at": "2098-06-02T12:00:00+00:00",
                "mode": "in_person",
                "place": "Caxton House",
                "capacity": 10,
            },
        ),
        only(201, "alice"),
    ),
    ("POST", "/api/v1/challenges/{challenge_id}/sessions/{session_id}/registrations"): Row(
        on_challenge("POST", "/sessions/{session}/registrations", responded=True), only(201, "sam", "gus")
    ),
    ("POST", "/api/v1/challenges/{challenge_id}/sessions/{session_id}/materials"): Row(
        on_challenge(
            "POST",
            "/sessions/{session}/materials",
            {"title": "Slides", "url": "https://x.example/s.pdf"},
            responded=True,
        ),
        only(201, "alice"),
    ),
    # The equal offer's trials, the notice draft and the release package: the owner and the
    # den's operators (suppliers see no individual trial); only the owner launches the offer.
    ("GET", "/api/v1/challenges/{challenge_id}/trials"): Row(
        on_challenge("GET", "/trials", responded=True), only(200, *SEES_ALL_RESPONSES)
    ),
    ("POST", "/api/v1/challenges/{challenge_id}/trials"): Row(
        on_challenge("POST", "/trials", OFFER, responded=True), only(201, "alice")
    ),
    ("GET", "/api/v1/challenges/{challenge_id}/uk2"): Row(
        on_challenge("GET", "/uk2", responded=True), only(200, *SEES_ALL_RESPONSES)
    ),
    ("GET", "/api/v1/challenges/{challenge_id}/ocds"): Row(
        on_challenge("GET", "/ocds", responded=True), only(200, *SEES_ALL_RESPONSES)
    ),
    ("GET", "/ocds/extension.json"): Row(
        get("/ocds/extension.json"), everyone(200, anonymous=200), via="public"
    ),
    ("GET", "/ocds/release-schema.json"): Row(
        get("/ocds/release-schema.json"), everyone(200, anonymous=200), via="public"
    ),
}

# The challenge pages, their twins and their forms (web/routes/challenges.py and beside it).
WRITERS = ("alice", "bob", "carol", "ann")  # civil servants and approvers write challenges
DRAFT_HIDDEN = {**only(200, "alice", others=404), "pat": 403, "ann": 403}  # a draft's own page
IN_THREE_DAYS = datetime.now(UTC) + timedelta(days=3)
SESSION_FORM = {
    "title": "Questions and answers",
    "date-day": str(IN_THREE_DAYS.day),
    "date-month": str(IN_THREE_DAYS.month),
    "date-year": str(IN_THREE_DAYS.year),
    "starts": "2pm",
    "ends": "3pm",
    "mode": "online",
    "place": "https://meet.example.gov.uk/abc",
    "capacity": "20",
}
OFFER_FORM = {
    "hypothesis": "Reminders halve missed appointments",
    "success_criteria": "Fewer missed",
    "duration": "15",
    "duration-unit": "minutes",
}


def on_challenge_page(suffix: str = "", **state: Any) -> Case:
    return on_challenge("GET", suffix, prefix="/challenges", **state)


CHALLENGE_PAGES: dict[tuple[str, str], Row] = {
    **page("/challenges", get("/challenges"), everyone(200)),
    **page("/challenges/new/{step}", get("/challenges/new/title"), only(200, *WRITERS)),
    **page(
        "/challenges/{challenge_id}",
        on_challenge_page(stage="Draft"),
        only(200, *SEES_ALL_RESPONSES, others=404),
    ),
    **page("/challenges/{challenge_id}/publish", on_challenge_page("/publish", stage="Draft"), DRAFT_HIDDEN),
    **page("/challenges/{challenge_id}/close", on_challenge_page("/close"), only(200, "alice")),
    **page("/challenges/{challenge_id}/respond", on_challenge_page("/respond"), only(200, "sam", "gus")),
    **page("/challenges/{challenge_id}/ask", on_challenge_page("/ask"), only(200, "sam", "gus")),
    **page(
        "/challenges/{challenge_id}/questions/{question_id}/answer",
        on_challenge_page("/questions/{question}/answer", responded=True),
        only(200, "alice"),
    ),
    **page("/challenges/{challenge_id}/sessions/new", on_challenge_page("/sessions/new"), only(200, "alice")),
    **page(
        "/challenges/{challenge_id}/sessions/{session_id}/materials",
        on_challenge_page("/sessions/{session}/materials", responded=True),
        only(200, "alice"),
    ),
    **page(
        "/challenges/{challenge_id}/offer", on_challenge_page("/offer", responded=True), only(200, "alice")
    ),
    **page(
        "/challenges/{challenge_id}/decision",
        on_challenge_page("/decision", stage="Closed"),
        only(200, "alice"),
    ),
    # The downloads: in a browser, with the signed-in session.
    ("GET", "/challenges/{challenge_id}/uk2.txt"): Row(
        on_challenge_page("/uk2.txt", responded=True),
        only(200, *SEES_ALL_RESPONSES, anonymous=303),
        via="browser",
    ),
    ("GET", "/challenges/{challenge_id}/ocds.json"): Row(
        on_challenge_page("/ocds.json", responded=True), only(200, *SEES_ALL_RESPONSES), via="browser"
    ),
}


def on_challenge_form(suffix: str, form: dict[str, str] | None = None, **state: Any) -> Case:
    return on_challenge("POST", suffix, form=form or {}, prefix="/challenges", **state)


CHALLENGE_FORMS: dict[tuple[str, str], Row] = {
    ("POST", "/challenges/new/{step}"): Row(
        lambda w: ("POST", "/challenges/new/title", {"data": {"title": "A challenge"}}),
        only(303, *WRITERS, anonymous=303),
        via="form",
    ),
    ("POST", "/challenges/{challenge_id}/change"): Row(
        on_challenge_form("/change", stage="Draft"),
        {**DRAFT_HIDDEN, "alice": 303, "anonymous": 303},
        via="form",
    ),
    ("POST", "/challenges/{challenge_id}/publish"): Row(
        on_challenge_form("/publish", stage="Draft"),
        {**DRAFT_HIDDEN, "alice": 303, "anonymous": 303},
        via="form",
    ),
    ("POST", "/challenges/{challenge_id}/close"): Row(
        on_challenge_form("/close"), only(303, "alice", anonymous=303), via="form"
    ),
    ("POST", "/challenges/{challenge_id}/decision"): Row(
        on_challenge_form("/decision", {"decision": "Adopt"}, stage="Closed"),
        only(303, "alice", anonymous=303),
        via="form",
    ),
    # `demo` is acme's: globex (gus) is shown the form again, refused the other's template.
    ("POST", "/challenges/{challenge_id}/respond"): Row(
        on_challenge_form("/respond", {"summary": "We can help", "templates": "demo", "conflict": "no"}),
        {**only(303, "sam", anonymous=303), "gus": 422},
        via="form",
    ),
    ("POST", "/challenges/{challenge_id}/ask"): Row(
        on_challenge_form("/ask", {"question": "When?"}), only(303, "sam", "gus", anonymous=303), via="form"
    ),
    ("POST", "/challenges/{challenge_id}/questions/{question_id}/answer"): Row(
        on_challenge_form("/questions/{question}/answer", {"answer": "Soon"}, responded=True),
        only(303, "alice", anonymous=303),
        via="form",
    ),
    ("POST", "/challenges/{challenge_id}/sessions/new"): Row(
        on_challenge_form("/sessions/new", SESSION_FORM), only(303, "alice", anonymous=303), via="form"
    ),
    ("POST", "/challenges/{challenge_id}/sessions/{session_id}/register"): Row(
        on_challenge_form("/sessions/{session}/register", responded=True),
        only(303, "sam", "gus", anonymous=303),
        via="form",
    ),
    ("POST", "/challenges/{challenge_id}/sessions/{session_id}/materials"): Row(
        on_challenge_form(
            "/sessions/{session}/materials",
            {"title": "Slides", "url": "https://x.example/s.pdf"},
            responded=True,
        ),
        only(303, "alice", anonymous=303),
        via="form",
    ),
    ("POST", "/challenges/{challenge_id}/offer"): Row(
        on_challenge_form("/offer", OFFER_FORM, responded=True), only(303, "alice", anonymous=303), via="form"
    ),
}

# --- the web pages, their twins and their forms ----------------------------------------------

START = "/templates/demo/start"
PAGES: dict[tuple[str, str], Row] = {
    **page("/", get("/"), everyone(200, anonymous=200)),
    **page("/sign-in", get("/sign-in"), everyone(200, anonymous=200)),
    **page("/signed-out", get("/signed-out"), everyone(200, anonymous=200)),
    **page("/accessibility", get("/accessibility"), everyone(200, anonymous=200)),
    **page("/cookies", get("/cookies"), everyone(200, anonymous=200)),
    **page("/feedback", get("/feedback?page=/techmap"), everyone(200, anonymous=200)),
    **page("/privacy", get("/privacy"), everyone(200, anonymous=200)),
    **page("/account/notifications", get("/account/notifications"), everyone(200)),
    **page("/guide/templates", get("/guide/templates"), everyone(200, anonymous=200)),
    # Single sign-on is not set up here, so its routes do not exist for anyone (with a
    # provider, whoever asks starts signing in: tests/service/test_sign_in_pages.py).
    ("GET", "/sign-in/start"): Row(get("/sign-in/start"), everyone(404, anonymous=404), via="browser"),
    ("GET", "/sign-in/callback"): Row(
        get("/sign-in/callback?state=s&code=c"), everyone(404, anonymous=404), via="browser"
    ),
    **page("/techmap", get("/techmap?q=demo&area=testing"), everyone(200)),
    **page("/templates/{name}", get("/templates/demo"), everyone(200)),
    **page(
        "/templates/{name}/start/{step}",
        get(f"{START}/title"),
        only(200, "alice", "bob", "carol", "pat", "ann"),
    ),
    **page("/trials", get("/trials?phase=Ready"), everyone(200)),
    **page("/trials/{trial_id}", on_trial("GET", prefix="/trials"), only(200, *SEES_TRIAL, hidden=404)),
    **page(
        "/trials/{trial_id}/confirmation",
        on_trial("GET", "/confirmation", prefix="/trials"),
        only(200, *SEES_TRIAL, hidden=404),
    ),
    **page(
        "/trials/{trial_id}/end",
        on_trial("GET", "/end", prefix="/trials"),
        only(200, *SEES_TRIAL, hidden=404),
    ),
    **page(
        "/trials/{trial_id}/reject",
        on_trial("GET", "/reject", prefix="/trials"),
        only(200, "pat", "ann", hidden=404),
    ),
    **page(
        "/trials/{trial_id}/decide",
        on_trial("GET", "/decide", prefix="/trials", pending=True),
        only(200, "pat", "ann", hidden=404),
    ),
    **page(
        "/trials/{trial_id}/decided",
        on_trial("GET", "/decided?decision=approved", prefix="/trials", pending=True),
        only(200, "pat", "ann", hidden=404),
    ),
    **page(
        "/trials/{trial_id}/evaluation",
        on_trial("GET", "/evaluation", prefix="/trials"),
        only(200, "alice", hidden=404),
    ),
    **page(
        "/trials/{trial_id}/evaluation/{part}",
        on_trial("GET", "/evaluation/scores", prefix="/trials"),
        only(200, "alice", hidden=404),
    ),
    ("GET", "/trials/{trial_id}/evaluation.pdf"): Row(
        on_trial("GET", "/evaluation.pdf", prefix="/trials", evaluated=True),
        only(200, *SEES_TRIAL, hidden=404, anonymous=303),
        via="browser",
    ),
    **page(
        "/trials/{trial_id}/open/{component}",
        on_trial("GET", "/open/web", prefix="/trials", ready=True),
        only(200, "alice", "pat", others=404),
    ),
    **page("/share/{secret}", lambda w: ("GET", _share_link(w)["path"], {}), everyone(200, anonymous=200)),
    **page("/reports", get("/reports?by=supplier&decision=adopt"), everyone(200)),
    **page("/supplier", get("/supplier"), only(200, "sam", "gus")),
    **page("/supplier/publish", get("/supplier/publish"), only(200, "sam", "gus", "pat")),
    # With no upload waiting, the check page says so and links back to the upload.
    **page("/supplier/publish/check", get("/supplier/publish/check"), only(200, "sam", "gus", "pat")),
    **page("/approvals", get("/approvals"), only(200, "pat", "ann")),
    **page("/platform", get("/platform?phase=Ready"), only(200, "pat")),
    **page("/platform/feedback", get("/platform/feedback"), only(200, "pat")),
    **page("/platform/templates/{name}/{version}", get("/platform/templates/demo/1.0.0"), only(200, "pat")),
    ("GET", "/reports/trial-report.{extension}"): Row(
        get("/reports/trial-report.csv"), everyone(200, anonymous=303), via="browser"
    ),
}
FORMS: dict[tuple[str, str], Row] = {
    ("POST", "/sign-in"): Row(_sign_in, everyone(303, anonymous=303), via="form", anonymous_to="/"),
    ("POST", "/sign-out"): Row(
        lambda w: ("POST", "/sign-out", {}),
        everyone(303, anonymous=303),
        via="form",
        anonymous_to="/signed-out",
    ),
    ("POST", "/templates/{name}/start/{step}"): Row(
        lambda w: ("POST", f"{START}/title", {"data": {"title": "A trial"}}),
        only(303, "alice", "bob", "carol", "pat", "ann", anonymous=303),
        via="form",
    ),
    ("POST", "/trials/{trial_id}/extend"): Row(
        on_trial("POST", "/extend", form={"extend-by": "600"}, prefix="/trials", ready=True),
        only(303, "alice", "pat", hidden=404, anonymous=303),
        via="form",
    ),
    ("POST", "/trials/{trial_id}/members"): Row(
        on_trial(
            "POST", "/members", form={"member-user": "carol", "member-role": "assessor"}, prefix="/trials"
        ),
        only(303, "alice", "pat", hidden=404, anonymous=303),
        via="form",
    ),
    ("POST", "/trials/{trial_id}/members/{user}/remove"): Row(
        on_trial("POST", "/members/bob/remove", prefix="/trials", team=True),
        {**only(303, "alice", "pat", hidden=404, anonymous=303), "bob": 403, "carol": 403},
        via="form",
    ),
    ("POST", "/trials/{trial_id}/assessment"): Row(
        on_trial("POST", "/assessment", form=ASSESSMENT_FORM, prefix="/trials", ready=True),
        only(303, "alice", hidden=404, anonymous=303),
        via="form",
    ),
    ("POST", "/trials/{trial_id}/end"): Row(
        on_trial("POST", "/end", prefix="/trials"),
        only(303, *SEES_TRIAL, hidden=404, anonymous=303),
        via="form",
    ),
    ("POST", "/trials/{trial_id}/approve"): Row(
        on_trial("POST", "/approve", prefix="/trials", pending=True),
        only(303, "pat", "ann", hidden=404, anonymous=303),
        via="form",
    ),
    ("POST", "/trials/{trial_id}/decide"): Row(
        on_trial(
            "POST", "/decide", form={"decision": "approve", "note": "fine"}, prefix="/trials", pending=True
        ),
        only(303, "pat", "ann", hidden=404, anonymous=303),
        via="form",
    ),
    ("POST", "/trials/{trial_id}/reject"): Row(
        on_trial("POST", "/reject", form={"reason": "not now"}, prefix="/trials", pending=True),
        only(303, "pat", "ann", hidden=404, anonymous=303),
        via="form",
    ),
    ("POST", "/trials/{trial_id}/evaluation/{part}"): Row(
        on_trial("POST", "/evaluation/scores", form=_evaluation_form(), prefix="/trials", ready=True),
        only(303, "alice", hidden=404, anonymous=303),
        via="form",
    ),
    ("POST", "/trials/{trial_id}/open/{component}"): Row(
        on_trial("POST", "/open/web", prefix="/trials", ready=True),
        only(303, "alice", "pat", others=404, anonymous=303),
        via="form",
    ),
    ("POST", "/share/{secret}/open/{component}"): Row(
        lambda w: ("POST", _share_link(w)["path"] + "/open/web", {}),
        everyone(303, anonymous=303),
        via="form",
        anonymous_to="https://t",
    ),
    ("POST", "/supplier/publish"): Row(_upload, only(303, "sam", "pat", anonymous=303), via="form"),
    ("POST", "/supplier/publish/check"): Row(
        lambda w: ("POST", "/supplier/publish/check", {}),
        only(303, "sam", "gus", "pat", anonymous=303),
        via="form",
    ),
    # Anyone may tell us about a problem, signed in or not.
    ("POST", "/account/notifications"): Row(
        lambda w: ("POST", "/account/notifications", {"data": {"events": "trial.ready"}}),
        everyone(303, anonymous=303),
        via="form",
    ),
    ("POST", "/feedback"): Row(
        lambda w: ("POST", "/feedback", {"data": {"wrong": "It broke"}}),
        everyone(303, anonymous=303),
        via="form",
        anonymous_to="/feedback?sent=yes",
    ),
    ("POST", "/platform/templates/{name}/{version}"): Row(
        lambda w: (
            "POST",
            "/platform/templates/demo/1.0.0",
            {"data": {"status": "Published", "reason": "reviewed"}},
        ),
        only(303, "pat", anonymous=303),
        via="form",
    ),
}
#: Static files: public, whoever asks. Keyed ("*", mount path), with a file under it; a
#: mount that is absent (GOV.UK Frontend not installed) needs no row.
STATIC: dict[tuple[str, str], Row] = {
    ("*", "/static/den"): Row(get("/static/den/den.mjs"), everyone(200, anonymous=200), via="public"),
    ("*", "/static/govuk-frontend"): Row(
        get("/static/govuk-frontend/govuk-frontend.min.css"), everyone(200, anonymous=200), via="public"
    ),
    ("*", "/assets"): Row(get("/assets/images/favicon.ico"), everyone(200, anonymous=200), via="public"),
}
MATRIX: dict[tuple[str, str], Row] = {
    **API,
    **CHALLENGES,
    **PAGES,
    **CHALLENGE_PAGES,
    **FORMS,
    **CHALLENGE_FORMS,
    **STATIC,
}
#: Shared with the department: bob (dwp) may now see and evaluate alice's trial.
SHARED: dict[tuple[str, str], Row] = {
    ("GET", "/api/v1/trials/{trial_id}"): Row(
        on_trial("GET", shared=True), only(200, "alice", "bob", "pat", "ann", hidden=404)
    ),
    ("PUT", "/api/v1/trials/{trial_id}/evaluation"): Row(
        on_trial("PUT", "/evaluation", EVALUATION, ready=True, shared=True),
        only(200, "alice", "bob", hidden=404),
    ),
    ("GET", "/trials/{trial_id}"): Row(
        on_trial("GET", prefix="/trials", shared=True),
        only(200, "alice", "bob", "pat", "ann", hidden=404, anonymous=303),
        via="browser",
    ),
}

#: A team trial (`World.trial(team=True)`): carol (hmrc) collaborates, bob (dwp) assesses.
#: Members see it and open its sandbox; collaborators extend it; assessors score it; only the
#: owner ends it and manages its members (platform engineers and approvers as before).
TEAM: dict[tuple[str, str], Row] = {
    ("GET", "/api/v1/trials/{trial_id}"): Row(
        on_trial("GET", team=True), only(200, "alice", "bob", "carol", "pat", "ann", hidden=404)
    ),
    ("GET", "/api/v1/trials/{trial_id}/events"): Row(
        on_trial("GET", "/events", team=True), only(200, "alice", "bob", "carol", "pat", "ann", hidden=404)
    ),
    ("POST", "/api/v1/trials/{trial_id}/open"): Row(
        on_trial("POST", "/open", {}, ready=True, team=True),
        only(201, "alice", "bob", "carol", "pat", hidden=404),
    ),
    ("POST", "/api/v1/trials/{trial_id}/extend"): Row(
        on_trial("POST", "/extend", {"duration_seconds": 60}, ready=True, team=True),
        {**only(200, "alice", "carol", "pat", hidden=404), "bob": 403},
    ),
    ("POST", "/api/v1/trials/{trial_id}/end"): Row(
        on_trial("POST", "/end", team=True), {**only(202, *SEES_TRIAL, hidden=404), "bob": 403, "carol": 403}
    ),
    ("GET", "/api/v1/trials/{trial_id}/members"): Row(
        on_trial("GET", "/members", team=True), only(200, "alice", "bob", "carol", "pat", "ann", hidden=404)
    ),
    # Carol is a member already: who may add learns that (409); the others may not add (403).
    ("POST", "/api/v1/trials/{trial_id}/members"): Row(
        on_trial("POST", "/members", {"user": "carol", "role": "assessor"}, team=True),
        {**only(409, "alice", "pat", hidden=404), "bob": 403, "carol": 403},
    ),
    ("PUT", "/api/v1/trials/{trial_id}/assessments/me"): Row(
        on_trial("PUT", "/assessments/me", {"scores": SCORES}, ready=True, team=True),
        {**only(200, "alice", "bob", hidden=404), "carol": 403},
    ),
    ("PUT", "/api/v1/trials/{trial_id}/evaluation"): Row(
        on_trial("PUT", "/evaluation", EVALUATION, ready=True, team=True),
        {**only(200, "alice", hidden=404), "bob": 403, "carol": 403},
    ),
}

# --- apps routed by Host, before any route of the den -------------------------------------------

#: (app, method, path) -> row, for each app `host_routed_apps` finds. The app's name is the
#: middleware's class and the keyword it was given the app under, e.g. "SandboxDispatch.sandbox".
#: A case sets the Host header itself (`{"headers": {"host": ...}}`).
#: On a sandbox's origin a script sends its token as `X-Den-Token` (via "sandbox"); the fake
#: runtime's address answers nothing, so 502 there means "let through to the workload".
HOST_ROUTED: dict[tuple[str, str, str], Row] = {
    # The grant is the credential: whoever brings it first is let in (303 into the sandbox).
    (SANDBOX, "GET", "/_den/enter"): Row(
        on_sandbox("GET", enter=True), everyone(303, anonymous=303), via="sandbox", anonymous_to="/"
    ),
    **{
        (SANDBOX, method, "/_den/{rest:path}"): Row(
            on_sandbox(method, "/_den/anything"), everyone(404, anonymous=404), via="sandbox"
        )
        for method in SANDBOX_METHODS
    },
    **{
        (SANDBOX, method, "/{path:path}"): Row(
            on_sandbox(method, "/cases"),
            only(502, "alice", "pat", others=404, anonymous=303),
            via="sandbox",
            anonymous_to="https://localhost/trials/",
        )
        for method in SANDBOX_METHODS
    },
}


# --- every route has a row ---------------------------------------------------------------------


def served_routes(app: Any) -> dict[tuple[str, str], str]:
    """(method, path) -> the endpoint serving it, for every route of `app` (a mount is
    ("*", path)). HEAD goes with GET wherever both are served."""
    found: dict[tuple[str, str], str] = {}
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            found[("*", str(route.path))] = f"files mounted at {route.path}"
            continue
        methods = set(route.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")
        endpoint = route.endpoint
        where = f"{getattr(endpoint, '__module__', '?')}.{getattr(endpoint, '__name__', '?')}"
        found.update({(method, str(route.path)): where for method in methods})
    return found


def host_routed_apps(app: FastAPI) -> dict[str, Any]:
    """The apps middleware hands requests to by Host: any keyword argument that is an app with
    routes of its own."""
    return {
        f"{middleware.cls.__name__}.{key}": value  # type: ignore[attr-defined]
        for middleware in app.user_middleware
        for key, value in middleware.kwargs.items()
        if hasattr(value, "routes")
    }


HOW_TO_ADD = (
    "For each, add a row to {table} in tests/service/test_authorisation.py with the status each "
    'person should get (docs/access.md, "Who may do what"), e.g.\n'
    "    ('GET', '/x/{{id}}'): Row(get('/x/1'), only(200, 'pat', others=403)),\n"
    "or for a page and its JSON twin: **page('/x', get('/x'), everyone(200)),"
)


def _missing(served: dict[Any, str], rows: set[Any], table: str) -> list[str]:
    """What to say about the served routes without a row, and the rows without a route."""
    lacking = [f"  {key!r}  (served by {where})" for key, where in sorted(served.items()) if key not in rows]
    stale = [f"  {key!r}" for key in sorted(rows - set(served))]
    said = []
    if lacking:
        said += [
            "These routes have no row in the authorisation matrix.",
            HOW_TO_ADD.format(table=table),
            *lacking,
        ]
    if stale:
        said += [f"These rows of {table} are for routes nothing serves: remove them", *stale]
    return said


def test_every_route_has_a_row(client: TestClient) -> None:
    app: FastAPI = client.app  # type: ignore[assignment]
    served = served_routes(app)
    mounted = {key for key in served if key[0] == "*"}
    problems = _missing(served, set(MATRIX) - (set(STATIC) - mounted), "MATRIX (API, PAGES, FORMS or STATIC)")
    for name, routed in host_routed_apps(app).items():
        there = {(name, *key): where for key, where in served_routes(routed).items()}
        problems += _missing(
            there,
            {key for key in HOST_ROUTED if key[0] == name},
            f"HOST_ROUTED (the app {name}, called with its Host header)",
        )
    known = set(host_routed_apps(app))
    problems += [
        f"HOST_ROUTED has rows for {name}, which no middleware routes to: remove them"
        for name in sorted({key[0] for key in HOST_ROUTED} - known)
    ]
    assert not problems, "\n".join(problems)


def test_shared_rows_are_rows_of_the_matrix() -> None:
    assert set(SHARED) <= set(MATRIX)
    assert set(TEAM) <= set(MATRIX)


# --- calling each row as every person ----------------------------------------------------------


def call(world: World, person: str, row: Row) -> Any:
    method, path, kwargs = row.make(world)
    headers = {**kwargs.pop("headers", {})}
    if row.via in ("token", "public"):
        return world.client.request(
            method, path, headers={**headers, **world.people.get(person, {})}, **kwargs
        )
    if row.via == "sandbox":  # a sandbox origin takes a script's token as X-Den-Token
        token = world.people.get(person, {}).get("Authorization", "").removeprefix("Bearer ")
        return world.client.request(
            method, path, headers={**headers, **({"x-den-token": token} if token else {})}, **kwargs
        )
    visitor = world.browser(person)
    if row.via == "form":
        kwargs["data"] = {"csrf_token": world.csrf(person), **kwargs.get("data", {})}
    return visitor.request(method, path, headers=headers, **kwargs)


def check_shape(person: str, row: Row, answer: Any) -> None:
    """Refusals have the API's error body, or are GOV.UK pages; anonymous is sent to sign in."""
    kind = answer.headers.get("content-type", "")
    if answer.status_code >= 400 and kind.startswith("application/json"):
        assert {"reason", "detail"} <= set(answer.json()), answer.text
    elif answer.status_code >= 400 and kind.startswith("text/html"):
        assert "govuk-template" in answer.text
    if person == "anonymous" and answer.status_code == 303:
        assert answer.headers["location"].startswith(row.anonymous_to), answer.headers


def _params(table: dict[Any, Row], label: str = "") -> list[Any]:
    return [pytest.param(key, row, id=label + " ".join(key)) for key, row in table.items()]


@pytest.mark.parametrize(
    ("key", "row"),
    [
        *_params(MATRIX),
        *_params(SHARED, "shared "),
        *_params(TEAM, "team "),
        *_params(HOST_ROUTED, "host "),
    ],
)
def test_route_as_every_person(
    client: TestClient,
    people: dict[str, dict[str, str]],
    fake_driver: FakeDriver,
    key: tuple[str, ...],
    row: Row,
) -> None:
    if key in STATIC and key not in served_routes(client.app):
        pytest.skip(f"nothing is mounted at {key[1]} (GOV.UK Frontend: scripts/bootstrap)")
    world = World(client=client, people=people, driver=fake_driver)
    wrong = []
    for person in PERSONS:
        answer = call(world, person, row)
        check_shape(person, row, answer)
        if answer.status_code != row.expected[person]:
            wrong.append(
                f"{person} ({PEOPLE.get(person, ('no token',))[0]}) got "
                f"{answer.status_code}, not {row.expected[person]}: {answer.text[:200]}"
            )
    assert not wrong, f"{' '.join(key)}:\n" + "\n".join(wrong)
