"""`denctl`'s challenges, without a server: a Challenge document -> the API's body and back,
what a re-applied file changes, the table rows and what `explain` says."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import typer
import yaml

from cli import challenge_documents, describing_challenges, explaining, render
from cli.challenge_documents import challenge_request, differences
from cli.denctl import selectors
from cli.parsing import UsageError
from orchestrator.catalogue import StrictSafeLoader

MANIFEST = """
apiVersion: innovation-den.io/v1
kind: Challenge
metadata:
  name: missed-appointments
spec:
  title: Fewer missed benefit appointments
  problem: People miss appointments and their claims stall.
  usersAndNeed: Claimants need reminders they can act on.
  tried: Letters.
  constraints: No new personal data.
  budget: {min: 20000, max: 80000}
  timeline: A pilot by spring.
  problemAreas: [appointments]
  closesAt: 2027-01-15T17:00:00Z
  questionsCloseAt: 2027-01-08T17:00:00Z
  publish: true
"""

#: What the API answers for the challenge MANIFEST wrote.
API_CHALLENGE: dict[str, Any] = {
    "id": "c0123456789ab",
    "name": "missed-appointments",
    "stage": "Draft",
    "title": "Fewer missed benefit appointments",
    "problem": "People miss appointments and their claims stall.",
    "users_and_need": "Claimants need reminders they can act on.",
    "tried": "Letters.",
    "constraints": "No new personal data.",
    "budget_min": 20000,
    "budget_max": 80000,
    "timeline": "A pilot by spring.",
    "problem_areas": ["appointments"],
    "closes_at": "2027-01-15T17:00:00Z",
    "questions_close_at": "2027-01-08T17:00:00+00:00",
    "questions_open": True,
    "owner": "alice",
    "department": "dwp",
    "created_at": "2026-12-01T09:00:00+00:00",
    "published_at": None,
    "closed_at": None,
    "decided_at": None,
    "decision": "",
    "offer": None,
}


def _document(text: str = MANIFEST) -> Any:
    return yaml.load(text, Loader=StrictSafeLoader)


def test_camel_case_spec_keys_become_the_api_s_fields() -> None:
    asked = challenge_request(_document())
    assert asked.name == "missed-appointments" and asked.publish is True and asked.known_id is None
    assert asked.body == {
        "name": "missed-appointments",
        "title": "Fewer missed benefit appointments",
        "problem": "People miss appointments and their claims stall.",
        "users_and_need": "Claimants need reminders they can act on.",
        "tried": "Letters.",
        "constraints": "No new personal data.",
        "budget_min": 20000,
        "budget_max": 80000,
        "timeline": "A pilot by spring.",
        "problem_areas": ["appointments"],
        "closes_at": "2027-01-15T17:00:00+00:00",  # YAML read a datetime: sent as text
        "questions_close_at": "2027-01-08T17:00:00+00:00",
    }
    assert "publish" not in asked.body  # an action, sent by apply beside the fields


def test_a_quoted_time_is_sent_as_written_and_a_time_without_its_zone_is_refused() -> None:
    quoted = challenge_request({"spec": {"title": "T", "problem": "P", "closesAt": "2027-01-15T17:00:00Z"}})
    assert quoted.body["closes_at"] == "2027-01-15T17:00:00Z" and quoted.publish is False
    with pytest.raises(UsageError, match=r"spec\.closesAt: give the time zone"):
        challenge_request({"spec": {"closesAt": datetime(2027, 1, 15, 17)}})  # noqa: DTZ001
    with pytest.raises(UsageError, match=r"spec\.questionsCloseAt: give a date and time"):
        challenge_request({"spec": {"questionsCloseAt": 20270115}})


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"colour": "blue"}, r"spec\.colour is not a Challenge field: use title, problem"),
        ({"closes_at": "2027-01-15T17:00:00Z"}, r"spec\.closes_at is not a Challenge field"),
        ({"budget": {"min": 1, "most": 2}}, r"spec\.budget\.most is not a budget field: use min and max"),
        ({"budget": 50000}, r"spec\.budget: give whole pounds as a mapping"),
        ({"publish": "yes"}, r"spec\.publish: give true"),
    ],
)
def test_unknown_keys_and_wrong_shapes_are_named_with_the_fix(spec: dict[str, Any], named: str) -> None:
    with pytest.raises(UsageError, match=named):
        challenge_request({"kind": "Challenge", "metadata": {"name": "x"}, "spec": spec})


def test_a_re_applied_file_differs_only_where_it_was_changed() -> None:
    asked = challenge_request(_document())
    assert differences(asked.body, API_CHALLENGE) == []
    changed = _document(MANIFEST.replace("max: 80000", "max: 90000").replace("Letters.", "Texts."))
    assert differences(challenge_request(changed).body, API_CHALLENGE) == ["spec.tried", "spec.budget.max"]


def test_a_field_left_out_is_compared_with_what_the_api_would_store() -> None:
    stored = {**API_CHALLENGE, "questions_close_at": API_CHALLENGE["closes_at"]}
    short = {
        "title": "Fewer missed benefit appointments",
        "problem": stored["problem"],
        "closes_at": "2027-01-15T17:00:00Z",
    }
    assert set(differences(short, stored)) == {
        "spec.usersAndNeed",
        "spec.tried",
        "spec.constraints",
        "spec.timeline",
        "spec.problemAreas",
        "spec.budget.min",
        "spec.budget.max",
    }  # and questionsCloseAt left out means the closing time: the same
    bare = {**stored, "users_and_need": "", "tried": "", "constraints": "", "timeline": ""}
    bare |= {"problem_areas": [], "budget_min": None, "budget_max": None}
    assert differences(short, bare) == []


def test_a_challenge_s_yaml_applies_back_unchanged() -> None:
    document = challenge_documents.challenge_document(API_CHALLENGE)
    assert document["kind"] == "Challenge" and document["metadata"]["id"] == "c0123456789ab"
    assert document["spec"]["budget"] == {"min": 20000, "max": 80000} and document["spec"]["publish"] is False
    assert document["status"]["stage"] == "Draft"
    again = challenge_request(yaml.load(yaml.safe_dump(document), Loader=StrictSafeLoader))
    assert again.known_id == "c0123456789ab" and differences(again.body, API_CHALLENGE) == []


def test_challenge_rows_show_time_left_and_wide_adds_the_offer() -> None:
    now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    row = render.rows("challenges", [API_CHALLENGE], wide=False, now=now)[0]
    assert row == [
        "c0123456789ab",
        "missed-appointments",
        "Draft",
        API_CHALLENGE["title"],
        "43d",
        "alice",
        "2d",
    ]
    closed = {**API_CHALLENGE, "closes_at": "2026-11-01T00:00:00+00:00", "name": None}
    offered = closed | {"offer": {"offered_at": "2026-12-03T08:00:00+00:00"}}
    wide = render.rows("challenges", [offered], wide=True, now=now)[0]
    assert wide[1] == "<none>" and wide[4] == "<none>" and wide[-3:] == ["dwp", "36d", "60m ago"]
    assert render.headers("challenges", wide=True)[-3:] == ["DEPARTMENT", "QUESTIONS CLOSE IN", "OFFERED"]
    assert render.render("challenges", [API_CHALLENGE], "name", now=now) == "challenges/c0123456789ab\n"


def test_challenges_are_a_resource_with_a_short_name_and_explained_fields() -> None:
    assert explaining.alias_map()["ch"] == "challenges"
    assert explaining.rows()[0][:3] == ["challenges", "ch,challenge", "Challenge"]
    text = explaining.explain("ch.spec")
    assert "closesAt\t<time>" in text and "budget\t<object>" in text and "publish\t<boolean>" in text
    assert "whole pounds" in explaining.explain("challenges.spec.budget.min")
    with pytest.raises(UsageError):
        explaining.explain("challenges.spec.colour")


def test_selectors_of_challenges_are_the_api_s_filters() -> None:
    assert selectors("stage=Published,owner=alice", kind="challenges") == {
        "stage": "Published",
        "owner": "alice",
    }
    assert selectors(None, kind="templates") == {}
    with pytest.raises(typer.Exit):
        selectors("phase=Ready", kind="challenges")


def test_describe_shows_each_section_or_says_it_is_not_visible(capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    found = {**API_CHALLENGE, "problem": "Claims stall.\nAppointments are missed.", "budget_min": None}
    question = {"id": 1, "question": "An API?", "answer": "", "answered_at": None, "yours": False}
    below = describing_challenges.Below(questions=[question], sessions=[], responses=None, trials=None)
    describing_challenges.challenge(found, below, now=now)
    text = capsys.readouterr().out
    assert "Budget:             up to £80,000\n" in text
    assert "Problem:            Claims stall.\n                    Appointments are missed.\n" in text
    assert "  1. Q: An API?\n     A: (not answered yet)\n" in text and "Sessions:\n  <none>\n" in text
    assert "Responses:\n  <not visible to you>\n" in text and "Trials:\n  <not visible to you>\n" in text
    for python in ("None", "False", "True"):
        assert python not in text
