"""Alembic environment: runs on the engine handed in by `orchestrator.db.upgrade`."""

from alembic import context
from sqlmodel import SQLModel

import orchestrator.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from orchestrator.db import make_engine

config = context.config
engine = config.attributes.get("engine") or make_engine(config.get_main_option("sqlalchemy.url"))

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
