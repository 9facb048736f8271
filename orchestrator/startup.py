"""What `den serve` and `den reconcile` do before they serve: migrate, load, bootstrap."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import structlog
from sqlalchemy import Engine

from orchestrator import catalogue, crud, db
from orchestrator.settings import Settings

log = structlog.get_logger("startup")
BUNDLED = Path(__file__).resolve().parent.parent / "sandbox_templates"


def templates_dir(settings: Settings) -> Path | None:
    if settings.templates_dir is not None:
        return settings.templates_dir
    return BUNDLED if BUNDLED.is_dir() else None


def prepare_database(settings: Settings) -> Engine:
    """An engine on an up-to-date schema (SQLite is migrated here; PostgreSQL by
    `den db upgrade`, so that many replicas never race on a migration)."""
    engine = db.make_engine(settings.effective_database_url)
    if engine.dialect.name == "sqlite":
        db.upgrade(engine)
    return engine


def load_catalogue(
    engine: Engine, directory: Path, *, now: datetime, settings: Settings | None = None
) -> list[str]:
    """Publish every template in `directory` (idempotent: same content, same version). The
    directory is the operator's own, so its versions need no review; their egress is still
    held to `DEN_EGRESS_ALLOWED_CIDRS` and the addresses no sandbox may reach."""
    publishing = crud.Publishing(settings=settings or Settings())
    published: list[str] = []
    with db.session_scope(engine) as session:
        for supplier in catalogue.load_suppliers(directory):
            crud.upsert_supplier(session, data=supplier, now=now)
        for path, manifest in catalogue.iter_bundled(directory):
            _, created = crud.publish_template(
                session, manifest=manifest, now=now, actor=None, publishing=publishing
            )
            if created:
                log.info("template_published", template=manifest.ref, path=str(path))
            published.append(manifest.ref)
    return published


def bootstrap_admin(engine: Engine, token: str, *, now: datetime) -> None:
    with db.session_scope(engine) as session:
        admin = crud.ensure_user(session, name="admin", role="platform_engineer", now=now)
        crud.issue_token(session, user=admin, now=now, name="bootstrap", token=token)


def prepare(settings: Settings) -> Engine:
    """Migrate (SQLite), publish the template directory and the bootstrap token: one process at
    a time, so API replicas and the reconciler starting together do not race."""
    engine = prepare_database(settings)
    now = datetime.now(UTC)
    directory = templates_dir(settings)
    with db.exclusive(engine):
        if directory is not None:
            load_catalogue(engine, directory, now=now, settings=settings)
        if settings.bootstrap_admin_token:
            bootstrap_admin(engine, settings.bootstrap_admin_token, now=now)
    return engine
