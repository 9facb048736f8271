"""Backup and restore of the embedded database (docs/operating-ha.md), on the real Docker
engine: `den db backup` while `den serve` runs with trials live; the service stopped (its
sandboxes run on); the backup restored into a new data directory; a new instance started on
it. The new instance tears down what it inherits when it is due (a trial the backup thinks
is Ready, but whose time ran out and which the old instance already removed; a trial due
later, at its `expires_at`), sweeps what the backup does not know (a trial started after the
backup) as an orphan, and at the end nothing of the instance is left on the engine.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import pytest

from orchestrator.images import build_all
from orchestrator.settings import Settings
from tests.e2e.engine import remove_instance
from tests.e2e.server import ROOT, Server
from tests.reliability.runtimes import docker_inventory

pytestmark = pytest.mark.docker
TEMPLATE = "open-data-dashboard"


@pytest.fixture
def engine() -> Iterator[Any]:
    client = docker.from_env()
    client.ping()
    build_all(ROOT / "sandbox_templates", [TEMPLATE], settings=Settings(), log=lambda _l: None)
    yield client
    client.close()


def _wait(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_a_restored_backup_tears_down_what_it_inherits_and_sweeps_the_rest(
    engine: Any, tmp_path: Path
) -> None:
    settings = {"DEN_SWEEP_INTERVAL": "3", "DEN_LIVENESS_INTERVAL": "2"}
    old = Server(data_dir=tmp_path / "old", env=settings)
    new = Server(data_dir=tmp_path / "new", env={**settings, "DEN_INSTANCE": old.instance})
    old.data_dir.mkdir()
    try:
        old.start(timeout=90)
        soon = old.launch(TEMPLATE, duration=20)  # due before the new instance starts
        later = old.launch(TEMPLATE, duration=90)  # due after it started
        for trial in (soon, later):
            old.wait_for(trial["id"], "Ready", timeout=90)

        backup = tmp_path / "backups" / "den.db"
        made = old.spawn("db", "backup", str(backup), log_name="backup.log")
        assert made.wait(timeout=60) == 0, (old.data_dir / "backup.log").read_text()
        assert "backed up to" in (old.data_dir / "backup.log").read_text()
        with closing(sqlite3.connect(backup)) as copy:
            phases = dict(copy.execute("SELECT id, phase FROM trial").fetchall())
        assert phases == {soon["id"]: "Ready", later["id"]: "Ready"}, phases

        unknown = old.launch(TEMPLATE, duration=600)  # not in the backup
        old.wait_for(unknown["id"], "Ready", timeout=90)
        assert old.wait_for(soon["id"], "Stopped", timeout=60)["reason"] == "Expired"
        old.stop()  # a stopped service leaves its sandboxes running
        assert set(docker_inventory(engine, old.instance)) == {later["id"], unknown["id"]}

        # The restore (docs/operating-ha.md): the service stopped, the file in place, started.
        new.data_dir.mkdir()
        shutil.copyfile(backup, new.data_dir / "den.db")
        new.start(timeout=90)
        inherited = new.wait_for(soon["id"], "Stopped", timeout=30)
        assert inherited["reason"] == "Expired"  # torn down (already gone: that converges)
        _wait(
            "the trial unknown to the backup swept as an orphan",
            lambda: unknown["id"] not in docker_inventory(engine, old.instance),
            timeout=30,
        )
        assert new.call("GET", f"/api/v1/trials/{unknown['id']}").status_code == 404
        assert new.trial(later["id"])["phase"] == "Ready"

        ended = new.wait_for(later["id"], "Stopped", timeout=90)
        assert ended["reason"] == "Expired"
        stopping = next(
            datetime.fromisoformat(e["at"])
            for e in new.events(later["id"])
            if e["kind"] == "Transition" and e["phase"] == "Stopping"
        )
        due = datetime.fromisoformat(later["expires_at"])
        assert 0 <= (stopping - due).total_seconds() < 3, (stopping, due)
        assert docker_inventory(engine, old.instance) == {}
    finally:
        old.stop()
        new.stop()
        remove_instance(engine, old.instance)
