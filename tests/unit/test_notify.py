"""The pure parts of notifications: which expiry warning is due at `now`, the webhook
signature, the back-off, the SMTP URL, the email's words, and the settings that refuse
mistakes."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from orchestrator.notify import (
    EVENTS,
    backoff,
    due_warning,
    email_text,
    next_warning_at,
    parse_offsets,
    parse_smtp_url,
    signature,
    verify,
    wants,
    warning_key,
)
from orchestrator.settings import Settings

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
END = T0 + timedelta(hours=2)


def at(seconds_before_end: float) -> datetime:
    return END - timedelta(seconds=seconds_before_end)


def test_no_warning_before_the_first_instant() -> None:
    assert due_warning(expires_at=END, offsets=(3600, 600), now=at(3601)) is None


def test_each_warning_at_its_instant() -> None:
    assert due_warning(expires_at=END, offsets=(3600, 600), now=at(3600)) == 3600
    assert due_warning(expires_at=END, offsets=(3600, 600), now=at(601)) == 3600
    assert due_warning(expires_at=END, offsets=(3600, 600), now=at(600)) == 600


def test_a_short_trial_gets_the_nearest_warning_only() -> None:
    """Created 5 minutes before its end: both instants have passed, one warning is due."""
    assert due_warning(expires_at=END, offsets=(3600, 600), now=at(300)) == 600


def test_no_warning_once_expired() -> None:
    assert due_warning(expires_at=END, offsets=(3600, 600), now=END) is None


def test_next_warning_instant() -> None:
    assert next_warning_at(expires_at=END, offsets=(3600, 600), now=at(4000)) == at(3600)
    assert next_warning_at(expires_at=END, offsets=(3600, 600), now=at(3600)) == at(600)
    assert next_warning_at(expires_at=END, offsets=(3600, 600), now=at(600)) is None


@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=5), st.floats(0, 20_000))
def test_a_due_warning_instant_has_passed(offsets: list[int], before: float) -> None:
    due = due_warning(expires_at=END, offsets=offsets, now=at(before))
    if due is not None:
        assert at(due) <= at(before) < END
        assert all(o >= due for o in offsets if at(o) <= at(before))


def test_an_extension_makes_new_warnings() -> None:
    assert warning_key(offset=600, expires_at=END) != warning_key(
        offset=600, expires_at=END + timedelta(minutes=10)
    )


def test_offsets_parsed_largest_first() -> None:
    assert parse_offsets("600, 3600,600") == (3600, 600)
    assert parse_offsets("") == ()
    with pytest.raises(ValueError, match="'ten'"):
        parse_offsets("600,ten")
    with pytest.raises(ValueError, match="'0'"):
        parse_offsets("0")


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"event":"trial.ready"}'
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert signature("s3cret", body) == f"sha256={expected}"
    assert verify("s3cret", body, f"sha256={expected}")
    assert not verify("other", body, f"sha256={expected}")
    assert not verify("s3cret", body + b" ", f"sha256={expected}")


def test_backoff_doubles_up_to_five_minutes() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff(30) == 300.0


def test_webhook_event_filter() -> None:
    assert wants((), "trial.ready")
    assert wants(("trial.ready",), "trial.ready")
    assert not wants(("trial.ready",), "trial.expired")


def test_smtp_urls() -> None:
    plain = parse_smtp_url("smtp://mailer%40den:p%3Ass@mail.example:2525")
    assert (plain.host, plain.port, plain.tls, plain.username, plain.password) == (
        "mail.example",
        2525,
        False,
        "mailer@den",
        "p:ss",
    )
    secure = parse_smtp_url("smtps://mail.example")
    assert (secure.port, secure.tls, secure.username) == (465, True, "")
    assert parse_smtp_url("smtp://mail.example").port == 587
    with pytest.raises(ValueError, match="smtp://"):
        parse_smtp_url("http://mail.example")
    with pytest.raises(ValueError, match="no host"):
        parse_smtp_url("smtp://")


def test_email_links_the_trial_page() -> None:
    payload = {
        "summary": "your trial “Forms” ends in 10 min",
        "message": "Your trial ends soon.",
        "trial": {"id": "t123", "title": "Forms", "expires_at": END.isoformat()},
    }
    subject, body = email_text(event="trial.expiring", payload=payload, public_url="https://den.example/")
    assert subject == "Innovation Den: your trial “Forms” ends in 10 min"
    assert "https://den.example/trials/t123" in body
    assert "https://den.example/account/notifications" in body
    assert END.isoformat() in body
    _, without_url = email_text(event="trial.expiring", payload=payload, public_url="")
    assert "http" not in without_url


def test_settings_refuse_a_webhook_that_is_not_http() -> None:
    with pytest.raises(ValidationError, match="DEN_WEBHOOKS: webhook 1's url must be an http"):
        Settings(webhooks=[{"url": "file:///etc/passwd", "secret": "x"}])


def test_settings_refuse_unknown_webhook_events() -> None:
    with pytest.raises(ValidationError, match=r"unknown events trial\.exploded"):
        Settings(webhooks=[{"url": "https://hooks.example/den", "secret": "x", "events": ["trial.exploded"]}])


def test_settings_refuse_bad_warnings_and_mail_servers() -> None:
    with pytest.raises(ValidationError, match="DEN_EXPIRY_WARNINGS"):
        Settings(expiry_warnings="soon")
    with pytest.raises(ValidationError, match="DEN_SMTP_URL must start with smtp://"):
        Settings(smtp_url="mail.example:25")


def test_settings_read_webhooks_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEN_WEBHOOKS", '[{"url": "https://hooks.example/den", "secret": "x"}]')
    monkeypatch.setenv("DEN_EXPIRY_WARNINGS", "900,60")
    settings = Settings()
    assert settings.webhooks[0].url == "https://hooks.example/den"
    assert settings.webhooks[0].events == ()
    assert settings.warning_offsets == (900, 60)


def test_event_names_are_stable() -> None:
    assert EVENTS == (
        "trial.ready",
        "trial.failed",
        "trial.expiring",
        "trial.expired",
        "approval.waiting",
        "decision.made",
        "membership.changed",
        "challenge.published",
        "challenge.responded",
        "challenge.asked",
        "challenge.answered",
    )
