"""Static files: GOV.UK Frontend from npm, and the service's own small script and styles.

`govuk-frontend` is pinned in web/package.json (and its lock file, with integrity hashes) to
the version `govuk-frontend-jinja` targets; scripts/bootstrap installs it into web/node_modules,
which is never committed. Its stylesheet refers to fonts and images under `/assets/`, so the
package's `assets/` folder is served there.
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
NODE_MODULES = HERE / "node_modules"
GOVUK_DIST = NODE_MODULES / "govuk-frontend" / "dist" / "govuk"
OWN_STATIC = HERE / "static"


def installed_version() -> str | None:
    """The govuk-frontend version in web/node_modules, or None when it is not installed."""
    manifest = NODE_MODULES / "govuk-frontend" / "package.json"
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
            hint="run scripts/bootstrap: it installs web/node_modules from npm",
        )
    if version is not None:
        app.mount("/assets", StaticFiles(directory=GOVUK_DIST / "assets"), name="govuk-assets")
        app.mount("/static/govuk-frontend", StaticFiles(directory=GOVUK_DIST), name="govuk-frontend")
    app.mount("/static/den", StaticFiles(directory=OWN_STATIC), name="den-static")
