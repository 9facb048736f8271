"""Where each sandbox is served: an origin of its own, never the den's.

A trial's exposed component answers at `<trial id>-<component>.<DEN_SANDBOX_DOMAIN>`, with the
scheme and port of the den's public URL. Being its own origin, a supplier's page cannot read
the den's cookies or pages, nor another sandbox's; with the sandbox domain on another site
than the den's (docs/security.md), the den's `SameSite` cookies are not even sent to it.

Pure: names in, names out. One DNS label carries both names: trial ids are `t` + 12 hex digits
(no hyphen), so the first hyphen splits them, and a component name (a manifest DNS label of
at most 40 characters) keeps the label within DNS's 63.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

#: Paths on a sandbox origin that the den keeps for itself (never forwarded to the workload).
RESERVED_PREFIX = "/_den/"
ENTER_PATH = RESERVED_PREFIX + "enter"
_LABEL = re.compile(r"(t[0-9a-f]{12})-([a-z](?:[a-z0-9-]{0,38}[a-z0-9])?)")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class SandboxAddress:
    """How sandbox URLs are made for one den address (`DEN_PUBLIC_URL` or the request's)."""

    scheme: str
    port: int | None  # None: the scheme's default port
    domain: str

    def host(self, trial_id: str, component: str) -> str:
        return f"{trial_id}-{component}.{self.domain}"

    def origin(self, trial_id: str, component: str) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{self.host(trial_id, component)}{port}"

    def url(self, trial_id: str, component: str, path: str = "/") -> str:
        return self.origin(trial_id, component) + path

    def enter_url(self, trial_id: str, component: str, *, grant: str, next_path: str) -> str:
        """The one-time hand-over address: the sandbox origin swaps the grant for its cookie."""
        return (
            f"{self.origin(trial_id, component)}{ENTER_PATH}?grant={quote(grant, safe='')}"
            f"&next={quote(next_path, safe='/')}"
        )


def address(base_url: str, domain: str) -> SandboxAddress:
    """Sandbox URLs that share the scheme and port of the den at `base_url`."""
    parts = urlsplit(base_url)
    scheme = parts.scheme or "http"
    port = parts.port
    if port == _DEFAULT_PORTS.get(scheme):
        port = None
    return SandboxAddress(scheme=scheme, port=port, domain=domain)


def host_name(host_header: str) -> str:
    """A Host header's name, lower case, without its port (or an IPv6 literal's brackets)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    name, _, port = host.rpartition(":")
    return (name if name and port.isdigit() else host).rstrip(".")


def under_domain(host_header: str, domain: str) -> bool:
    """Whether the request is for the sandbox domain (or any name below it)."""
    name = host_name(host_header)
    return name == domain or name.endswith("." + domain)


def parse_host(host_header: str, domain: str) -> tuple[str, str] | None:
    """(trial id, component) of a sandbox origin's Host header, or None for any other name."""
    name, suffix = host_name(host_header), "." + domain
    if not name.endswith(suffix):
        return None
    found = _LABEL.fullmatch(name[: -len(suffix)])
    return (found.group(1), found.group(2)) if found else None


def sandbox_path(value: str) -> str:
    """A path on the sandbox origin to go to after the hand-over: never another host
    (`//host`, a scheme) nor the den's reserved paths; anything else becomes `/`."""
    if (
        value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and not any(ch in value for ch in "\r\n\t\x00")
        and not value.startswith(RESERVED_PREFIX)
        and len(value) <= 2000
    ):
        return value
    return "/"
