"""The test OpenID provider is a real one (Keycloak, scripts/ensure-oidc-provider): its issuer is
fixed whichever address asks, it insists on PKCE, and a person signed in on its own login form
(Playwright driving Debian's chromium) gets an ID token, signed by the provider's published
keys, naming them and their groups: what the den's sign-in relies on.

The relying party here is a throwaway HTTP listener on a loopback port, the token exchange is
httpx's; the den's own sign-in is tested against the same provider elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.cluster import HOST_ADDRESS
from tests.e2e.oidc import Provider, provider, sign_in_through_provider
from tests.e2e.test_web_journeys import chromium

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


__all__ = ["chromium"]  # the journeys' browser fixture


@pytest.fixture(scope="module")
def oidc() -> Provider:
    return provider()


class Callback(BaseHTTPRequestHandler):
    """The redirect target: keeps each query sent to /sign-in/callback (not the favicon's)."""

    received: list[dict[str, list[str]]]

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/sign-in/callback":
            self.send_error(404)
            return
        self.received.append(parse_qs(url.query))
        body = b"<!doctype html><title>back at the relying party</title><p>Signed in"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def callback() -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    """A listener on a free loopback port: (its callback URL, the queries it received)."""
    received: list[dict[str, list[str]]] = []
    handler = type("Handler", (Callback,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/sign-in/callback", received
    server.shutdown()
    server.server_close()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_discovery_names_the_fixed_issuer_on_every_address(oidc: Provider) -> None:
    """Pods ask on the cluster bridge's address: the issuer and the browser's endpoints stay
    the fixed ones, the back-channel endpoints follow the address asked on."""
    metadata = oidc.metadata()
    assert metadata["issuer"] == oidc.issuer
    assert metadata["end_session_endpoint"].startswith(oidc.issuer + "/")
    assert "S256" in metadata["code_challenge_methods_supported"]
    front = urlsplit(oidc.issuer)
    bridge = f"{HOST_ADDRESS}:{front.port}"
    elsewhere = httpx.get(oidc.discovery_url, headers={"Host": bridge}, timeout=10).json()
    assert elsewhere["issuer"] == oidc.issuer
    assert urlsplit(elsewhere["authorization_endpoint"]).netloc == front.netloc
    assert urlsplit(elsewhere["token_endpoint"]).netloc == bridge


def test_an_authorisation_request_without_pkce_is_refused(oidc: Provider, callback: Any) -> None:
    redirect_uri, _ = callback
    answer = httpx.get(
        oidc.metadata()["authorization_endpoint"],
        timeout=10,
        params={
            "client_id": oidc.client_id,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": redirect_uri,
            "state": "no-pkce",
        },
    )
    assert answer.status_code == 302
    refused = parse_qs(urlsplit(answer.headers["location"]).query)
    assert refused["error"] == ["invalid_request"], refused
    assert "code_challenge" in refused["error_description"][0]


@pytest.mark.parametrize("username", ["alice", "nobody"])
def test_sign_in_on_the_login_form_gives_an_id_token_with_name_and_groups(
    oidc: Provider, chromium: Any, callback: Any, username: str
) -> None:
    redirect_uri, received = callback
    person = oidc.users[username]
    metadata = oidc.metadata()
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    page = chromium.new_context().new_page()
    page.goto(
        metadata["authorization_endpoint"]
        + "?"
        + urlencode(
            {
                "client_id": oidc.client_id,
                "response_type": "code",
                "scope": "openid email profile",
                "redirect_uri": redirect_uri,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
    )
    sign_in_through_provider(page, person.username, person.password)
    assert page.url.startswith(redirect_uri)
    page.context.close()
    (query,) = received
    assert query["state"] == [state] and query["iss"] == [oidc.issuer]

    tokens = httpx.post(
        metadata["token_endpoint"],
        timeout=10,
        auth=(oidc.client_id, oidc.client_secret),
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
    )
    assert tokens.status_code == 200, tokens.text
    keys = KeySet.import_key_set(httpx.get(metadata["jwks_uri"], timeout=10).json())
    claims = jwt.decode(tokens.json()["id_token"], keys).claims
    assert claims["iss"] == oidc.issuer and claims["aud"] == oidc.client_id
    assert claims["nonce"] == nonce
    assert claims["preferred_username"] == person.username
    assert claims["email"] == person.email and claims["email_verified"] is True
    assert claims.get("groups", []) == list(person.groups)


def test_a_wrong_password_stays_on_the_form_with_its_message(
    oidc: Provider, chromium: Any, callback: Any
) -> None:
    redirect_uri, received = callback
    page = chromium.new_context().new_page()
    page.goto(
        oidc.metadata()["authorization_endpoint"]
        + "?"
        + urlencode(
            {
                "client_id": oidc.client_id,
                "response_type": "code",
                "scope": "openid",
                "redirect_uri": redirect_uri,
                "code_challenge": pkce_pair()[1],
                "code_challenge_method": "S256",
            }
        )
    )
    with pytest.raises(AssertionError, match="Invalid username or password"):
        sign_in_through_provider(page, "alice", "not-her-password")
    page.context.close()
    assert received == []
