"""Egress a den never allows is refused when a template is published: 422 naming the field,
nothing stored (through the API, as a supplier's script would send it)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import AUTH
from tests.unit.test_catalogue import GOOD


def with_egress(name: str, *egress: dict[str, Any]) -> dict[str, Any]:
    manifest = copy.deepcopy(GOOD)
    manifest["metadata"]["name"] = name
    manifest["spec"]["egress"] = list(egress)
    return manifest


def stored(client: TestClient, name: str) -> bool:
    return client.get(f"/api/v1/templates/{name}", headers=AUTH).status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254/32",
        "0.0.0.0/0",
        "127.0.0.1/32",
        "10.0.0.0/8",
        "10.96.0.1/32",
        "metadata.google.internal",
    ],
)
def test_egress_to_the_metadata_service_the_host_or_the_cluster_is_refused_and_not_stored(
    client: TestClient, host: str
) -> None:
    answer = client.post(
        "/api/v1/templates",
        headers=AUTH,
        json=with_egress("metadata-grab", {"host": "198.51.100.0/24", "ports": [443]}, {"host": host}),
    )
    assert answer.status_code == 422, answer.text
    assert [p["field"] for p in answer.json()["problems"]] == ["spec.egress.1.host"]
    assert not stored(client, "metadata-grab")


def test_egress_to_169_254_169_254_names_spec_egress_0_host(client: TestClient) -> None:
    answer = client.post(
        "/api/v1/templates",
        headers=AUTH,
        json=with_egress("metadata-grab", {"host": "169.254.169.254/32", "ports": [80]}),
    )
    assert answer.status_code == 422
    problem = answer.json()["problems"][0]
    assert problem["field"] == "spec.egress.0.host" and "169.254" in problem["message"]
    assert not stored(client, "metadata-grab")


def test_public_egress_is_accepted(client: TestClient) -> None:
    answer = client.post(
        "/api/v1/templates",
        headers=AUTH,
        json=with_egress(
            "open-data-feed", {"host": "198.51.100.0/24", "ports": [443]}, {"host": "api.example.org"}
        ),
    )
    assert answer.status_code == 201, answer.text
    assert stored(client, "open-data-feed")
