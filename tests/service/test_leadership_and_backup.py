"""Leadership on a real database (the SQLite file lock; PostgreSQL's advisory lock, its holder's
connection killed by the server) and `den db backup` of the embedded database while it is
being written to."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from cli.den import app
from orchestrator import crud, db, leadership
from orchestrator.models import AuditEvent
from orchestrator.settings import Settings
from tests.conftest import _fresh_postgres, postgres_url, require

INTERVAL = 0.5


def _wait(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until `condition` held (fails after `timeout`)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "not in time"
        time.sleep(0.01)
    return time.monotonic() - started


Pair = tuple[leadership.Leadership, leadership.Leadership]


def _pair(settings: Settings) -> Iterator[Pair]:
    tuned = settings.model_copy(update={"leader_renew_interval": INTERVAL})
    first = leadership.build(tuned, in_cluster=False).start()
    _wait(first.is_leader, 5)
    second = leadership.build(tuned, in_cluster=False).start()
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture
def pair(settings: Settings) -> Iterator[Pair]:
    yield from _pair(settings)


@pytest.fixture
def postgres() -> str:
    require(bool(postgres_url()), "PostgreSQL (DEN_TEST_POSTGRES_URL)")
    return _fresh_postgres(postgres_url())


@pytest.fixture
def postgres_pair(postgres: str) -> Iterator[Pair]:
    yield from _pair(Settings(database_url=postgres))


def test_one_of_two_leads_and_hands_over_when_it_stops(pair: Pair) -> None:
    first, second = pair
    time.sleep(3 * INTERVAL)
    assert first.is_leader() and not second.is_leader()
    first.stop()
    assert not first.is_leader()
    took = _wait(second.is_leader, 5)
    assert took < 2 * INTERVAL + first.claim.grace + 0.5


@pytest.mark.postgres
def test_a_leader_whose_connection_the_server_kills_stops_at_once(postgres: str, postgres_pair: Pair) -> None:
    first, second = postgres_pair
    assert isinstance(first.claim, leadership.AdvisoryLock)
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        holder = connection.execute(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = :key AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"key": leadership.LEADER_LOCK},
        ).scalar_one()
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder})
    admin.dispose()
    stopped = _wait(lambda: not first.is_leader(), 5)
    assert stopped <= INTERVAL + first.claim.validity  # its next check, or its deadline
    took = _wait(second.is_leader, 10)
    assert not first.is_leader()
    assert took <= 2 * INTERVAL + second.claim.grace + 0.5


# --- den db backup -----------------------------------------------------------------------


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The embedded database of a service, migrated, as `den` finds it."""
    monkeypatch.setenv("DEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DEN_DATABASE_URL", raising=False)
    engine = db.make_engine(Settings().effective_database_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


def _audits(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(AuditEvent)).one())


def test_an_online_backup_is_a_whole_database_as_of_one_moment(embedded: Engine, tmp_path: Path) -> None:
    engine, den = embedded, CliRunner()
    writing, written = threading.Event(), [0]

    def write() -> None:  # the service at work meanwhile, one commit after another
        while not writing.is_set():
            with db.session_scope(engine) as session:
                crud.audit(session, actor=None, action="test.write", obj=("test", "x"), now=datetime.now(UTC))
            written[0] += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        _wait(lambda: written[0] > 20, 10)
        target = tmp_path / "backups" / "den-backup.db"
        target.parent.mkdir()
        target.write_text("an older backup")  # replaced whole
        done = den.invoke(app, ["db", "backup", str(target)])
        assert done.exit_code == 0, done.output
        assert f"backed up to {target}" in done.stdout and "schema revision" in done.stdout
        _wait(lambda: written[0] > 40, 10)  # the writer went on while and after copying
    finally:
        writing.set()
        writer.join()
    assert sorted(p.name for p in target.parent.iterdir()) == ["den-backup.db"]  # no WAL, no tmp
    with closing(sqlite3.connect(target)) as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    restored = db.make_engine(f"sqlite:///{target}")
    try:
        copied = _audits(restored)
    finally:
        restored.dispose()
    assert 0 < copied < _audits(engine)


def test_backup_refuses_postgresql_the_database_itself_and_a_missing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    den = CliRunner()
    monkeypatch.setenv("DEN_DATABASE_URL", "postgresql+psycopg://den@db.example/den")
    refused = den.invoke(app, ["db", "backup", str(tmp_path / "x.db")])
    assert refused.exit_code == 1 and "pg_dump" in refused.stderr
    database = tmp_path / "den.db"
    sqlite3.connect(database).close()
    monkeypatch.setenv("DEN_DATABASE_URL", f"sqlite:///{database}")
    itself = den.invoke(app, ["db", "backup", str(database)])
    assert itself.exit_code == 1 and "is the database itself" in itself.stderr
    monkeypatch.setenv("DEN_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    missing = den.invoke(app, ["db", "backup", str(tmp_path / "y.db")])
    assert missing.exit_code == 1 and "no database at" in missing.stderr
    assert not (tmp_path / "y.db").exists()
