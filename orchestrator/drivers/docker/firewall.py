"""Pure builders of the host firewall that makes a Docker sandbox's egress mean what it says.

Docker alone leaves two holes: traffic from a sandbox to the host itself is INPUT, not
forwarding, so even a sandbox on an `internal` network reaches every service listening on the
host's addresses; and a network with egress forwards to anywhere. The kernel closes both, with
nftables rules in a table of our own, `inet innovation_den`, matched on the trial's bridge:
every trial network is made with the bridge name `dn<13 hex digits of sha256(trial id)>` (Docker's
`com.docker.network.bridge.name`; Linux allows 15 characters), so one wildcard `iifname "dn*"`
names every sandbox at once.

    table inet innovation_den
      map bridges: bridge name -> jump <its chain>   (element comment: "<instance> <trial id>")
      chain input   (hook input, priority filter - 10)
        iifname != "dn*" accept                      not a sandbox: not our business
        ct state established,related accept         answers to the host's own connections
        drop                                         a sandbox never opens one to the host
      chain forward (hook forward, priority filter - 10)
        iifname != "dn*" accept
        ct state established,related accept
        iifname vmap @bridges                        the trial's own chain, then back here
        drop                                         whatever that chain did not accept
      chain dn<hash>  (one per trial)
        oifname "dn<hash>" accept                    within its own bridge (br_netfilter)
        oifname "dn*" drop                           never another sandbox
        ip daddr { never-allowed ranges } drop       metadata, loopback, cluster, bridges, ...
        ip daddr <declared> tcp dport { ports } accept   one rule per declared destination

In nftables a drop in any base chain is final while an accept only ends that chain, so these
chains only ever take away: Docker's own rules (an internal network's drops, its isolation of
bridges from each other) still apply, and no accept of Docker's can reopen what is dropped here.
Host-to-sandbox traffic (the den's probes and endpoint proxying, published ports) is OUTPUT on
the host and answers come back as `established`. Docker's embedded DNS (127.0.0.11) lives in the
container's own network namespace, so it is not INPUT here; the upstream queries it forwards
for a network with egress leave from that namespace too, and are dropped unless declared, which
is why a declared name is resolved by the den when the trial starts and written into the
containers' `/etc/hosts` (`extra_hosts`), beside the addresses it allows.

Every script is one `nft -f -` transaction (atomic) and idempotent: `add` of a table, chain,
map or element that exists is a no-op, and each chain is flushed and refilled in the same
transaction, so applying a script twice leaves the same ruleset. Other orchestrators on the
same engine share the table: nothing here flushes the table or another trial's chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import collapse_addresses, ip_network
from typing import Any

from orchestrator.egress import EgressPolicy, Network
from orchestrator.errors import PermanentError
from orchestrator.manifest import Egress

TABLE = "inet innovation_den"
MAP = "bridges"
BRIDGE_PREFIX = "dn"
#: The network option that names a bridge, and the label that records what a trial may reach.
BRIDGE_OPTION = "com.docker.network.bridge.name"
EGRESS_LABEL = "innovation-den.io/egress-to"
PRIORITY = "filter - 10"


def bridge_name(trial_id: str) -> str:
    """The trial's bridge interface: `dn` and 13 hex digits, 15 characters (the Linux limit)."""
    return BRIDGE_PREFIX + hashlib.sha256(trial_id.encode()).hexdigest()[:13]


@dataclass(frozen=True)
class Destination:
    """One address range a trial may open TCP connections to, on these ports; `name` is the
    declared DNS name it was resolved from (written into the containers' `/etc/hosts`)."""

    network: str
    ports: tuple[int, ...]
    name: str = ""


def destinations(
    egress: Iterable[Egress], policy: EgressPolicy, resolved: Mapping[str, Sequence[str]]
) -> tuple[Destination, ...]:
    """What a trial may reach: its declared ranges, and the addresses its declared names
    resolve to now (`resolved`), each checked against the den's policy. A refusal is a
    `PermanentError` naming the destination: the sandbox never starts with less protection."""
    found: list[Destination] = []
    for rule in egress:
        ports = tuple(sorted(set(rule.ports)))
        if "/" in rule.host:
            found.append(_checked(policy, ip_network(rule.host), ports, rule.host, ""))
            continue
        why = policy.name_refusal(rule.host)
        if why:
            raise _refused(rule.host, why)
        found += [
            _checked(policy, ip_network(address), ports, rule.host, rule.host)
            for address in resolved.get(rule.host, ())
        ]
    return tuple(found)


def _checked(
    policy: EgressPolicy, network: Network, ports: tuple[int, ...], declared: str, name: str
) -> Destination:
    why = policy.refusal(network)
    if why:
        shown = declared if not name else f"{declared} (resolved to {network.network_address})"
        raise _refused(shown, why)
    return Destination(str(network), ports, name)


