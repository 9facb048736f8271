"""The one rendering of a trial (the REST API's body and the trial in the pages' JSON twins),
and the start journey's table of questions."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestrator import crud, presenting, sandbox_hosts
from orchestrator.models import TrialPublic
from tests.unit.test_rules_and_evaluation import T0, trial
from web import views
from web.routes import start

SANDBOXES = sandbox_hosts.address("https://den.example", "sandbox.example")


def test_a_trial_renders_with_the_apis_fields_and_each_component_on_its_own_origin() -> None:
    row = trial(endpoints={"web": "http://10.0.0.5:8080", "api": "http://10.0.0.6:80"})
    shown = presenting.trial(row, owner="alice", now=T0 + timedelta(seconds=100), sandboxes=SANDBOXES)
    assert set(shown.model_dump()) == set(TrialPublic.model_fields)
    assert (shown.template, shown.owner, shown.time_left_seconds) == ("demo@1.0.0", "alice", 500)
    assert shown.endpoints == {"api": SANDBOXES.url("t1", "api"), "web": SANDBOXES.url("t1", "web")}
    assert "10.0.0" not in str(shown.model_dump())  # the runtime's addresses stay inside
    ended = presenting.trial(trial(ended_at=T0), owner="", now=T0, sandboxes=SANDBOXES)
    assert ended.time_left_seconds is None


def test_a_page_adds_fields_of_its_own_and_changes_none_of_the_apis() -> None:
    row = trial()
    api = presenting.trial(row, owner="alice", now=T0, sandboxes=SANDBOXES).model_dump()
    page = views.trial(row, owner="alice", now=T0, sandboxes=SANDBOXES)
    assert {k: page[k] for k in api} == api
    assert set(page) - set(api) == {
        "template_name",
        "template_version",
        "warn_before_seconds",
        "usage_words",
        "cost_words",
    }


def test_the_start_questions_answer_every_field_a_trial_request_needs() -> None:
    answered = {q.field for q in start.QUESTIONS}
    needed = {f.name for f in dataclasses.fields(crud.TrialRequest)} - {"template"}
    assert answered == needed
    steps = [q.step for q in start.QUESTIONS]
    assert len(set(steps)) == len(steps) and "check" not in steps
    templates = Path(start.__file__).resolve().parents[1] / "templates"
    for question in start.QUESTIONS:
        assert (templates / question.template).is_file(), question.template


def test_times_are_written_in_uk_time_as_gov_uk_writes_them() -> None:
    assert presenting.date_time_words(datetime(2026, 1, 8, 13, 5, tzinfo=UTC)) == "8 January 2026 at 1:05pm"
    assert (
        presenting.date_time_words(datetime(2026, 7, 8, 9, 0, tzinfo=UTC)) == "8 July 2026 at 10:00am"
    )  # summer time
    assert presenting.time_words(datetime(2026, 7, 8, 23, 30, tzinfo=UTC)) == "12:30am"
