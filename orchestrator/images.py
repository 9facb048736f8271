"""Images for the bundled templates, built on this machine with no container registry.

Two steps, both idempotent and quick when there is nothing to do:

1. `ensure_base_image` makes `innovation-den/base:bookworm` from Debian packages alone:
   `debootstrap --variant=minbase` against the Debian mirror this machine's apt already uses
   (read from `/etc/apt/sources.list*`, so no host name lives in the repository), a user `den`
   (uid 10001) added, caches and documentation removed, then `docker import`. The rootfs tarball
   is cached in `cache_dir` under a key hashed from the recipe (debootstrap arguments, user,
   import changes); the image carries that key as the label `innovation-den.io/base-key`, so an
   image made from the same recipe is recognised in milliseconds and never rebuilt.
2. `build_template_images` builds each component image that a bundled manifest names under
   `innovation-den/` (anything else is a supplier's own registry image and is left alone). The
   image is labelled with `innovation-den.io/context-hash`: a hash of every file in the build
   context plus the image ids of the Dockerfile's `FROM` images, so a changed source file or a
   new base image rebuilds it and nothing else does.

Build-directory convention (the unit tests check every bundled template follows it):

- a single-component template is built from the template directory itself
  (`sandbox_templates/<template>/Dockerfile`) and tags `innovation-den/<template>:<version>`;
- a multi-component template is built per component from `<template dir>/<component name>/`
  and tags `innovation-den/<template>-<component>:<version>`.

A single-component template's manifest is thus part of its build context: editing it rebuilds
the (small) image once. The tag actually built is always the manifest's `image` field; the names above are the
convention the bundled manifests follow. Pure helpers (apt source parsing, debootstrap argv,
keys, hashes, the build directory) are kept apart from the I/O that uses them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from orchestrator import catalogue
from orchestrator.errors import NotFound, PermanentError, RuntimeUnavailable, ValidationFailed
from orchestrator.manifest import Component, TemplateManifest
from orchestrator.settings import Settings

BASE_IMAGE = "innovation-den/base:bookworm"
LOCAL_PREFIX = "innovation-den/"
BASE_KEY_LABEL = "innovation-den.io/base-key"
TEMPLATE_LABEL = "innovation-den.io/template"
CONTEXT_HASH_LABEL = "innovation-den.io/context-hash"
DEFAULT_CACHE_DIR = Path("/var/cache/innovation-den/images")

SUITE = "bookworm"
# python3-minimal alone lacks http.server, json and html; libpython3-stdlib adds them.
PACKAGES = ("python3-minimal", "libpython3-stdlib", "ca-certificates")
DEN_PASSWD = "den:x:10001:10001::/tmp:/usr/sbin/nologin"
DEN_GROUP = "den:x:10001:"
# Emptied in the rootfs: nothing a sandbox needs, and over half of debootstrap's output.
PRUNED_DIRS = (
    "var/cache/apt",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/log",
)
IMPORT_CHANGES = (
    "ENV PYTHONDONTWRITEBYTECODE=1",
    "ENV PYTHONUNBUFFERED=1",
    "ENV LANG=C.UTF-8",
    "WORKDIR /",
    'CMD ["python3"]',
)
# Bump when the rootfs recipe changes in a way the arguments above do not show.
RECIPE_VERSION = "1"
HASH_IGNORED = ("__pycache__", ".pyc", ".pytest_cache")


# One human-readable progress line at a time: `typer.echo`, `print` or a structlog method.
Log = Callable[[str], object]


@dataclass(frozen=True)
class BuiltImage:
    template: str
    component: str
    tag: str
    image_id: str
    context_hash: str
    built: bool  # False when an image with the same tag and context hash already existed

    def __str__(self) -> str:
        state = "built" if self.built else "up to date"
        return f"{self.tag} {state} ({self.image_id.removeprefix('sha256:')[:12]})"


@dataclass(frozen=True)
class _Job:
    manifest: TemplateManifest
    component: Component
    directory: Path


# --- pure helpers -------------------------------------------------------------------------


def _one_line_sources(text: str) -> Iterable[tuple[str, list[str]]]:
    """(uri, suites) of each `deb` line of a classic sources.list."""
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb":
            yield words[1], [words[2]]


def _deb822_sources(text: str) -> Iterable[tuple[str, list[str]]]:
    """(uri, suites) of each enabled `deb` stanza of a deb822 `.sources` file."""
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
            for uri in fields.get("uris", "").split():
                yield uri, fields.get("suites", "").split()


def debian_mirror(sources: Mapping[str, str], suite: str = SUITE) -> str:
    """The first mirror that apt uses for `suite`, from {file name: file text}."""
    for name in sorted(sources, key=lambda n: (not n.endswith("sources.list"), n)):
        parse = _deb822_sources if name.endswith(".sources") else _one_line_sources
        for uri, suites in parse(sources[name]):
            if suite in suites:
                return uri
    raise PermanentError(
        f"No Debian {suite} mirror found in /etc/apt/sources.list or sources.list.d/: "
        "the base image is made from the mirror apt already uses.",
        reason="BaseImageBuildFailed",
    )


def debootstrap_argv(mirror: str, target: Path) -> list[str]:
    return ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(target), mirror]


def base_key(mirror: str) -> str:
    """The cache key of the base image: a hash of everything that shapes it."""
    recipe = {
        "version": RECIPE_VERSION,
        "argv": debootstrap_argv(mirror, Path("ROOTFS")),
        "passwd": DEN_PASSWD,
        "group": DEN_GROUP,
        "pruned": PRUNED_DIRS,
        "changes": IMPORT_CHANGES,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:24]


def import_changes(key: str) -> list[str]:
    return [*IMPORT_CHANGES, f"LABEL {BASE_KEY_LABEL}={key}"]


def dockerfile_bases(text: str) -> list[str]:
    """The images a Dockerfile starts `FROM` (stage aliases and flags dropped)."""
    bases = []
    for line in text.splitlines():
        words = [w for w in line.split() if not w.startswith("--")]
        if len(words) >= 2 and words[0].upper() == "FROM":
            bases.append(words[1])
    return bases


def _context_files(directory: Path) -> list[Path]:
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and not any(part.endswith(HASH_IGNORED) for part in p.parts)
    )


def context_hash(directory: Path, base_ids: Iterable[str] = ()) -> str:
    """A hash of a build context: every file's path, mode and content, plus the base images."""
    digest = hashlib.sha256()
    for path in _context_files(directory):
        mode = "x" if path.stat().st_mode & 0o111 else "-"
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"{path.relative_to(directory).as_posix()}\0{mode}\0{content}\n".encode())
    for base_id in base_ids:
        digest.update(f"FROM\0{base_id}\n".encode())
    return digest.hexdigest()


