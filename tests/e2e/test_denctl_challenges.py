"""`denctl` and challenges end to end: files applied, listed, described and published as real
`denctl` processes against a real `den serve` process, each person with their own token.

A challenge starts no sandbox, so the server is started without building images; the people
are made through the API as the administrator, suppliers bound to the bundled templates'
suppliers (sandbox_templates/suppliers.yaml).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.server import Server
from tests.e2e.test_denctl import denctl, ok, person

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(data_dir=tmp_path_factory.mktemp("denctl-challenges")).start()
    yield running
    running.stop()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "denctl" / "config.yaml"


def supplier_person(server: Server, name: str, supplier: str) -> str:
    """A supplier's person, bound to `supplier`, and their token."""
    made = server.call("POST", "/api/v1/users", json={"name": name, "role": "supplier", "supplier": supplier})
    assert made.status_code == 201, made.text
    return str(server.call("POST", f"/api/v1/users/{name}/tokens", json={}).json()["token"])


def _later(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


def challenge_document(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "innovation-den.io/v1",
        "kind": "Challenge",
        "metadata": {"name": name},
        "spec": {
            "title": "Fewer missed benefit appointments",
            "problem": "People miss appointments and their claims stall.",
            "usersAndNeed": "Claimants need reminders they can act on.",
            "budget": {"min": 20000, "max": 80000},
            "problemAreas": ["appointments"],
            "closesAt": _later(30),
            "questionsCloseAt": _later(20),
            **spec,
        },
    }


def write(path: Path, *documents: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def test_apply_creates_configures_publishes_then_refuses_a_change(
    server: Server, config: Path, tmp_path: Path
) -> None:
    owner = person(server, "ch-alice", "civil_servant")
    document = challenge_document("missed-appointments")
    path = write(tmp_path / "challenge.yaml", document)

    created = ok(denctl(server, config, "apply", "-f", str(path), token=owner)).strip()
    assert created.startswith("challenges/c") and created.endswith(" created (Draft)"), created
    challenge_id = created.split()[0].removeprefix("challenges/")
    again = ok(denctl(server, config, "apply", "-f", str(path), token=owner))
    assert again == f"challenges/{challenge_id} unchanged\n"

    document["spec"]["title"] = "Fewer missed appointments"
    write(path, document)
    dry = ok(denctl(server, config, "apply", "-f", str(path), "--dry-run", token=owner))
    assert dry == f"challenges/{challenge_id} configured (dry run)\n"
    assert ok(denctl(server, config, "apply", "-f", str(path), token=owner)) == (
        f"challenges/{challenge_id} configured\n"
    )
    shown = json.loads(ok(denctl(server, config, "get", "ch", challenge_id, "-o", "json", token=owner)))
    assert shown["title"] == "Fewer missed appointments" and shown["stage"] == "Draft"

    document["spec"]["publish"] = True
    write(path, document)
    assert ok(denctl(server, config, "apply", "-f", str(path), token=owner)) == (
        f"challenges/{challenge_id} published\n"
    )
    assert ok(denctl(server, config, "apply", "-f", str(path), token=owner)) == (
        f"challenges/{challenge_id} unchanged\n"
    )

    document["spec"]["problem"] = "Something else entirely."
    write(path, document)
    refused = denctl(server, config, "apply", "-f", str(path), token=owner)
    assert refused.returncode == 1 and "ChallengeNotDraft" in refused.stderr, refused
    assert "only a draft can be changed" in refused.stderr and refused.stdout == ""
    kept = json.loads(
        ok(denctl(server, config, "get", "challenges/missed-appointments", "-o", "json", token=owner))
    )
    assert kept["problem"] == "People miss appointments and their claims stall."


def test_get_lists_challenges_in_each_output_format_and_filters_by_stage(
    server: Server, config: Path, tmp_path: Path
) -> None:
    owner = person(server, "ch-bea", "civil_servant")
    path = write(
        tmp_path / "two.yaml",
        challenge_document("listed-draft"),
        challenge_document("listed-open", publish=True, title="Fewer letters returned"),
    )
    lines = ok(denctl(server, config, "apply", "-f", str(path), token=owner)).splitlines()
    assert [line.split()[-1] for line in lines] == ["(Draft)", "(Published)"], lines
    draft_id, open_id = (line.split()[0].removeprefix("challenges/") for line in lines)

    table = ok(denctl(server, config, "get", "ch", token=owner)).splitlines()
    assert table[0].split() == ["ID", "NAME", "STAGE", "TITLE", "CLOSES", "IN", "OWNER", "AGE"]
    row = next(line for line in table if line.startswith(open_id))
    assert "listed-open" in row and "Published" in row and "Fewer letters returned" in row and "ch-bea" in row
    assert any(line.startswith(draft_id) for line in table)  # the owner sees their draft
    paged = ok(
        denctl(
            server, config, "get", "ch", "-l", "owner=ch-bea", "--chunk-size", "1", "-o", "name", token=owner
        )
    )
    assert sorted(paged.split()) == sorted(f"challenges/{i}" for i in (open_id, draft_id))  # page after page
    wide = ok(denctl(server, config, "get", "challenges", "-o", "wide", token=owner)).splitlines()[0]
    assert wide.endswith("DEPARTMENT   QUESTIONS CLOSE IN   OFFERED")

    published = ok(
        denctl(server, config, "get", "ch", "-l", "stage=Published,owner=ch-bea", "-o", "name", token=owner)
    )
    assert published == f"challenges/{open_id}\n"
    listed = json.loads(
        ok(denctl(server, config, "get", "ch", "-l", "name=listed-draft", "-o", "json", token=owner))
    )
    assert [c["id"] for c in listed["items"]] == [draft_id]
    assert ok(
        denctl(server, config, "get", "ch", "--field-selector", "stage=Draft", "-o", "name", token=owner)
    ) == (f"challenges/{draft_id}\n")
    bad = denctl(server, config, "get", "ch", "-l", "phase=Ready", token=owner)
    assert bad.returncode == 2 and "stage, owner, name" in bad.stderr

    # A draft is its owner's alone: another civil servant sees only the published one.
    other = person(server, "ch-cyd", "civil_servant")
    seen = ok(denctl(server, config, "get", "ch", "-l", "owner=ch-bea", "-o", "name", token=other))
    assert seen == f"challenges/{open_id}\n"
    missing = denctl(server, config, "get", "ch", draft_id, token=other)
    assert missing.returncode == 4, missing

    # -o yaml is a document apply takes back unchanged.
    exported = ok(denctl(server, config, "get", "ch", open_id, "-o", "yaml", token=owner))
    assert yaml.safe_load(exported)["kind"] == "Challenge"
    assert ok(denctl(server, config, "apply", "-f", "-", stdin=exported, token=owner)) == (
        f"challenges/{open_id} unchanged\n"
    )


def _respond(server: Server, token: str, challenge_id: str, template: str, summary: str) -> None:
    _as(
        server,
        token,
        "POST",
        f"/api/v1/challenges/{challenge_id}/responses",
        summary=summary,
        templates=[template],
        conflict_declared=False,
    )


def _as(server: Server, token: str, method: str, path: str, **body: Any) -> dict[str, Any]:
    answer = httpx.request(
        method, server.url + path, headers={"Authorization": f"Bearer {token}"}, json=body or None, timeout=30
    )
    assert answer.status_code < 300, answer.text
    return dict(answer.json())


def test_describe_shows_answers_sessions_and_responses_as_each_reader_may_see_them(
    server: Server, config: Path, tmp_path: Path
) -> None:
    owner = person(server, "ch-dee", "civil_servant")
    civic = supplier_person(server, "ch-civic", "civic-insight")
    northwind = supplier_person(server, "ch-northwind", "northwind-digital")
    path = write(tmp_path / "described.yaml", challenge_document("described", publish=True))
    challenge_id = ok(denctl(server, config, "apply", "-f", str(path), token=owner)).split()[0].split("/")[1]
    base = f"/api/v1/challenges/{challenge_id}"

    asked = _as(server, civic, "POST", f"{base}/questions", question="Is there an API for bookings?")
    _as(server, owner, "PUT", f"{base}/questions/{asked['id']}/answer", answer="Yes, a REST API.")
    held = _as(
        server,
        owner,
        "POST",
        f"{base}/sessions",
        title="Supplier day",
        starts_at=_later(5),
        ends_at=_later(5.1),
        mode="online",
        place="https://meet.example/supplier-day",
        capacity=10,
    )
    _as(server, civic, "POST", f"{base}/sessions/{held['id']}/registrations")
    _as(
        server,
        owner,
        "POST",
        f"{base}/sessions/{held['id']}/materials",
        title="Slides",
        url="https://example.org/slides.pdf",
    )
    _respond(server, civic, challenge_id, "open-data-dashboard", "Dashboards of missed appointments.")
    _respond(server, northwind, challenge_id, "citizen-enquiry-assistant", "Reminders by text message.")

    described = ok(denctl(server, config, "describe", "ch", challenge_id, token=owner))
    assert f"Id:                 {challenge_id}" in described and "Stage:              Published" in described
    assert "Budget:             £20,000 to £80,000" in described
    assert "Q: Is there an API for bookings?" in described and "Yes, a REST API." in described
    assert "Supplier day" in described and "9 of 10 places left" in described
    assert "Material: Slides https://example.org/slides.pdf" in described
    responses = described.split("Responses:\n")[1].split("Trials:\n")[0]
    assert "civic-insight" in responses and "northwind-digital" in responses
    assert "Trials:\n  <none>" in described
    for python in ("None", "False", "True"):
        assert python not in described, described
    assert "ch-civic" not in described.split("Sessions:")[0]  # never who asked

    seen = ok(denctl(server, config, "describe", "challenges/described", token=civic))
    assert "Q (yours): Is there an API for bookings?" in seen and "you are registered" in seen
    mine = seen.split("Responses:\n")[1].split("Trials:\n")[0]
    assert "civic-insight" in mine and "northwind-digital" not in mine
    assert "Trials:\n  <not visible to you>" in seen

    outsider = person(server, "ch-eve", "civil_servant")
    looked = ok(denctl(server, config, "describe", "ch", challenge_id, token=outsider))
    assert "Responses:\n  <not visible to you>" in looked and "Yes, a REST API." in looked


def test_publish_close_unknown_keys_explain_and_help(server: Server, config: Path, tmp_path: Path) -> None:
    owner = person(server, "ch-fay", "civil_servant")
    path = write(tmp_path / "verbs.yaml", challenge_document("verbs"))
    challenge_id = ok(denctl(server, config, "apply", "-f", str(path), token=owner)).split()[0].split("/")[1]
    assert ok(denctl(server, config, "publish", "ch", "verbs", token=owner)) == (
        f"challenges/{challenge_id} published (Published)\n"
    )
    again = denctl(server, config, "publish", "ch", challenge_id, token=owner)
    assert again.returncode == 1 and "ChallengeNotDraft" in again.stderr
    assert ok(denctl(server, config, "close", f"challenges/{challenge_id}", token=owner)) == (
        f"challenges/{challenge_id} closed (Closed)\n"
    )
    stranger = person(server, "ch-gus", "civil_servant")
    denied = denctl(server, config, "close", "ch", challenge_id, token=stranger)
    assert denied.returncode in (1, 5) and denied.stderr.startswith("error: ")

    typo = challenge_document("typo", colour="blue")
    refused = denctl(server, config, "apply", "-f", str(write(tmp_path / "typo.yaml", typo)), token=owner)
    assert refused.returncode == 2 and "spec.colour is not a Challenge field" in refused.stderr
    nameless = {**challenge_document("x"), "metadata": {}}
    unnamed = denctl(
        server, config, "apply", "-f", str(write(tmp_path / "nameless.yaml", nameless)), token=owner
    )
    assert unnamed.returncode == 2 and "no metadata.name" in unnamed.stderr
    invalid = challenge_document("invalid", closesAt=_later(-1))
    problems = denctl(
        server, config, "apply", "-f", str(write(tmp_path / "invalid.yaml", invalid)), token=owner
    )
    assert problems.returncode == 1 and "  - closes_at: " in problems.stderr, problems.stderr

    explained = ok(denctl(server, config, "explain", "challenge.spec", token=None))
    assert "KIND:     Challenge" in explained and "closesAt\t<time>" in explained
    resources = ok(denctl(server, config, "api-resources", "-o", "wide", token=None)).splitlines()
    assert ["challenges", "ch,challenge", "Challenge", "get,describe,apply,create,publish,close"] in [
        line.split() for line in resources
    ]
    for verb in ("publish", "close"):
        assert f"denctl {verb} ch" in ok(denctl(server, config, verb, "--help", token=None))
