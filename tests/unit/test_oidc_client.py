"""The relying party's own decisions (web/oidc.py), against a local HTTP server that
publishes discovery and keys: which ID tokens it accepts, and when it reads the keys again.
The whole flow through a real provider (Keycloak) is tests/e2e/test_sign_in_oidc.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from orchestrator.settings import Settings
from web.oidc import Provider, SignInRefused, SignInUnavailable

CLIENT = "innovation-den"


class Published:
    """What the local server answers: discovery for `issuer`, and `keys`."""

    def __init__(self) -> None:
        self.issuer = ""
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "one"})]
        self.key_reads = 0

    def document(self, path: str) -> Any:
        if path == "/.well-known/openid-configuration":
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/auth",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/keys",
                "end_session_endpoint": f"{self.issuer}/logout",
            }
        self.key_reads += 1
        return KeySet(self.keys).as_dict(private=False)


@pytest.fixture
def published() -> Iterator[Published]:
    state = Published()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(state.document(self.path)).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def provider(published: Published) -> Provider:
    return Provider(Settings(oidc_issuer=published.issuer, oidc_client_id=CLIENT))


def id_token(published: Published, *, key: RSAKey | None = None, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": published.issuer,
        "aud": CLIENT,
        "sub": "42",
        "iat": now,
        "exp": now + 300,
        "nonce": "n-1",
        "preferred_username": "alice",
        **claims,
    }
    signing = key or published.keys[0]
    return jwt.encode({"alg": "RS256", "kid": signing.kid}, body, signing)


def test_a_good_id_token_gives_its_claims(published: Published) -> None:
    claims = provider(published).verify_id_token(id_token(published), nonce="n-1", now=time.time())
    assert claims["preferred_username"] == "alice"


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "another-client"},
        {"iss": "http://elsewhere.example"},
        {"nonce": "n-2"},
        {"exp": int(time.time()) - 600},
        {"iat": None},
        {"sub": None},
        {"aud": [CLIENT, "another"], "azp": "another"},
    ],
    ids=["audience", "issuer", "nonce", "expired", "no-iat", "no-sub", "azp"],
)
def test_an_id_token_that_proves_nothing_is_refused(published: Published, claims: dict[str, Any]) -> None:
    token = id_token(published, **{k: v for k, v in claims.items() if v is not None})
    if None in claims.values():  # a claim left out altogether
        body = {
            "iss": published.issuer,
            "aud": CLIENT,
            "sub": "42",
            "iat": int(time.time()),
            "exp": int(time.time()) + 300,
            "nonce": "n-1",
        }
        for name in claims:
            body.pop(name)
        token = jwt.encode({"alg": "RS256", "kid": "one"}, body, published.keys[0])
    with pytest.raises(SignInRefused):
        provider(published).verify_id_token(token, nonce="n-1", now=time.time())


def test_a_token_signed_by_someone_else_is_refused(published: Published) -> None:
    forger = RSAKey.generate_key(2048, parameters={"kid": "one"})
    with pytest.raises(SignInRefused):
        provider(published).verify_id_token(id_token(published, key=forger), nonce="n-1", now=time.time())


def test_rotated_keys_are_read_again_when_a_token_names_a_new_key(published: Published) -> None:
    den = provider(published)
    old = published.keys[0]
    den.verify_id_token(id_token(published), nonce="n-1", now=time.time())
    assert published.key_reads == 1
    rotated = RSAKey.generate_key(2048, parameters={"kid": "two"})
    published.keys = [rotated]
    den.verify_id_token(id_token(published, key=old), nonce="n-1", now=time.time())
    assert published.key_reads == 1, "a known key id must not make it read the keys again"
    den._keys_read -= 60  # as if the last read was a minute ago
    claims = den.verify_id_token(id_token(published, key=rotated), nonce="n-1", now=time.time())
    assert claims["sub"] == "42" and published.key_reads == 2


def test_unknown_key_ids_cannot_make_it_hammer_the_provider(published: Published) -> None:
    den = provider(published)
    den.verify_id_token(id_token(published), nonce="n-1", now=time.time())
    for n in range(20):
        stranger = RSAKey.generate_key(2048, parameters={"kid": f"forged-{n}"})
        with pytest.raises(SignInRefused):
            den.verify_id_token(id_token(published, key=stranger), nonce="n-1", now=time.time())
    assert published.key_reads == 1


def test_a_provider_that_names_another_issuer_or_does_not_answer_is_unavailable(published: Published) -> None:
    real = published.issuer
    published.issuer = "http://impostor.example"
    with pytest.raises(SignInUnavailable, match="another issuer"):
        Provider(Settings(oidc_issuer=real, oidc_client_id=CLIENT)).metadata()
    down = Provider(Settings(oidc_issuer="http://127.0.0.1:9", oidc_client_id=CLIENT, oidc_timeout=2))
    with pytest.raises(SignInUnavailable, match="not answering"):
        down.authorization_url(redirect_uri="http://x/cb", state="s", nonce="n", code_verifier="v" * 43)


def test_the_authorisation_url_carries_state_nonce_and_an_s256_challenge(published: Published) -> None:
    url = provider(published).authorization_url(
        redirect_uri="http://den.example/sign-in/callback", state="s-1", nonce="n-1", code_verifier="v" * 64
    )
    for part in (
        "state=s-1",
        "nonce=n-1",
        "code_challenge_method=S256",
        "code_challenge=",
        "response_type=code",
        f"client_id={CLIENT}",
        "scope=openid+email+profile",
    ):
        assert part in url, url
    assert "v" * 64 not in url  # the verifier never leaves the server


def test_sign_out_goes_to_the_providers_end_session_endpoint(published: Published) -> None:
    url = provider(published).end_session_url(
        id_token_hint="tok", post_logout_redirect_uri="http://den/signed-out"
    )
    assert url.startswith(f"{published.issuer}/logout?") and "id_token_hint=tok" in url
