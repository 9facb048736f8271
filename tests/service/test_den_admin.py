"""`den users create` and `den tokens create`: first set-up straight on the database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from cli.den import app
from orchestrator import crud
from orchestrator.models import AuditEvent
from orchestrator.settings import Settings


@pytest.fixture
def den(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DEN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DEN_DATA_DIR", str(settings.data_dir))
    return CliRunner()


def test_a_user_and_a_token_made_on_the_database_sign_in(den: CliRunner, engine: Engine) -> None:
    made = den.invoke(app, ["users", "create", "alice", "--role", "civil_servant", "--department", "dwp"])
    assert made.exit_code == 0, made.output
    token = den.invoke(app, ["tokens", "create", "alice", "--name", "laptop", "--expires-in", "3600"])
    assert token.exit_code == 0, token.output
    printed = token.stdout.strip()
    assert printed.startswith("den_") and "\n" not in printed  # the token alone, for $(...)
    with Session(engine) as session:
        user = crud.authenticate(session, token=printed, now=datetime.now(UTC))
        assert user is not None and (user.name, user.department) == ("alice", "dwp")
        audited = session.exec(select(AuditEvent.action, AuditEvent.source)).all()
    assert ("user.create", "den cli") in audited and ("token.create", "den cli") in audited


def test_mistakes_are_named_and_exit_1(den: CliRunner) -> None:
    wrong_role = den.invoke(app, ["users", "create", "bob", "--role", "wizard"])
    assert wrong_role.exit_code == 1 and "unknown role 'wizard'" in wrong_role.stderr
    no_user = den.invoke(app, ["tokens", "create", "nobody"])
    assert no_user.exit_code == 1 and "no user 'nobody'" in no_user.stderr
    supplier = den.invoke(
        app, ["users", "create", "sam", "--role", "supplier", "--supplier", "acme"]
    )  # nothing registered acme yet
    assert supplier.exit_code == 1 and "no supplier 'acme'" in supplier.stderr