def is_local_image(image: str) -> bool:
    return image.startswith(LOCAL_PREFIX)


def component_build_dir(template_dir: Path, manifest: TemplateManifest, component: str) -> Path:
    """Where a component's image is built from (the convention in the module docstring)."""
    if len(manifest.spec.components) == 1:
        return template_dir
    return template_dir / component


def expected_image(manifest: TemplateManifest, component: str) -> str:
    """The image name the convention gives a bundled component."""
    name, version = manifest.metadata.name, manifest.metadata.version
    if len(manifest.spec.components) == 1:
        return f"{LOCAL_PREFIX}{name}:{version}"
    return f"{LOCAL_PREFIX}{name}-{component}:{version}"


# --- the base image -----------------------------------------------------------------------


def find_debian_mirror(etc_apt: Path = Path("/etc/apt")) -> str:
    files = [etc_apt / "sources.list", *sorted((etc_apt / "sources.list.d").glob("*"))]
    sources = {
        str(f): f.read_text(errors="replace")
        for f in files
        if f.is_file() and f.name.endswith((".list", ".sources"))
    }
    return debian_mirror(sources)


def ensure_base_image(client: Any, *, cache_dir: Path = DEFAULT_CACHE_DIR, log: Log) -> str:
    """The id of `innovation-den/base:bookworm`, made (or re-imported) only when missing."""
    mirror = find_debian_mirror()
    key = base_key(mirror)
    existing = _labelled_image(client, BASE_IMAGE, BASE_KEY_LABEL, key)
    if existing:
        log(f"{BASE_IMAGE} is up to date (recipe {key})")
        return existing
    tarball = cache_dir / f"base-{SUITE}-{key}.tar"
    if not tarball.exists():
        log(f"making the base rootfs with debootstrap from {mirror} (about two minutes)")
        _build_rootfs_tarball(mirror, tarball)
    log(f"importing {tarball} as {BASE_IMAGE}")
    repository, tag = BASE_IMAGE.rsplit(":", 1)
    client.api.import_image_from_file(
        str(tarball), repository=repository, tag=tag, changes=import_changes(key)
    )
    return str(client.images.get(BASE_IMAGE).id)


def _labelled_image(client: Any, tag: str, label: str, value: str) -> str | None:
    """The id of image `tag` if it exists and carries `label=value`."""
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    labels = image.labels or {}
    return str(image.id) if labels.get(label) == value else None


def _build_rootfs_tarball(mirror: str, tarball: Path) -> None:
    if shutil.which("debootstrap") is None:
        raise PermanentError(
            "debootstrap is not installed: run scripts/ensure-docker first.", reason="BaseImageBuildFailed"
        )
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tarball.parent, prefix="rootfs-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp) / "root"
        _run(debootstrap_argv(mirror, root), "debootstrap")
        _finish_rootfs(root)
        partial = Path(tmp) / "rootfs.tar"
        _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], "tar")
        partial.replace(tarball)  # atomic: a cached tarball is always complete


