"""The built wheel works where it is installed: `pip wheel`, then `pip install` of that wheel into
a new virtual environment outside the checkout, then `den serve` from there gives styled pages
with no checkout and no npm (the wheel carries the GOV.UK Frontend assets: setup.py,
tools/govuk_assets.py).

The wheel is built from a copy of the checkout's files (those git tracks or would track, as
they are now) with npm's govuk-frontend package beside them, as in a clean clone after
scripts/bootstrap: the checkout's own build/ folder (which setuptools reuses) and its copy of
the assets cannot hide a missing build step. The new environment's dependencies come from
pip's cache (or the index) at the versions this checkout's environment has. No runtime is
needed: the server runs without its reconciler (`--no-reconciler`), so nothing reaches Docker
or Kubernetes; its database is SQLite in a temporary folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.conftest import require
from tests.e2e.server import ROOT, free_port

NPM_PACKAGE = ROOT / "web" / "node_modules" / "govuk-frontend"


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _clean_environment() -> dict[str, str]:
    """This process's environment without anything that points back into the checkout or
    configures a den."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DEN_") and k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }


def copy_sources(target: Path) -> Path:
    """The checkout's files as a clean clone holds them, and npm's govuk-frontend package."""
    listed = _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file being deleted is not copied
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    shutil.copytree(NPM_PACKAGE, target / "web" / "node_modules" / "govuk-frontend")
    return target


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(
        NPM_PACKAGE.joinpath("package.json").is_file(),
        "govuk-frontend in web/node_modules (scripts/bootstrap installs it)",
    )
    sources = copy_sources(tmp_path_factory.mktemp("sources"))
    out = tmp_path_factory.mktemp("wheel")
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "-w",
        out,
        sources,
        cwd=sources,
        env=_clean_environment(),
    )
    (built,) = out.glob("innovation_den-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the wheel installed, at this checkout's versions."""
    home = tmp_path_factory.mktemp("venv")
    constraints = home / "constraints.txt"
    constraints.write_text(_run(sys.executable, "-m", "pip", "freeze", "--exclude-editable", cwd=home))
    _run(sys.executable, "-m", "venv", "--without-pip", home / "env", cwd=home)
    # This environment's pip installs into the new one: quicker than a pip of its own, and
    # byte-code is left uncompiled (the interpreter compiles what it imports).
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        home / "env" / "bin" / "python",
        "install",
        "-q",
        "--no-compile",
        "-c",
        constraints,
        wheel,
        cwd=home,
        env=_clean_environment(),
    )
    return home / "env"


@pytest.fixture(scope="module")
def served(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`den serve` from the new environment, its working directory outside the checkout."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    port = free_port()
    log = (elsewhere / "server.log").open("wb")
    env = {**_clean_environment(), "DEN_DATA_DIR": str(elsewhere / "data"), "DEN_LOG_FORMAT": "json"}
    process = subprocess.Popen(
        [venv / "bin" / "den", "serve", "--port", str(port), "--no-reconciler"],
        cwd=elsewhere,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            assert process.poll() is None, (elsewhere / "server.log").read_text()
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (elsewhere / "server.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        text = (elsewhere / "server.log").read_text()
        assert "govuk_frontend_missing" not in text, text


def test_the_wheel_carries_only_the_govuk_assets_the_pages_use(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assets = {n.removeprefix("web/govuk_frontend/") for n in names if n.startswith("web/govuk_frontend/")}
    assert {
        "package.json",
        "govuk-frontend.min.css",
        "govuk-frontend.min.js",
        "assets/manifest.json",
        "assets/fonts/bold-b542beb274-v2.woff2",
        "assets/images/govuk-crest.svg",
    } <= assets
    assert not [n for n in assets if n.endswith((".map", ".scss", ".mjs", ".njk"))], sorted(assets)
    assert not [n for n in names if "node_modules" in n or n.startswith(("tools/", "setup"))]


def test_den_serve_from_an_installed_wheel_gives_styled_pages(venv: Path, served: str) -> None:
    where = _run(
        venv / "bin" / "python",
        "-c",
        "import importlib.util as u; print(u.find_spec('web').origin)",
        cwd=venv,
        env=_clean_environment(),
    )
    assert Path(where.strip()).is_relative_to(venv), where  # the installed copy, not the checkout

    page = httpx.get(served + "/", follow_redirects=True, timeout=10)
    assert page.status_code == 200 and "<html" in page.text, page.text[:500]
    links = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.text)
    govuk = [href for href in links if "govuk-frontend" in href]
    assert govuk, links

    css = httpx.get(urljoin(str(page.url), govuk[0]), timeout=10)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert len(css.content) > 50_000 and ".govuk-header" in css.text

    # The fonts the stylesheet names, as a browser fetches them.
    fonts = re.findall(r"url\((/assets/fonts/[^)]+\.woff2)\)", css.text)
    assert fonts, "the stylesheet names no fonts"
    font = httpx.get(urljoin(str(css.url), fonts[0]), timeout=10)
    assert font.status_code == 200 and font.content[:4] == b"wOF2" and len(font.content) > 10_000

    # The script: the page's own module imports GOV.UK Frontend's.
    (module,) = re.findall(r'<script type="module" src="([^"]+)"', page.text)
    own = httpx.get(urljoin(str(page.url), module), timeout=10)
    assert own.status_code == 200, module
    (imported,) = re.findall(r'from "([^"]*govuk-frontend[^"]*)"', own.text)
    script = httpx.get(urljoin(str(own.url), imported), timeout=10)
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert len(script.content) > 10_000 and "initAll" in script.text

    (manifest,) = re.findall(r'<link rel="manifest" href="([^"]+)"', page.text)
    assert httpx.get(urljoin(str(page.url), manifest), timeout=10).json()["icons"]
