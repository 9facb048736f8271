"""Every page a civil servant sees says what happens to their sandbox in plain words: no
runtime words, no raw timestamps, no seconds for long durations (`plain_words.assert_plain`),
the progress told about the sandbox while a platform engineer still reads the runtime's own
messages; and the techmap's search finds templates by any word, plurals too, each once.

People and fixtures as in tests/service/test_web_pages.py.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from orchestrator import crud, db
from orchestrator.models import Trial
from tests.fakes import FakeDriver
from tests.service.conftest import AUTH, launch, reconciler, run_until_ready
from tests.service.plain_words import assert_plain, problems
from tests.service.test_web_pages import browser, client, post_form, settings

__all__ = ["client", "settings"]  # the fixtures, as test_web_pages.py sets them up

#: Progress as the Docker runtime reports it (orchestrator/drivers/docker/driver.py).
DOCKER_STEPS = ("Network den-t1d357b8f43aa created", "Container web created", "Container web running")


def _record_runtime_steps(client: TestClient, trial_id: str) -> None:
    with db.session_scope(client.app.state.engine) as session:  # type: ignore[attr-defined]
        trial = session.get(Trial, trial_id)
        assert trial is not None
        crud.record_new_progress(session, trial=trial, steps=DOCKER_STEPS, now=datetime.now(UTC))


def _reconcile(client: TestClient, driver: FakeDriver, passes: int = 1) -> None:
    den = reconciler(client, driver)
    for _ in range(passes):
        den.reconcile_once(now=datetime.now(UTC))


def test_the_problems_helper_finds_what_it_should() -> None:
    assert problems("<p>Container web created</p>")
    assert problems("<p>Reserved 0.25 CPU, 128 MiB memory</p>")
    assert problems("<p>The first line (env GREETING)</p>")
    assert problems("<p>now expires at 2026-12-01T08:57:31.995536+00:00</p>")
    assert problems("<p>172800 s is over the limit of 86400 s</p>")
    assert not problems(
        '<p>Starting the web part of your sandbox <time datetime="2026-12-01T08:57">9am</time></p>'
    )
    assert not problems("<p>It restarts after 30 seconds; 2 days in all</p>")


def test_every_page_a_civil_servant_sees_is_in_plain_words(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    alice = browser(client, "alice")
    seen: dict[str, str] = {}

    waiting = launch(client, people["alice"], duration=7200)  # past self-service: waits
    seen["PendingApproval"] = f"/trials/{waiting['id']}"
    requested = launch(client, people["alice"])
    seen["Requested"] = f"/trials/{requested['id']}"
    assert_plain(alice.get(seen["Requested"]).text, where="the Requested trial page")

    running = launch(client, people["alice"])
    _record_runtime_steps(client, running["id"])
    _reconcile(client, fake_driver)
    provisioning = alice.get(f"/trials/{running['id']}").text
    assert "Provisioning" in client.get(f"/api/v1/trials/{running['id']}", headers=AUTH).text
    assert_plain(provisioning, where="the Provisioning trial page")
    assert "Setting up your sandbox&#39;s private space" in provisioning
    assert "Starting the web part of your sandbox" in provisioning
    run_until_ready(client, fake_driver, running["id"])

    extended = post_form(
        alice, f"/trials/{running['id']}", {"extend-by": "600"}, action=f"/trials/{running['id']}/extend"
    )
    assert extended.status_code == 303, extended.text
    ready = alice.get(extended.headers["location"]).text
    assert re.search(r"it now ends at \d{1,2}(:\d\d)?[ap]m on \d{1,2} \w+ \d{4}", ready), ready
    assert "govuk-notification-banner--success" in ready
    assert "Extended by 10 minutes" in ready
    seen["Ready"] = f"/trials/{running['id']}"

    asking = launch(client, people["alice"])
    run_until_ready(client, fake_driver, asking["id"])
    asked = post_form(
        alice,
        f"/trials/{asking['id']}",
        {"extend-by": "3600", "extension-justification": "The pilot needs another day"},
        action=f"/trials/{asking['id']}/extend",
    )
    assert asked.status_code == 303, asked.text
    pending = alice.get(asked.headers["location"]).text
    assert "waiting for an approver" in pending
    assert "govuk-notification-banner--success" not in pending  # news, not success
    assert_plain(pending, where="the page after asking for an extension")

    failing = launch(client, people["alice"])
    fake_driver.fail_with = "Component web exited with code 137 (out of memory)\nKilled"
    _reconcile(client, fake_driver, passes=2)
    seen["Failed"] = f"/trials/{failing['id']}"
    fake_driver.fail_with = ""

    ended = launch(client, people["alice"])
    run_until_ready(client, fake_driver, ended["id"])
    assert post_form(alice, f"/trials/{ended['id']}/end", {}).status_code == 303
    seen["Stopping"] = f"/trials/{ended['id']}"
    assert_plain(alice.get(seen["Stopping"]).text, where="the Stopping trial page")
    _reconcile(client, fake_driver, passes=3)
    seen["Stopped"] = f"/trials/{ended['id']}"

    seen |= {
        "home": "/",
        "trials": "/trials",
        "template": "/templates/demo",
        "techmap": "/techmap",
        "search": "/techmap?q=demo+dashboards",
        "missing": "/trials/nothing0here",
    }
    for what, path in seen.items():
        answer = alice.get(path)
        assert answer.status_code in (200, 404), (what, answer.status_code)
        assert_plain(answer.text, where=f"{what} ({path})")
    phases = {t["id"]: t["phase"] for t in client.get("/api/v1/trials", headers=AUTH).json()["items"]}
    assert phases[failing["id"]] in ("Failed", "Stopped") and phases[ended["id"]] == "Stopped"
    assert_plain(_check_page(alice), where="the start journey's check page")

    # A platform engineer reads the runtime's own words as well; the API keeps them unchanged.
    engineer = browser(client, "pat").get(f"/trials/{running['id']}").text
    assert "What the runtime reported" in engineer and "Network den-t1d357b8f43aa created" in engineer
    events = client.get(f"/api/v1/trials/{running['id']}/events", headers=AUTH).json()["items"]
    assert "Container web created" in [e["message"] for e in events]
    assert any(re.search(r"\d+ s\b", e["message"]) for e in events)


def _check_page(visitor: TestClient) -> str:
    """Walk the start journey of `demo` to its check page, answering each question."""
    answers = {
        "title": "Plain words",
        "problem": "People cannot find the form",
        "hypothesis": "A clearer page helps",
        "own-criteria": "Half find it in a minute",
        "duration": "600",
        "shared": "no",
        "justification": "It needs a full week of use",
    }
    page = "/templates/demo/start/title"
    for _ in range(12):
        if page.endswith("/check"):
            break
        answer = post_form(visitor, page, answers)
        assert answer.status_code == 303, (page, answer.text[:2000])
        page = answer.headers["location"]
    assert page.endswith("/check"), page
    shown = visitor.get(page)
    assert shown.status_code == 200
    return shown.text


# --- search ------------------------------------------------------------------------------------


@pytest.fixture
def templates_dir(templates_dir: Path) -> Path:
    """The test templates and the bundled ones: the air-quality dashboard is in two problem
    areas."""
    bundled = Path(__file__).parents[2] / "sandbox_templates"
    for folder in bundled.iterdir():
        if folder.is_dir():
            shutil.copytree(folder, templates_dir / folder.name)
    suppliers = templates_dir / "suppliers.yaml"
    suppliers.write_text(suppliers.read_text() + "\n" + (bundled / "suppliers.yaml").read_text())
    return templates_dir


def _names(html: str) -> list[str]:
    return re.findall(r'<a class="govuk-link" href="/templates/([a-z0-9-]+)">', html)


def test_search_finds_any_word_with_plurals_each_template_once_and_its_suppliers(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    del people
    alice = browser(client, "alice")
    everything = alice.get("/techmap").text
    assert sorted(_names(everything)) == sorted(set(_names(everything))), "each template once"
    found = alice.get("/techmap?q=pollution+dashboards").text
    assert _names(found) == ["open-data-dashboard"]
    assert "1 template found" in found
    assert "Civic Insight Ltd" in found and "Northwind Digital plc" not in found.split("Suppliers", 1)[1]
    assert "Open data" in found and "Environment" in found  # its problem areas, as tags
    twin = alice.get("/techmap.json?q=Dashboards").json()
    assert [t["name"] for t in twin["templates"]] == ["open-data-dashboard"]
    assert [s["slug"] for s in twin["suppliers"]] == ["civic-insight"]
    one_area = alice.get("/techmap.json?area=environment").json()
    assert [t["name"] for t in one_area["templates"]] == ["open-data-dashboard"]
    nothing = alice.get("/techmap?q=zebra").text
    assert "0 templates found" in nothing and "No supplier has a template that matches" in nothing
