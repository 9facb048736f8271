"""Hostile templates and requests against the API and the web forms, on SQLite and PostgreSQL.

Every refusal names the field to fix and stores nothing: each case counts the rows of every
table before and after, and checks that the runtime was never asked for anything. Template
injection in free text is valid input: it is stored and shown exactly as typed and never
evaluated, in the API's answers, the web pages and what reaches the workload.
"""

from __future__ import annotations

import copy
import html
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session, SQLModel

from orchestrator.drivers.docker import specs
from orchestrator.drivers.kubernetes import manifests
from orchestrator.manifest import TemplateManifest
from orchestrator.manifest_errors import path_of, where
from orchestrator.models import TemplateVersion, Trial
from orchestrator.reconciler import build_spec
from tests.fakes import FakeDriver
from tests.reliability.hostile_corpus import (
    INJECTIONS,
    PAYLOAD,
    Hostile,
    corpus,
    fields_of,
    never_evaluated,
)
from tests.service.conftest import AUTH, fake_driver, people
from tests.service.test_web_pages import browser, client, error_links, post_form, settings
from tests.unit.test_catalogue import GOOD

__all__ = ["client", "fake_driver", "people", "settings"]
YAML = {**AUTH, "Content-Type": "application/yaml"}
TEMPLATES = corpus()


def row_counts(client: TestClient) -> dict[str, int]:
    with client.app.state.engine.connect() as connection:  # type: ignore[attr-defined]
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in SQLModel.metadata.sorted_tables
        }


@contextmanager
def nothing_stored(client: TestClient, driver: FakeDriver) -> Iterator[None]:
    """The block changes no row of any table and asks the runtime for nothing."""
    before, calls = row_counts(client), list(driver.calls)
    yield
    assert row_counts(client) == before
    assert driver.calls == calls and driver.resources == {}


def refused(answer: Any, field: str, *, status: int = 422) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["reason"] and body["detail"], body
    if status == 422:
        assert field in fields_of(body), body
        assert all(p["message"] for p in body["problems"]), body
    return body


# --- templates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("hostile", TEMPLATES, ids=lambda h: h.name)
def test_a_hostile_manifest_is_refused_by_the_api_in_yaml_and_json(
    client: TestClient, fake_driver: FakeDriver, hostile: Hostile
) -> None:
    with nothing_stored(client, fake_driver):
        refused(client.post("/api/v1/templates", headers=YAML, content=hostile.text), hostile.field)
        if not hostile.has_aliases:  # JSON has no aliases to send
            refused(client.post("/api/v1/templates", headers=AUTH, json=hostile.data), hostile.field)


