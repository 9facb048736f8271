"""Watching trials: a chunked stream of JSON lines, fed by polling the database cheaply.

Every write to a trial sets its indexed `updated_at`, so each poll reads only the trials written
since the last one (less a margin, because a row is stamped before its transaction commits and
another process may stamp it with a clock a little behind ours); what was already sent
unchanged is skipped. The stream starts with every matching trial (`ADDED`), like
`kubectl get -w`, then sends each change (`MODIFIED`), and ends after `timeout` seconds.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import anyio
from sqlalchemy import Engine
from sqlmodel import Session

from api import presenters
from orchestrator import crud
from orchestrator.models import Trial, User
from orchestrator.sandbox_hosts import SandboxAddress
from orchestrator.settings import RateCard

MARGIN = timedelta(seconds=5)


@dataclass(frozen=True)
class WatchSpec:
    user: User
    selectors: crud.TrialFilter
    sandboxes: SandboxAddress
    interval: float
    timeout: int
    rate_card: RateCard | None = None


@dataclass
class _Cursor:
    """What one watcher has sent: each trial's `updated_at`, and the newest stamp seen."""

    sent: dict[str, datetime | None] = field(default_factory=dict)
    since: datetime | None = None


async def trials(engine: Engine, spec: WatchSpec) -> AsyncIterator[bytes]:
    cursor = _Cursor()
    deadline = anyio.current_time() + spec.timeout
    while True:
        lines = await anyio.to_thread.run_sync(partial(_poll, engine, spec, cursor))
        for line in lines:
            yield line
        left = deadline - anyio.current_time()
        if left <= 0:
            return
        await anyio.sleep(min(spec.interval, left))


def _poll(engine: Engine, spec: WatchSpec, cursor: _Cursor) -> list[bytes]:
    now = datetime.now(UTC)
    with Session(engine) as session:
        since = cursor.since - MARGIN if cursor.since else None
        rows = [
            row
            for row in crud.changed_trials(session, user=spec.user, since=since, selectors=spec.selectors)
            if row.id not in cursor.sent or cursor.sent[row.id] != row.updated_at
        ]
        items = presenters.trials(
            session, rows, now=now, sandboxes=spec.sandboxes, rate_card=spec.rate_card
        ).items
    lines = [
        _line("MODIFIED" if row.id in cursor.sent else "ADDED", item.model_dump(mode="json"))
        for row, item in zip(rows, items, strict=True)
    ]
    _advance(cursor, rows)
    return lines


def _advance(cursor: _Cursor, rows: list[Trial]) -> None:
    for row in rows:
        cursor.sent[row.id] = row.updated_at
        if row.updated_at is not None and (cursor.since is None or row.updated_at > cursor.since):
            cursor.since = row.updated_at
    if cursor.since is None:
        # Nothing stamped yet: from now on, only what is written from now (less the margin).
        cursor.since = datetime.now(UTC)


def _line(kind: str, obj: object) -> bytes:
    return (json.dumps({"type": kind, "object": obj}) + "\n").encode()
