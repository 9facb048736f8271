"""The multi-node kind cluster (`scripts/kind`), for tests that need more than one node.

`scripts/test` brings it up and exports DEN_TEST_KIND_KUBECONFIG; a test run without it fails
in CI (never skips) and skips on a developer's machine that has no such cluster.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import require

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kind"


def kubeconfig() -> str:
    path = os.environ.get("DEN_TEST_KIND_KUBECONFIG", "")
    require(bool(path) and os.path.exists(path), "the kind cluster (scripts/kind up)")
    return path


def run(*args: str, timeout: float = 600) -> str:
    """`scripts/kind ARGS`; its stdout. A failure shows its log."""
    done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"scripts/kind {' '.join(args)} failed:\n{done.stderr[-3000:]}"
    return done.stdout


def den_settings() -> dict[str, str]:
    """The den's DEN_KUBERNETES_* settings for this cluster (its ranges, the host's source)."""
    lines = run("env").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)