def test_hostile_manifests_uploaded_on_the_publish_page_are_refused_with_the_field(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    sam = browser(client, "sam")  # supplies acme, the supplier of every hostile manifest
    for hostile in TEMPLATES:
        with nothing_stored(client, fake_driver):
            page = post_form(
                sam, "/supplier/publish", {}, files={"manifest": ("template.yaml", hostile.text.encode())}
            )
        assert page.status_code == 422, hostile.name
        links = error_links(page.text)  # each to its line of the manifest shown, or to the upload
        assert links and all(re.fullmatch(r"#manifest|#line-[0-9]+", link) for link in links), links
        named = where(path_of(hostile.field)) if not hostile.field.startswith("(") else hostile.field
        assert html.escape(named, quote=True) in page.text or hostile.field in page.text, (
            hostile.name,
            page.text[-2000:],
        )


def _generated() -> list[tuple[str, bytes, str]]:
    """(case, body, field): hostile manifests too big or too deep to keep as files."""
    many = copy.deepcopy(GOOD)
    many["spec"]["components"] = [{**GOOD["spec"]["components"][0], "name": f"c{i}"} for i in range(9)]
    long_summary = copy.deepcopy(GOOD)
    long_summary["metadata"]["summary"] = "x" * 10_000
    padded = yaml.safe_dump(GOOD) + "# " + "x" * (300 * 1024) + "\n"
    return [
        ("nine components", json.dumps(many).encode(), "spec.components"),
        ("long summary", json.dumps(long_summary).encode(), "metadata.summary"),
        ("over 256 KiB", padded.encode(), "(document)"),
        ("JSON 100000 deep", b"[" * 100_000 + b"]" * 100_000, "(document)"),
        ("JSON 500 deep", b'{"a":' * 500 + b"1" + b"}" * 500, "(document)"),
        ("deep parameters", json.dumps(_deep_parameters(30)).encode(), "(document)"),
        (
            "parameters over 64 KiB",
            json.dumps(
                _parameters({f"p{i}": {"type": "string", "description": "d" * 4000} for i in range(20)})
            ).encode(),
            "spec.parameters",
        ),
        (
            "51 parameters",
            json.dumps(_parameters({f"p{i}": {"type": "string"} for i in range(51)})).encode(),
            "spec.parameters.properties",
        ),
        ("not a mapping", b'["apiVersion"]', "(document)"),
        ("NUL", json.dumps({**GOOD, "kind": "Sandbox\u0000Template"}).encode(), "(body)"),
    ]


def _deep_parameters(depth: int) -> dict[str, Any]:
    nested: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        nested = {"type": "object", "properties": {"a": nested}}
    return _parameters({"greeting": nested})


def _parameters(properties: dict[str, Any]) -> dict[str, Any]:
    manifest = copy.deepcopy(GOOD)
    manifest["spec"]["parameters"] = {"type": "object", "properties": properties}
    return manifest


@pytest.mark.parametrize("case, body, field", _generated(), ids=[c[0] for c in _generated()])
def test_huge_deep_and_malformed_manifests_are_refused_with_a_clear_error(
    client: TestClient, fake_driver: FakeDriver, case: str, body: bytes, field: str
) -> None:
    with nothing_stored(client, fake_driver):
        refused(client.post("/api/v1/templates", headers=AUTH, content=body), field)


UNREADABLE = [  # (path, content type, body, the field named)
    ("/api/v1/templates", "application/xml", b"<template><name>x</name></template>", "(body)"),
    ("/api/v1/templates", "text/html", b"<h1>apiVersion: innovation-den.io/v1</h1>", "(body)"),
    ("/api/v1/templates", "application/x-www-form-urlencoded", b"kind=x", "(body)"),
    ("/api/v1/templates", "application/json", b"\xff\xfe not UTF-8", "(body)"),
    ("/api/v1/templates", "application/yaml", b"\xff\xfe not UTF-8", "(document)"),
    ("/api/v1/templates", "application/yaml", b"a: 1\n---\nb: 2\n", "(document)"),
    ("/api/v1/trials", "text/plain", b'{"template": "demo", "title": "t", "hypothesis": "h"}', "(body)"),
    ("/api/v1/trials", "application/xml", b"<trial><template>demo</template></trial>", "(body)"),
    ("/api/v1/trials", "application/x-www-form-urlencoded", b"template=demo&title=t", "(body)"),
    ("/api/v1/trials", "application/json", b'{"template": "demo", "title": "t"', "(body)"),
    (
        "/api/v1/trials",
        "application/json",
        b'{"template": "demo", "parameters": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        "(body)",
    ),
]


@pytest.mark.parametrize("path, content_type, body, field", UNREADABLE)
def test_bodies_in_the_wrong_content_type_or_encoding_are_refused(
    client: TestClient, fake_driver: FakeDriver, path: str, content_type: str, body: bytes, field: str
) -> None:
    with nothing_stored(client, fake_driver):
        refused(client.post(path, content=body, headers={**AUTH, "Content-Type": content_type}), field)


def test_oversized_bodies_are_refused_before_they_are_read(
    client: TestClient, fake_driver: FakeDriver
) -> None:
    with nothing_stored(client, fake_driver):
        for path in ("/api/v1/templates", "/api/v1/trials", "/api/v1/suppliers"):
            body = refused(client.post(path, headers=AUTH, content=b"{" + b" " * 2_000_000), "", status=413)
            assert body["reason"] == "TooLarge"


# --- trial requests ----------------------------------------------------------------------------


def _publish_with_greeting(client: TestClient) -> str:
    """demo@1.1.0: the fixture demo with a free-text parameter."""
    manifest = copy.deepcopy(GOOD)
    manifest["metadata"]["version"] = "1.1.0"
    assert client.post("/api/v1/templates", headers=AUTH, json=manifest).status_code == 201
    assert (
        client.post(
            "/api/v1/templates/demo/versions/1.1.0/status",
            headers=AUTH,
            json={"status": "Published", "reason": ""},
        ).status_code
        == 200
    )
    return "demo@1.1.0"


TRIAL_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("template traversal", {"template": "../../etc/passwd"}, "template"),
    ("version traversal", {"template": "demo@../../1.0.0"}, "template"),
    ("absolute template", {"template": "/etc/passwd"}, "template"),
    ("encoded traversal", {"template": "%2e%2e%2fdemo"}, "template"),
    ("undeclared parameter", {"parameters": {"../x": "1"}}, "parameters"),
    ("reserved parameter", {"parameters": {"PATH": "/tmp/evil"}}, "parameters"),
    ("preload parameter", {"parameters": {"LD_PRELOAD": "/tmp/evil.so"}}, "parameters"),
    ("parameter of the wrong type", {"parameters": {"greeting": {"$(id)": [1]}}}, "parameters.greeting"),
    ("NUL in a parameter", {"parameters": {"greeting": "a\u0000b"}}, "parameters"),
    ("empty title", {"title": ""}, "title"),
    ("long title", {"title": "x" * 201}, "title"),
    ("duration injection", {"duration_seconds": "600; DROP TABLE trial"}, "duration_seconds"),
    ("negative duration", {"duration_seconds": -5}, "duration_seconds"),
    ("privileged asked for", {"privileged": True}, "privileged"),
    ("owner asked for", {"owner": "carol"}, "owner"),
    ("too many criteria", {"success_criteria": ["x"] * 21}, "success_criteria"),
]


