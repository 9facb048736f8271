"""What passes between a visitor and a sandbox's workload, header by header. Pure: names and
values in, names and values out (api/sandbox_proxy.py does the I/O).

Towards the workload, the den's credentials never go: its cookies (with or without `__Host-`),
`X-Den-Token`, `Authorization`, nor any `X-Den-*` header a visitor sent; nor hop-by-hop
headers (also those named in `Connection`); nor `X-Forwarded-*`, `Forwarded` or `X-Real-IP`
(the den sets `X-Forwarded-Host` and `-Proto` itself; a visitor's address is theirs, not the
supplier's).

Back from the workload, only an **allow-list** passes (`RESPONSE_HEADERS`): what a web app
needs to describe its content, its caching, its own cookies and its own security policy. Every
other header is dropped, however it is spelt: among them `Strict-Transport-Security` (the den's
ingress decides), `Access-Control-*` (a sandbox needs no CORS: a request without its cookie
never reaches it, so a preflight could not either, and another site must not read it),
`Refresh` (a redirect that would dodge the check below), `Link` (preloads of other origins),
`Alt-Svc`, `Clear-Site-Data` (it clears a whole site's cookies, which may be more than this
sandbox's), `Report-To`/`NEL`/`Reporting-Endpoints` (they outlive the trial),
`WWW-Authenticate` (`Authorization` is never forwarded, so HTTP authentication cannot work;
the prompt would only phish), `X-Accel-*`/`X-Sendfile` (an ingress in front of the den would
obey them), `Server-Timing`, `Server`, `X-Powered-By` and any `X-Den-*` a workload invents.

`Set-Cookie` passes host-only: a den cookie name is never set, a cookie without a name is
dropped (browsers send it back bare, as if it were `name=value` of another cookie), and every
`Domain` attribute is removed, so the cookie stays on this sandbox's host and one sandbox
cannot set cookies for its neighbours or for the den. (Dropping such cookies instead would
break apps that name their own host in `Domain`; removing the attribute gives the same safety.)

`Location` (`checked_location`) stays on the sandbox's own origin: relative references pass;
an absolute address passes when it is this sandbox's own host, and is rewritten to a path of
it when it is the workload's internal address (an app that builds URLs from the Host header it
was sent); anything else (another host, another sandbox, the den, `//host`, `javascript:`,
backslashes, whitespace or control characters, userinfo) is refused. This stops the den's
sandbox origins being open redirects; a page's own script can still navigate where it likes.

Whatever the workload sent, the den adds its own: `frame-ancestors 'none'` beside the
workload's own policy, `X-Frame-Options: DENY` and `X-Content-Type-Options: nosniff`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from orchestrator.sandbox_hosts import host_name

SANDBOX_COOKIE = "den_sandbox"
#: Cookie names that are the den's: never forwarded to a workload, never set by one.
DEN_COOKIES = frozenset({"den_session", "den_sign_in", SANDBOX_COOKIE})
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_NOT_FORWARDED = HOP_BY_HOP | {
    "host",
    "content-length",
    "authorization",
    "cookie",
    "x-den-token",
    "forwarded",
    "x-real-ip",
}
_NOT_FORWARDED_PREFIXES = ("x-den-", "x-forwarded-")
#: The workload's response headers that pass (lower case); every other one is dropped.
RESPONSE_HEADERS = frozenset(
    {
        # the content
        "content-type",
        "content-length",
        "content-encoding",
        "content-language",
        "content-disposition",
        "content-range",
        "accept-ranges",
        "allow",
        # caching
        "cache-control",
        "expires",
        "etag",
        "last-modified",
        "vary",
        "age",
        "pragma",
        # its own cookies, redirects (both checked) and back-off
        "set-cookie",
        "location",
        "retry-after",
        # its own security policy: each only narrows what its own pages may do
        "content-security-policy",
        "permissions-policy",
        "referrer-policy",
        "cross-origin-opener-policy",
        "cross-origin-embedder-policy",
        "cross-origin-resource-policy",
    }
)
#: The den's own headers on every workload answer (a workload's own of these names is dropped).
GUARD = [
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("content-security-policy", "frame-ancestors 'none'"),
]
OWN_PAGE_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'",
}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LONGEST_LOCATION = 4096

Headers = list[tuple[str, str]]


def is_den_cookie(name: str) -> bool:
    bare = name.strip().lower()
    return bare.removeprefix("__host-").removeprefix("__secure-") in DEN_COOKIES


def _connection_names(headers: Iterable[tuple[str, str]]) -> set[str]:
    """Headers the sender named in `Connection`: hop-by-hop too, whatever their name."""
    return {
        name.strip().lower()
        for key, value in headers
        if key.lower() == "connection"
        for name in value.split(",")
    }


def request_headers(headers: Headers, *, host: str, scheme: str) -> Headers:
    """A visitor's request headers as the workload gets them (see the module's docstring);
    `host` is the sandbox's Host header, `scheme` the visitor's."""
    dropped = _NOT_FORWARDED | _connection_names(headers)
    kept = [
        (k, v)
        for k, v in headers
        if k.lower() not in dropped and not k.lower().startswith(_NOT_FORWARDED_PREFIXES)
    ]
    cookies = [
        part.strip()
        for key, value in headers
        if key.lower() == "cookie"
        for part in value.split(";")
        if part.strip() and not is_den_cookie(part.strip().partition("=")[0])
    ]
    if cookies:
        kept.append(("cookie", "; ".join(cookies)))
    return [*kept, ("x-forwarded-host", host_name(host)), ("x-forwarded-proto", scheme)]


def workload_cookie(value: str) -> str | None:
    """A workload's Set-Cookie as it may pass: named, never a den name, and host-only."""
    pair, *attributes = value.split(";")
    name, sep, _ = pair.partition("=")
    if not sep or not name.strip() or is_den_cookie(name):
        return None
    kept = [a for a in attributes if a.partition("=")[0].strip().lower() != "domain"]
    return ";".join([pair, *kept])


