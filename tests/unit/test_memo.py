"""The process's one-second caches (orchestrator/crud/memo.py): kept for their time, emptied by
a commit of this process that writes what they keep, and left alone by a rolled-back one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, SQLModel, create_engine

from orchestrator.crud.memo import Memo, forget_everything, forget_on_commit
from orchestrator.models import Supplier, User

NOW = datetime(2026, 12, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_kept_for_its_time_and_no_longer() -> None:
    clock = Clock()
    memo: Memo[str] = Memo(ttl=1.0, clock=clock)
    memo.put("k", "v")
    clock.now += 0.99
    assert memo.get("k") == "v"
    clock.now += 0.01
    assert memo.get("k") is None
    assert memo.get("other") is None


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        yield session


def test_a_commit_that_writes_a_kept_kind_empties_the_cache(session: Session) -> None:
    memo: Memo[str] = Memo()
    forget_on_commit((Supplier,), memo.clear, name="test-suppliers")
    memo.put("k", "v")
    session.add(User(name="someone", role="civil_servant", department="dept", created_at=NOW))
    session.commit()
    assert memo.get("k") == "v"  # a person is not what this cache keeps
    session.add(Supplier(slug="acme", name="Acme", created_at=NOW))
    session.flush()
    session.rollback()
    assert memo.get("k") == "v"  # written, then rolled back: nothing changed
    session.add(Supplier(slug="acme", name="Acme", created_at=NOW))
    session.commit()
    assert memo.get("k") is None


def test_forget_everything_empties_every_cache() -> None:
    memo: Memo[str] = Memo()
    forget_on_commit((Supplier,), memo.clear, name="test-everything")
    memo.put("k", "v")
    forget_everything()
    assert memo.get("k") is None
