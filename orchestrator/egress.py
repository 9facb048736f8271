"""Egress that means what it says: which destinations a template may declare, on this den.

A template's `spec.egress` names the outside destinations its sandboxes may open connections
to. The manifest itself refuses what no den may ever allow (`manifest.NEVER_EGRESS`: loopback,
link-local with the cloud metadata address, "this network", multicast, reserved space; names
that are addresses in disguise or obviously internal). What depends on where the den runs is
refused here, from its settings, when a version is published (`egress_problems`) and again when
a trial starts (the Docker driver asks `EgressPolicy.refusal` about every address it is about to
open, including the addresses a declared name resolves to then):

- never, whatever `DEN_EGRESS_ALLOWED_CIDRS` says: the cluster's pod and Service ranges, the
  Docker bridges, the den's own address (the host of `DEN_PUBLIC_URL` when it is an address),
  and names of the den itself or below `DEN_SANDBOX_DOMAIN`;
- unless `DEN_EGRESS_ALLOWED_CIDRS` contains them: the private ranges (RFC 1918, CGNAT
  100.64/10, IPv6 unique-local fc00::/7), where an organisation's internal services live;
- on Docker, no wildcard names: the kernel enforces egress by address, and `*.example.org`
  stands for addresses nobody can list in advance.

A range that overlaps a refused one is refused (`0.0.0.0/0` contains everything): allowing part
of a range is allowing the part. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

from orchestrator.errors import Problem
from orchestrator.manifest import NEVER_EGRESS, TemplateManifest, is_internal_name, never_reason
from orchestrator.settings import Settings

Network = IPv4Network | IPv6Network

#: Private ranges: allowed only where `DEN_EGRESS_ALLOWED_CIDRS` says so.
PRIVATE: tuple[Network, ...] = tuple(
    ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


def parse_cidrs(text: str) -> tuple[Network, ...]:
    """`10.0.0.0/8, 192.0.2.1/32` as networks (settings.CidrList has checked the syntax)."""
    return tuple(ip_network(part.strip()) for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class EgressPolicy:
    """The den's own refusals, beyond the manifest's: built from settings by `from_settings`."""

    forbidden: tuple[tuple[Network, str], ...] = ()  # (range, why), never allowed
    allowed: tuple[Network, ...] = ()  # private ranges made reachable on purpose
    forbidden_names: tuple[str, ...] = ()  # the den's own host; the sandbox domain
    wildcards: bool = True  # False on Docker: names must resolve to addresses

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        forbidden = [(n, "the cluster's pod range") for n in parse_cidrs(settings.kubernetes_pod_cidr)]
        forbidden += [
            (n, "the cluster's Service range") for n in parse_cidrs(settings.kubernetes_service_cidr)
        ]
        forbidden += [
            (n, "the Docker engine's bridge networks") for n in parse_cidrs(settings.docker_bridge_cidrs)
        ]
        den = (urlsplit(settings.public_url).hostname or "").lower()
        names = [settings.sandbox_domain]
        try:
            address = ip_address(den)
            forbidden.append((ip_network(address), "the den's own address"))
        except ValueError:
            names += [den] if den else []
        return cls(
            forbidden=tuple(forbidden),
            allowed=parse_cidrs(settings.egress_allowed_cidrs),
            forbidden_names=tuple(names),
            wildcards=settings.driver != "docker",
        )

    def never(self) -> tuple[Network, ...]:
        """Every range no sandbox may reach whatever it declares (for the kernel's rules)."""
        return (*NEVER_EGRESS, *(network for network, _ in self.forbidden))

    def refusal(self, network: Network) -> str:
        """Why a sandbox may not be allowed to reach `network`, or "" when it may."""
        reason = never_reason(network)
        if reason:
            return f"it reaches {reason}, which no sandbox may ever reach"
        for forbidden, why in self.forbidden:
            if _overlap(forbidden, network):
                return f"it reaches {forbidden} ({why}), which no sandbox may ever reach"
        for private in PRIVATE:
            if _overlap(private, network) and not _within(network, self.allowed):
                return (
                    f"it reaches the private range {private}, which DEN_EGRESS_ALLOWED_CIDRS does not allow"
                )
        return ""

    def name_refusal(self, name: str) -> str:
        """Why a sandbox may not be allowed to reach the DNS name `name`, or ""."""
        bare = name.removeprefix("*.")
        if is_internal_name(name):
            return "it is an internal name"
        for own in self.forbidden_names:
            if (
                bare == own
                or bare.endswith("." + own)
                or (name.startswith("*.") and own.endswith("." + bare))
            ):
                return f"it names the den itself or its sandboxes ({own})"
        if name.startswith("*.") and not self.wildcards:
            return (
                "the Docker runtime allows egress by address, and a wildcard stands for "
                "addresses nobody can list before the trial starts"
            )
        return ""


def egress_problems(manifest: TemplateManifest, settings: Settings) -> list[Problem]:
    """Every declared egress destination this den refuses, each naming its field."""
    policy = EgressPolicy.from_settings(settings)
    problems = []
    for index, rule in enumerate(manifest.spec.egress):
        why = policy.refusal(ip_network(rule.host)) if "/" in rule.host else policy.name_refusal(rule.host)
        if why:
            problems.append(Problem(f"spec.egress.{index}.host", f"{rule.host}: {why}", _hint(why)))
    return problems


def _hint(why: str) -> str:
    if "DEN_EGRESS_ALLOWED_CIDRS" in why:
        return (
            "declare the public address of the service; a platform engineer may allow an "
            "internal range with DEN_EGRESS_ALLOWED_CIDRS"
        )
    if "wildcard" in why:
        return "declare each name the sandbox needs, e.g. api.example.org"
    return "declare only the outside services the sandbox needs"


def _overlap(one: Network, other: Network) -> bool:
    return one.version == other.version and one.overlaps(other)


def _within(network: Network, ranges: Iterable[Network]) -> bool:
    return any(
        network.version == r.version and network.subnet_of(r)  # type: ignore[arg-type]
        for r in ranges
    )