def response_headers(headers: Headers, *, location: str | None) -> Headers:
    """The workload's answer's headers that pass, with `location` (already checked, None to
    drop it) in place of its own, and the den's GUARD headers."""
    dropped = _connection_names(headers) | {"location", "set-cookie"}
    kept = [
        (name.lower(), value)
        for name, value in headers
        if name.lower() in RESPONSE_HEADERS and name.lower() not in dropped
    ]
    kept += [
        ("set-cookie", cookie)
        for name, value in headers
        if name.lower() == "set-cookie"
        if (cookie := workload_cookie(value)) is not None
    ]
    if location is not None:
        kept.append(("location", location))
    return kept + GUARD


def checked_location(value: str, *, own_host: str, own_scheme: str, upstream: str) -> str | None:
    """Where a workload's `Location` may send the browser, or None to refuse it.

    `own_host` is the sandbox's Host header (with its port, if any), `own_scheme` the
    visitor's (for `//host` forms), `upstream` the workload's internal base address (the
    component's endpoint); that address becomes a path of the sandbox's origin."""
    if not value or len(value) > _LONGEST_LOCATION or any(ch <= " " or ch in "\\\x7f" for ch in value):
        return None  # browsers strip, drop or reinterpret these: no second guessing them
    absolute = f"{own_scheme}:{value}" if value.startswith("//") else value
    if not _SCHEME.match(absolute):
        return value  # a relative reference: this origin, whatever it says
    scheme, _, rest = absolute.partition(":")
    if scheme.lower() not in _DEFAULT_PORTS or not rest.startswith("//"):
        return None  # `javascript:`, `data:`, `http:host` (read differently by browsers) ...
    try:
        parts, base = urlsplit(absolute), urlsplit(upstream)
        if "@" in parts.netloc or not parts.hostname:
            return None
        if _is_own(parts.hostname, parts.port, parts.scheme, own_host=own_host):
            return value
        if (parts.scheme, parts.hostname, _port(parts.port, parts.scheme)) != (
            base.scheme,
            base.hostname,
            _port(base.port, base.scheme),
        ):
            return None
    except ValueError:  # a port that is not a number, a broken IPv6 literal
        return None
    path = _under(parts.path or "/", base.path.rstrip("/"))
    if path is None:
        return None
    # As a path: the browser keeps the scheme it is on (the den may not know it behind TLS).
    return (
        path + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")
    )


def _port(port: int | None, scheme: str) -> int | None:
    return port if port is not None else _DEFAULT_PORTS.get(scheme)


def _is_own(name: str, port: int | None, scheme: str, *, own_host: str) -> bool:
    """Whether host `name` and `port` are the sandbox's own (on http or https: behind an
    ingress that ends TLS, the den may not know which one the browser used)."""
    own_name, _, own_port = own_host.lower().rpartition(":")
    if not own_port.isdigit() or own_host.endswith("]"):
        own_name, own_port = own_host.lower(), ""
    if name != own_name.strip("[]"):
        return False
    if own_port:
        return port == int(own_port)
    return port is None or port == _DEFAULT_PORTS[scheme]


def _under(path: str, prefix: str) -> str | None:
    """`path` of the workload's internal address as a path of the sandbox origin: without the
    endpoint's own path prefix (None when it is outside it, or would read as `//host`)."""
    if prefix:
        if path != prefix and not path.startswith(prefix + "/"):
            return None
        path = path[len(prefix) :] or "/"
    return None if path.startswith("//") else path
