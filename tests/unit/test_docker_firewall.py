"""The host firewall's builders (orchestrator/drivers/docker/firewall.py), without a kernel:
what each script says, and that what it says is what the egress policy allows."""

from __future__ import annotations

import pytest

from orchestrator.drivers.base import TrialSpec
from orchestrator.drivers.docker import firewall, specs
from orchestrator.egress import EgressPolicy
from orchestrator.errors import PermanentError
from orchestrator.manifest import Component, Egress
from orchestrator.settings import Settings

POLICY = EgressPolicy.from_settings(Settings.model_construct())
WEB = Component(name="web", image="innovation-den/demo:1.0.0")


def rules_of(script: str, chain: str) -> list[str]:
    prefix = f"add rule {firewall.TABLE} {chain} "
    return [line.removeprefix(prefix) for line in script.splitlines() if line.startswith(prefix)]


def test_bridge_names_fit_linux_and_the_wildcard_and_differ_per_trial() -> None:
    names = {firewall.bridge_name(f"t{i}") for i in range(1000)}
    assert len(names) == 1000
    assert all(len(n) == 15 and n.startswith("dn") for n in names)
    assert firewall.bridge_name("t1") == firewall.bridge_name("t1")


def test_the_host_is_closed_to_new_connections_from_any_sandbox() -> None:
    script = firewall.trial_script("t1", instance="default", allowed=(), never=())
    assert rules_of(script, "input") == [
        'iifname != "dn*" accept',
        "ct state established,related accept",
        "counter drop",
    ]
    assert rules_of(script, "forward") == [
        'iifname != "dn*" accept',
        "ct state established,related accept",
        "iifname vmap @bridges",
        "counter drop",
    ]
    assert "hook input priority filter - 10; policy accept;" in script
    assert f"flush chain {firewall.TABLE} input" in script, "refilled, never appended twice"


def test_a_trial_chain_allows_its_bridge_and_declared_destinations_only() -> None:
    bridge = firewall.bridge_name("t1")
    allowed = firewall.destinations([Egress(host="198.51.100.0/24", ports=[443, 80, 443])], POLICY, {})
    script = firewall.trial_script("t1", instance="blue", allowed=allowed, never=POLICY.never())
    rules = rules_of(script, bridge)
    assert rules[:2] == [f'oifname "{bridge}" accept', 'oifname "dn*" drop']
    assert rules[-1] == "ip daddr 198.51.100.0/24 tcp dport { 80, 443 } accept"
    never = rules[2]
    for forbidden in (
        "127.0.0.0/8",
        "169.254.0.0/16",
        "10.244.0.0/16",
        "10.96.0.0/12",
        "172.16.0.0/12",
        "0.0.0.0/8",
    ):
        assert forbidden in never and never.endswith(" drop")
    assert (
        f'add element {firewall.TABLE} bridges {{ "{bridge}" comment "blue t1" : jump {bridge} }}'
    ) in script
    assert "flush table" not in script, "other trials' rules are never touched"


def test_without_egress_a_trial_chain_accepts_nothing_outside_its_bridge() -> None:
    rules = rules_of(
        firewall.trial_script("t1", instance="d", allowed=(), never=()), firewall.bridge_name("t1")
    )
    assert [r for r in rules if r.endswith("accept")] == [f'oifname "{firewall.bridge_name("t1")}" accept']


def test_overlapping_never_ranges_are_merged_for_the_kernel() -> None:
    policy = EgressPolicy.from_settings(Settings(public_url="http://172.24.0.1:8000"))
    rules = rules_of(
        firewall.trial_script("t", instance="d", allowed=(), never=policy.never()), firewall.bridge_name("t")
    )
    assert "172.24.0.1" not in rules[2], "inside 172.16.0.0/12: one interval, not two"


def test_removal_succeeds_whether_or_not_the_rules_exist() -> None:
    script = firewall.removal_script("t1").splitlines()
    bridge = firewall.bridge_name("t1")
    assert script.index(f"add chain {firewall.TABLE} {bridge}") < script.index(
        f"delete chain {firewall.TABLE} {bridge}"
    )
    assert script.index(f'delete element {firewall.TABLE} bridges {{ "{bridge}" }}') < script.index(
        f"delete chain {firewall.TABLE} {bridge}"
    )


def test_names_resolve_to_the_addresses_allowed_and_written_to_etc_hosts() -> None:
    allowed = firewall.destinations(
        [Egress(host="api.example.org", ports=[443])],
        POLICY,
        {"api.example.org": ["203.0.113.7/32", "203.0.113.8"]},
    )
    assert [d.network for d in allowed] == ["203.0.113.7/32", "203.0.113.8/32"]
    assert firewall.extra_hosts(allowed) == ["api.example.org:203.0.113.7", "api.example.org:203.0.113.8"]
    assert firewall.from_label({firewall.EGRESS_LABEL: firewall.to_label(allowed)}) == allowed


@pytest.mark.parametrize(
    ("egress", "resolved", "named"),
    [
        (
            Egress(host="evil.example.org", ports=[80]),
            {"evil.example.org": ["169.254.169.254"]},
            "169.254.169.254",
        ),
        (Egress(host="evil.example.org", ports=[80]), {"evil.example.org": ["10.244.0.5"]}, "10.244.0.0/16"),
        (Egress(host="*.example.org", ports=[443]), {}, "wildcard"),
        (Egress(host="10.1.0.0/16", ports=[443]), {}, "DEN_EGRESS_ALLOWED_CIDRS"),
    ],
)
def test_a_refused_destination_is_a_permanent_error_naming_it(
    egress: Egress, resolved: dict[str, list[str]], named: str
) -> None:
    with pytest.raises(PermanentError) as raised:
        firewall.destinations([egress], POLICY, resolved)
    assert raised.value.reason == "EgressRefused" and named in raised.value.detail


def test_listing_finds_the_trials_of_this_instance_only() -> None:
    listing = {
        "nftables": [
            {"metainfo": {}},
            {
                "map": {
                    "name": "bridges",
                    "elem": [
                        [{"elem": {"val": firewall.bridge_name("t1"), "comment": "blue t1"}}, {"jump": {}}],
                        [{"elem": {"val": firewall.bridge_name("t2"), "comment": "green t2"}}, {"jump": {}}],
                        [{"elem": {"val": "dn0000000000000", "comment": "blue forged"}}, {"jump": {}}],
                        ["dnnocomment0000", {"jump": {}}],
                    ],
                }
            },
        ]
    }
    assert firewall.trials_in(listing, instance="blue") == {"t1": firewall.bridge_name("t1")}


def test_the_network_names_its_bridge_and_records_what_it_may_reach() -> None:
    spec = TrialSpec(trial_id="t1", template="demo@1.0.0", components=(WEB,))
    allowed = (firewall.Destination("203.0.113.7/32", (443,), "api.example.org"),)
    kwargs = specs.network_kwargs(spec, allowed)
    assert kwargs["options"] == {"com.docker.network.bridge.name": firewall.bridge_name("t1")}
    assert firewall.from_label(kwargs["labels"]) == allowed
    container = specs.container_kwargs(spec, WEB, network="n", publish_host="127.0.0.1", allowed=allowed)
    assert container["extra_hosts"] == ["api.example.org:203.0.113.7"]
