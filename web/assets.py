"""Static files: GOV.UK Frontend's, and the service's own small script and styles.

`govuk-frontend` is pinned in web/package.json (and its lock file, with integrity hashes) to
the version `govuk-frontend-jinja` targets, and installed from npm into web/node_modules. The
files the pages use (its stylesheet, script, fonts, images and manifest) are copied from
there into this package's `govuk_frontend/` folder by tools/govuk_assets.py, which
setup.py runs before every build: so a wheel carries them as package data, and an installed
wheel serves styled pages with no checkout and no npm. In a checkout (which its editable
install serves), scripts/bootstrap makes the same copy in place: every way of running serves
the one folder, and neither it nor web/node_modules is ever committed.

Its stylesheet refers to fonts and images under `/assets/`, so its `assets/` folder is served
there.
"""

from __future__ import annotations

import json
from pathlib import Path

import structlog
from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

log = structlog.get_logger("web")

#: The version govuk-frontend-jinja 4.1.0 targets (its README's compatibility table).
GOVUK_FRONTEND_VERSION = "6.3.0"
HERE = Path(__file__).resolve().parent
#: The GOV.UK Frontend files the pages use (tools/govuk_assets.py copies them here).
GOVUK_FRONTEND = HERE / "govuk_frontend"
OWN_STATIC = HERE / "static"


def installed_version() -> str | None:
    """The version of the govuk-frontend files in this package, or None when they are absent."""
    manifest = GOVUK_FRONTEND / "package.json"
    if not manifest.is_file():
        return None
    version: str = json.loads(manifest.read_text())["version"]
    return version


def mount_assets(app: FastAPI) -> None:
    """Serve GOV.UK Frontend at /assets (fonts, images) and /static/govuk-frontend (styles and
    script), and our own files at /static/den. Missing assets are logged loudly: the pages
    still answer, unstyled, and the API is unaffected."""
    version = installed_version()
    if version != GOVUK_FRONTEND_VERSION:
        log.error(
            "govuk_frontend_missing",
            installed=version,
            wanted=GOVUK_FRONTEND_VERSION,
            folder=str(GOVUK_FRONTEND),
            hint="in a checkout, run scripts/bootstrap; otherwise install a wheel built by "
            "`pip wheel`, which carries them",
        )
    if version is not None:
        app.mount("/assets", StaticFiles(directory=GOVUK_FRONTEND / "assets"), name="govuk-assets")
        app.mount("/static/govuk-frontend", StaticFiles(directory=GOVUK_FRONTEND), name="govuk-frontend")
    app.mount("/static/den", StaticFiles(directory=OWN_STATIC), name="den-static")
