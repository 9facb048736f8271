"""Pinning an image by digest on Kubernetes: pure, no client.

The kubelet reports the images each node holds (`status.images[].names`: tags such as
`docker.io/team/app:1.0` and digests such as `docker.io/team/app@sha256:...`). A version being
published is pinned to the digest a node holds under the reviewed tag, so a tag moved later
never changes what its trials run. An image already named by digest is kept as written.
"""

from __future__ import annotations

from collections.abc import Iterable

DEFAULT_REGISTRY = "docker.io"


def normalised(image: str) -> str:
    """`app` -> `docker.io/library/app:latest`, `team/app:1` -> `docker.io/team/app:1`; the
    form a kubelet reports."""
    name, at, digest = image.partition("@")
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = f"{DEFAULT_REGISTRY}/{name if rest else 'library/' + name}"
    if not at and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return f"{name}@{digest}" if at else name


def repository(image: str) -> str:
    """The image's repository, without tag or digest (as the reference was written)."""
    name = image.partition("@")[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: len(name) - len(last[-1]) + last[-1].index(":")]
    return name


def digest_of(image: str, node_images: Iterable[Iterable[str]]) -> str | None:
    """`repository@sha256:...` of the first node image known by `image`'s tag, or None."""
    if "@sha256:" in image:
        return image
    wanted = normalised(image)
    wanted_repository = repository(wanted)
    for names in node_images:
        listed = list(names)
        if wanted not in listed:
            continue
        for name in listed:
            if "@sha256:" in name and repository(name) == wanted_repository:
                return f"{repository(image)}@{name.partition('@')[2]}"
    return None
