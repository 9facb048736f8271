"""The bundled templates: valid manifests, buildable images, and a supplier list that agrees.

Also the pure helpers of `orchestrator.images` that decide where an image is
built from, when it is rebuilt, and which Debian mirror the base image comes from.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from orchestrator.errors import PermanentError
from orchestrator.images import (
    BASE_IMAGE,
    component_build_dir,
    context_hash,
    debian_mirror,
    debootstrap_argv,
    dockerfile_bases,
    expected_image,
    is_local_image,
    load_bundled_templates,
)
from orchestrator.manifest import TemplateManifest

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "sandbox_templates"
TEMPLATE_DIRS = sorted(p.parent for p in TEMPLATES_DIR.glob("*/template.yaml"))


def _manifest(template_dir: Path) -> TemplateManifest:
    text = (template_dir / "template.yaml").read_text()
    return TemplateManifest.model_validate(yaml.safe_load(text))


def _suppliers() -> list[dict[str, object]]:
    data = yaml.safe_load((TEMPLATES_DIR / "suppliers.yaml").read_text())
    assert isinstance(data, list)
    return data


def test_the_three_demo_templates_are_bundled() -> None:
    names = {p.name for p in TEMPLATE_DIRS}
    assert {"open-data-dashboard", "citizen-enquiry-assistant", "case-management-prototype"} <= names


@pytest.mark.parametrize("template_dir", TEMPLATE_DIRS, ids=lambda p: p.name)
def test_manifest_validates_and_matches_its_directory(template_dir: Path) -> None:
    manifest = _manifest(template_dir)
    assert manifest.metadata.name == template_dir.name
    assert manifest.spec.data_classification == "synthetic"


@pytest.mark.parametrize("template_dir", TEMPLATE_DIRS, ids=lambda p: p.name)
def test_every_component_is_probed_on_healthz(template_dir: Path) -> None:
    for component in _manifest(template_dir).spec.components:
        assert component.readiness_probe is not None, component.name
        assert component.readiness_probe.http_get.path == "/healthz"
        assert component.env.get("PORT") == str(component.readiness_probe.http_get.port)


@pytest.mark.parametrize("template_dir", TEMPLATE_DIRS, ids=lambda p: p.name)
def test_every_local_image_has_a_build_directory_following_the_convention(
    template_dir: Path,
) -> None:
    manifest = _manifest(template_dir)
    for component in manifest.spec.components:
        assert is_local_image(component.image), component.image
        assert component.image == expected_image(manifest, component.name)
        dockerfile = component_build_dir(template_dir, manifest, component.name) / "Dockerfile"
        assert dockerfile.is_file(), f"{component.name}: no {dockerfile}"
        text = dockerfile.read_text()
        assert dockerfile_bases(text) == [BASE_IMAGE]
        assert re.search(r"^USER 10001$", text, re.MULTILINE), "must run as the den user"
        assert (dockerfile.parent / "app.py").is_file()


def test_parameters_reach_the_enquiry_assistant_as_upper_case_env_vars() -> None:
    template_dir = TEMPLATES_DIR / "citizen-enquiry-assistant"
    properties = _manifest(template_dir).spec.parameters["properties"]
    source = (template_dir / "app.py").read_text()
    assert properties
    for name in properties:
        assert f'"{name.upper()}"' in source, f"app.py never reads {name.upper()}"


def test_suppliers_file_agrees_with_the_manifests() -> None:
    suppliers = _suppliers()
    slugs = [s["slug"] for s in suppliers]
    used = {_manifest(d).metadata.supplier for d in TEMPLATE_DIRS}
    assert len(slugs) == len(set(slugs)), "supplier slugs must be unique"
    assert set(slugs) == used, "every supplier has a template and every template a supplier"
    assert len(used) >= 2
    for supplier in suppliers:
        assert set(supplier) == {"slug", "name", "size", "contact", "description", "problem_areas"}
        assert supplier["size"] in {"sme", "large"}
        assert supplier["problem_areas"]


def test_load_bundled_templates_finds_every_template() -> None:
    assert sorted(load_bundled_templates(TEMPLATES_DIR)) == [p.name for p in TEMPLATE_DIRS]


# --- pure helpers behind the image build ----------------------------------------------------


def test_context_hash_changes_with_content_and_base_but_not_bytecode(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM innovation-den/base:bookworm\n")
    (tmp_path / "app.py").write_text("print('hi')\n")
    first = context_hash(tmp_path, ["sha256:aaa"])
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    assert context_hash(tmp_path, ["sha256:aaa"]) == first
    assert context_hash(tmp_path, ["sha256:bbb"]) != first
    (tmp_path / "app.py").write_text("print('bye')\n")
    assert context_hash(tmp_path, ["sha256:aaa"]) != first


def test_debian_mirror_reads_deb822_and_one_line_sources() -> None:
    deb822 = (
        "Types: deb\nURIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\n\n"
        "Types: deb-src deb\n# comment\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert debian_mirror({"/etc/apt/sources.list.d/debian.sources": deb822}) == (
        "http://mirror.example/debian"
    )
    one_line = (
        "# deb http://old.example/debian bookworm main\n"
        "deb [signed-by=/k.gpg] https://other.example/debian bookworm main\n"
    )
    assert debian_mirror({"/etc/apt/sources.list": one_line}) == "https://other.example/debian"


def test_debian_mirror_refuses_when_apt_has_no_bookworm_mirror() -> None:
    with pytest.raises(PermanentError, match="No Debian bookworm mirror"):
        debian_mirror({"/etc/apt/sources.list": "deb http://x.example/debian trixie main\n"})


def test_debootstrap_argv_makes_a_minimal_python_rootfs(tmp_path: Path) -> None:
    argv = debootstrap_argv("http://mirror.example/debian", tmp_path)
    assert argv[:2] == ["debootstrap", "--variant=minbase"]
    assert "python3-minimal" in argv[2] and "ca-certificates" in argv[2]
    assert argv[-3:] == ["bookworm", str(tmp_path), "http://mirror.example/debian"]


def test_the_hosted_guide_shows_a_bundled_manifest_that_publishes() -> None:
    """The guide's complete example is a bundled template as it is, so it is always valid."""
    from orchestrator import catalogue
    from web import publishing

    shown = publishing.guide(None)
    assert shown["example"], "the guide has no example manifest"
    manifest = catalogue.parse_manifest_text(shown["example"])
    assert manifest.metadata.name == publishing.EXAMPLE
    assert manifest.spec.parameters["properties"], "the example shows parameters"
