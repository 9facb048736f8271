"""Which egress destinations a template may declare: the manifest's own refusals (whatever the
den's settings) and the den's (`orchestrator.egress.egress_problems`)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from orchestrator.catalogue import validate_manifest
from orchestrator.egress import egress_problems
from orchestrator.errors import ValidationFailed
from orchestrator.manifest import Egress, TemplateManifest
from orchestrator.settings import Settings

DEFAULTS = Settings.model_construct()


def manifest(*hosts: str) -> TemplateManifest:
    return TemplateManifest.model_validate(data(*hosts))


def data(*hosts: str) -> dict[str, Any]:
    return {
        "apiVersion": "innovation-den.io/v1",
        "kind": "SandboxTemplate",
        "metadata": {
            "name": "demo",
            "version": "1.0.0",
            "supplier": "acme",
            "summary": "A demo",
            "problemAreas": ["testing"],
        },
        "spec": {
            "dataClassification": "synthetic",
            "components": [{"name": "web", "image": "innovation-den/demo:1.0.0"}],
            "egress": [{"host": host, "ports": [443]} for host in hosts],
        },
    }


def refused(settings: Any, *hosts: str) -> dict[str, str]:
    return {p.field: p.message for p in egress_problems(manifest(*hosts), settings)}


@pytest.mark.parametrize(
    "host",
    [
        "0.0.0.0/0",
        "0.0.0.0/1",
        "128.0.0.0/1",
        "127.0.0.1/32",
        "127.0.0.0/8",
        "169.254.169.254/32",
        "169.254.0.0/16",
        "169.0.0.0/8",
        "0.0.0.0/8",
        "224.0.0.1/32",
        "255.255.255.255/32",
        "localhost.localhost",
        "metadata.google.internal",
        "db.svc",
        "api.default.svc.cluster.local",
        "printer.local",
        "*.corp.internal",
        "127.0.0.1",
        "1.0x7f",
        "10.0.0.1/8",
    ],
)
def test_the_manifest_refuses_what_no_den_may_allow(host: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        validate_manifest(data(host))
    assert [p.field for p in raised.value.problems] == ["spec.egress.0.host"]


@given(st.integers(0, 32))
def test_every_range_holding_the_metadata_address_is_refused(prefix: int) -> None:
    from ipaddress import ip_network

    network = ip_network(f"169.254.169.254/{prefix}", strict=False)
    with pytest.raises(ValidationError):
        Egress(host=str(network))


def test_public_destinations_are_allowed() -> None:
    assert refused(DEFAULTS, "198.51.100.2/32", "203.0.113.0/24", "api.example.org", "8.8.8.8/32") == {}


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("10.0.0.0/8", "pod range"),
        ("10.20.1.0/24", "DEN_EGRESS_ALLOWED_CIDRS"),
        ("192.168.1.10/32", "bridge"),
        ("172.20.0.0/16", "bridge"),
        ("100.64.0.1/32", "private"),
        ("10.244.3.0/24", "pod range"),
        ("10.96.0.1/32", "Service range"),
        ("8.0.0.0/5", "pod range"),
        ("100.0.0.0/8", "private range 100.64.0.0/10"),
    ],
)
def test_private_and_cluster_ranges_are_refused_by_default(host: str, why: str) -> None:
    problems = egress_problems(manifest(host), DEFAULTS)
    assert [p.field for p in problems] == ["spec.egress.0.host"]
    assert why in problems[0].message and problems[0].hint


def test_an_allowed_private_range_is_allowed_but_never_the_cluster_within_it() -> None:
    settings = Settings(egress_allowed_cidrs="10.0.0.0/8")
    assert refused(settings, "10.20.0.0/16", "10.1.2.3/32") == {}
    assert set(refused(settings, "10.0.0.0/8", "10.244.0.0/24", "10.96.0.0/16")) == {
        "spec.egress.0.host",
        "spec.egress.1.host",
        "spec.egress.2.host",
    }
    assert refused(Settings(egress_allowed_cidrs="10.20.0.0/16"), "10.20.0.0/15") != {}


def test_the_dens_own_addresses_and_names_are_refused() -> None:
    by_address = Settings(public_url="http://203.0.113.9:8000")
    assert "den's own address" in refused(by_address, "203.0.113.0/24")["spec.egress.0.host"]
    by_name = Settings(public_url="https://den.example.gov.uk", sandbox_domain="sbx.example.net")
    assert set(
        refused(
            by_name,
            "den.example.gov.uk",
            "api.den.example.gov.uk",
            "a.sbx.example.net",
            "*.example.gov.uk",
            "other.example.gov.uk",
        )
    ) == {"spec.egress.0.host", "spec.egress.1.host", "spec.egress.2.host", "spec.egress.3.host"}


def test_wildcards_are_refused_on_docker_only() -> None:
    assert "wildcard" in refused(Settings(driver="docker"), "*.example.org")["spec.egress.0.host"]
    assert refused(Settings(driver="kubernetes"), "*.example.org") == {}


def test_a_mistyped_cidr_setting_refuses_to_start() -> None:
    with pytest.raises(ValidationError, match=r"10\.300\.0\.0"):
        Settings(egress_allowed_cidrs="10.0.0.0/8, 10.300.0.0/16")
