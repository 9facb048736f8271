"""Publishing as a supplier sees it: each problem with its line, the field as written and a
hint (API and upload page alike), a check page before anything is published, a repeat that
says nothing changed, and parameter values refused in plain words on the API and the settings
step."""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml
from fastapi.testclient import TestClient

from tests.service.conftest import AUTH
from tests.service.test_web_pages import browser, client, error_links, post_form, settings
from tests.unit.test_catalogue import GOOD

__all__ = ["client", "settings"]

BAD_YAML = """\
apiVersion: innovation-den.io/v1
kind: SandboxTemplate
metadata:
  name: demo
  version: 1.1
  supplier: acme
  summary: A demo
  problemAreas: [testing]
spec:
  dataClassification: synthetic
  components:
    - name: web
      image: innovation-den/demo:1.0.0
    - name: api
      image: "Not An Image"
"""
YAML = {"Content-Type": "application/yaml"}


def manifest(version: str, **spec: Any) -> dict[str, Any]:
    found = copy.deepcopy(GOOD)
    found["metadata"]["version"] = version
    found["spec"].update(spec)
    return found


def upload(visitor: TestClient, text: str) -> Any:
    return post_form(
        visitor, "/supplier/publish", {}, files={"manifest": ("template.yaml", text, "application/yaml")}
    )


def test_the_api_lists_each_problem_with_its_line_field_and_hint(client: TestClient) -> None:
    answer = client.post("/api/v1/templates", headers={**AUTH, **YAML}, content=BAD_YAML)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["reason"] == "ValidationFailed" and body["detail"]
    problems = {p["field"]: p for p in body["problems"]}
    version, image = problems["metadata.version"], problems["spec.components.1.image"]
    assert (version["line"], version["where"], version["message"], version["hint"]) == (
        5,
        "metadata.version",
        "metadata.version must be text",
        'put it in quotes, like version: "1.1"',
    )
    assert (image["line"], image["where"]) == (15, "spec.components, item 2, image")
    assert image["message"] == "spec.components, item 2, image must be an image reference"
    text = answer.text
    assert "Input should" not in text and "sandbox_templates" not in text


def test_a_json_manifest_gets_lines_too(client: TestClient) -> None:
    bad = manifest("1.0.1", extra=True)
    body = '{\n"apiVersion": "innovation-den.io/v1",\n' + __import__("json").dumps(bad)[1:]
    answer = client.post("/api/v1/templates", headers=AUTH, content=body)
    (problem,) = answer.json()["problems"]
    assert problem["where"] == "spec.extra" and problem["line"] == 3
    assert problem["message"] == "spec.extra is not a field of the manifest"
    assert "/guide/templates" in problem["hint"]


def test_a_repeat_changes_nothing_and_a_different_manifest_is_refused_plainly(client: TestClient) -> None:
    first = client.post("/api/v1/templates", headers=AUTH, json=manifest("2.0.0"))
    assert first.status_code == 201 and first.json()["unchanged"] is False
    again = client.post("/api/v1/templates", headers=AUTH, json=manifest("2.0.0"))
    assert again.status_code == 200, again.text
    assert again.json()["unchanged"] is True and again.json()["digest"] == first.json()["digest"]
    other = client.post("/api/v1/templates", headers=AUTH, json=manifest("2.0.0", successCriteria=["x"]))
    assert other.status_code == 409
    assert other.json()["detail"] == (
        "Version 2.0.0 of demo is already published, and this manifest is different from it. "
        "A published version cannot change: give this manifest a new version number"
    )


