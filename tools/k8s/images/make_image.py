#!/usr/bin/env python3
"""make_image.py REF OUT.tar ENTRYPOINT_JSON CMD_JSON FILE...

Writes a `docker save`-format archive of a single-layer FROM-scratch image holding FILE... at /
(no registry, no Docker engine needed): containerd's `ctr images import` and `docker load` read
it. Used by scripts/testbed and scripts/kind.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tarfile

# A minimal passwd/group, so that runAsUser 65534 has a name (some tools ask).
ACCOUNTS = (
    ("etc/passwd", b"root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"),
    ("etc/group", b"root:x:0:\nnogroup:x:65534:\n"),
)


def _member(name: str, body: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size = len(body)
    info.mode = 0o644
    return info, io.BytesIO(body)


def layer(files: list[str]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("etc", "tmp"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        for name, body in ACCOUNTS:
            tar.addfile(*_member(name, body))
        for path in files:
            info = tar.gettarinfo(path, arcname=os.path.basename(path))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            with open(path, "rb") as handle:
                tar.addfile(info, handle)
    return out.getvalue()


def write_image(ref: str, out: str, entrypoint: list[str], cmd: list[str], files: list[str]) -> None:
    layer_bytes = layer(files)
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": entrypoint, "Cmd": cmd or None, "Env": ["PATH=/"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "innovation-den scripts/testbed"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": ["layer/layer.tar"]}]
    with tarfile.open(out + ".tmp", "w") as tar:
        for name, body in (
            (config_name, config_bytes),
            ("layer/layer.tar", layer_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            tar.addfile(*_member(name, body))
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    write_image(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5:])
