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


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A database migrated once per run for each backend, copied for every test that wants a
    migrated one: running all the migrations cost each test about half a second per backend.
    The PostgreSQL template is created on first use and dropped at the end of the run."""
    templates: dict[str, str] = {}
    yield templates
    if "postgresql" in templates:
        from sqlalchemy import create_engine

        admin = create_engine(postgres_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{templates["postgresql"]}"'))
        admin.dispose()


def _migrated_template(templates: dict[str, str], dialect: str, folder: Path) -> str:
    if dialect not in templates:
        if dialect == "sqlite":
            url = f"sqlite:///{folder / 'migrated.db'}"
        else:
            url = _fresh_postgres(postgres_url())
        engine = db.make_engine(url)
        db.upgrade(engine)
        engine.dispose()
        templates[dialect] = str(folder / "migrated.db") if dialect == "sqlite" else url.rsplit("/", 1)[1]
    return templates[dialect]


def _copy_migrated(database_url: str, template: str) -> None:
    """Make the (empty, unused) test database a copy of the migrated template."""
    if database_url.startswith("sqlite:///"):
        shutil.copyfile(template, database_url.removeprefix("sqlite:///"))
        return
    from sqlalchemy import create_engine

    name = database_url.rsplit("/", 1)[1]
    admin = create_engine(postgres_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()


@pytest.fixture
def engine(
    database_url: str, migrated_templates: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    folder = tmp_path_factory.getbasetemp()
    _copy_migrated(database_url, _migrated_template(migrated_templates, dialect, folder))
    engine = db.make_engine(database_url)
    # A no-op on the copy; it still proves the copy is at the head revision.
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
