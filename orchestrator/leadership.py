"""Leadership: of several reconcilers, exactly one acts; the others stand by and take over.

A `Leadership` keeps one flag, read by the reconciler before every piece of work
(`is_leader()`: no I/O, a float compared with the monotonic clock). A keeper thread turns every
`DEN_LEADER_RENEW_INTERVAL` seconds: the leader confirms its claim, a standby tries to take it.
The flag is a deadline, not a boolean: each confirmation keeps it up for the claim's
`validity` seconds from the moment the confirmation started, so a leader whose keeper is stuck
(a hung connection) stops acting by itself. A confirmation that says the claim is gone takes
the flag down at once, before anything else happens; a leader that lost its claim waits one
more interval before trying again, so that a healthy standby takes over first.

The claims (`DEN_LEADER_ELECTION`, `choose()`):
- `postgres`: `pg_try_advisory_lock` on a connection of its own (not the pool), confirmed by
  asking the server whether this session still holds it, under a short statement timeout and
  with TCP keepalives both ways. The server drops a dead session's locks when its socket
  closes (the process killed, the backend terminated), so a standby may get the lock while the
  old leader's flag is still up: it waits `grace` (the old flag's longest life) before acting.
- `kubernetes`: a Lease (`orchestrator.drivers.kubernetes.lease`).
- `sqlite`: an exclusive `flock` on a file beside the database. One machine's processes share
  an SQLite file, so a second reconciler on it stands by and takes over when the first exits
  (the kernel releases the lock of a dead process); the single-process mode is unchanged.
- `none`: always the leader.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

import structlog
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from orchestrator import metrics
from orchestrator.errors import PermanentError
from orchestrator.settings import Settings

log = structlog.get_logger("leadership")
Kind = Literal["none", "sqlite", "postgres", "kubernetes"]
#: The reconcilers' advisory lock ("denL"); orchestrator.db.STARTUP_LOCK is another one.
LEADER_LOCK = 0x64656E4C


class Claim(Protocol):
    """One way to be the leader. `acquire` and `renew` return whether this process holds the
    claim; raising means "cannot tell" (the flag then stays up until its deadline)."""

    name: str
    grace: float  # seconds to wait after acquiring before acting
    validity: float  # seconds a confirmation keeps the flag up

    def describe(self) -> str: ...
    def acquire(self, *, now: datetime, at: float) -> bool: ...
    def renew(self, *, now: datetime, at: float) -> bool: ...
    def release(self) -> None: ...
    def retry_in(self, *, at: float) -> float | None: ...


def choose(settings: Settings, *, in_cluster: bool) -> Kind:
    """Pure: which claim `DEN_LEADER_ELECTION` means for this process."""
    url = settings.effective_database_url
    postgres = url.startswith("postgresql")
    memory = url in ("sqlite://", "sqlite:///:memory:")
    wanted = settings.leader_election
    if wanted == "postgres" and not postgres:
        raise PermanentError(
            "DEN_LEADER_ELECTION=postgres needs a PostgreSQL database: set "
            "DEN_DATABASE_URL, or DEN_LEADER_ELECTION=auto",
            reason="BadSetting",
        )
    if wanted != "auto":
        return wanted
    if settings.driver == "kubernetes" and in_cluster:
        return "kubernetes"
    if postgres:
        return "postgres"
    return "none" if memory else "sqlite"


def identity(settings: Settings) -> str:
    return settings.leader_identity or f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class Leadership:
    claim: Claim
    interval: float
    #: Called (in the keeper thread) when this process becomes the leader: wake the loop.
    on_gain: Callable[[], None] = lambda: None
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: monotonic time of the keeper's latest turn (a standby's health).
    last_tick: float = field(default_factory=time.monotonic)
    _until: float = 0.0
    _held: bool = False
    _leading: bool = False
    _acting_from: float = 0.0
    _retry_at: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def is_leader(self) -> bool:
        """Cheap (no I/O): whether the flag's deadline is still ahead."""
        return self._until > self.monotonic()

    def start(self) -> Leadership:
        """The first turn here (a single process leads from its first pass), then the keeper."""
        metrics.LEADER.set(0)
        self._stop.clear()
        delay = self._safe_tick()
        self._thread = threading.Thread(target=self._keep, args=(delay,), name="leadership", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the keeper and give the claim up (call once the reconciler has stopped)."""
        self._stop.set()
        self._until = 0.0
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 10)
            if self._thread.is_alive():  # stuck in a call: the process's exit ends the claim
                return
        self._until = 0.0  # again: a turn under way when the stop was asked may have renewed it
        self._leading = False
        metrics.LEADER.set(0)
        if self._held:
            self._held = False
            self.claim.release()
            log.info("leadership_released", claim=self.claim.describe())

    # --- the keeper ----------------------------------------------------------------------

    def _keep(self, delay: float) -> None:
        while not self._stop.wait(delay):
            delay = self._safe_tick()

    def _safe_tick(self) -> float:
        try:
            return self.tick()
        except Exception:  # the keeper must outlive anything; the flag's deadline still holds
            log.exception("leadership_error")
            return self.interval

    def tick(self) -> float:
        """One turn: confirm or try the claim; returns the seconds until the next turn."""
        at, now = self.monotonic(), self.wall()
        self.last_tick = at
        if not self._held:
            if at < self._retry_at:
                return self._retry_at - at
            if not self._attempt(now=now, at=at):
                hint = self.claim.retry_in(at=at)
                return self.interval if hint is None else max(0.05, min(self.interval, hint))
            self._held, self._acting_from = True, at + self.claim.grace
            log.info("leadership_acquired", claim=self.claim.describe(), acting_in=self.claim.grace)
        else:
            confirmed = self._confirm(now=now, at=at)
            if confirmed is False or (confirmed is None and at >= self._until and self._leading):
                self._lose("lost its claim" if confirmed is False else "could not renew in time", at=at)
                return self.interval
            if confirmed is None:
                return self.interval
        if at < self._acting_from:
            return min(self.interval, self._acting_from - at)
        self._until = at + self.claim.validity
        if not self._leading:
            self._leading = True
            metrics.LEADER.set(1)
            log.info("leadership_gained", claim=self.claim.describe())
            self.on_gain()
        return self.interval

    def _attempt(self, *, now: datetime, at: float) -> bool:
        try:
            return self.claim.acquire(now=now, at=at)
        except Exception as exc:  # cannot reach the database or the cluster: a standby still
            log.warning("leadership_unavailable", claim=self.claim.describe(), error=str(exc))
            return False

    def _confirm(self, *, now: datetime, at: float) -> bool | None:
        try:
            return self.claim.renew(now=now, at=at)
        except Exception as exc:
            log.warning("leadership_renewal_failed", claim=self.claim.describe(), error=str(exc))
            return None

    def _lose(self, why: str, *, at: float) -> None:
        self._drop(why)  # the flag first: nothing more is done as the leader
        self._held = False
        self._retry_at = at + 2 * self.interval
        self.claim.release()

    def _drop(self, why: str) -> None:
        self._until = 0.0
        if self._leading:
            self._leading = False
            metrics.LEADER.set(0)
            log.warning("leadership_lost", claim=self.claim.describe(), why=why)


# --- claims --------------------------------------------------------------------------------


class Always:
    """`none`: this process always leads."""

    name, grace, validity = "none", 0.0, math.inf

    def describe(self) -> str:
        return "none (every reconciler acts)"

    def acquire(self, *, now: datetime, at: float) -> bool:
        return True

    def renew(self, *, now: datetime, at: float) -> bool:
        return True

    def release(self) -> None:
        return None

    def retry_in(self, *, at: float) -> float | None:
        return None


class FileLock:
    """`sqlite`: an exclusive flock on `path`, held while the process lives. Confirmation
    checks that the file is still the one locked (a deleted and re-made file would let a
    second process lock the new one)."""

    name, grace, validity = "sqlite", 0.0, math.inf

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def describe(self) -> str:
        return f"file lock {self.path}"

    def acquire(self, *, now: datetime, at: float) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)  # who holds it, for an operator who wonders
        os.write(fd, f"{socket.gethostname()} {os.getpid()} {now.isoformat()}\n".encode())
        self._fd = fd
        return True

    def renew(self, *, now: datetime, at: float) -> bool:
        if self._fd is None:
            return False
        try:
            return os.fstat(self._fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None

    def retry_in(self, *, at: float) -> float | None:
        return None


class AdvisoryLock:
    """`postgres`: a session advisory lock on a dedicated connection (module docstring)."""

    name = "postgres"

    def __init__(self, url: str, *, interval: float) -> None:
        self.timeout = max(0.2, min(1.0, interval / 2))  # seconds a confirmation may take
        self.validity = interval + self.timeout
        # A new leader acts only once the old leader's flag is surely down: the old flag
        # lived `validity` from a confirmation that saw the lock still held.
        self.grace = self.validity
        keepalive = max(1, round(interval))
        self._engine = create_engine(
            url,
            poolclass=NullPool,
            connect_args={
                "connect_timeout": max(2, round(interval)),
                "application_name": "den-leader",
                "keepalives": 1,
                "keepalives_idle": keepalive,
                "keepalives_interval": keepalive,
                "keepalives_count": 2,
                "tcp_user_timeout": int(3000 * interval),
            },
        )
        self._where = make_url(url).render_as_string(hide_password=True)
        self._connection: Connection | None = None

    def describe(self) -> str:
        return f"advisory lock {LEADER_LOCK} on {self._where}"

    def acquire(self, *, now: datetime, at: float) -> bool:
        try:
            connection = self._connection or self._connect()
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK}
            ).scalar_one()
        except Exception:
            self._discard()
            raise
        return bool(got)

    def renew(self, *, now: datetime, at: float) -> bool:
        if self._connection is None:
            return False
        try:
            held = self._connection.execute(
                text(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND classid = :high AND objid = :low "
                    "AND objsubid = 1)"
                ),
                {"high": LEADER_LOCK >> 32, "low": LEADER_LOCK & 0xFFFFFFFF},
            ).scalar_one()
        except Exception as exc:  # the connection is gone, and with it the lock
            log.warning(
                "leadership_connection_lost",
                claim=self.describe(),
                error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
            self._discard()
            return False
        return bool(held)

    def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # closing the session releases it anyway
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_LOCK})
        self._discard()

    def retry_in(self, *, at: float) -> float | None:
        return None

    def _connect(self) -> Connection:
        connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(text(f"SET statement_timeout = {int(self.timeout * 1000)}"))
        # The server's side of the keepalives: a leader cut off by the network loses its
        # session (and so the lock) within seconds, rather than after the kernel's two hours.
        keepalive = max(1, round(self.validity / 3))
        for setting, value in (
            ("tcp_keepalives_idle", keepalive),
            ("tcp_keepalives_interval", keepalive),
            ("tcp_keepalives_count", 2),
            ("tcp_user_timeout", int(3000 * self.timeout)),
        ):
            try:
                connection.execute(text(f"SET {setting} = {value}"))
            except Exception as exc:  # an older server: the client's keepalives still work
                log.info("leadership_setting_skipped", setting=setting, error=str(exc))
        self._connection = connection
        return connection

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()
                connection.close()
            except Exception:  # already broken
                pass


def build(
    settings: Settings, *, on_gain: Callable[[], None] = lambda: None, in_cluster: bool | None = None
) -> Leadership:
    """The Leadership that `DEN_LEADER_ELECTION` asks for (not started)."""
    cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST")) if in_cluster is None else in_cluster
    kind = choose(settings, in_cluster=cluster)
    claim: Claim
    if kind == "kubernetes":
        from orchestrator.drivers.kubernetes.lease import LeaseClaim

        try:
            claim = LeaseClaim.from_settings(settings, identity=identity(settings))
        except Exception as exc:  # no in-cluster account and no kubeconfig
            raise PermanentError(
                f"leader election by Kubernetes Lease cannot reach the cluster "
                f"({exc}): set DEN_KUBECONFIG, or DEN_LEADER_ELECTION",
                reason="BadSetting",
            ) from exc
    elif kind == "postgres":
        claim = AdvisoryLock(settings.effective_database_url, interval=settings.leader_renew_interval)
    elif kind == "sqlite":
        database = make_url(settings.effective_database_url).database or ""
        claim = FileLock(Path(f"{database}.leader"))
    else:
        claim = Always()
    return Leadership(claim=claim, interval=settings.leader_renew_interval, on_gain=on_gain)
