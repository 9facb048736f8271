"""Engine, sessions and migrations.

SQLite (a file in the data directory, WAL mode, foreign keys on) is the embedded default;
PostgreSQL is used through `DEN_DATABASE_URL`. The schema is owned by Alembic
(`orchestrator/migrations`): `upgrade()` brings any database to the newest revision.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, text
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

from orchestrator.errors import PermanentError

MIGRATIONS = Path(__file__).parent / "migrations"
# PostgreSQL advisory lock key held while one process migrates or loads the catalogue, so that
# the replicas and the reconciler a Helm release starts together never race ("den!" in ASCII).
STARTUP_LOCK = 0x64656E21
_MEMORY_LOCK = threading.RLock()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    # As many connections as the API's worker threads (40) and the reconciler's: a burst of
    # writes queued at the cap lock holds one connection each, and with fewer the requests
    # behind them waited for a connection rather than for the database. Ten stay open; the
    # rest are opened for a burst and closed after it.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40)


def _sqlite_engine(url: str) -> Engine:
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if url in ("sqlite://", "sqlite:///:memory:"):
        kwargs["poolclass"] = StaticPool
    else:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # A file connection costs a file handle, so the pool never makes a request wait: with a
        # bounded pool, a burst of API requests (each holding its connection between worker
        # threads) left every thread waiting for a connection until the pool timed out.
        kwargs["pool_size"], kwargs["max_overflow"] = 40, -1  # 40: the API's worker threads
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    with exclusive(engine):
        command.upgrade(alembic_config(engine), revision)


def problem(engine: Engine) -> str | None:
    """None when the database answers a trivial query, else what went wrong (readiness)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means not ready
        return str(exc)
    return None


@contextmanager
def exclusive(engine: Engine) -> Iterator[None]:
    """Run the body in one process (and thread) at a time across all that share the database:
    migrations and the start-up catalogue load, when API replicas and a reconciler start together.

    PostgreSQL: a session advisory lock held on a connection of its own (released when the body
    ends, or by the server if the process dies). SQLite: an exclusive `flock` on a file beside
    the database (released by the kernel if the process dies); in memory, a lock in-process."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_LOCK})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": STARTUP_LOCK})
                connection.commit()
        return
    path = engine.url.database
    if not path or path == ":memory:":
        with _MEMORY_LOCK:
            yield
        return
    with open(f"{path}.lock", "a") as handle:  # a separate open file: threads exclude each other
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: committed on success, rolled back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int
    revision: str


def backup_sqlite(url: str, target: Path) -> Backup:
    """An online copy of the embedded database into `target`, while the service runs.

    SQLite's backup API copies every page in one step inside one read transaction: in WAL mode
    writers go on meanwhile and the copy is the database as of that moment. The copy is made
    beside `target` (same file system), switched to a single self-contained file (no WAL),
    checked, flushed to disk and renamed over `target`, so `target` is whole or absent."""
    source = sqlite_path(url)
    target = target.resolve()
    if target == source.resolve():
        raise PermanentError(
            f"{target} is the database itself: back it up to another file", reason="BadBackupTarget"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        _copy(source, partial)
        revision = _check(partial)
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        partial.unlink(missing_ok=True)
    return Backup(path=target, size=target.stat().st_size, revision=revision)


def sqlite_path(url: str) -> Path:
    """The file of an SQLite URL; a clear refusal for anything else."""
    if not url.startswith("sqlite"):
        raise PermanentError(
            "den db backup copies the embedded SQLite database; this one is "
            f"{url.split(':', 1)[0]}. Back PostgreSQL up with its own tools, e.g. "
            '`pg_dump --format=custom --file=den.dump "$DATABASE_URL"` (restore with '
            "pg_restore), or the point-in-time recovery of a managed service.",
            reason="NotSqlite",
        )
    database = url.removeprefix("sqlite:///")
    if url in ("sqlite://", "sqlite:///:memory:") or not database:
        raise PermanentError("the database is in memory: there is no file to back up", reason="NotSqlite")
    path = Path(database)
    if not path.is_file():
        raise PermanentError(
            f"no database at {path}: check DEN_DATA_DIR (or DEN_DATABASE_URL)", reason="NoDatabase"
        )
    return path


def _copy(source: Path, partial: Path) -> None:
    partial.unlink(missing_ok=True)
    origin = sqlite3.connect(source, timeout=30)
    copy = sqlite3.connect(partial)
    try:
        origin.execute("PRAGMA busy_timeout=30000")
        origin.backup(copy)  # all pages in one step: a consistent snapshot
        copy.execute("PRAGMA journal_mode=DELETE")  # one file, whatever the source's mode
        copy.commit()
    finally:
        copy.close()
        origin.close()


def _check(path: Path) -> str:
    """The copy's schema revision, once SQLite has found it sound."""
    connection = sqlite3.connect(path)
    try:
        verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise PermanentError(f"the copy failed its integrity check: {verdict}", reason="BackupCorrupt")
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError:
            row = None
    finally:
        connection.close()
    return str(row[0]) if row else "none"
