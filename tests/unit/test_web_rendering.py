"""Pure parts behind the web pages: the comparison's summaries, and how pages write times,
durations and error summaries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.errors import Problem
from orchestrator.evaluation import COLUMNS, DIMENSIONS, summarise
from web.pages import local_path
from web.rendering import duration, error_list, lines, when


def row(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict.fromkeys(COLUMNS)
    base |= {f"{d}_score": 3 for d in DIMENSIONS}
    return (
        base
        | {"problem_areas": ["housing"], "supplier": "acme", "template": "demo", "decision": "adopt"}
        | values
    )


def test_summaries_group_by_area_supplier_or_template_and_average_what_is_known() -> None:
    rows = [
        row(problem_areas=["housing", "casework"], user_need_score=5, availability=1.0),
        row(
            supplier="globex", decision="stop", user_need_score=2, availability=0.5, time_to_ready_seconds=4.0
        ),
    ]
    by_area = {s.key: s for s in summarise(rows, by="problem_area")}
    assert set(by_area) == {"casework", "housing"}  # a trial counts in each of its areas
    housing = by_area["housing"]
    assert housing.trials == 2 and housing.decisions == {"adopt": 1, "iterate": 0, "stop": 1}
    assert housing.mean_scores["user_need"] == 3.5 and housing.mean_availability == 0.75
    assert housing.mean_time_to_ready_seconds == 4.0  # the unknown one is left out
    assert [s.key for s in summarise(rows, by="supplier")] == ["acme", "globex"]
    assert summarise([], by="template") == []
    with pytest.raises(ValueError, match="cannot group"):
        summarise(rows, by="owner")


def test_times_and_durations_read_as_gov_uk_writes_them() -> None:
    assert when(datetime(2026, 7, 1, 12, 5, tzinfo=UTC)) == "1 July 2026 at 1:05pm"  # BST
    assert when(datetime(2026, 12, 1, 0, 30, tzinfo=UTC)) == "1 December 2026 at 12:30am"
    assert when(None) == ""
    assert duration(90061) == "1 day 1 hour" and duration(900) == "15 minutes"
    assert duration(61) == "1 minute" and duration(0) == "0 seconds"  # no seconds beside minutes


def test_error_summary_links_point_at_the_inputs_to_fix() -> None:
    problems = [
        Problem("duration_seconds", "too long"),
        Problem("title", "missing"),
        Problem("metadata.name", "bad"),
    ]
    fields = {"duration_seconds": "/templates/demo/start/duration?change=1", "*": "manifest"}
    assert [item["href"] for item in error_list(problems, fields)] == [
        "/templates/demo/start/duration?change=1",
        "#manifest",
        "#manifest",
    ]
    assert [item["href"] for item in error_list(problems[1:], {})] == ["#title", "#metadata.name"]


def test_typed_line_breaks_survive_and_stay_escaped() -> None:
    assert str(lines("<b>one</b>\ntwo")) == "&lt;b&gt;one&lt;/b&gt;<br>two"


@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        ("/trials/t1", "/trials/t1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/a\r\nSet-Cookie: x", "/"),
        ("", "/"),
    ],
)
def test_a_next_page_is_always_on_this_service(asked: str, kept: str) -> None:
    assert local_path(asked) == kept
