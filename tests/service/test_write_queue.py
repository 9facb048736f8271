"""SQLite writers of one process queue in memory for the write lock (crud/locks.py): the next
goes in the moment the previous transaction ends (committed, rolled back or just closed), and
a writer never waits on a lock left behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from orchestrator import db
from orchestrator.crud import locks


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'den.db'}")
    db.upgrade(engine)
    yield engine
    engine.dispose()


def _second_writer_waits_for(engine: Engine, end: str) -> float:
    """Seconds a second writer waited for a first that held the lock 0.3 s, then ended by
    `end`."""
    first = Session(engine)
    locks.hold_caps(first)
    waited: list[float] = []

    def second() -> None:
        started = time.monotonic()
        with Session(engine) as session:
            locks.hold_caps(session)
            waited.append(time.monotonic() - started)
            session.commit()

    other = threading.Thread(target=second)
    other.start()
    time.sleep(0.3)
    getattr(first, end)()
    other.join(timeout=10)
    first.close()
    assert waited, "the second writer never got the lock"
    return waited[0]


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
def test_the_next_writer_goes_in_when_the_first_transaction_ends(sqlite: Engine, end: str) -> None:
    waited = _second_writer_waits_for(sqlite, end)
    assert 0.25 <= waited < 2.0, waited


def test_a_session_takes_the_queue_once_and_leaves_it_free(sqlite: Engine) -> None:
    with Session(sqlite) as session:
        locks.hold_caps(session)
        locks.hold_caps(session)  # again in one transaction: no wait on itself
        session.commit()
    assert locks._WRITER.acquire(timeout=0.1)
    locks._WRITER.release()
