"""denctl's pure parts: kubectl's human durations, tables, duration and selector parsing,
TYPE/NAME references, field selectors, JSONPath outputs, trial documents, and where a
command's server and token come from."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer

from cli import contexts, documents, explaining, parsing, render
from cli.denctl import selectors
from cli.parsing import UsageError, parse_duration

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
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("1h30m", 5400), ("2d", 172800), ("1d2h3m4s", 93784), ("2H", 7200)],
)
def test_durations_parse(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(parsing.format_duration(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1x", "m30", "0s", "30m1h", "1.5h"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


def test_a_duration_without_a_unit_is_refused_with_the_fix() -> None:
    with pytest.raises(UsageError) as refused:
        parse_duration("90")
    assert "add a unit: 90s, 90m, 1h30m" in str(refused.value)


def test_durations_print_exactly() -> None:
    assert [parsing.format_duration(s) for s in (90, 900, 5400, 86400 + 1)] == [
        "1m30s",
        "15m",
        "1h30m",
        "1d1s",
    ]


ALIASES = explaining.alias_map()


@pytest.mark.parametrize(
    ("first", "rest", "expected"),
    [
        ("tr", ["t1", "t2"], ("trials", ["t1", "t2"])),
        ("trials/t1", ["tr/t2"], ("trials", ["t1", "t2"])),
        ("tmpl/open-data", [], ("templates", ["open-data"])),
        ("trial", [], ("trials", [])),
    ],
)
def test_type_name_references(first: str, rest: list[str], expected: tuple[str, list[str]]) -> None:
    assert parsing.parse_refs(first, rest, aliases=ALIASES, allowed=("trials", "templates")) == expected


@pytest.mark.parametrize(
    ("first", "rest"),
    [("widgets/x", []), ("trials/", []), ("trials/a", ["tmpl/b"]), ("tr", ["trials/x"]), ("suppliers/x", [])],
)
def test_bad_references_are_usage_errors(first: str, rest: list[str]) -> None:
    with pytest.raises(UsageError):
        parsing.parse_refs(first, rest, aliases=ALIASES, allowed=("trials", "templates"))


TRIALS = [
    {"id": "t1", "phase": "Ready", "template": "a@1.0.0", "expires_at": "2026-03-01T10:00:00+00:00"},
    {"id": "t2", "phase": "Stopped", "template": "b@1.0.0", "expires_at": None},
    {"id": "t3", "phase": "Ready", "template": "b@2.0.0", "expires_at": "2026-03-01T09:30:00+00:00"},
]


def test_field_selectors_match_equal_and_not_equal() -> None:
    keys = ("phase", "template")
    ready_b = parsing.parse_field_selector("phase=Ready,template==b", keys=keys)
    assert [t["id"] for t in parsing.select_fields(TRIALS, ready_b)] == ["t3"]
    running = parsing.parse_field_selector("phase!=Stopped", keys=keys)
    assert [t["id"] for t in parsing.select_fields(TRIALS, running)] == ["t1", "t3"]
    exact = parsing.parse_field_selector("template=b@1.0.0", keys=keys)
    assert [t["id"] for t in parsing.select_fields(TRIALS, exact)] == ["t2"]
    for bad in ("colour=red", "phase", "=Ready"):
        with pytest.raises(UsageError):
            parsing.parse_field_selector(bad, keys=keys)


def test_jsonpath_custom_columns_and_sort_by() -> None:
    document = {"items": TRIALS}
    assert parsing.jsonpath_text(document, "{.items[*].id}") == "t1 t2 t3"
    assert parsing.jsonpath_text(document, "{.items[0].phase}{'\\n'}") == "Ready\n"
    assert parsing.jsonpath_text(TRIALS[0], "id={.id}") == "id=t1"
    columns = parsing.custom_columns("ID:.id,PHASE:.phase,MISSING:.nope")
    assert [parsing.column_cells(t, columns) for t in TRIALS[:1]] == [["t1", "Ready", "<none>"]]
    assert [t["id"] for t in parsing.sort_by(TRIALS, ".expires_at")] == ["t2", "t3", "t1"]
    for bad in ("ID", "ID:", ":.id"):
        with pytest.raises(UsageError):
            parsing.custom_columns(bad)
    with pytest.raises(UsageError):
        parsing.jsonpath_text(document, "{.items[}")


def test_output_formats_parse() -> None:
    formats = render.OUTPUTS
    assert parsing.parse_output("yaml", formats=formats) == ("yaml", "")
    assert parsing.parse_output("jsonpath={.id}", formats=formats) == ("jsonpath", "{.id}")
    assert parsing.parse_output("custom-columns=ID:.id", formats=formats) == ("custom-columns", "ID:.id")
    for bad in ("xml", "jsonpath", "custom-columns=", "yaml=x"):
        with pytest.raises(UsageError):
            parsing.parse_output(bad, formats=formats)


API_TRIAL = {
    "id": "t0123456789ab",
    "name": "air-quality",
    "owner": "alice",
    "created_at": "2026-03-01T09:00:00+00:00",
    "template": "open-data-dashboard@1.0.0",
    "title": "Air",
    "hypothesis": "It helps",
    "problem_statement": "",
    "success_criteria": ["Fast"],
    "parameters": {},
    "shared_with_department": False,
    "duration_seconds": 5400,
    "phase": "Ready",
}


def test_a_trial_document_applies_back_unchanged() -> None:
    document = documents.trial_document(API_TRIAL)
    assert document["metadata"]["name"] == "air-quality" and document["spec"]["duration"] == "1h30m"
    name, body = documents.trial_request(document)
    assert name == "air-quality" and body["duration_seconds"] == 5400 and "phase" not in body
    assert documents.differences(body, API_TRIAL) == []
    changed = {**document, "spec": {**document["spec"], "title": "Other", "duration": "2h"}}
    assert documents.differences(documents.trial_request(changed)[1], API_TRIAL) == [
        "spec.title",
        "spec.duration",
    ]
    flat = {"kind": "Trial", "template": "open-data-dashboard", "title": "Air", "duration_seconds": 5400}
    assert documents.trial_request(flat) == (None, {k: v for k, v in flat.items() if k != "kind"})
    assert documents.differences(documents.trial_request(flat)[1], API_TRIAL) == []
    with pytest.raises(UsageError):
        documents.trial_request(
            {"kind": "Trial", "spec": {"duration": 90}, "metadata": {}} | {"spec": {"duration": "90"}}
        )


def test_explain_describes_fields() -> None:
    text = explaining.explain("trials.spec.duration")
    assert "FIELD:    duration <duration>" in text and "1h30m" in text
    assert "metadata" in explaining.explain("tr") and "FIELDS:" in explaining.explain("trials")
    for bad in ("widgets", "trials.spec.colour"):
        with pytest.raises(UsageError):
            explaining.explain(bad)


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
