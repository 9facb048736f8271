"""Resource use and cost against the in-memory runtime's figures: what a trial used reaches
its API answer, its page, the report and `/metrics`, with its cost at the rate card; the
forecast is given when it is requested and to the approver; a sleep and a wake count nothing
twice; a runtime that cannot say holds up no teardown. The same flows run on Docker and
Kubernetes in tests/e2e/test_cost.py."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from orchestrator import cost
from orchestrator.drivers.base import Usage
from orchestrator.errors import RuntimeUnavailable
from orchestrator.lifecycle import Phase
from orchestrator.models import Trial
from orchestrator.settings import RateCard, Settings
from tests.fakes import FakeDriver
from tests.service.conftest import AUTH, QUESTION, SCORES, launch, reconciler, run_until_ready
from tests.service.test_web_pages import browser, client

__all__ = ["client"]  # the https client
CARD = RateCard(currency="GBP", cpu_hour=0.04, gib_hour=0.005)
MIB = 2**20


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_card": CARD, "self_service_max_duration": 3000})


def metric(client: TestClient, name: str, labels: str) -> float:
    text = client.get("/metrics").text
    found = re.search(rf"^{name}{{{labels}}} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def row(client: TestClient, trial_id: str) -> Trial:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        found = session.get(Trial, trial_id)
        assert found is not None
        return found


def test_a_trials_use_and_cost_reach_the_api_its_page_the_report_and_the_metrics(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    cpu_before = metric(client, "den_trial_cpu_seconds_total", 'template="demo"')
    cost_before = metric(client, "den_trial_cost_total", 'template="demo",currency="GBP"')
    asked = launch(client, people["alice"], duration=1800)
    reserved = asked["cpu_millicores"], asked["memory_mib"]
    forecast = cost.forecast(
        cpu_millicores=reserved[0], memory_mib=reserved[1], duration_seconds=1800, card=CARD
    )
    assert asked["cost"] == {"currency": "GBP", "forecast": forecast, "so_far": 0.0}
    assert asked["usage"]["cpu_seconds"] == 0.0 and asked["usage"]["peak_memory_bytes"] == 0
    trial_id = asked["id"]
    run_until_ready(client, fake_driver, trial_id)

    fake_driver.usage_figures[trial_id] = Usage(cpu_seconds=12.0, memory_bytes=64 * MIB)
    reconciler(client, fake_driver).reconcile_once(now=datetime.now(UTC))  # a new one reads at once
    shown = client.get(f"/api/v1/trials/{trial_id}", headers=people["alice"]).json()
    assert (shown["usage"]["cpu_seconds"], shown["usage"]["peak_memory_bytes"]) == (12.0, 64 * MIB)
    running = row(client, trial_id).running_seconds
    assert shown["cost"]["so_far"] == cost.cost(
        cpu_seconds=12.0, memory_mib=reserved[1], running_seconds=running, card=CARD
    )
    page = browser(client, "alice").get(f"/trials/{trial_id}").text
    assert '<span id="usage-cpu">12.0 seconds</span>' in page
    assert '<span id="usage-memory">64 megabytes</span>' in page
    assert f'<span id="cost-forecast">{cost.money(forecast, "GBP")}</span>' in page
    assert 'id="cost-so-far">£' in page

    # The last reading is taken as it is removed: the figures it had then are its final ones.
    fake_driver.usage_figures[trial_id] = Usage(cpu_seconds=20.0, memory_bytes=48 * MIB)
    client.post(f"/api/v1/trials/{trial_id}/end", headers=people["alice"])
    reconciler(client, fake_driver).reconcile_once(now=datetime.now(UTC))
    ended = row(client, trial_id)
    assert (ended.phase, ended.cpu_seconds, ended.peak_memory_bytes) == (Phase.STOPPED, 20.0, 64 * MIB)
    assert ended.usage_sampled_at is None
    final = cost.cost(
        cpu_seconds=20.0, memory_mib=reserved[1], running_seconds=ended.running_seconds, card=CARD
    )

    evaluated = client.put(
        f"/api/v1/trials/{trial_id}/evaluation",
        headers=people["alice"],
        json={**QUESTION, "scores": SCORES, "decision": "iterate", "lessons_learned": "l"},
    )
    assert evaluated.status_code == 200, evaluated.text
    measured = evaluated.json()["measured"]
    assert (measured["cpu_seconds"], measured["peak_memory_bytes"]) == (20.0, 64 * MIB)
    assert (measured["cost"], measured["currency"]) == (final, "GBP")
    report = client.get("/api/v1/reports/trials", headers=AUTH).json()
    assert report["schema"] == "innovation-den.io/trial-report/v4"
    (item,) = report["items"]
    assert (item["cpu_seconds"], item["peak_memory_bytes"], item["cost"], item["currency"]) == (
        20.0,
        64 * MIB,
        final,
        "GBP",
    )
    (line,) = csv.DictReader(io.StringIO(client.get("/api/v1/reports/trials?format=csv", headers=AUTH).text))
    assert (line["cpu_seconds"], line["peak_memory_bytes"], line["currency"]) == (
        "20.0",
        str(64 * MIB),
        "GBP",
    )
    assert float(line["cost"]) == final

    assert metric(client, "den_trial_cpu_seconds_total", 'template="demo"') - cpu_before == pytest.approx(
        20.0
    )
    assert metric(
        client, "den_trial_cost_total", 'template="demo",currency="GBP"'
    ) - cost_before == pytest.approx(final, abs=1e-3)
    assert re.search(
        r'^den_trial_peak_memory_bytes_count\{template="demo"\} [1-9]', client.get("/metrics").text, re.M
    )


def test_the_approver_sees_the_forecast_of_what_they_approve(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    trial = launch(client, people["alice"], duration=3600, justification="Bins go out weekly")
    expected = cost.money(trial["cost"]["forecast"], "GBP")
    decide = browser(client, "ann").get(f"/trials/{trial['id']}/decide").text
    assert f'<span id="cost-forecast">{expected}</span>' in decide


def test_a_sleep_and_a_wake_count_nothing_twice(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    trial_id = launch(client, people["alice"])["id"]
    run_until_ready(client, fake_driver, trial_id)
    den = reconciler(client, fake_driver)
    now = datetime.now(UTC)
    fake_driver.usage_figures[trial_id] = Usage(cpu_seconds=10.0, memory_bytes=MIB)
    den.reconcile_once(now=now)
    assert row(client, trial_id).cpu_seconds == 10.0
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        found = session.get(Trial, trial_id)
        assert found is not None
        found.sleeps_at = now  # nobody visited: it sleeps at this pass
        session.commit()
    den.reconcile_once(now=now + timedelta(seconds=1))
    asleep = row(client, trial_id)
    assert (asleep.phase, asleep.cpu_seconds, asleep.usage_counter_seconds) == (Phase.SLEEPING, 10.0, 0.0)
    # Woken, its containers count from zero again: 4 s more is 14 s in all, not 4 nor 24.
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        found = session.get(Trial, trial_id)
        assert found is not None
        found.wake_requested_at = now + timedelta(seconds=2)
        session.commit()
    for seconds in (3, 4):
        den.reconcile_once(now=now + timedelta(seconds=seconds))
    assert row(client, trial_id).phase == Phase.READY
    fake_driver.usage_figures[trial_id] = Usage(cpu_seconds=4.0, memory_bytes=MIB)
    reconciler(client, fake_driver).reconcile_once(now=now + timedelta(seconds=5))
    assert row(client, trial_id).cpu_seconds == 14.0


def test_a_runtime_that_cannot_say_holds_up_no_teardown(
    client: TestClient,
    people: dict[str, dict[str, str]],
    fake_driver: FakeDriver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trial_id = launch(client, people["alice"])["id"]
    run_until_ready(client, fake_driver, trial_id)

    def unreadable(_trial_id: str) -> Usage:
        raise RuntimeUnavailable("the stats endpoint does not answer")

    monkeypatch.setattr(fake_driver, "usage", unreadable)
    client.post(f"/api/v1/trials/{trial_id}/end", headers=people["alice"])
    reconciler(client, fake_driver).reconcile_once(now=datetime.now(UTC))
    ended = row(client, trial_id)
    assert ended.phase == Phase.STOPPED and fake_driver.remaining(trial_id) == []
    assert ended.usage_sampled_at is None and ended.running_seconds > 0