def _refused(what: str, why: str) -> PermanentError:
    return PermanentError(
        f"Egress to {what} is refused: {why}. The sandbox was not started.", reason="EgressRefused"
    )


def to_label(found: Sequence[Destination]) -> str:
    return json.dumps([[d.network, list(d.ports), d.name] for d in found], separators=(",", ":"))


def from_label(labels: Mapping[str, str] | None) -> tuple[Destination, ...]:
    raw = json.loads((labels or {}).get(EGRESS_LABEL) or "[]")
    return tuple(Destination(str(n), tuple(int(p) for p in ports), str(name)) for n, ports, name in raw)


def extra_hosts(found: Sequence[Destination]) -> list[str]:
    """`name:address` for each resolved destination (Docker's `extra_hosts`)."""
    return [f"{d.name}:{ip_network(d.network).network_address}" for d in found if d.name]


def base_rules() -> list[str]:
    """The table, the map and the two base chains, refilled (identical for every trial)."""
    lines = [f"add table {TABLE}", f"add map {TABLE} {MAP} {{ type ifname : verdict; }}"]
    for hook, dispatch in (("input", []), ("forward", [f"iifname vmap @{MAP}"])):
        lines += [
            f"add chain {TABLE} {hook} {{ type filter hook {hook} priority {PRIORITY}; policy accept; }}",
            f"flush chain {TABLE} {hook}",
            f'add rule {TABLE} {hook} iifname != "{BRIDGE_PREFIX}*" accept',
            f"add rule {TABLE} {hook} ct state established,related accept",
            *(f"add rule {TABLE} {hook} {rule}" for rule in dispatch),
            f"add rule {TABLE} {hook} counter drop",
        ]
    return lines


def trial_script(
    trial_id: str, *, instance: str, allowed: Sequence[Destination], never: Iterable[Network]
) -> str:
    """Base chains plus the trial's own chain and its map element, in one transaction."""
    bridge = bridge_name(trial_id)
    chain = f"{TABLE} {bridge}"
    lines = [
        *base_rules(),
        f"add chain {chain}",
        f"flush chain {chain}",
        f'add rule {chain} oifname "{bridge}" accept',
        f'add rule {chain} oifname "{BRIDGE_PREFIX}*" drop',
    ]
    for family, networks in _by_family(never).items():
        lines.append(f"add rule {chain} {family} daddr {_set(networks)} drop")
    for destination in allowed:
        network = ip_network(destination.network)
        family = "ip" if network.version == 4 else "ip6"
        ports = ", ".join(str(p) for p in destination.ports)
        lines.append(f"add rule {chain} {family} daddr {network} tcp dport {{ {ports} }} accept")
    lines.append(
        f'add element {TABLE} {MAP} {{ "{bridge}" comment "{instance} {trial_id}" : jump {bridge} }}'
    )
    return "\n".join(lines) + "\n"


def removal_script(trial_id: str) -> str:
    """Remove the trial's element and chain; success when they are already gone (each is
    added first, so that the deletes that follow always find it)."""
    bridge = bridge_name(trial_id)
    return (
        "\n".join(
            [
                f"add table {TABLE}",
                f"add map {TABLE} {MAP} {{ type ifname : verdict; }}",
                f"add chain {TABLE} {bridge}",
                f'add element {TABLE} {MAP} {{ "{bridge}" : jump {bridge} }}',
                f'delete element {TABLE} {MAP} {{ "{bridge}" }}',
                f"flush chain {TABLE} {bridge}",
                f"delete chain {TABLE} {bridge}",
            ]
        )
        + "\n"
    )


def trials_in(listing: Mapping[str, Any], *, instance: str) -> dict[str, str]:
    """Trial id -> bridge, for the elements of `instance` in `nft -j list map` output."""
    found: dict[str, str] = {}
    for item in listing.get("nftables", []):
        for key, _verdict in (item.get("map") or {}).get("elem", []):
            element = key.get("elem", {}) if isinstance(key, dict) else {"val": key}
            owner, _, trial_id = str(element.get("comment", "")).partition(" ")
            if owner == instance and trial_id and element.get("val") == bridge_name(trial_id):
                found[trial_id] = str(element["val"])
    return found


def _by_family(networks: Iterable[Network]) -> dict[str, list[Network]]:
    grouped: dict[str, list[Network]] = {}
    for network in networks:
        grouped.setdefault("ip" if network.version == 4 else "ip6", []).append(network)
    return {
        family: list(collapse_addresses(found))  # type: ignore[type-var]
        for family, found in grouped.items()
    }


def _set(networks: Sequence[Network]) -> str:
    return "{ " + ", ".join(str(n) for n in networks) + " }"
