"""The single sign-on pages when things go wrong, in process: a provider that does not answer,
a callback that nobody started here. The journey through a real provider is
tests/e2e/test_sign_in_oidc.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from orchestrator import db
from orchestrator.crud import sign_in
from orchestrator.settings import Settings
from tests.fakes import FakeDriver
from tests.service.test_web_pages import HTTPS


@pytest.fixture
def sso(settings: Settings, fake_driver: FakeDriver) -> Iterator[TestClient]:
    """Single sign-on set up against a provider that is down (nothing listens on port 9)."""
    down = settings.model_copy(
        update={
            "oidc_issuer": "http://127.0.0.1:9/realms/den",
            "oidc_client_id": "innovation-den",
            "oidc_timeout": 2,
            "dev_sign_in": False,
        }
    )
    with TestClient(
        create_app(down, with_reconciler=False, driver=fake_driver), base_url=HTTPS, follow_redirects=False
    ) as client:
        yield client


def test_the_sign_in_page_offers_single_sign_on(sso: TestClient) -> None:
    page = sso.get("/sign-in", params={"next": "/trials"})
    assert page.status_code == 200
    assert 'href="/sign-in/start?next=/trials"' in page.text
    assert "not set up" not in page.text


def test_a_provider_that_does_not_answer_gives_a_clear_page(sso: TestClient) -> None:
    page = sso.get("/sign-in/start", headers={"accept": "text/html"})
    assert page.status_code == 503
    assert "Sign-in is not available right now" in page.text
    assert "SignInUnavailable" in page.text


def test_a_callback_nobody_started_here_signs_nobody_in(sso: TestClient) -> None:
    page = sso.get(
        "/sign-in/callback", params={"state": "forged", "code": "x"}, headers={"accept": "text/html"}
    )
    assert page.status_code == 404
    assert "den_session" not in page.headers.get("set-cookie", "")


def test_without_single_sign_on_its_routes_do_not_exist(settings: Settings, fake_driver: FakeDriver) -> None:
    with TestClient(
        create_app(settings, with_reconciler=False, driver=fake_driver),
        base_url=HTTPS,
        follow_redirects=False,
    ) as client:
        assert client.get("/sign-in/start").status_code == 404
        assert "Continue to sign in" not in client.get("/sign-in").text


def test_only_people_made_beforehand_sign_in_when_users_are_not_made(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    """`DEN_OIDC_CREATE_USERS=false`: the provider identifies people a platform engineer made;
    their account is then bound to the provider's, and nobody else may take the name."""
    now = datetime.now(UTC)
    alice = sign_in.Identity(
        subject="https://id.example 1", name="alice", email="a@x", display_name="Alice", groups=()
    )
    stranger = sign_in.Identity(
        subject="https://id.example 2", name="zoe", email="", display_name="", groups=("approver",)
    )
    impostor = sign_in.Identity(
        subject="https://id.example 3", name="alice", email="", display_name="", groups=()
    )
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with db.session_scope(engine) as session:
        user = sign_in.sign_in_user(
            session, person=alice, mapping={}, create_users=False, now=now, source="test"
        )
        assert (user.role, user.department, user.oidc_subject) == ("civil_servant", "dwp", alice.subject)
    for person, reason in ((stranger, "NoRole"), (impostor, "NoRole")):
        with db.session_scope(engine) as session, pytest.raises(sign_in.NoRole) as refused:
            sign_in.sign_in_user(
                session, person=person, mapping={}, create_users=False, now=now, source="test"
            )
        assert refused.value.reason == reason
    with db.session_scope(engine) as session, pytest.raises(sign_in.NoRole, match="another"):
        sign_in.sign_in_user(session, person=impostor, mapping={}, create_users=True, now=now, source="test")
