"""What visitors of a sleeping sandbox see (in process, SQLite and PostgreSQL): the visit
through the sandbox's own address wakes it; a person is sent to the den's GOV.UK "waking up"
page, which reloads itself and goes on into the sandbox once it answers; a share link's holder
gets a page on the sandbox origin that reloads itself; a script gets 503 `SandboxWaking`.
Visits are recorded and keep the sandbox awake. The workload is the echo server of
tests/service/test_sandbox_access.py; a real browser and real runtimes do the same in
tests/e2e/test_idle_and_pools.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from orchestrator.lifecycle import Phase
from orchestrator.models import Trial
from orchestrator.settings import Settings
from tests.fakes import FakeDriver
from tests.service import test_sandbox_access as sandbox_access
from tests.service.conftest import AUTH, reconciler
from tests.service.test_sandbox_access import HTTPS, browser, csrf_of, engine_of, enter, ready, sandbox, visit

# The workload and the app of tests/service/test_sandbox_access.py.
echo = sandbox_access.echo
fake_driver = sandbox_access.fake_driver
client = sandbox_access.client
IDLE = 60


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "max_active_trials_per_user": 1000,
            "max_active_trials_per_department": 1000,
            "idle_timeout": IDLE,
        }
    )


def row(client: TestClient, trial_id: str) -> Trial:
    with Session(engine_of(client)) as session:
        found = session.get(Trial, trial_id)
        assert found is not None
        return found


def put_to_sleep(client: TestClient, driver: FakeDriver, trial_id: str) -> None:
    reconciler(client, driver).reconcile_once(now=datetime.now(UTC) + timedelta(seconds=IDLE + 1))
    assert row(client, trial_id).phase == Phase.SLEEPING


def wake_up(client: TestClient, driver: FakeDriver, trial_id: str) -> None:
    den = reconciler(client, driver)
    for _ in range(2):
        den.reconcile_once(now=datetime.now(UTC))
    assert row(client, trial_id).phase == Phase.READY


def opened(client: TestClient, person: str, trial_id: str) -> tuple[TestClient, str]:
    """A person's browser let into the sandbox: the browser and its sandbox cookie."""
    own = browser(client, person)
    page = own.get(f"/trials/{trial_id}/open/web")
    answer = own.post(f"/trials/{trial_id}/open/web", data={"csrf_token": csrf_of(page.text), "next": "/"})
    return own, enter(own, answer.headers["location"])


def test_visits_are_recorded_and_push_the_sleep_back(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    before = row(client, trial_id)
    assert before.sleeps_at is not None and before.last_activity_at is None
    alice, cookie = opened(client, "alice", trial_id)
    assert visit(alice, trial_id, cookie).status_code == 200
    after = row(client, trial_id)
    assert after.last_activity_at is not None and after.sleeps_at is not None
    assert after.sleeps_at >= before.sleeps_at
    body = client.get(f"/api/v1/trials/{trial_id}", headers=AUTH).json()
    assert body["last_activity_at"] is not None and body["sleeps_at"] is not None


def test_a_persons_visit_wakes_the_sandbox_through_the_waking_page(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    alice, cookie = opened(client, "alice", trial_id)
    put_to_sleep(client, fake_driver, trial_id)
    # The trial's page says it sleeps, and still offers to open it.
    page = alice.get(f"/trials/{trial_id}").text
    assert "Asleep" in page and f"/trials/{trial_id}/open/web" in page
    listed = client.get(f"/api/v1/trials/{trial_id}", headers=AUTH).json()
    assert (listed["phase"], listed["reason"]) == ("Sleeping", "Idle")

    answer = visit(alice, trial_id, cookie, "/cases?x=1")
    assert answer.status_code == 303
    den_page = answer.headers["location"]
    assert den_page.endswith(f"/trials/{trial_id}/open/web?next=/cases%3Fx%3D1")
    assert row(client, trial_id).wake_requested_at is not None  # the visit asked for it
    waking = alice.get(den_page.split("testserver", 1)[-1].replace("https://localhost", ""))
    assert waking.status_code == 200
    assert "Your sandbox is waking up" in waking.text
    assert 'id="sandbox-waking"' in waking.text and 'data-check-every="2"' in waking.text
    assert "http-equiv" not in waking.text  # no timed refresh (WCAG 2.2.1): the script checks
    twin = alice.get(f"/trials/{trial_id}/open/web.json?next=/cases").json()
    assert twin["waking"] is True and twin["trial"]["phase"] == "Sleeping"
    assert "govuk-template" in waking.text  # the den's own GOV.UK page

    wake_up(client, fake_driver, trial_id)
    again = alice.get(f"/trials/{trial_id}/open/web?next=/cases")
    assert again.status_code == 303  # awake: straight on into the sandbox
    assert again.headers["location"].startswith(f"https://{trial_id}-web.sandbox.localhost/_den/enter?grant=")
    back = enter(alice, again.headers["location"])
    assert visit(alice, trial_id, back).status_code == 200


def test_a_script_is_told_the_sandbox_is_waking_and_when_to_try_again(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    put_to_sleep(client, fake_driver, trial_id)
    token = people["alice"]["Authorization"].split(" ", 1)[1]
    answer = client.get(sandbox(trial_id, "/api"), headers={"x-den-token": token})
    assert answer.status_code == 503
    assert answer.json()["reason"] == "SandboxWaking"
    assert int(answer.headers["retry-after"]) > 0
    wake_up(client, fake_driver, trial_id)
    assert client.get(sandbox(trial_id, "/api"), headers={"x-den-token": token}).status_code == 200


def test_a_share_links_holder_wakes_it_on_the_sandbox_origin_itself(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    link = client.post(
        f"/api/v1/trials/{trial_id}/share-links",
        headers=people["alice"],
        json={"expires_in_seconds": 3600, "note": "research"},
    ).json()
    stranger = TestClient(client.app, base_url=HTTPS, follow_redirects=False)
    secret = link["url"].rsplit("/", 1)[-1]
    page = stranger.get(f"/share/{secret}")
    cookie = enter(
        stranger,
        stranger.post(f"/share/{secret}/open/web", data={"csrf_token": csrf_of(page.text)}).headers[
            "location"
        ],
    )
    put_to_sleep(client, fake_driver, trial_id)
    answer = visit(stranger, trial_id, cookie)
    assert answer.status_code == 503 and "waking up" in answer.text
    assert answer.headers["refresh"] and "<script" not in answer.text
    # The share page wakes it too, and says so.
    share = stranger.get(f"/share/{secret}")
    assert share.status_code == 200 and "Your sandbox is waking up" in share.text
    wake_up(client, fake_driver, trial_id)
    assert visit(stranger, trial_id, cookie).status_code == 200


def test_someone_who_may_not_open_the_sandbox_cannot_wake_it(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = ready(client, people, fake_driver)
    put_to_sleep(client, fake_driver, trial_id)
    assert browser(client, "carol").get(f"/trials/{trial_id}/open/web").status_code == 404
    assert browser(client, "ann").get(f"/trials/{trial_id}/open/web").status_code == 404
    assert client.get(sandbox(trial_id, "/")).status_code == 303  # to the den: sign in first
    assert row(client, trial_id).wake_requested_at is None
