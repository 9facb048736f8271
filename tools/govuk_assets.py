"""The GOV.UK Frontend assets the web pages serve, copied into the `web` package.

`govuk-frontend` comes from npm at the version and integrity hash of web/package-lock.json,
into web/node_modules (never committed). The pages use only a few of its files: the compiled
stylesheet and script, and the fonts, images and manifest under `assets/`. This copies just
those (and its package.json, for its version and licence) into web/govuk_frontend/, which is
never committed either, and which the package serves (web/assets.py) and the wheel carries
as package data. One folder for every way the product runs: a checkout and its editable
install (scripts/bootstrap runs this) and a built wheel (setup.py runs this before building).

When web/node_modules lacks the pinned version, `npm ci` installs it first; without npm the
build stops and says so. A source tree that already holds the copy at the pinned version and
no web/node_modules (a source distribution) is built as it is, with no npm.

Standard library only: it runs in the isolated build environment, before anything is installed.

    python3 tools/govuk_assets.py        # refresh web/govuk_frontend/ in this checkout
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
#: Where the copy lives inside the `web` package.
TARGET = "govuk_frontend"
#: What the pages use, relative to node_modules/govuk-frontend: `*` entries are folders copied
#: whole. Source maps and the Sass sources are left out.
WANTED = (
    "package.json",
    "dist/govuk/govuk-frontend.min.css",
    "dist/govuk/govuk-frontend.min.js",
    "dist/govuk/assets/*",
)
NPM_CI = ("npm", "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error")


class AssetsUnavailable(RuntimeError):
    """The assets cannot be found or installed; the message says how to fix it."""


def pinned_version(web: Path) -> str:
    """The govuk-frontend version web/package.json pins."""
    version: str = json.loads((web / "package.json").read_text())["dependencies"]["govuk-frontend"]
    return version


def _version(package_json: Path) -> str | None:
    if not package_json.is_file():
        return None
    version: str = json.loads(package_json.read_text())["version"]
    return version


def wanted_files(package: Path) -> dict[str, Path]:
    """Each file to copy, by its path under the copy, from the installed npm package."""
    files: dict[str, Path] = {}
    for entry in WANTED:
        source = package / entry.removesuffix("/*")
        paths = sorted(p for p in source.rglob("*") if p.is_file()) if entry.endswith("/*") else [source]
        if not paths or not all(path.is_file() for path in paths):
            raise AssetsUnavailable(
                f"{source} is missing from the installed govuk-frontend: "
                f"remove {package.parent} and build again"
            )
        for path in paths:
            files[path.relative_to(source.parent).as_posix()] = path
    return files


def _npm_ci(web: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise AssetsUnavailable(
            "the GOV.UK Frontend assets are needed to build innovation-den, and "
            f"{web / 'node_modules'} lacks govuk-frontend {pinned_version(web)}: install npm "
            "(Debian: apt-get install npm) and build again, or run scripts/bootstrap"
        )
    print(f"govuk_assets: npm ci in {web}", file=sys.stderr)
    try:
        subprocess.run([npm, *NPM_CI[1:]], cwd=web, check=True)
    except subprocess.CalledProcessError as error:
        raise AssetsUnavailable(
            f"`{' '.join(NPM_CI)}` failed in {web} (exit {error.returncode}): see its output above"
        ) from error


def _same(target: Path, files: dict[str, Path]) -> bool:
    if not target.is_dir():
        return False
    present = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    return present == set(files) and all(
        (target / name).read_bytes() == source.read_bytes() for name, source in files.items()
    )


def sync(web: Path = WEB) -> Path:
    """Make `web`/govuk_frontend/ hold the pinned govuk-frontend's files the pages use, running
    `npm ci` first when web/node_modules lacks them. Returns the copy's folder. An unchanged
    copy is left alone; a new one is written beside it and renamed into place, so a running
    server never serves a half-written file."""
    target = web / TARGET
    wanted = pinned_version(web)
    package = web / "node_modules" / "govuk-frontend"
    if _version(package / "package.json") != wanted:
        if _version(target / "package.json") == wanted and not (web / "node_modules").exists():
            return target  # a source distribution: the copy came with it
        _npm_ci(web)
        found = _version(package / "package.json")
        if found != wanted:
            raise AssetsUnavailable(
                f"npm ci installed govuk-frontend {found}, not {wanted}: "
                "web/package.json and web/package-lock.json disagree"
            )
    files = wanted_files(package)
    if _same(target, files):
        return target
    staging, old = web / f".{TARGET}.new-{os.getpid()}", web / f".{TARGET}.old-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    for name, source in files.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, staging / name)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


if __name__ == "__main__":
    try:
        print(sync())
    except AssetsUnavailable as error:
        sys.exit(f"govuk_assets: {error}")
