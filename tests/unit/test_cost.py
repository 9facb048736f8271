"""Resource use and cost: the readings added up (counters that fall back on a wake), the cost
and forecast at a rate card, the runtimes' answers read, and a rate card refused by field."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from orchestrator import cost, presenting, sandbox_hosts
from orchestrator.drivers.base import Usage
from orchestrator.drivers.docker.driver import container_usage
from orchestrator.drivers.kubernetes.driver import summary_usage
from orchestrator.settings import RateCard, Settings
from tests.unit.test_rules_and_evaluation import T0, trial
from web import views

CARD = RateCard(currency="GBP", cpu_hour=0.04, gib_hour=0.005)
MIB = 2**20


def test_readings_add_up_the_increases_and_keep_the_highest_memory() -> None:
    totals = cost.Totals(sampled_at=T0)  # Ready at T0
    totals = cost.accumulate(totals, cpu_seconds=2.0, memory_bytes=50 * MIB, now=T0 + timedelta(seconds=30))
    totals = cost.accumulate(totals, cpu_seconds=5.5, memory_bytes=40 * MIB, now=T0 + timedelta(seconds=60))
    assert (totals.cpu_seconds, totals.peak_memory_bytes, totals.running_seconds) == (5.5, 50 * MIB, 60.0)
    assert (totals.last_counter, totals.sampled_at) == (5.5, T0 + timedelta(seconds=60))


def test_a_counter_that_falls_back_counts_from_zero_and_nothing_twice() -> None:
    """Containers started again (a restart) count from zero: the whole reading is new."""
    totals = cost.Totals(cpu_seconds=10.0, last_counter=10.0, sampled_at=T0)
    totals = cost.accumulate(totals, cpu_seconds=3.0, memory_bytes=0, now=T0 + timedelta(seconds=30))
    assert totals.cpu_seconds == 13.0 and totals.last_counter == 3.0


def test_a_sleep_keeps_the_time_up_to_it_and_starts_the_next_reading_afresh() -> None:
    totals = cost.Totals(cpu_seconds=4.0, last_counter=4.0, running_seconds=30.0, sampled_at=T0)
    asleep = cost.accumulate(
        totals, cpu_seconds=6.0, memory_bytes=0, now=T0 + timedelta(seconds=10), running=False
    )
    assert (asleep.cpu_seconds, asleep.running_seconds, asleep.last_counter, asleep.sampled_at) == (
        6.0,
        40.0,
        0.0,
        None,
    )
    # Woken at T0+100 (Ready sets sampled_at again): the new containers' 1 s is all new, and
    # the time asleep never counts.
    woken = cost.accumulate(
        cost.Totals(**{**vars(asleep), "sampled_at": T0 + timedelta(seconds=100)}),
        cpu_seconds=1.0,
        memory_bytes=0,
        now=T0 + timedelta(seconds=130),
    )
    assert (woken.cpu_seconds, woken.running_seconds) == (7.0, 70.0)


def test_the_first_reading_counts_no_time_before_ready() -> None:
    """A sandbox still starting (no `sampled_at`) has its CPU counted, not yet its time."""
    totals = cost.accumulate(cost.Totals(), cpu_seconds=1.5, memory_bytes=MIB, now=T0)
    assert (totals.cpu_seconds, totals.running_seconds, totals.sampled_at) == (1.5, 0.0, T0)


def test_the_cost_is_cpu_used_plus_memory_reserved_while_running() -> None:
    # One core for an hour (0.04) plus 2 GiB reserved for two hours (2 * 2 * 0.005 = 0.02).
    assert cost.cost(cpu_seconds=3600, memory_mib=2048, running_seconds=7200, card=CARD) == 0.06
    assert cost.cost(cpu_seconds=0, memory_mib=512, running_seconds=0, card=CARD) == 0.0
    assert cost.cost(cpu_seconds=90, memory_mib=256, running_seconds=90, card=CARD) == round(
        90 / 3600 * 0.04 + 0.25 * 90 / 3600 * 0.005, cost.COST_DIGITS
    )


def test_the_forecast_is_the_reservation_for_the_whole_length() -> None:
    # Half a core and 1 GiB for 4 hours: 0.5 * 4 * 0.04 + 1 * 4 * 0.005.
    assert cost.forecast(cpu_millicores=500, memory_mib=1024, duration_seconds=4 * 3600, card=CARD) == 0.1
    assert cost.forecast(cpu_millicores=0, memory_mib=0, duration_seconds=3600, card=CARD) == 0.0


def test_amounts_are_shown_with_their_currency_and_small_ones_not_as_nothing() -> None:
    assert cost.money(1.5, "GBP") == "£1.50"
    assert cost.money(0.0012, "GBP") == "£0.0012"
    assert cost.money(0, "EUR") == "€0.00"
    assert cost.money(2, "CHF") == "2.00 CHF"
    assert cost.money(0.000012, "GBP") == "£0.000012"


def test_the_trial_answers_its_use_and_cost_only_with_a_rate_card() -> None:
    sandboxes = sandbox_hosts.address("https://den.example", "sandbox.example")
    row = trial(
        cpu_seconds=36.0,
        peak_memory_bytes=64 * MIB,
        running_seconds=3600.0,
        memory_mib=1024,
        cpu_millicores=1000,
        duration_seconds=7200,
    )
    shown = presenting.trial(row, owner="a", now=T0, sandboxes=sandboxes, rate_card=CARD)
    assert (shown.usage.cpu_seconds, shown.usage.peak_memory_bytes) == (36.0, 64 * MIB)
    assert shown.cost is not None and shown.cost.currency == "GBP"
    assert shown.cost.so_far == round(36 / 3600 * 0.04 + 1 * 1 * 0.005, cost.COST_DIGITS)
    assert shown.cost.forecast == round(2 * 0.04 + 2 * 0.005, cost.COST_DIGITS)
    assert presenting.trial(row, owner="a", now=T0, sandboxes=sandboxes).cost is None
    page = views.trial(row, owner="a", now=T0, sandboxes=sandboxes, rate_card=CARD)
    assert page["usage_words"] == {"cpu": "36.0 seconds", "memory": "64 megabytes"}
    assert page["cost_words"]["forecast"] == "£0.09"


def test_docker_stats_are_read_as_cpu_seconds_and_working_set() -> None:
    stats = {
        "cpu_stats": {"cpu_usage": {"total_usage": 2_500_000_000}},
        "memory_stats": {"usage": 100 * MIB, "stats": {"inactive_file": 30 * MIB}},
    }
    assert container_usage(stats) == cost_usage(2.5, 70 * MIB)
    v1 = {
        "cpu_stats": {"cpu_usage": {"total_usage": 10**9}},
        "memory_stats": {"usage": 10, "stats": {"cache": 4}},
    }
    assert container_usage(v1) == cost_usage(1.0, 6)
    assert container_usage({"cpu_stats": {}, "memory_stats": {}}) == cost_usage(0.0, 0)  # stopped


def test_the_kubelet_summary_counts_the_trials_namespace_only() -> None:
    summary = {
        "pods": [
            {
                "podRef": {"namespace": "den-t1"},
                "cpu": {"usageCoreNanoSeconds": 1_000_000_000},
                "memory": {"workingSetBytes": 5 * MIB},
            },
            {  # the kubelet has no pod figures yet: its containers' are summed
                "podRef": {"namespace": "den-t1"},
                "containers": [
                    {"cpu": {"usageCoreNanoSeconds": 500_000_000}, "memory": {"workingSetBytes": MIB}},
                    {"cpu": {"usageCoreNanoSeconds": 500_000_000}, "memory": {"workingSetBytes": MIB}},
                ],
            },
            {"podRef": {"namespace": "other"}, "cpu": {"usageCoreNanoSeconds": 9 * 10**9}},
        ]
    }
    assert summary_usage(summary, "den-t1") == cost_usage(2.0, 7 * MIB)
    assert summary_usage({}, "den-t1") == cost_usage(0.0, 0)


@pytest.mark.parametrize(
    ("card", "field"),
    [
        ('{"currency": "pounds", "cpu_hour": 0.04, "gib_hour": 0.005}', "rate_card.currency"),
        ('{"currency": "GBP", "cpu_hour": -1, "gib_hour": 0.005}', "rate_card.cpu_hour"),
        ('{"currency": "GBP", "cpu_hour": 0.04}', "rate_card.gib_hour"),
        ('{"currency": "GBP", "cpu_hour": 0.04, "gib_hour": 0.005, "disk_hour": 1}', "rate_card.disk_hour"),
    ],
)
def test_a_rate_card_that_is_not_valid_refuses_to_start_naming_the_field(
    card: str, field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEN_RATE_CARD", card)
    with pytest.raises(ValidationError, match=field.replace(".", r"\.")):
        Settings()


def test_a_rate_card_is_read_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEN_RATE_CARD", '{"currency": "GBP", "cpu_hour": 0.04, "gib_hour": 0.005}')
    assert Settings().rate_card == CARD
    monkeypatch.delenv("DEN_RATE_CARD")
    assert Settings().rate_card is None


def cost_usage(cpu_seconds: float, memory_bytes: int) -> Usage:
    return Usage(cpu_seconds=cpu_seconds, memory_bytes=memory_bytes)
