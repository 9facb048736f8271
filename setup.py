"""The one build step pyproject.toml cannot declare: before the packages are built, copy the
GOV.UK Frontend assets the pages serve into web/govuk_frontend/ (tools/govuk_assets.py, with
`npm ci` first when web/node_modules lacks them), so that the wheel carries them as package
data and an installed wheel serves styled pages with no checkout and no npm. An editable
install serves the same folder in the checkout, where scripts/bootstrap makes the copy (after
installing npm, which it does after the editable install). Everything else is in
pyproject.toml."""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

sys.path.insert(0, str(Path(__file__).resolve().parent / "tools"))
import govuk_assets  # tools/ is not a package, and is not installed


class BuildWithGovukAssets(build_py):
    def run(self) -> None:
        if self.editable_mode:  # scripts/bootstrap copies them in place
            super().run()
            return
        try:
            govuk_assets.sync()
        except govuk_assets.AssetsUnavailable as error:
            raise SystemExit(f"error: {error}") from error
        # The package data's file list may have been worked out before the copy existed.
        self.__dict__.pop("data_files", None)
        super().run()


setup(cmdclass={"build_py": BuildWithGovukAssets})