def _finish_rootfs(root: Path) -> None:
    for relative in PRUNED_DIRS:
        for child in (root / relative).glob("*"):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    with (root / "etc/passwd").open("a") as passwd:
        passwd.write(DEN_PASSWD + "\n")
    with (root / "etc/group").open("a") as group:
        group.write(DEN_GROUP + "\n")


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-2000:]
        raise PermanentError(
            f"{what} failed (exit {result.returncode}) while making the base image.",
            reason="BaseImageBuildFailed",
            log_message=tail,
        )


# --- template images ----------------------------------------------------------------------


def load_bundled_templates(templates_dir: Path) -> dict[str, tuple[Path, TemplateManifest]]:
    """{template name: (its directory, its manifest)} for every `*/template.yaml`."""
    found = {}
    for path in sorted(templates_dir.glob("*/template.yaml")):
        try:
            manifest = catalogue.parse_manifest_text(path.read_bytes())
        except ValidationFailed as exc:
            raise ValidationFailed(exc.problems, detail=f"{path}: {exc.detail}") from exc
        found[manifest.metadata.name] = (path.parent, manifest)
    return found


def _jobs(templates_dir: Path, names: list[str] | None) -> list[_Job]:
    templates = load_bundled_templates(templates_dir)
    unknown = sorted(set(names or ()) - set(templates))
    if unknown:
        raise NotFound(
            f"No bundled template named {', '.join(unknown)}; known: {', '.join(sorted(templates))}."
        )
    return [
        _Job(manifest, component, component_build_dir(directory, manifest, component.name))
        for name, (directory, manifest) in templates.items()
        if names is None or name in names
        for component in manifest.spec.components
        if is_local_image(component.image)
    ]


def build_template_images(
    client: Any, templates_dir: Path, names: list[str] | None, *, log: Log
) -> list[BuiltImage]:
    """Build the bundled templates' images (all, or those `names`), skipping unchanged ones."""
    return [_build(client, job, log) for job in _jobs(templates_dir, names)]


def _base_ids(client: Any, dockerfile: Path) -> list[str]:
    ids = []
    for base in dockerfile_bases(dockerfile.read_text()):
        try:
            ids.append(str(client.images.get(base).id))
        except docker.errors.ImageNotFound as exc:
            raise PermanentError(
                f"{dockerfile} starts FROM {base}, which is not on this machine and cannot be "
                "pulled: make the base image first (`den images build` does).",
                reason="ImageBuildFailed",
            ) from exc
    return ids


def _build(client: Any, job: _Job, log: Log) -> BuiltImage:
    name, tag = job.manifest.metadata.name, job.component.image
    dockerfile = job.directory / "Dockerfile"
    if not dockerfile.is_file():
        raise NotFound(f"Template {name} component {job.component.name}: no {dockerfile}.")
    digest = context_hash(job.directory, _base_ids(client, dockerfile))
    existing = _labelled_image(client, tag, CONTEXT_HASH_LABEL, digest)
    if existing:
        log(f"{tag} is up to date")
        return BuiltImage(name, job.component.name, tag, existing, digest, built=False)
    log(f"building {tag} from {job.directory}")
    image_id = _docker_build(client, job, digest)
    return BuiltImage(name, job.component.name, tag, image_id, digest, built=True)


def _docker_build(client: Any, job: _Job, digest: str) -> str:
    labels = {TEMPLATE_LABEL: job.manifest.metadata.name, CONTEXT_HASH_LABEL: digest}
    previous = _labelled_image(client, job.component.image, TEMPLATE_LABEL, job.manifest.metadata.name)
    try:
        image, _ = client.images.build(
            path=str(job.directory), tag=job.component.image, labels=labels, rm=True, forcerm=True, pull=False
        )
    except (docker.errors.BuildError, docker.errors.APIError) as exc:
        raise PermanentError(
            f"Building {job.component.image} failed: {exc}", reason="ImageBuildFailed"
        ) from exc
    if previous and previous != image.id:
        _remove_quietly(client, previous)
    return str(image.id)


def _remove_quietly(client: Any, image_id: str) -> None:
    """Drop the image a rebuild replaced; one still in use by a container is kept."""
    with contextlib.suppress(docker.errors.APIError):
        client.images.remove(image_id, noprune=False)


# --- the whole job, for `den images build` --------------------------------------------------


def build_all(
    templates_dir: Path,
    names: list[str] | None,
    *,
    settings: Settings,
    log: Log,
    cache_dir: Path = DEFAULT_CACHE_DIR,
) -> list[BuiltImage]:
    """The base image, then the templates' images, on the engine `settings` name."""
    try:
        client = (
            docker.DockerClient(base_url=settings.docker_host, version="auto")
            if settings.docker_host
            else docker.from_env(version="auto")
        )
        client.ping()
    except docker.errors.DockerException as exc:
        raise RuntimeUnavailable(
            "The Docker engine does not answer: run scripts/ensure-docker.", log_message=str(exc)
        ) from exc
    try:
        ensure_base_image(client, cache_dir=cache_dir, log=log)
        return build_template_images(client, templates_dir, names, log=log)
    finally:
        client.close()
