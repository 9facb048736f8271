"""OCDS release packages validated by libcoveocds (the maintained OCDS validator) with no
network: it is given the standard's schema as a local ZIP (tests/fixtures/ocds/: the release
and versioned release schemas of OCDS 1.1.4 as the ocdsmerge sdist ships them, and the release
package schema as the ocdskit sdist ships it), with our extension's patch already merged into
the release schema. The unit tests and the browser journeys both use it."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import json_merge_patch
from libcoveocds.api import ocds_json_output
from libcoveocds.config import LibCoveOCDSConfig

from orchestrator.opendata.ocds import extension_patch

SCHEMAS = Path(__file__).resolve().parent / "fixtures" / "ocds"
TAG = "1__1__4"
RELEASE_TAGS = "Code\n" + "\n".join(
    ("planning", "planningUpdate", "tender", "tenderAmendment", "tenderUpdate", "tenderCancellation", "award",
     "awardUpdate", "awardCancellation", "contract", "contractUpdate", "contractAmendment", "implementation",
     "implementationUpdate", "contractTermination", "compiled")
) + "\n"  # fmt: skip


def _standard_zip() -> bytes:
    """The standard's schema folder as ocdsextensionregistry reads it, our patch merged in."""
    release = json.loads((SCHEMAS / "release-schema.json").read_text())
    patched = json_merge_patch.merge(release, extension_patch())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("standard/", "")
        archive.writestr("standard/standard/schema/release-schema.json", json.dumps(patched))
        for name in ("release-package-schema.json", "versioned-release-validation-schema.json"):
            archive.writestr(f"standard/standard/schema/{name}", (SCHEMAS / name).read_text())
        # libcoveocds needs at least one codelist (it fails on none); the closed codelists that
        # validation checks are enums in the release schema itself.
        archive.writestr("standard/standard/schema/codelists/releaseTag.csv", RELEASE_TAGS)
    return buffer.getvalue()


STANDARD = _standard_zip()


def validate(package: dict[str, Any]) -> dict[str, Any]:
    """libcoveocds's findings on the package: `validation_errors` lists what breaks the schema."""
    config = LibCoveOCDSConfig()
    config.config["context"] = "api"
    config.config["standard_zip"] = STANDARD
    config.config["schema_version_choices"] = {
        "1.1": ("1.1", "https://standard.open-contracting.org/1.1/en/", TAG)
    }
    config.config["schema_version"] = "1.1"
    config.config["additional_checks"] = "none"
    # The patch is merged into the local schema: the package's extension URL is not fetched.
    data = {k: v for k, v in copy.deepcopy(package).items() if k != "extensions"}
    return ocds_json_output(json_data=data, lib_cove_ocds_config=config)  # type: ignore[no-any-return]
