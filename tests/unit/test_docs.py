"""The docs cannot fall behind the code: settings and the manifest schema are checked."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
from pathlib import Path

from orchestrator.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _gen_docs():  # type: ignore[no-untyped-def]
    loader = importlib.machinery.SourceFileLoader("gen_docs", str(ROOT / "scripts" / "gen-docs"))
    spec = importlib.util.spec_from_loader("gen_docs", loader)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _block(path: Path, name: str) -> str:
    text = path.read_text()
    match = re.search(rf"<!-- BEGIN {name} -->\n(.*)\n<!-- END {name} -->", text, re.S)
    assert match, f"{path} has no generated block {name!r}"
    return match.group(1)


def test_every_setting_is_in_the_readme_table() -> None:
    table = _block(ROOT / "README.md", "settings")
    missing = [f"DEN_{n.upper()}" for n in Settings.model_fields if f"`DEN_{n.upper()}`" not in table]
    assert not missing, f"undocumented settings {missing}: run scripts/gen-docs"
    assert table == _gen_docs().settings_table(), "the settings table is stale: run scripts/gen-docs"


def test_every_setting_has_a_description_and_a_group() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert isinstance(field.json_schema_extra, dict) and field.json_schema_extra["group"], name


def test_the_published_manifest_schema_is_current() -> None:
    block = _block(ROOT / "sandbox_templates" / "README.md", "schema")
    assert block == _gen_docs().manifest_schema(), "the schema is stale: run scripts/gen-docs"


def test_the_readme_gives_exactly_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "./scripts/run" in readme and "./scripts/test" in readme
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()
