"""Sandbox origins' names (orchestrator/sandbox_hosts.py): made and read back, and nothing else
is mistaken for one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from orchestrator.sandbox_hosts import (
    address,
    host_name,
    parse_host,
    sandbox_path,
    under_domain,
)
from orchestrator.settings import Settings

DOMAIN = "sandbox.localhost"
TRIAL_IDS = st.from_regex(r"t[0-9a-f]{12}", fullmatch=True)
COMPONENTS = st.from_regex(r"[a-z]([a-z0-9-]{0,38}[a-z0-9])?", fullmatch=True)


@pytest.mark.parametrize(
    ("den", "expected"),
    [
        ("http://127.0.0.1:8000", "http://t0123456789ab-web.sandbox.localhost:8000/"),
        ("http://127.0.0.1:8000/", "http://t0123456789ab-web.sandbox.localhost:8000/"),
        ("https://den.example.gov.uk", "https://t0123456789ab-web.sandbox.localhost/"),
        ("https://den.example.gov.uk:443/", "https://t0123456789ab-web.sandbox.localhost/"),
        ("http://den:80", "http://t0123456789ab-web.sandbox.localhost/"),
        ("https://den:8443", "https://t0123456789ab-web.sandbox.localhost:8443/"),
    ],
)
def test_a_sandbox_url_takes_the_dens_scheme_and_port(den: str, expected: str) -> None:
    assert address(den, DOMAIN).url("t0123456789ab", "web") == expected


@given(TRIAL_IDS, COMPONENTS, st.sampled_from(["", ":8000", ":443"]))
def test_every_sandbox_host_reads_back_as_its_trial_and_component(
    trial_id: str, component: str, port: str
) -> None:
    host = address("http://den", DOMAIN).host(trial_id, component)
    assert len(host.split(".")[0]) <= 63  # one DNS label
    assert parse_host(host + port, DOMAIN) == (trial_id, component)
    assert parse_host((host + port).upper(), DOMAIN) == (trial_id, component)
    assert under_domain(host + port, DOMAIN)


@pytest.mark.parametrize(
    "host",
    [
        "sandbox.localhost",
        "localhost",
        "127.0.0.1:8000",
        "t0123456789ab-web.sandbox.localhost.evil",
        "t0123456789ab-web.evilsandbox.localhost",
        "t0123456789ab.sandbox.localhost",
        "t0123456789ab-.sandbox.localhost",
        "t0123456789ab-web-.sandbox.localhost",
        "t0123456789AB-web.x.sandbox.localhost",
        "x-web.sandbox.localhost",
        "t0123456789ab-web.a.sandbox.localhost",
        "t0123456789ab-9web.sandbox.localhost",
        "",
    ],
)
def test_other_names_are_no_sandbox(host: str) -> None:
    assert parse_host(host, DOMAIN) is None


def test_only_names_in_the_sandbox_domain_leave_the_den() -> None:
    assert under_domain("sandbox.localhost:8000", DOMAIN)
    assert under_domain("anything.sandbox.localhost", DOMAIN)
    assert not under_domain("evilsandbox.localhost", DOMAIN)
    assert not under_domain("127.0.0.1:8000", DOMAIN) and not under_domain("[::1]:8000", DOMAIN)
    assert host_name("[::1]:8000") == "::1" and host_name("Den.Example:80") == "den.example"


@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        ("/", "/"),
        ("/cases?id=1", "/cases?id=1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil", "/"),
        ("/_den/enter?grant=x", "/"),
        ("/a\r\nSet-Cookie: x", "/"),
        ("cases", "/"),
        ("/" + "a" * 2001, "/"),
    ],
)
def test_after_the_hand_over_only_a_path_of_the_sandbox(asked: str, kept: str) -> None:
    assert sandbox_path(asked) == kept


def test_a_den_inside_the_sandbox_domain_is_refused() -> None:
    with pytest.raises(ValidationError, match="inside DEN_SANDBOX_DOMAIN"):
        Settings(public_url="https://den.sandbox.example", sandbox_domain="sandbox.example")
    with pytest.raises(ValidationError, match="another site"):
        Settings(
            environment="production",
            public_url="https://den.example",
            sandbox_domain="sandbox.den.example",
            session_cookie_secure=True,
        )
    with pytest.raises(ValidationError):
        Settings(sandbox_domain="Sandbox.Example")
    assert Settings(
        environment="production",
        public_url="https://den.example.gov.uk",
        sandbox_domain="den-sandboxes.example",
    ).sandbox_domain
