"""Single sign-on end to end: a real `den serve` on the real Docker engine, a real OpenID
provider (Keycloak, tests/e2e/oidc.py) and Debian's chromium driven by Playwright. People sign
in on the provider's own login form, land on the den with the role and department their groups
give, launch a trial from the pages, and sign out of the den and of the provider. Every den
page reached is checked like the other journeys (axe-core, its Content-Security-Policy, which
must let the sign-out form end on the provider)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.engine import remove_instance
from tests.e2e.oidc import Provider, provider, sign_in_through_provider
from tests.e2e.server import Server
from tests.e2e.test_web_journeys import Person, chromium, continue_with

__all__ = ["chromium"]  # the journeys' browser fixture (the engine's is in conftest.py)
pytestmark = pytest.mark.docker

GROUPS = (
    '{"den-civil-servants-hmrc": {"role": "civil_servant", "department": "HMRC"},'
    ' "den-platform-engineers": {"role": "platform_engineer"},'
    ' "den-approvers": {"role": "approver"}}'
)


@pytest.fixture(scope="module")
def idp() -> Provider:
    return provider()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, engine_client: Any, idp: Provider) -> Iterator[Server]:
    running = Server(data_dir=tmp_path_factory.mktemp("sso"))
    running.env = {
        **idp.den_settings(),
        "DEN_OIDC_GROUPS": GROUPS,
        "DEN_DEV_SIGN_IN": "false",
        "DEN_PUBLIC_URL": running.url,
        "DEN_SELF_SERVICE_MAX_DURATION": "3600",
    }
    running.start()
    yield running
    running.stop()
    remove_instance(engine_client, running.instance)


def browser(chromium: Any, server: Server) -> Person:
    context = chromium.new_context(viewport={"width": 1024, "height": 768})
    return Person(server=server, page=context.new_page())


def sign_in(person: Person, idp: Provider, username: str) -> None:
    """From the den's sign-in page, through the provider's form, back to the den."""
    person.go("/sign-in")
    assert "Continue to sign in" in person.text()
    assert "Development sign-in" not in person.text()
    with person.page.expect_navigation():
        person.page.click("text=Continue to sign in")
    assert person.page.url.startswith(idp.issuer), person.page.url  # the provider's own form
    sign_in_through_provider(person.page, username, idp.users[username].password)
    person.page.wait_for_load_state("load")


def who(person: Person, server: Server) -> dict[str, Any]:
    answer = person.page.request.get(server.url + "/index.json")
    assert answer.ok, answer.text()
    body: dict[str, Any] = answer.json()
    return body


def reason_of(person: Any) -> str | None:
    """The error's reason, which an error page carries in an attribute, not in its words."""
    found: str | None = person.page.get_attribute("[data-den-reason]", "data-den-reason")
    return found


def test_a_civil_servant_signs_in_launches_a_trial_and_signs_out(
    chromium: Any, server: Server, idp: Provider
) -> None:
    alice = browser(chromium, server)
    sign_in(alice, idp, "alice")
    assert alice.page.url == server.url + "/", alice.page.url
    alice.check()
    assert "Signed in as alice" in alice.text()
    assert who(alice, server)["role"] == "civil_servant"
    made = {u["name"]: u for u in server.call("GET", "/api/v1/users").json()["items"]}["alice"]
    assert (made["role"], made["department"], made["email"], made["single_sign_on"]) == (
        "civil_servant",
        "HMRC",
        idp.users["alice"].email,
        True,
    )

    alice.go("/techmap")
    alice.click("text=Open data dashboard >> nth=0")
    alice.click("text=Start a trial")
    continue_with(alice, title="Signed in through the provider")
    continue_with(alice, problem="Residents cannot find air quality data.")
    continue_with(alice, hypothesis="Residents find their borough's reading in a minute.")
    alice.page.check("input[name='criteria'] >> nth=0")
    continue_with(alice)
    alice.page.check("input[name='duration'][value='900']")
    continue_with(alice)
    alice.page.check("input[name='shared'][value='no']")
    continue_with(alice)
    alice.click("#start-trial")
    assert "Your trial has been requested" in alice.text()
    trial_id = re.findall(r"/trials/(t[0-9a-f]+)", alice.page.url)[0]
    trial = server.trial(trial_id)
    assert (trial["owner"], trial["department"]) == ("alice", "HMRC")
    assert server.call("POST", f"/api/v1/trials/{trial_id}/end").status_code == 202

    # Signing out ends the den's session and the provider's: back on the den's page, and the
    # next sign-in asks for the password again.
    with alice.page.expect_navigation(url=re.compile(re.escape(server.url + "/signed-out"))):
        alice.page.click("button:has-text('Sign out')")
    alice.check()
    assert alice.problems == []
    alice.page.goto(server.url + "/trials")
    assert "/sign-in" in alice.page.url
    with alice.page.expect_navigation():
        alice.page.click("text=Continue to sign in")
    assert alice.page.locator("#kc-form-login").count() == 1, "the provider's session lives on"
    audit = server.call("GET", "/api/v1/audit", params={"object_id": "alice"}).json()["items"]
    actions = [e["action"] for e in audit]
    assert {"user.create", "user.sign_in", "user.sign_out"} <= set(actions)


def test_groups_give_roles_and_a_person_with_none_is_told_why(
    chromium: Any, server: Server, idp: Provider
) -> None:
    petra = browser(chromium, server)
    sign_in(petra, idp, "petra")
    petra.check()
    assert who(petra, server)["role"] == "platform_engineer"
    petra.go("/platform")

    nobody = browser(chromium, server)
    sign_in(nobody, idp, "nobody")
    nobody.check()
    assert "You cannot use this service yet" in nobody.text()
    assert reason_of(nobody) == "NoRole"  # the page speaks plainly; the token is for scripts
    assert all(u["name"] != "nobody" for u in server.call("GET", "/api/v1/users").json()["items"])


def test_a_disabled_person_cannot_sign_in_and_loses_their_session(
    chromium: Any, server: Server, idp: Provider
) -> None:
    arun = browser(chromium, server)
    sign_in(arun, idp, "arun")
    assert who(arun, server)["role"] == "approver"
    done = server.call("PATCH", "/api/v1/users/arun", json={"disabled": True})
    assert done.status_code == 200, done.text
    arun.page.goto(server.url + "/trials")
    assert "/sign-in" in arun.page.url  # the session ended at once

    again = browser(chromium, server)
    sign_in(again, idp, "arun")
    again.check()
    assert "your access to this service has been switched off" in again.text().lower()
    assert reason_of(again) == "UserDisabled"
    assert server.call("PATCH", "/api/v1/users/arun", json={"disabled": False}).status_code == 200
