"""The host firewall's I/O: `nft -f -` to apply a script from `firewall.py`, `nft -j` to list.

Installing rules needs CAP_NET_ADMIN (root, as dockerd itself). A den that cannot install them
must never start a sandbox without them: that is a `PermanentError` naming the cause. Listing
and removing, by contrast, tolerate a den that cannot use nft at all (it can have made no
rules), so teardown of the Docker resources is never blocked by it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from typing import Any

import structlog

from orchestrator.drivers.docker import firewall
from orchestrator.errors import PermanentError, RetryableError

log = structlog.get_logger(__name__)

TIMEOUT = 15.0  # seconds: nft answers in milliseconds; a stuck one must not stall the den
_NO_RIGHTS = ("Operation not permitted", "Permission denied")


class Unavailable(PermanentError):
    """nft is missing, or the den may not change the host's firewall."""

    reason = "HostFirewallUnavailable"


class Nftables:
    def __init__(self, command: Sequence[str] = ("nft",)) -> None:
        self.command = tuple(command)

    def apply(self, script: str, *, action: str) -> None:
        """Run `script` as one transaction; `action` says what for, in errors."""
        self._run(["-f", "-"], script, action=action)

    def trials(self, *, instance: str) -> dict[str, str]:
        """Trial id -> bridge of every trial of `instance` with rules; {} when there is no
        table yet, or when this den cannot use nft (then it made no rules either)."""
        try:
            out = self._run(
                ["-j", "list", "map", *firewall.TABLE.split(), firewall.MAP],
                "",
                action="listing sandbox firewall rules",
            )
        except Unavailable as exc:
            log.warning("host_firewall_unavailable", error=exc.log_message)
            return {}
        listing: dict[str, Any] = json.loads(out or "{}") if out.strip() else {}
        return firewall.trials_in(listing, instance=instance)

    def remove(self, trial_id: str) -> None:
        try:
            self.apply(
                firewall.removal_script(trial_id), action=f"removing the firewall rules of trial {trial_id}"
            )
        except Unavailable as exc:
            log.warning("host_firewall_unavailable", trial_id=trial_id, error=exc.log_message)

    def _run(self, args: list[str], script: str, *, action: str) -> str:
        try:
            done = subprocess.run(
                [*self.command, *args],
                input=script,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
        except FileNotFoundError as exc:
            raise Unavailable(
                f"Cannot isolate sandboxes from the host while {action}: `nft` is not "
                "installed (Debian package nftables; scripts/ensure-docker installs it). "
                "Sandboxes never run without these rules.",
                log_message=str(exc),
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise RetryableError(
                f"nft did not answer while {action}; retrying.",
                reason="HostFirewallFailed",
                log_message=str(exc),
            ) from exc
        if done.returncode == 0:
            return done.stdout
        error = done.stderr.strip()
        if "No such file or directory" in error and args[:2] == ["-j", "list"]:
            return ""  # no table yet: no rules
        if any(text in error for text in _NO_RIGHTS):
            raise Unavailable(
                f"Cannot isolate sandboxes from the host while {action}: the den may not "
                "change the host's firewall (nftables needs CAP_NET_ADMIN: run the den as "
                "root, like dockerd). Sandboxes never run without these rules.",
                log_message=error,
            )
        raise RetryableError(
            f"nft failed while {action}; retrying.", reason="HostFirewallFailed", log_message=error[:2000]
        )
