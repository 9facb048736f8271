"""The real OpenID Connect provider of the end-to-end tests: Keycloak with the realm `den` of
tests/fixtures/oidc/realm.json (its client, users, passwords and groups, all test-only).

`scripts/test` starts it (`scripts/ensure-oidc-provider`) and exports its issuer as
DEN_TEST_OIDC_ISSUER; run alone, a test starts it itself, the first time in a few minutes
(Keycloak comes from Maven Central once), later in seconds. A provider that cannot be had fails
the run in CI (DEN_TEST_STRICT=1) and skips on a developer's machine. People sign in on
Keycloak's own login form, driven by Playwright (`sign_in_through_provider`).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import FIXTURES, ROOT, require

REALM = FIXTURES / "oidc" / "realm.json"
CLIENT_ID = "innovation-den"
#: Keycloak's login form (its `keycloak.v2` login theme), checked against the real page.
LOGIN_FORM, USERNAME, PASSWORD, SUBMIT = "#kc-form-login", "#username", "#password", "#kc-login"
FEEDBACK = ".kc-feedback-text"


@dataclass(frozen=True)
class User:
    username: str
    password: str
    email: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str
    client_secret: str
    users: dict[str, User]

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def metadata(self) -> dict[str, Any]:
        answer = httpx.get(self.discovery_url, timeout=10)
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    def den_settings(self) -> dict[str, str]:
        """The den's settings for signing in through this provider (groups mapped apart)."""
        return {
            "DEN_OIDC_ISSUER": self.issuer,
            "DEN_OIDC_CLIENT_ID": self.client_id,
            "DEN_OIDC_CLIENT_SECRET": self.client_secret,
        }


def _users(realm: dict[str, Any]) -> dict[str, User]:
    return {
        person["username"]: User(
            username=person["username"],
            password=person["credentials"][0]["value"],
            email=person["email"],
            groups=tuple(group.lstrip("/") for group in person["groups"]),
        )
        for person in realm["users"]
    }


def ensure_provider(settings: dict[str, str] | None = None) -> str:
    """The issuer of a provider started now (scripts/test normally has done it already);
    `settings` are scripts/ensure-oidc-provider's DEN_TEST_OIDC_* (another port, issuer, state
    directory: a second provider)."""
    script = ROOT / "scripts" / "ensure-oidc-provider"
    try:
        done = subprocess.run(
            [str(script)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            env={**os.environ, **(settings or {})},
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        require(False, f"the OpenID provider ({script.name}: {error})")
        raise  # not reached: require fails or skips
    last = done.stdout.strip().splitlines()[-1:]
    require(
        done.returncode == 0 and bool(last),
        f"the OpenID provider ({script.name} exited "
        f"{done.returncode}: {done.stderr.strip().splitlines()[-3:]})",
    )
    return last[0]


@functools.cache
def provider() -> Provider:
    """The provider named by DEN_TEST_OIDC_ISSUER, or one started now; it must answer."""
    issuer = os.environ.get("DEN_TEST_OIDC_ISSUER", "") or ensure_provider()
    realm = json.loads(REALM.read_text())
    client = next(c for c in realm["clients"] if c["clientId"] == CLIENT_ID)
    found = Provider(
        issuer=issuer.rstrip("/"), client_id=CLIENT_ID, client_secret=client["secret"], users=_users(realm)
    )
    try:
        answered = found.metadata().get("issuer")
    except httpx.HTTPError as error:
        answered = f"no answer ({error})"
    require(
        answered == found.issuer,
        f"the OpenID provider at {found.discovery_url} (answered issuer: {answered})",
    )
    return found


def sign_in_through_provider(page: Any, username: str, password: str, *, timeout_ms: float = 30_000) -> None:
    """Sign in on Keycloak's login form, where the relying party has just sent `page`
    (Playwright, sync API); returns once the browser has left the form for the redirect.
    A refused sign-in raises with the form's own message."""
    page.wait_for_selector(LOGIN_FORM, timeout=timeout_ms)
    page.fill(USERNAME, username)
    page.fill(PASSWORD, password)
    with page.expect_navigation(timeout=timeout_ms):
        page.click(SUBMIT)
    if page.locator(LOGIN_FORM).count():
        feedback = " ".join(text.strip() for text in page.locator(FEEDBACK).all_inner_texts())
        raise AssertionError(f"the provider did not sign {username} in: {feedback or page.url}")
