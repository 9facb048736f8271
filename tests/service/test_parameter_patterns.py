"""A trial request cannot stall the den through a template's parameter pattern: `^(a+)+$` is
catastrophic for a backtracking engine on 'aaa...!', but patterns only ever run on RE2, so the
request is judged at once and the API goes on answering everyone else."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.conftest import FIXTURES
from tests.service.conftest import AUTH

PATTERN = "^(a+)+$"
ADVERSARIAL = "a" * 4095 + "!"  # Python's re would backtrack through 2**4095 ways of failing


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    """The fixture templates and `patterned`, whose `code` parameter has the pattern."""
    target = tmp_path / "templates"
    shutil.copytree(FIXTURES / "templates", target)
    manifest = yaml.safe_load((target / "demo" / "template.yaml").read_text())
    manifest["metadata"]["name"] = "patterned"
    manifest["spec"]["parameters"] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"code": {"type": "string", "pattern": PATTERN, "maxLength": 4096}},
    }
    (target / "patterned").mkdir()
    (target / "patterned" / "template.yaml").write_text(yaml.safe_dump(manifest))
    return target


@pytest.fixture
def no_python_re_on_the_pattern(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if anything hands the supplier's pattern to Python's `re` (jsonschema does)."""
    compile_: Callable[..., Any] = re._compile  # type: ignore[attr-defined]

    def guarded(pattern: Any, flags: Any) -> Any:
        assert pattern != PATTERN, "a supplier's pattern reached Python's re"
        return compile_(pattern, flags)

    monkeypatch.setattr(re, "_compile", guarded)


def ask(client: TestClient, code: str) -> Any:
    return client.post(
        "/api/v1/trials",
        headers=AUTH,
        json={"template": "patterned", "title": "t", "hypothesis": "h", "parameters": {"code": code}},
    )


def test_an_adversarial_parameter_value_is_refused_at_once(
    client: TestClient, no_python_re_on_the_pattern: None
) -> None:
    started = time.monotonic()
    answer = ask(client, ADVERSARIAL)
    assert time.monotonic() - started < 5  # generous: machines are noisy; re would never end
    assert answer.status_code == 422, answer.text
    (problem,) = answer.json()["problems"]
    assert problem["field"] == "parameters.code" and "see the template" in problem["hint"]
    assert ask(client, "a" * 4096).status_code == 201


def test_a_value_over_the_length_cap_is_refused_before_matching(
    client: TestClient, no_python_re_on_the_pattern: None
) -> None:
    answer = ask(client, "a" * 200_000)
    assert answer.status_code == 422, answer.text
    assert answer.json()["problems"][0]["field"] == "parameters.code"
    assert answer.json()["problems"][0]["message"] == "Code must be 4096 characters or fewer"


def test_the_api_keeps_answering_while_adversarial_param_requests_arrive(
    client: TestClient, no_python_re_on_the_pattern: None
) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        refused = [pool.submit(ask, client, ADVERSARIAL) for _ in range(8)]
        listed = [pool.submit(client.get, "/api/v1/templates", headers=AUTH) for _ in range(4)]
        assert all(f.result(timeout=30).status_code == 422 for f in refused)
        assert all(f.result(timeout=30).status_code == 200 for f in listed)
    assert time.monotonic() - started < 10
