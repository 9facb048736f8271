"""Migration 0002 upgrades a database that already holds trials, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text
from sqlmodel import Session

from orchestrator import db
from orchestrator.models import Trial

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ROWS = [
    "INSERT INTO supplier (id, slug, name, size, contact, description, problem_areas, created_at)"
    " VALUES (1, 'acme', 'Acme', 'sme', '', '', '[]', :t)",
    "INSERT INTO sandbox_template (id, name, supplier_id, created_at) VALUES (1, 'demo', 1, :t)",
    "INSERT INTO template_version (id, template_id, version, status, status_reason, digest,"
    " manifest, published_at) VALUES (1, 1, '1.0.0', 'Published', '', 'x', '{}', :t)",
    "INSERT INTO den_user (id, name, display_name, email, role, department, created_at)"
    " VALUES (1, 'alice', '', '', 'civil_servant', 'dwp', :t)",
    "INSERT INTO trial (id, owner_id, department, template_version_id, template_name,"
    " template_version, title, problem_statement, hypothesis, success_criteria, parameters,"
    " duration_seconds, extension_count, phase, reason, message, phase_changed_at, endpoints,"
    " runtime_handle, driver, created_at) VALUES ('told', 1, 'dwp', 1, 'demo', '1.0.0', 't', '',"
    " 'h', '[]', '{}', 600, 0, 'Ready', 'Started', '', :t, '{}', '{}', 'docker', :t)",
]


def test_0002_upgrades_a_database_with_trials_in_it(database_url: str) -> None:
    engine = db.make_engine(database_url)
    db.upgrade(engine, "0001")
    stamp = T0.replace(tzinfo=None) if engine.dialect.name == "sqlite" else T0
    with engine.begin() as connection:
        for statement in ROWS:
            connection.execute(text(statement), {"t": stamp})
    db.upgrade(engine)
    assert "runtime_handle" not in {c["name"] for c in inspect(engine).get_columns("trial")}
    with Session(engine) as session:
        trial = session.get(Trial, "told")
        assert trial is not None
        assert trial.updated_at == T0  # backfilled, so a watch sees when it last changed
        assert (trial.shared_with_department, trial.approved_by, trial.cpu_millicores) == (False, "", 0)
        assert trial.extension_requested_seconds is None
    engine.dispose()
