"""What passes between a visitor and a workload (api/sandbox_headers.py): the forms a real
server cannot even send (tests/service/test_sandbox_proxy.py sends the rest), and a property:
whatever `Location` passes, a browser resolving it stays on the sandbox's own host."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.sandbox_headers import checked_location, request_headers, workload_cookie

OWN = "t0123456789ab-web.sandbox.localhost"
UPSTREAM = "http://172.18.0.5:8080"


def check(value: str, *, own: str = OWN) -> str | None:
    return checked_location(value, own_host=own, own_scheme="https", upstream=UPSTREAM)


@pytest.mark.parametrize(
    "value",
    [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        " /x",
        "/x ",
        "/\x00",
        "\\/evil.example",
        "/\\/evil.example",
        "https:\\\\evil.example",
        "",
        f"https://{OWN}\u3002evil.example/",  # an ideographic full stop reads as "."
        "https://[::1/",
        f"https://{OWN}:port/",
        "x" * 5000,
        "http://172.18.0.5:8081/",
        "https://172.18.0.5:8080/",  # not quite the workload
    ],
)
def test_locations_a_browser_would_reread_are_refused(value: str) -> None:
    assert check(value) is None


def test_the_sandboxs_port_must_be_the_one_it_is_served_on() -> None:
    served = f"{OWN}:8000"
    assert check(f"//{OWN}:8000/a", own=served) == f"//{OWN}:8000/a"
    assert check(f"http://{OWN}:8000/a", own=served) == f"http://{OWN}:8000/a"
    assert check(f"http://{OWN}/a", own=served) is None
    assert check(f"https://{OWN}:443/a") == f"https://{OWN}:443/a"
    assert check(f"http://{OWN.upper()}/a") == f"http://{OWN.upper()}/a"


def test_the_workloads_internal_address_is_rewritten_onto_its_origin() -> None:
    assert check("http://172.18.0.5:8080/cases/1?x=2#f") == "/cases/1?x=2#f"
    assert check("HTTP://172.18.0.5:8080") == "/"
    assert check("http://172.18.0.5:8080//evil.example/") is None
    assert (
        checked_location(
            "http://10.0.0.1/p/web/x", own_host=OWN, own_scheme="http", upstream="http://10.0.0.1/p/web"
        )
        == "/x"
    )
    assert (
        checked_location(
            "http://10.0.0.1/p/webx", own_host=OWN, own_scheme="http", upstream="http://10.0.0.1/p/web"
        )
        is None
    )


TRICKY = st.lists(
    st.sampled_from(
        [*"/\\:@.?#%[]-_ \t\u3002", "http", "https", "evil.example", OWN, "172.18.0.5:8080", "javascript"]
    ),
    max_size=12,
).map("".join)


@given(TRICKY)
def test_whatever_location_passes_stays_on_the_sandbox(value: str) -> None:
    passed = check(value)
    if passed is not None:
        resolved = urlsplit(urljoin(f"https://{OWN}/here/", passed))
        assert resolved.scheme in ("http", "https") and resolved.hostname == OWN, passed


@pytest.mark.parametrize(
    ("cookie", "passed"),
    [
        ("a=1; Domain=sandbox.localhost; Path=/", "a=1; Path=/"),
        ("a=1;DOMAIN =.localhost;Secure", "a=1;Secure"),
        ("a=1; Path=/; domain", "a=1; Path=/"),
        ("plain", None),  # no name: sent back bare, it would pass for another cookie
        ("=den_sandbox=forged", None),
        ("__Secure-den_sign_in=1; Secure", None),
        ("den_sessions=1", "den_sessions=1"),
    ],
)
def test_workload_cookies_are_host_only_and_never_the_dens(cookie: str, passed: str | None) -> None:
    assert workload_cookie(cookie) == passed


def test_headers_named_in_connection_and_den_headers_are_not_forwarded() -> None:
    sent = [
        ("Connection", "keep-alive, X-Secret"),
        ("X-Secret", "1"),
        ("X-Den-Role", "pe"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("Accept", "text/html"),
        ("Cookie", "a=1; __Host-den_sandbox=s"),
        ("Cookie", "den_session=t; b=2"),
    ]
    assert request_headers(sent, host=f"{OWN}:8000", scheme="https") == [
        ("Accept", "text/html"),
        ("cookie", "a=1; b=2"),
        ("x-forwarded-host", OWN),
        ("x-forwarded-proto", "https"),
    ]
