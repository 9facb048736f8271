"""The authorisation matrix: every API route, called as every kind of person, is allowed or
refused exactly as intended. A route added without a row here fails the completeness test.

People (tests/service/conftest.py): alice owns the trials (civil servant, dwp); bob is her
colleague in dwp; carol is a civil servant of another department; sam is the supplier (acme)
of the template trialled (`demo`); gus is another supplier; pat a platform engineer; ann an
approver; `anonymous` sends no token. A trial a person may not see answers 404, not 403.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from orchestrator.settings import Settings
from tests.fakes import FakeDriver
from tests.service.conftest import AUTH, SCORES, launch, run_until_ready
from tests.unit.test_catalogue import GOOD

PERSONS = ("alice", "bob", "carol", "sam", "gus", "pat", "ann", "anonymous")
_versions = itertools.count(1)
_names = itertools.count(1)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Room for the many trials the matrix makes; requests over 3000 s wait for an approver.
    return settings.model_copy(update={"max_active_trials_per_user": 10_000,
                                       "max_active_trials_per_department": 10_000,
                                       "self_service_max_duration": 3000})


@dataclass
class World:
    client: TestClient
    people: dict[str, dict[str, str]]
    driver: FakeDriver

    def trial(self, *, shared: bool = False, ready: bool = False, pending: bool = False,
              evaluated: bool = False) -> str:
        body = launch(self.client, self.people["alice"], duration=3600 if pending else 600,
                      shared_with_department=shared)
        if ready or evaluated:
            run_until_ready(self.client, self.driver, body["id"])
        if evaluated:
            answer = self.client.put(f"/api/v1/trials/{body['id']}/evaluation",
                                     headers=self.people["alice"],
                                     json={"scores": SCORES, "decision": "iterate",
                                           "private_notes": "only for us"})
            assert answer.status_code == 200, answer.text
        return str(body["id"])

    def token_of_alice(self) -> int:
        answer = self.client.post("/api/v1/users/alice/tokens", headers=AUTH, json={})
        return int(answer.json()["id"])


Request = tuple[str, str, dict[str, Any]]
Case = Callable[[World], Request]


def _manifest(_world: World) -> Request:
    version = f"1.0.{next(_versions)}"
    body = yaml.safe_dump({**GOOD, "metadata": {**GOOD["metadata"], "version": version}})
    return "POST", "/api/v1/templates", {"content": body,
                                         "headers": {"Content-Type": "application/yaml"}}


def _user(_world: World) -> Request:
    return "POST", "/api/v1/users", {"json": {"name": f"new{next(_names)}",
                                              "role": "civil_servant"}}


def _supplier(_world: World) -> Request:
    return "POST", "/api/v1/suppliers", {"json": {"slug": f"new{next(_names)}", "name": "New"}}


def on_trial(method: str, suffix: str = "", body: dict[str, Any] | None = None,
             **state: bool) -> Case:
    def case(world: World) -> Request:
        return method, f"/api/v1/trials/{world.trial(**state)}{suffix}", (
            {"json": body} if body is not None else {})
    return case


def everyone(status: int) -> dict[str, int]:
    return {person: status for person in PERSONS if person != "anonymous"}


def only(status: int, *allowed: str, others: int = 403, hidden: int | None = None
         ) -> dict[str, int]:
    """`allowed` get `status`; the rest `others`, except people who cannot see the trial
    (bob, carol, gus for an unshared trial of alice's) who get `hidden`."""
    found = {person: (status if person in allowed else others) for person in PERSONS}
    if hidden is not None:
        found.update({p: hidden for p in ("bob", "carol", "gus") if p not in allowed})
    found.pop("anonymous")
    return found


EVALUATION = {"scores": SCORES, "decision": "adopt", "lessons_learned": "Worth it"}
#: (method, route) -> (how to make the request, expected status per person)
MATRIX: dict[tuple[str, str], tuple[Case, dict[str, int]]] = {
    ("GET", "/api/v1/templates"): (lambda w: ("GET", "/api/v1/templates", {}), everyone(200)),
    ("POST", "/api/v1/templates"): (_manifest, only(201, "sam", "pat")),
    ("GET", "/api/v1/templates/{name}"): (
        lambda w: ("GET", "/api/v1/templates/demo", {}), everyone(200)),
    ("POST", "/api/v1/templates/{name}/versions/{version}/status"): (
        lambda w: ("POST", "/api/v1/templates/demo/versions/1.0.0/status",
                   {"json": {"status": "Published", "reason": "reviewed"}}), only(200, "pat")),
    ("GET", "/api/v1/suppliers"): (lambda w: ("GET", "/api/v1/suppliers", {}), everyone(200)),
    ("POST", "/api/v1/suppliers"): (_supplier, only(201, "pat")),
    ("POST", "/api/v1/trials"): (
        lambda w: ("POST", "/api/v1/trials", {"json": {
            "template": "demo", "title": "t", "hypothesis": "h", "duration_seconds": 600}}),
        only(201, "alice", "bob", "carol", "pat", "ann")),
    ("GET", "/api/v1/trials"): (lambda w: ("GET", "/api/v1/trials", {}), everyone(200)),
    ("GET", "/api/v1/trials/{trial_id}"): (
        on_trial("GET"), only(200, "alice", "sam", "pat", "ann", hidden=404)),
    ("POST", "/api/v1/trials/{trial_id}/extend"): (
        on_trial("POST", "/extend", {"duration_seconds": 60}, ready=True),
        only(200, "alice", "pat", hidden=404)),
    ("POST", "/api/v1/trials/{trial_id}/end"): (
        on_trial("POST", "/end"), only(202, "alice", "pat", "ann", hidden=404)),
    ("GET", "/api/v1/trials/{trial_id}/events"): (
        on_trial("GET", "/events"), only(200, "alice", "sam", "pat", "ann", hidden=404)),
    ("POST", "/api/v1/trials/{trial_id}/approve"): (
        on_trial("POST", "/approve", pending=True), only(200, "pat", "ann", hidden=404)),
    ("POST", "/api/v1/trials/{trial_id}/reject"): (
        on_trial("POST", "/reject", {"reason": "not now"}, pending=True),
        only(200, "pat", "ann", hidden=404)),
    ("PUT", "/api/v1/trials/{trial_id}/evaluation"): (
        on_trial("PUT", "/evaluation", EVALUATION, ready=True), only(200, "alice", hidden=404)),
    ("GET", "/api/v1/trials/{trial_id}/evaluation"): (
        on_trial("GET", "/evaluation", evaluated=True),
        only(200, "alice", "sam", "pat", "ann", hidden=404)),
    ("GET", "/api/v1/trials/{trial_id}/logs/{component}"): (
        on_trial("GET", "/logs/web", ready=True), only(200, "alice", "pat", "ann", hidden=404)),
    ("GET", "/api/v1/reports/trials"): (
        lambda w: ("GET", "/api/v1/reports/trials", {}), everyone(200)),
    ("POST", "/api/v1/users"): (_user, only(201, "pat")),
    ("GET", "/api/v1/users"): (lambda w: ("GET", "/api/v1/users", {}), only(200, "pat")),
    ("POST", "/api/v1/users/{name}/tokens"): (
        lambda w: ("POST", "/api/v1/users/alice/tokens", {"json": {"name": "x"}}),
        only(201, "alice", "pat")),
    ("GET", "/api/v1/users/{name}/tokens"): (
        lambda w: ("GET", "/api/v1/users/alice/tokens", {}), only(200, "alice", "pat")),
    ("DELETE", "/api/v1/users/{name}/tokens/{token_id}"): (
        lambda w: ("DELETE", f"/api/v1/users/alice/tokens/{w.token_of_alice()}", {}),
        only(200, "alice", "pat")),
    ("GET", "/api/v1/audit"): (lambda w: ("GET", "/api/v1/audit", {}), only(200, "pat")),
}
#: Shared with the department: bob (dwp) may now see and evaluate alice's trial.
SHARED: dict[tuple[str, str], tuple[Case, dict[str, int]]] = {
    ("GET", "/api/v1/trials/{trial_id}"): (
        on_trial("GET", shared=True), only(200, "alice", "bob", "sam", "pat", "ann", hidden=404)),
    ("PUT", "/api/v1/trials/{trial_id}/evaluation"): (
        on_trial("PUT", "/evaluation", EVALUATION, ready=True, shared=True),
        only(200, "alice", "bob", hidden=404)),
}


def test_the_matrix_covers_every_api_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    routes = {(method.upper(), path) for path, ops in paths.items() for method in ops
              if path.startswith("/api/")}
    assert routes == set(MATRIX)


@pytest.mark.parametrize(("route", "case"), [
    *(pytest.param(route, MATRIX[route], id=" ".join(route)) for route in MATRIX),
    *(pytest.param(route, SHARED[route], id="shared " + " ".join(route)) for route in SHARED),
])
def test_route_as_every_person(client: TestClient, people: dict[str, dict[str, str]],
                               fake_driver: FakeDriver, route: tuple[str, ...],
                               case: tuple[Case, dict[str, int]]) -> None:
    make, expected = case
    world = World(client=client, people=people, driver=fake_driver)
    seen = {}
    for person in PERSONS:
        method, path, kwargs = make(world)
        headers = {**kwargs.pop("headers", {}), **people.get(person, {})}
        answer = client.request(method, path, headers=headers, **kwargs)
        seen[person] = answer.status_code
        if answer.status_code >= 400:  # every refusal has the error shape
            assert {"reason", "detail"} <= set(answer.json())
    assert seen == {**expected, "anonymous": 401}
