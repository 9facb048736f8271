"""How the engagement forms read what people type, and how the core's problems read on a page
(web/engagement_forms.py): pure, no database."""

from __future__ import annotations

from datetime import date, time

from orchestrator.errors import Problem
from web import engagement_forms as reading


def test_a_date_input_reads_a_real_date_or_names_the_part_to_fix() -> None:
    typed = {"closes-day": "27", "closes-month": "3", "closes-year": "2027"}
    assert reading.read_date(typed, prefix="closes", what="the closing date", required=True) == (
        date(2027, 3, 27),
        None,
    )
    _, missing = reading.read_date({}, prefix="closes", what="the closing date", required=True)
    assert missing == Problem("closes-day", "Enter the closing date")
    assert reading.read_date({}, prefix="questions", what="the last date", required=False) == (None, None)
    _, no_month = reading.read_date(
        {"closes-day": "1", "closes-year": "2027"}, prefix="closes", what="the closing date", required=True
    )
    assert no_month == Problem("closes-month", "The closing date must include a month")
    _, unreal = reading.read_date(
        {**typed, "closes-day": "31", "closes-month": "2"}, prefix="closes", what="the date", required=True
    )
    assert unreal is not None and unreal.message == "The date must be a real date"


def test_a_date_is_the_end_of_that_day_in_uk_time() -> None:
    assert reading.uk_time(date(2027, 1, 10)).isoformat() == "2027-01-10T23:59:00+00:00"
    assert reading.uk_time(date(2027, 7, 10)).isoformat() == "2027-07-10T23:59:00+01:00"  # BST


def test_times_are_read_as_people_type_them() -> None:
    for typed, expected in (
        ("2pm", time(14)),
        ("2:30pm", time(14, 30)),
        ("14:30", time(14, 30)),
        ("12am", time(0)),
    ):
        assert reading.read_clock(typed, field_id="starts", what="the start time") == (expected, None), typed
    for typed in ("25:00", "13pm", "noonish", ""):
        found, problem = reading.read_clock(typed, field_id="starts", what="the start time")
        assert found is None and problem is not None and problem.field == "starts", typed


def test_pounds_and_lengths() -> None:
    assert reading.read_pounds("£20,000", field_id="budget_min", what="The lowest") == (20000, None)
    assert reading.read_pounds("", field_id="budget_min", what="The lowest") == (None, None)
    assert reading.read_pounds("lots", field_id="budget_min", what="The lowest")[1] is not None
    assert reading.read_duration("15", "minutes") == (900, None)
    assert reading.read_duration("2", "days") == (172800, None)
    assert reading.read_duration("0", "hours")[1] == Problem(
        "duration", "Enter the length of each trial as a whole number, like 2"
    )


def test_the_core_s_problems_read_as_sentences_on_their_inputs() -> None:
    core = [
        Problem("closes_at", "is in the past", "give a closing date after today"),
        Problem("budget_max", "is below budget_min", "give the higher figure last"),
        Problem("problem_areas[2]", "is empty or longer than 60 characters", "name the area in a few words"),
        Problem(
            "duration_seconds", "3600 s is longer than this template allows: ask for at most 1200 seconds"
        ),
    ]
    shown = reading.page_problems(core, {**reading.CHALLENGE_FIELDS, **reading.OFFER_FIELDS})
    assert shown == [
        Problem("closes-day", "The closing date is in the past: give a closing date after today"),
        Problem("budget_max", "The highest budget is below the lowest budget: give the higher figure last"),
        Problem(
            "problem_areas",
            "A problem area is empty or longer than 60 characters: name the area in a few words",
        ),
        Problem(
            "duration",
            "The length of each trial: 1 hour is longer than this template allows: "
            "ask for at most 20 minutes",
        ),
    ]
    assert reading.page_problems(core[:1], reading.CHALLENGE_FIELDS, by_field=True)[0].field == "closes_at"


def test_a_refusal_names_the_challenge_not_its_id() -> None:
    assert (
        reading.plainly("challenge c1f2a3b4c5d6e closed on 3 December 2026: nobody can respond any more")
        == "The challenge closed on 3 December 2026: nobody can respond any more"
    )
    assert reading.plainly("session 12 is full (1 places)") == "The session is full (1 places)"
    assert reading.plainly("only the challenge's owner; a challenge is open") == (
        "Only the challenge's owner; a challenge is open"
    )
