"""Shared fixtures. Real parts are required in CI: a missing PostgreSQL or Docker engine fails
the run loudly (DEN_TEST_STRICT=1, set by scripts/test) instead of skipping."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from orchestrator import db
from orchestrator.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ADMIN_TOKEN = "test-admin-token-" + "x" * 24
STRICT = os.environ.get("DEN_TEST_STRICT") == "1" or os.environ.get("CI") == "true"


def require(condition: bool, what: str) -> None:
    """Fail in CI, skip on a developer's machine that lacks an optional real part."""
    if condition:
        return
    if STRICT:
        pytest.fail(f"{what} is required for this test (scripts/test sets it up)")
    pytest.skip(f"{what} not available")


def postgres_url() -> str:
    return os.environ.get("DEN_TEST_POSTGRES_URL", "")


def _fresh_postgres(url: str) -> str:
    """A new, empty database on the test server, so tests never share state."""
    import uuid

    from sqlalchemy import create_engine

    name = "den_" + uuid.uuid4().hex[:10]
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'den.db'}"
    require(bool(postgres_url()), "PostgreSQL (DEN_TEST_POSTGRES_URL)")
    return _fresh_postgres(postgres_url())


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(FIXTURES / "templates", target)
    return target


@pytest.fixture
def settings(database_url: str, engine: Engine, templates_dir: Path, tmp_path: Path) -> Settings:
    """Settings on a migrated database (PostgreSQL is migrated by `den db upgrade`)."""
    return Settings(
        database_url=database_url,
        templates_dir=templates_dir,
        data_dir=tmp_path / "data",
        bootstrap_admin_token=ADMIN_TOKEN,
        min_trial_duration=1,
        poll_interval=0.05,
    )
