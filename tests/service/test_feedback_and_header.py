"""The feedback form behind "Tell us about any problem" (signed in or not, its errors in
GOV.UK wording, a few messages an hour per sender, read by platform engineers only), the
honest accessibility statement, and the header: GOV.UK's crown only for a service on GOV.UK.

People as in tests/service/conftest.py (alice a civil servant, pat a platform engineer).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from orchestrator.crud.feedback import FEEDBACK_PER_HOUR
from orchestrator.settings import Settings
from tests.fakes import FakeDriver
from tests.service.test_web_pages import HTTPS, browser, error_links, post_form

SENT = {"doing": "Starting a trial", "wrong": "The <b>Continue</b> button did nothing"}


def test_every_page_links_its_problems_to_the_feedback_form_with_the_page(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    del people
    page = browser(client, "anonymous").get("/cookies").text
    assert 'href="/feedback?page=/cookies">Tell us about any problem</a>' in page
    assert 'href="/accessibility">Tell us about any problem' not in page


def test_feedback_is_sent_signed_out_and_read_by_platform_engineers(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    del people
    visitor = browser(client, "anonymous")
    form = visitor.get("/feedback?page=/templates/demo").text
    assert 'name="page" value="/templates/demo"' in form
    sent = post_form(
        visitor,
        "/feedback?page=/templates/demo",
        {**SENT, "page": "/templates/demo", "satisfaction": "dissatisfied", "reply-to": "r@example.com"},
        action="/feedback",
    )
    assert (sent.status_code, sent.headers["location"]) == (303, "/feedback?sent=yes")
    assert "Thank you for your feedback" in visitor.get("/feedback?sent=yes").text

    read = browser(client, "pat").get("/platform/feedback").text
    assert "The &lt;b&gt;Continue&lt;/b&gt; button did nothing" in read  # escaped
    assert "What I was doing:<br>Starting a trial" in read
    assert "not signed in" in read and "Dissatisfied" in read and "mailto:r@example.com" in read
    assert 'href="/platform/feedback"' in browser(client, "pat").get("/platform").text
    twin = browser(client, "pat").get("/platform/feedback.json").json()["feedback"]
    assert [(f["page"], f["sender"], f["reply_to"]) for f in twin] == [
        ("/templates/demo", "", "r@example.com")
    ]
    assert browser(client, "alice").get("/platform/feedback").status_code == 403


def test_feedback_from_a_signed_in_person_names_them_and_keeps_only_local_pages(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    del people
    alice = browser(client, "alice")
    sent = post_form(alice, "/feedback", {**SENT, "page": "https://elsewhere.example/x"})
    assert sent.status_code == 303
    (row,) = browser(client, "pat").get("/platform/feedback.json").json()["feedback"]
    assert (row["sender"], row["page"], row["satisfaction"]) == ("alice", "", "")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"wrong": ""}, "wrong", "Enter what went wrong, or what you want to tell us"),
        ({"wrong": "x" * 3001}, "wrong", "What went wrong must be 3000 characters or fewer"),
        ({"doing": "x" * 1201}, "doing", "What you were doing must be 1200 characters or fewer"),
        ({"reply-to": "alice at home"}, "reply-to", "Enter an email address in the correct format"),
        ({"satisfaction": "ecstatic"}, "satisfaction", "Select how satisfied you are with this service"),
    ],
)
def test_each_mistake_is_shown_on_the_form_in_govuk_words(
    client: TestClient, people: dict[str, dict[str, str]], fields: dict[str, str], field: str, message: str
) -> None:
    del people
    visitor = browser(client, "anonymous")
    shown = post_form(visitor, "/feedback", {**SENT, "page": "/trials", **fields})
    assert shown.status_code == 422
    assert error_links(shown.text) == [f"#{field}"] and message in shown.text
    assert 'name="page" value="/trials"' in shown.text  # the page it came from, kept
    if field != "wrong":
        assert "The &lt;b&gt;Continue&lt;/b&gt; button did nothing</textarea>" in shown.text


def test_a_sender_may_send_a_few_messages_an_hour(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    del people
    visitor = browser(client, "anonymous")
    for _ in range(FEEDBACK_PER_HOUR):
        assert post_form(visitor, "/feedback", SENT).status_code == 303
    refused = post_form(visitor, "/feedback", SENT)
    assert refused.status_code == 422 and "Try again in an hour" in refused.text
    assert post_form(browser(client, "alice"), "/feedback", SENT).status_code == 303  # someone else


def test_without_csrf_no_feedback_is_stored(client: TestClient, people: dict[str, dict[str, str]]) -> None:
    del people
    visitor = browser(client, "anonymous")
    visitor.get("/feedback")
    assert visitor.post("/feedback", data=SENT).status_code == 403
    assert browser(client, "pat").get("/platform/feedback.json").json()["feedback"] == []


def test_the_accessibility_statement_is_honest_and_dated(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    del people
    page = browser(client, "anonymous").get("/accessibility").text
    assert "partially compliant" in page and "fully compliant with" not in page
    assert "automated checks only" in page and "has not yet been tested by hand" in page
    assert re.search(r"prepared on \d{1,2} \w+ 20\d\d\. It was last reviewed on \d{1,2} \w+ 20\d\d", page)
    assert 'href="/feedback?page=/accessibility"' in page and "Equality Advisory" in page
    assert "mailto:" not in page  # no contact address set


@pytest.fixture
def branded(settings: Settings, fake_driver: FakeDriver) -> Iterator[TestClient]:
    app = create_app(
        settings.model_copy(update={"govuk_brand": True, "contact_email": "den-team@example.gov.uk"}),
        with_reconciler=False,
        driver=fake_driver,
    )
    with TestClient(app, base_url=HTTPS, follow_redirects=False) as test_client:
        yield test_client


def test_the_header_is_generic_unless_the_service_is_on_govuk(
    client: TestClient, branded: TestClient, people: dict[str, dict[str, str]]
) -> None:
    del people
    generic = browser(client, "anonymous").get("/").text
    assert "govuk-generic-header" in generic and 'aria-label="GOV.UK"' not in generic
    assert "govuk-header__logotype" not in generic
    assert generic.count(">Innovation Den<") + generic.count("Innovation Den\n") >= 1
    assert "govuk-service-navigation__service-name" not in generic  # the name is said once

    on_govuk = TestClient(branded.app, base_url=HTTPS).get("/").text
    assert "govuk-header__logotype" in on_govuk and 'aria-label="GOV.UK"' in on_govuk
    assert "govuk-generic-header" not in on_govuk
    assert "govuk-service-navigation__service-name" in on_govuk
    statement = TestClient(branded.app, base_url=HTTPS).get("/accessibility").text
    assert 'href="mailto:den-team@example.gov.uk"' in statement
