"""Plain words for the pages (orchestrator.presenting): the runtime's messages said about the
sandbox, durations and times as people say them, departments by name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.presenting import (
    RUNTIME_WORDS,
    clock_words,
    department_name,
    duration_words,
    plain_message,
    plain_timeline,
    without_runtime_notes,
)


@pytest.mark.parametrize(
    ("message", "phase", "said"),
    [
        ("Network den-t1d357b8f43aa created", "Provisioning", "Setting up your sandbox's private space"),
        ("Namespace den-t1 created", "Provisioning", "Setting up your sandbox's private space"),
        ("Container web created", "Provisioning", "Starting the web part of your sandbox"),
        ("Container web running", "Provisioning", "The web part of your sandbox is running"),
        ("web is ready", "Provisioning", "The web part of your sandbox is ready"),
        ("The sandbox is ready", "Ready", "Your sandbox is ready"),
        (
            "Waiting for web to answer its readiness probe",
            "Provisioning",
            "Waiting for your sandbox to answer",
        ),
        ("Not ready after 300 s: waiting for web", "Failed", "Your sandbox was not ready after 5 minutes"),
        (
            "Extended by 1800 s by alice; now expires at 2026-12-01T08:57:31.995536+00:00",
            "Ready",
            "Extended by 30 minutes by alice; it now ends at 8:57am on 1 December 2026",
        ),
        (
            "Waiting for an approver: 172800 s is over the self-service limit of 86400 s",
            "PendingApproval",
            "Waiting for an approver: 2 days is over the self-service limit of 1 day",
        ),
        (
            "Component web exited with code 1 (out of memory)\nKilled",
            "Failed",
            "The web part of your sandbox stopped working",
        ),
        (
            "web: ImagePullBackOff",
            "Failed",
            "Your sandbox stopped working. A platform engineer can see what went wrong",
        ),
        ("Rejected by ann: the network team said no", "Failed", "Rejected by ann: the network team said no"),
        ("Requested by alice", "Requested", "Requested by alice"),
    ],
)
def test_runtime_messages_are_said_about_the_sandbox(message: str, phase: str, said: str) -> None:
    assert plain_message(message, phase=phase) == said


@given(
    st.text(max_size=200),
    st.sampled_from(["Requested", "Provisioning", "Ready", "Stopping", "Stopped", "Failed"]),
)
def test_no_runtime_word_survives_in_a_message_nobody_wrote(message: str, phase: str) -> None:
    said = plain_message("Container " + message, phase=phase)
    assert not RUNTIME_WORDS.search(said) or said.startswith("Starting the")


def test_durations_are_whole_units_never_seconds_beside_longer_ones() -> None:
    assert duration_words(172800) == "2 days"
    assert duration_words(5400) == "1 hour 30 minutes"
    assert duration_words(3601) == "1 hour"
    assert duration_words(40) == "40 seconds"
    assert duration_words(0) == "0 seconds"
    assert duration_words(None) == ""


def test_times_are_uk_time_in_govuk_style() -> None:
    assert clock_words(datetime(2026, 12, 1, 8, 57, tzinfo=UTC)) == "8:57am on 1 December 2026"
    assert clock_words(datetime(2026, 7, 1, 11, 0, tzinfo=UTC)) == "12pm on 1 July 2026"  # BST
    assert clock_words(datetime(2026, 1, 2, 0, 5, tzinfo=UTC)) == "12:05am on 2 January 2026"


def test_a_step_said_twice_in_a_row_is_told_once() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    events = [
        {"at": at, "phase": "Provisioning", "message": "Ready"},
        {"at": at, "phase": "Ready", "message": "The sandbox is ready"},
    ]
    assert [e["text"] for e in plain_timeline(events)] == ["Your sandbox is ready"]


def test_departments_by_name_configured_names_first() -> None:
    assert department_name("dwp") == "Department for Work and Pensions"
    assert department_name("HMRC") == "HM Revenue and Customs"
    assert department_name("dwp", {"DWP": "DWP Digital"}) == "DWP Digital"
    assert department_name("acme-council") == "acme-council"
    assert department_name("") == ""


def test_runtime_notes_leave_a_parameters_description() -> None:
    assert (
        without_runtime_notes("The first line residents see (env GREETING).")
        == "The first line residents see."
    )
