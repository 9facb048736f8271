"""Schemathesis against our own OpenAPI document, in process, on the fake runtime: no answer is
a server error, and every answer (status, content type, headers, body) matches the document.

Schemathesis wants its schema when the module is imported, before fixtures exist, so it is
given `DISPATCH`, an ASGI app that forwards to whichever app the module fixture built (one per
database: SQLite and PostgreSQL); that fixture runs the real app's lifespan itself. Requests
are sent as a platform engineer, so they reach every route.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation

from api.main import create_app
from orchestrator import db
from orchestrator.settings import Settings
from tests.conftest import ADMIN_TOKEN, FIXTURES, _fresh_postgres, postgres_url, require
from tests.fakes import FakeDriver

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Dispatch:
    """Forwards requests to `target`; answers lifespan events itself (the fixture runs the
    target's lifespan)."""

    def __init__(self, target: FastAPI) -> None:
        self.target = target

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.target(scope, receive, send)
            return
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return


DISPATCH = Dispatch(create_app(Settings()))  # the document only: its lifespan never runs
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            # A well-formed request may still break a product rule: 422 naming it is the contract.
            "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "422"]},
        }
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", DISPATCH, config=CONFIG)


@pytest.fixture(
    scope="module", autouse=True, params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def den_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'den.db'}"
    else:
        require(bool(postgres_url()), "PostgreSQL (DEN_TEST_POSTGRES_URL)")
        url = _fresh_postgres(postgres_url())
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    shutil.copytree(FIXTURES / "templates", tmp / "templates")
    settings = Settings(
        database_url=url,
        templates_dir=tmp / "templates",
        data_dir=tmp / "data",
        bootstrap_admin_token=ADMIN_TOKEN,
        min_trial_duration=1,
    )
    app = create_app(settings, with_reconciler=False, driver=FakeDriver())
    with TestClient(app):
        DISPATCH.target = app
        yield app


@schema.parametrize()
@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_answers_are_never_server_errors_and_match_the_document(case: schemathesis.Case) -> None:
    if case.path == "/api/v1/trials" and case.method == "GET" and isinstance(case.query, dict):
        # A watch lasts `timeout_seconds`: make a valid one 0, so it sends its snapshot and
        # ends (an invalid one is left for the API to refuse).
        value = case.query.get("timeout_seconds")
        if value is None or (str(value).isdigit() and 0 < int(value) <= 3600):
            case.query["timeout_seconds"] = 0
    # A case whose headers are invalid on purpose may be one without the Authorization header
    # (the security scheme's): adding the token would make it valid, and then "accepted".
    negative_headers = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    case.call_and_validate(headers=None if negative_headers else AUTH)