def test_the_upload_page_links_each_problem_to_its_line(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    del people
    sam = browser(client, "sam")
    refused = upload(sam, BAD_YAML)
    assert refused.status_code == 422
    assert error_links(refused.text) == ["#line-5", "#line-15"]
    assert "Line 5: metadata.version must be text" in refused.text
    assert 'id="line-15"' in refused.text and "Not An Image" in refused.text  # the manifest shown
    assert "put it in quotes, like version: &#34;1.1&#34;" in refused.text
    assert 'href="/guide/templates"' in refused.text and "sandbox_templates" not in refused.text
    broken = upload(sam, "metadata: [unclosed\n")
    assert broken.status_code == 422 and error_links(broken.text) == ["#line-2"]
    assert "The manifest is not valid YAML" in broken.text


def test_upload_check_then_publish(client: TestClient, people: dict[str, dict[str, str]]) -> None:
    sam = browser(client, "sam")
    checked = upload(sam, yaml.safe_dump(manifest("3.0.0")))
    assert checked.status_code == 303 and checked.headers["location"] == "/supplier/publish/check"
    assert (
        client.get("/api/v1/templates/demo", headers=people["sam"]).json()["versions"][0]["version"]
        != "3.0.0"
    )
    page = sam.get("/supplier/publish/check")
    assert page.status_code == 200
    for words in (
        "demo",
        "3.0.0",
        "innovation-den/demo:1.0.0",
        "Nothing: no outbound connections",
        "A platform engineer reviews this version",
        "Publish this version",
        "Greeting",
    ):
        assert words in page.text, words
    twin = sam.get("/supplier/publish/check.json").json()
    assert (twin["version"], twin["reviewed"], twin["components"][0]["image"]) == (
        "3.0.0",
        True,
        "innovation-den/demo:1.0.0",
    )
    published = post_form(sam, "/supplier/publish/check", {})
    assert published.headers["location"] == "/supplier?published=demo@3.0.0"
    assert "There is no manifest to check" in sam.get("/supplier/publish/check").text  # used up
    versions = client.get("/api/v1/templates/demo", headers=people["sam"]).json()["versions"]
    assert "3.0.0" in [v["version"] for v in versions]
    repeat = upload(sam, yaml.safe_dump(manifest("3.0.0")))
    assert repeat.headers["location"] == "/supplier?unchanged=demo@3.0.0"
    assert (
        "demo@3.0.0 is already published with this manifest: nothing changed."
        in sam.get(repeat.headers["location"]).text
    )
    differs = upload(sam, yaml.safe_dump(manifest("3.0.0", successCriteria=["other"])))
    assert differs.status_code == 409 and "A published version cannot change" in differs.text


def test_the_guide_is_public_and_shows_a_whole_bundled_manifest(client: TestClient) -> None:
    page = browser(client, "anonymous").get("/guide/templates")
    assert page.status_code == 200
    assert "apiVersion: innovation-den.io/v1" in page.text and "citizen-enquiry-assistant" in page.text
    assert re.search(r'id="parameters"', page.text)


# --- parameter values: the API's 422 and the settings step ----------------------------------

GREETING = {
    "type": "object",
    "properties": {
        "greeting": {"type": "string", "title": "Greeting", "maxLength": 200},
        "users": {"type": "integer", "title": "Number of users", "maximum": 10},
    },
}


def test_parameter_values_are_refused_in_plain_words(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    published = client.post("/api/v1/templates", headers=AUTH, json=manifest("4.0.0", parameters=GREETING))
    assert published.status_code == 201, published.text
    client.post("/api/v1/templates/demo/versions/4.0.0/status", headers=AUTH, json={"status": "Published"})
    typed = "SECRET" + "x" * 400
    answer = client.post(
        "/api/v1/trials",
        headers=people["alice"],
        json={
            "template": "demo",
            "title": "t",
            "hypothesis": "h",
            "parameters": {"greeting": typed, "users": 11},
        },
    )
    assert answer.status_code == 422, answer.text
    assert {p["field"]: p["message"] for p in answer.json()["problems"]} == {
        "parameters.greeting": "Greeting must be 200 characters or fewer",
        "parameters.users": "Number of users must be 10 or less",
    }
    assert "SECRET" not in answer.text
    alice = browser(client, "alice")
    step = post_form(alice, "/templates/demo/start/settings", {"param-greeting": typed, "param-users": "11"})
    assert step.status_code == 422
    assert error_links(step.text) == ["#param-greeting", "#param-users"]
    assert "Greeting must be 200 characters or fewer" in step.text
    assert "Number of users must be 10 or less" in step.text
    assert "SECRET" not in step.text.split('class="govuk-error-summary', 1)[1].split("</div>", 1)[0]
    words = post_form(alice, "/templates/demo/start/settings", {"param-users": "many"})
    assert "Number of users must be a whole number" in words.text
