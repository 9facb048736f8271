"""The docs cannot fall behind the code: settings and the manifest schema are checked, and the
README stays a short front door whose links resolve.

The docs site (mkdocs.yml, docs/) is checked by `mkdocs build --strict` in scripts/test: a broken
link or anchor, or a page missing from the nav, fails there. The README is not part of the site,
so its links are checked here."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
from pathlib import Path

from orchestrator.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
#: The README is the front door: "at most about 12 KB"; the rest lives under docs/.
README_MAX_BYTES = 12 * 1024


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


def test_every_setting_is_in_the_settings_page() -> None:
    table = _block(ROOT / "docs" / "settings.md", "settings")
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
    quick_start = readme.partition("## Quick start")[2]
    block = re.search(r"```sh\n(.*?)```", quick_start, re.S)
    assert block, "the README's Quick start has a sh block with the two commands"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert [c for c in commands if c] == ["./scripts/run", "./scripts/test"]
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_the_readme_stays_a_short_front_door() -> None:
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_MAX_BYTES, (
        f"README.md is {size} bytes, over {README_MAX_BYTES}: it keeps what a newcomer needs "
        "(what it is, for whom, the two commands, a first trial, where to read on); move the "
        "rest to a page under docs/ and list it in mkdocs.yml"
    )


def _anchors(path: Path) -> set[str]:
    """The ids of a Markdown file's headings, as GitHub and MkDocs both make them for plain
    headings (lower case, punctuation dropped, spaces to hyphens)."""
    headings = re.findall(r"^#{1,6} +(.+?) *$", path.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).strip().replace(" ", "-") for h in headings}


def test_the_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert any(link.startswith("docs/") for link in local), "the README links into docs/"
    broken = []
    for link in local:
        target, _, anchor = link.partition("#")
        path = ROOT / target
        if not path.exists() or (anchor and anchor not in _anchors(path)):
            broken.append(link)
    assert not broken, f"README.md links to what does not exist: {broken}"
