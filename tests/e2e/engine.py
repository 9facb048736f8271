"""The Docker engine (and the host firewall beside it) as the end-to-end tests see it: what a
trial left, and clean-up."""

from __future__ import annotations

import contextlib
import subprocess
from typing import Any

import docker.errors

from orchestrator.drivers.base import INSTANCE_LABEL, TRIAL_LABEL
from orchestrator.drivers.docker import firewall
from orchestrator.drivers.docker.nft import Nftables


def leftovers(client: Any, trial_id: str) -> list[str]:
    """Every container, network and volume still labelled with the trial, and its chain in
    the host firewall if that is still there."""
    selector = {"label": f"{TRIAL_LABEL}={trial_id}"}
    bridge = firewall.bridge_name(trial_id)
    return (
        [c.name for c in client.containers.list(all=True, ignore_removed=True, filters=selector)]
        + [n.name for n in client.networks.list(filters=selector)]
        + [v.name for v in client.volumes.list(filters=selector)]
        + ([f"nftables/{bridge}"] if f'"{bridge}"' in _firewall_map() else [])
    )


def _firewall_map() -> str:
    return subprocess.run(
        ["nft", "-j", "list", "map", *firewall.TABLE.split(), firewall.MAP],
        capture_output=True,
        text=True,
        check=False,
    ).stdout


def remove_instance(client: Any, instance: str) -> None:
    """Remove whatever an orchestrator `instance` left in the engine (a test's clean-up, so
    the engine is left as found even after a failure)."""
    selector = {"label": f"{INSTANCE_LABEL}={instance}"}
    for container in client.containers.list(all=True, ignore_removed=True, filters=selector):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True, v=True)
    for network in client.networks.list(filters=selector):
        with contextlib.suppress(docker.errors.NotFound):
            network.remove()
    for volume in client.volumes.list(filters=selector):
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)
    rules = Nftables()
    for trial_id in rules.trials(instance=instance):
        rules.remove(trial_id)
