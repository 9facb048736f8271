"""Accounts: platform engineers disable people (their sessions and tokens stop at once) and
change roles, audited; tokens have a longest lifetime and never outlive the token that makes
them; development sign-in is served on loopback only."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from tests.service.conftest import AUTH
from tests.service.test_web_pages import browser, client, settings

__all__ = ["client", "settings"]  # the https client and settings of test_web_pages

ROOT = Path(__file__).resolve().parents[2]


def test_disabling_a_person_stops_their_tokens_and_sessions_at_once(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    alice = people["alice"]
    assert client.get("/api/v1/trials", headers=alice).status_code == 200
    page = browser(client, "alice")
    assert page.get("/trials").status_code == 200

    done = client.patch("/api/v1/users/alice", headers=people["pat"], json={"disabled": True})
    assert done.status_code == 200, done.text
    assert done.json()["disabled"] is True
    refused = client.get("/api/v1/trials", headers=alice)
    assert refused.status_code == 401 and "disabled" in refused.json()["detail"]
    assert page.get("/trials").status_code == 303  # sent to sign in again
    # Nobody can make them a token meanwhile, not even a platform engineer.
    made = client.post("/api/v1/users/alice/tokens", headers=AUTH, json={"name": "x"})
    assert made.status_code == 409 and made.json()["reason"] == "UserDisabled"

    assert (
        client.patch("/api/v1/users/alice", headers=people["pat"], json={"disabled": False}).status_code
        == 200
    )
    assert client.get("/api/v1/trials", headers=alice).status_code == 200
    audit = client.get("/api/v1/audit", headers=AUTH, params={"object_id": "alice"}).json()
    changes = [e["detail"] for e in audit["items"] if e["action"] == "user.update"]
    assert {"disabled": {"from": True, "to": False}} in changes
    assert {"disabled": {"from": False, "to": True}} in changes


def test_only_platform_engineers_change_people_and_never_disable_themselves(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    for who in ("alice", "sam", "ann"):
        answer = client.patch("/api/v1/users/bob", headers=people[who], json={"disabled": True})
        assert answer.status_code == 403, (who, answer.text)
    assert client.get("/api/v1/trials", headers=people["bob"]).status_code == 200
    own = client.patch("/api/v1/users/pat", headers=people["pat"], json={"disabled": True})
    assert own.status_code == 409 and own.json()["reason"] == "SelfDisable"


def test_a_role_change_is_audited_and_takes_effect_at_once(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    assert client.get("/api/v1/audit", headers=people["carol"]).status_code == 403
    done = client.patch(
        "/api/v1/users/carol", headers=people["pat"], json={"role": "platform_engineer", "department": ""}
    )
    assert done.status_code == 200 and done.json()["role"] == "platform_engineer"
    assert client.get("/api/v1/audit", headers=people["carol"]).status_code == 200
    entry = client.get("/api/v1/audit", headers=AUTH, params={"object_id": "carol"}).json()
    detail = next(e["detail"] for e in entry["items"] if e["action"] == "user.update")
    assert detail["role"] == {"from": "civil_servant", "to": "platform_engineer"}
    assert detail["department"] == {"from": "hmrc", "to": ""}


def test_a_supplier_role_needs_a_supplier(client: TestClient, people: dict[str, dict[str, str]]) -> None:
    answer = client.patch("/api/v1/users/carol", headers=people["pat"], json={"role": "supplier"})
    assert answer.status_code == 422
    assert answer.json()["problems"][0]["field"] == "supplier"
    users = {u["name"]: u for u in client.get("/api/v1/users", headers=AUTH).json()["items"]}
    assert users["carol"]["role"] == "civil_servant"
    # Leaving the supplier role unbinds the supplier; taking it binds one.
    left = client.patch("/api/v1/users/sam", headers=people["pat"], json={"role": "approver"})
    assert left.status_code == 200 and left.json()["supplier"] is None, left.text
    back = client.patch(
        "/api/v1/users/sam", headers=people["pat"], json={"role": "supplier", "supplier": "acme"}
    )
    assert back.status_code == 200 and back.json()["supplier"] == "acme", back.text


def test_tokens_have_a_longest_lifetime(client: TestClient, people: dict[str, dict[str, str]]) -> None:
    limit = client.app.state.settings.max_token_lifetime  # type: ignore[attr-defined]
    default = client.post("/api/v1/users/alice/tokens", headers=people["alice"], json={})
    assert default.status_code == 201, default.text
    expires = datetime.fromisoformat(default.json()["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(seconds=limit))) < timedelta(minutes=1)
    longer = client.post(
        "/api/v1/users/alice/tokens", headers=people["alice"], json={"expires_in_seconds": limit + 60}
    )
    assert longer.status_code == 422
    assert longer.json()["problems"][0]["field"] == "expires_in_seconds"


def test_a_token_cannot_make_a_token_that_outlives_it(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    short = client.post(
        "/api/v1/users/alice/tokens",
        headers=people["alice"],
        json={"name": "short", "expires_in_seconds": 600},
    ).json()
    with_short = {"Authorization": f"Bearer {short['token']}"}
    refused = client.post("/api/v1/users/alice/tokens", headers=with_short, json={"expires_in_seconds": 3600})
    assert refused.status_code == 422 and "outlive" in refused.text
    capped = client.post("/api/v1/users/alice/tokens", headers=with_short, json={})
    assert capped.status_code == 201
    assert capped.json()["expires_at"] == short["expires_at"]


def test_development_sign_in_is_refused_on_an_address_other_than_loopback(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "DEN_DATA_DIR": str(tmp_path), "DEN_ENVIRONMENT": "development"}
    done = subprocess.run(
        [sys.executable, "-m", "cli.den", "serve", "--host", "0.0.0.0", "--port", "9"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "loopback" in done.stderr and "DEN_DEV_SIGN_IN=false" in done.stderr
    assert not (tmp_path / "den.db").exists()  # refused before anything was made