@pytest.mark.parametrize("case, change, field", TRIAL_CASES, ids=[c[0] for c in TRIAL_CASES])
def test_a_hostile_trial_request_is_refused_naming_the_field(
    client: TestClient, fake_driver: FakeDriver, case: str, change: dict[str, Any], field: str
) -> None:
    template = _publish_with_greeting(client)
    body = {"template": template, "title": "t", "hypothesis": "h", **change}
    with nothing_stored(client, fake_driver):
        refused(client.post("/api/v1/trials", headers=AUTH, json=body), field)


def test_a_hostile_title_on_the_start_form_is_refused_naming_the_field(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    alice = browser(client, "alice")
    with nothing_stored(client, fake_driver):
        for title in ("", "x" * 5000, "\u0000"):
            page = post_form(alice, "/templates/demo/start/title", {"title": title})
            assert page.status_code == 422 and error_links(page.text) == ["#title"]


# --- paths ---------------------------------------------------------------------------------


TRAVERSALS = [
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2fadmin",
    "..%5c..%5cwin.ini",
    "%252e%252e%252f",
    "%2fetc%2fpasswd",
    "t1234567890ab%00",
    "T1234567890AB",
    "x" * 300,
]


def answered(visitor: TestClient, method: str, path: str, **kwargs: Any) -> Any:
    """The answer, or None for the redirect the framework makes to drop a trailing (decoded)
    slash: that one must stay on this service."""
    answer = visitor.request(method, path, **kwargs)
    if answer.status_code == 307:
        assert answer.headers["location"].startswith(f"{visitor.base_url}/"), answer.headers
        return None
    return answer


@pytest.mark.parametrize("segment", TRAVERSALS)
def test_paths_with_traversal_answer_not_found_or_invalid_and_no_data(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver, segment: str
) -> None:
    alice = browser(client, "alice")
    api = [
        ("GET", f"/api/v1/trials/{segment}"),
        ("GET", f"/api/v1/trials/{segment}/events"),
        ("POST", f"/api/v1/trials/{segment}/end"),
        ("GET", f"/api/v1/templates/{segment}"),
        ("POST", f"/api/v1/templates/demo/versions/{segment}/status"),
        ("GET", f"/api/v1/trials/{segment}/evaluation"),
    ]
    with nothing_stored(client, fake_driver):
        for method, path in api:
            answer = answered(client, method, path, headers=AUTH)
            if answer is None:
                continue
            assert answer.status_code in (404, 405, 422), (path, answer.text)
            assert set(answer.json()) <= {"reason", "detail", "problems"}, path
        for path in (
            f"/trials/{segment}",
            f"/templates/{segment}",
            f"/templates/demo/start/{segment}",
            f"/static/{segment}",
        ):
            page = answered(alice, "GET", path)
            if page is None:
                continue
            assert page.status_code in (404, 422), (path, page.text[:300])
            assert "root:" not in page.text


def test_another_persons_trial_is_not_found_and_shows_nothing(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    secret = "Only alice's team may read this hypothesis"
    trial = client.post(
        "/api/v1/trials",
        headers=people["alice"],
        json={"template": "demo", "title": "Private title", "hypothesis": secret},
    ).json()
    base = f"/api/v1/trials/{trial['id']}"
    browsers = {person: browser(client, person) for person in ("bob", "carol", "gus")}
    with nothing_stored(client, fake_driver):
        for person in ("bob", "carol", "gus"):  # sam supplies demo: he may see it
            for method, path, body in [
                ("GET", base, None),
                ("GET", f"{base}/events", None),
                ("GET", f"{base}/evaluation", None),
                ("POST", f"{base}/extend", {"duration_seconds": 60}),
                ("POST", f"{base}/end", None),
            ]:
                answer = client.request(method, path, headers=people[person], json=body)
                assert answer.status_code == 404, (person, path, answer.text)
                assert secret not in answer.text and "Private title" not in answer.text
            page = browsers[person].get(f"/trials/{trial['id']}")
            assert page.status_code == 404 and secret not in page.text
    assert client.get(base, headers=people["alice"]).json()["end_requested_at"] is None


# --- template injection is data ----------------------------------------------------------------


def test_template_injection_in_a_trial_is_stored_and_shown_literally(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    template = _publish_with_greeting(client)
    asked = {
        "template": template,
        "title": PAYLOAD[:200],
        "hypothesis": PAYLOAD,
        "problem_statement": PAYLOAD,
        "success_criteria": list(INJECTIONS),
        "parameters": {"greeting": PAYLOAD},
    }
    created = client.post("/api/v1/trials", headers=people["alice"], json=asked)
    assert created.status_code == 201, created.text
    trial = client.get(f"/api/v1/trials/{created.json()['id']}", headers=people["alice"]).json()
    assert {key: trial[key] for key in asked if key != "template"} == {
        key: value for key, value in asked.items() if key != "template"
    }
    page = browser(client, "alice").get(f"/trials/{trial['id']}")
    assert page.status_code == 200
    for payload in INJECTIONS:
        assert payload.replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;") in page.text
    for text in (
        created.text,
        json.dumps(trial),
        page.text,
        client.get(f"/api/v1/trials/{trial['id']}/events", headers=AUTH).text,
    ):
        never_evaluated(text)
    _reaches_the_workload_verbatim(client, trial["id"])


def _reaches_the_workload_verbatim(client: TestClient, trial_id: str) -> None:
    """The parameter becomes the container's environment unchanged, on both runtimes."""
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        row = session.get(Trial, trial_id)
        assert row is not None
        version = session.get(TemplateVersion, row.template_version_id)
        assert version is not None
        spec = build_spec(row, TemplateManifest.model_validate(version.manifest))
    component = spec.components[0]
    docker_env = specs.container_kwargs(spec, component, network="n", publish_host="127.0.0.1")
    assert docker_env["environment"]["GREETING"] == PAYLOAD
    pod = manifests.deployment(spec, component)["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "GREETING", "value": PAYLOAD} in pod["env"]


def test_template_injection_in_a_manifest_is_published_and_shown_literally(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    manifest = copy.deepcopy(GOOD)
    manifest["metadata"].update(version="1.2.0", summary=PAYLOAD[:200], description=PAYLOAD)
    manifest["spec"]["successCriteria"] = list(INJECTIONS)
    manifest["spec"]["components"][0]["env"] = {"BANNER": PAYLOAD}
    manifest["spec"]["components"][0]["command"] = ["echo", PAYLOAD]
    published = client.post("/api/v1/templates", headers=people["sam"], json=manifest)
    assert published.status_code == 201, published.text
    assert published.json()["summary"] == PAYLOAD[:200]
    assert published.json()["description"] == PAYLOAD
    review = client.get("/api/v1/templates/demo/versions/1.2.0", headers=AUTH)
    assert review.status_code == 200 and PAYLOAD in review.json()["version"]["description"]
    assert (
        client.post(
            "/api/v1/templates/demo/versions/1.2.0/status",
            headers=AUTH,
            json={"status": "Published", "reason": PAYLOAD[:400]},
        ).status_code
        == 200
    )
    alice = browser(client, "alice")
    for path in ("/templates/demo", "/techmap", "/api/v1/templates/demo"):
        answer = alice.get(path, headers=AUTH if path.startswith("/api") else None)
        assert answer.status_code == 200, path
        assert (
            "{{ &#39;jinja&#39; ~ &#39;ran&#39; }}" in answer.text or "{{ 'jinja' ~ 'ran' }}" in answer.text
        ), path
        never_evaluated(answer.text)
    review = browser(client, "pat").get("/platform/templates/demo/1.2.0")
    assert review.status_code == 200 and "Images its trials run" in review.text
    never_evaluated(review.text)
