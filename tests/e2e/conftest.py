"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import pytest

from orchestrator.images import build_all
from orchestrator.settings import Settings
from tests.conftest import ROOT


@pytest.fixture(scope="session")
def engine_client() -> Iterator[Any]:
    """The real Docker engine, with the bundled templates' images built (once a run)."""
    client = docker.from_env()
    client.ping()  # a missing engine fails loudly, never skips
    build_all(ROOT / "sandbox_templates", None, settings=Settings(), log=lambda _line: None)
    yield client
    client.close()
