"""The OpenID Connect relying party: the den's side of single sign-on with the organisation's
provider (authorisation code flow with PKCE).

The protocol is Authlib's (`OAuth2Session`: the authorisation URL with its S256 code challenge,
the token exchange with the code verifier and the client's credentials) and joserfc's (the ID
token's signature against the provider's published keys, and its `iss`, `aud`, `exp`, `iat`
and `nonce` claims). What is ours is only when to ask the provider:

- discovery (`/.well-known/openid-configuration`) is read on first use and kept for an hour;
- the signing keys are kept until a token names a key id they do not hold, then read again
  (at most every `KEYS_MIN_REFRESH` seconds, so forged key ids cannot make us hammer the
  provider): a provider that rotates its keys is followed without a restart;
- every call has the timeout `DEN_OIDC_TIMEOUT`; a provider that does not answer, or answers
  nonsense, raises `SignInUnavailable` (the sign-in page says so), never a server error.

One `Provider` per application, shared by its request threads (a lock guards the caches).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from orchestrator.errors import RetryableError, Unauthenticated
from orchestrator.settings import Settings

DISCOVERY_TTL = 3600.0
KEYS_MIN_REFRESH = 10.0
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
CLOCK_LEEWAY = 60


class SignInUnavailable(RetryableError):
    """The provider cannot be reached, or answered something a provider never should."""

    reason = "SignInUnavailable"


class SignInRefused(Unauthenticated):
    """The provider's answer does not prove who the person is (a bad or replayed token)."""

    reason = "SignInRefused"


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str = ""


class Provider:
    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self.client_secret = settings.oidc_client_secret
        self.scopes = " ".join(dict.fromkeys(["openid", *settings.oidc_scopes.split()]))
        self.timeout = settings.oidc_timeout
        self._lock = threading.Lock()
        self._metadata: Metadata | None = None
        self._metadata_read = 0.0
        self._keys: KeySet | None = None
        self._keys_read = 0.0

    # --- what the provider publishes ----------------------------------------------------

    def metadata(self) -> Metadata:
        with self._lock:
            if self._metadata is None or time.monotonic() - self._metadata_read > DISCOVERY_TTL:
                self._metadata = _metadata(
                    self._get(f"{self.issuer}/.well-known/openid-configuration"), issuer=self.issuer
                )
                self._metadata_read = time.monotonic()
            return self._metadata

    def _signing_keys(self, kid: str | None) -> KeySet:
        """The provider's keys, read again when they lack `kid` (a rotation)."""
        with self._lock:
            known = self._keys is not None and (kid is None or _holds(self._keys, kid))
            fresh_enough = time.monotonic() - self._keys_read < KEYS_MIN_REFRESH
            if not known and not (self._keys is not None and fresh_enough):
                assert self._metadata is not None
                try:
                    self._keys = KeySet.import_key_set(self._get(self._metadata.jwks_uri))
                except (ValueError, KeyError, TypeError, JoseError) as exc:
                    raise SignInUnavailable(
                        f"the sign-in provider's signing keys cannot be read ({type(exc).__name__})"
                    ) from exc
                self._keys_read = time.monotonic()
            assert self._keys is not None
            return self._keys

    def _get(self, url: str) -> Any:
        try:
            answer = requests.get(url, timeout=self.timeout)
            answer.raise_for_status()
            return answer.json()
        except (requests.RequestException, ValueError) as exc:
            raise SignInUnavailable(f"the sign-in provider is not answering ({type(exc).__name__})") from exc

    # --- the flow ------------------------------------------------------------------------

    def _session(self, redirect_uri: str) -> OAuth2Session:
        return OAuth2Session(
            client_id=self.client_id,
            client_secret=self.client_secret or None,
            token_endpoint_auth_method="client_secret_basic" if self.client_secret else "none",
            scope=self.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            default_timeout=self.timeout,
        )

    def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str) -> str:
        url, _state = self._session(redirect_uri).create_authorization_url(
            self.metadata().authorization_endpoint, state=state, nonce=nonce, code_verifier=code_verifier
        )
        return str(url)

    def exchange(self, *, code: str, redirect_uri: str, code_verifier: str) -> dict[str, Any]:
        """The tokens for an authorisation code; the ID token is not checked yet."""
        with self._session(redirect_uri) as client:
            try:
                token = client.fetch_token(
                    self.metadata().token_endpoint,
                    code=code,
                    grant_type="authorization_code",
                    code_verifier=code_verifier,
                )
            except requests.RequestException as exc:
                raise SignInUnavailable(
                    f"the sign-in provider is not answering ({type(exc).__name__})"
                ) from exc
            except Exception as exc:  # Authlib's OAuthError: the provider refused the code
                raise SignInRefused(f"the sign-in provider refused the code: {exc}"[:300]) from exc
        if not isinstance(token, dict) or not isinstance(token.get("id_token"), str):
            raise SignInRefused("the sign-in provider sent no ID token")
        return dict(token)

    def verify_id_token(self, id_token: str, *, nonce: str, now: float) -> dict[str, Any]:
        """The ID token's claims, once its signature, issuer, audience, expiry and nonce hold."""
        self.metadata()
        try:
            kid = extract_compact(id_token.encode()).headers().get("kid")
            decoded = jwt.decode(id_token, self._signing_keys(kid), algorithms=list(ALGORITHMS))
            jwt.JWTClaimsRegistry(
                now=int(now),
                leeway=CLOCK_LEEWAY,
                iss={"essential": True, "value": self.metadata().issuer},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise SignInRefused(f"the ID token is not valid ({type(exc).__name__}: {exc})"[:300]) from exc
        claims = dict(decoded.claims)
        audience = claims["aud"]
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != self.client_id:
            raise SignInRefused("the ID token was issued to another client (azp)")
        return claims

    def end_session_url(self, *, id_token_hint: str, post_logout_redirect_uri: str) -> str:
        """Where to send the browser so that the provider ends its session too; empty when
        the provider offers no such endpoint (or cannot be reached now)."""
        try:
            endpoint = self.metadata().end_session_endpoint
        except SignInUnavailable:
            return ""
        if not endpoint:
            return ""
        query = {"client_id": self.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
        if id_token_hint:
            query["id_token_hint"] = id_token_hint
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"


def _metadata(document: Any, *, issuer: str) -> Metadata:
    """The parts of a discovery document we use; its issuer must be exactly the one set
    (OpenID Connect Discovery 1.0, section 4.3)."""
    if not isinstance(document, dict):
        raise SignInUnavailable("the sign-in provider's discovery document is not an object")
    if str(document.get("issuer", "")).rstrip("/") != issuer:
        raise SignInUnavailable(
            "the sign-in provider names another issuer "
            f"({str(document.get('issuer'))[:200]!r}, not {issuer!r})"
        )
    try:
        return Metadata(
            issuer=str(document["issuer"]),
            authorization_endpoint=str(document["authorization_endpoint"]),
            token_endpoint=str(document["token_endpoint"]),
            jwks_uri=str(document["jwks_uri"]),
            end_session_endpoint=str(document.get("end_session_endpoint") or ""),
        )
    except KeyError as exc:
        raise SignInUnavailable(f"the sign-in provider's discovery document lacks {exc}") from exc


def _holds(keys: KeySet, kid: str) -> bool:
    try:
        keys.get_by_kid(kid)
    except (JoseError, ValueError, KeyError):
        return False
    return True
