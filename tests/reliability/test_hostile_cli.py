"""`denctl apply -f` with the hostile files of the corpus (all of them with
DEN_RELIABILITY_SCALE=full), as a real process against a real
`den serve` on the Docker engine: each is refused with the field named, quickly (an alias bomb
must not expand in the client either), and nothing is stored or made in the engine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import ROOT, TOKEN, Server
from tests.reliability.conftest import SCALE
from tests.reliability.hostile_corpus import HOSTILE, Hostile, corpus
from tests.reliability.runtimes import docker_inventory

pytestmark = pytest.mark.docker
#: At the CI size, one file of each kind of attack (a process each: a second apiece); the API
#: tests send every file in process.
CI_CASES = {
    "alias-bomb",
    "alias-bomb-trial",
    "privileged",
    "host-path",
    "name-traversal",
    "parameter-traversal",
    "image-shell",
    "remote-ref",
    "deep-nesting",
}


def apply(server: Server, path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DEN_SERVER": server.url,
        "DEN_TOKEN": TOKEN,
        "DENCTL_CONFIG": str(home / "config.yaml"),
    }
    return subprocess.run(
        [sys.executable, "-m", "cli.denctl", "apply", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )


def stored(server: Server) -> tuple[Any, Any]:
    return (server.call("GET", "/api/v1/templates").json(), server.call("GET", "/api/v1/trials").json())


def test_denctl_apply_refuses_every_hostile_file_and_nothing_is_made(
    docker_server: Server, docker_engine: Any, tmp_path: Path
) -> None:
    cases: list[Hostile] = corpus() + corpus("Trial")
    assert len(cases) == len(list(HOSTILE.glob("*.yaml")))
    if SCALE == "ci":
        cases = [hostile for hostile in cases if hostile.name in CI_CASES]
    before = stored(docker_server)
    for hostile in cases:
        result = apply(docker_server, HOSTILE / f"{hostile.name}.yaml", tmp_path)
        assert result.returncode == 1, (hostile.name, result.stdout, result.stderr)
        assert f"  - {hostile.field}: " in result.stderr, (hostile.name, result.stderr)
    assert stored(docker_server) == before
    assert docker_inventory(docker_engine, docker_server.instance) == {}
