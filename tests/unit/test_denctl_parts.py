"""denctl's pure parts: kubectl's human durations, tables, duration and selector parsing, and
where a command's server and token come from."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer

from cli import contexts, render
from cli.denctl import parse_duration, selectors

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (42, "42s"),
        (119, "119s"),
        (120, "2m"),
        (312, "5m12s"),
        (25 * 60, "25m"),
        (3 * 3600 + 20 * 60, "3h20m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 4 * 3600, "3d4h"),
        (40 * 86400, "40d"),
        (-5, "0s"),
    ],
)
def test_human_durations_read_like_kubectl(seconds: int, shown: str) -> None:
    assert render.human_duration(seconds) == shown


def test_tables_are_plain_aligned_columns_that_never_truncate() -> None:
    text = render.table(["NAME", "PHASE"], [["t1", "Ready"], ["a-very-long-name" * 5, "Stopped"]])
    lines = text.splitlines()
    assert lines[0].index("PHASE") == lines[1].index("Ready") == len("a-very-long-name" * 5) + 3
    assert "a-very-long-name" * 5 in lines[2]


def test_trial_rows_show_age_and_time_left() -> None:
    item = {
        "id": "t1",
        "template": "demo@1.0.0",
        "phase": "Ready",
        "reason": "Started",
        "created_at": (NOW - timedelta(minutes=5)).isoformat(),
        "expires_at": (NOW + timedelta(hours=1)).isoformat(),
    }
    assert render.rows("trials", [item], wide=False, now=NOW) == [
        ["t1", "demo@1.0.0", "Ready", "Started", "5m", "60m"]
    ]
    stopped = {**item, "phase": "Stopped"}
    assert render.rows("trials", [stopped], wide=False, now=NOW)[0][-1] == "<none>"


@pytest.mark.parametrize(
    ("text", "seconds"), [("900", 900), ("90s", 90), ("30m", 1800), ("1h30m", 5400), ("2d", 172800)]
)
def test_durations_parse(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1x", "m30"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(typer.Exit) as stopped:
        parse_duration(text)
    assert stopped.value.exit_code == 2


def test_selectors_become_query_parameters() -> None:
    assert selectors("phase=Ready, owner=alice") == {"phase": "Ready", "owner": "alice"}
    assert selectors(None) == {}
    for bad in ("colour=red", "phase", "phase="):
        with pytest.raises(typer.Exit):
            selectors(bad)


def test_contexts_precedence_and_private_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DENCTL_CONFIG", str(tmp_path / "denctl" / "config.yaml"))
    monkeypatch.delenv("DEN_SERVER", raising=False)
    monkeypatch.delenv("DEN_TOKEN", raising=False)
    assert contexts.resolve(server=None, token=None, context=None) == (contexts.DEFAULT_SERVER, "")
    config = contexts.Config()
    config.upsert(contexts.Context(name="prod", server="https://prod", token="p"))
    config.upsert(contexts.Context(name="test", server="https://test", token="t"))
    config.current = "prod"
    path = contexts.save(config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert contexts.resolve(server=None, token=None, context=None) == ("https://prod", "p")
    monkeypatch.setenv("DEN_SERVER", "https://env")
    monkeypatch.setenv("DEN_TOKEN", "e")
    assert contexts.resolve(server=None, token=None, context=None) == ("https://env", "e")
    assert contexts.resolve(server=None, token=None, context="test") == ("https://test", "t")
    assert contexts.resolve(server="https://flag", token=None, context="test") == ("https://flag", "t")
    with pytest.raises(contexts.ConfigError):
        contexts.resolve(server=None, token=None, context="nope")


def test_health_reports_a_stuck_reconciler_loop() -> None:
    from cli.health import health_status

    status, body = health_status(100.0, now=130.0, stale_after=120.0)
    assert status == 200 and body == {"status": "alive", "last_turn_age_seconds": 30.0}
    status, body = health_status(100.0, now=221.0, stale_after=120.0)
    assert status == 503 and body["reason"] == "ReconcilerStuck"
    assert "121.0 s ago" in str(body["detail"])
