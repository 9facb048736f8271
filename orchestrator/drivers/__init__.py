"""Runtime drivers: the only code that creates, observes and removes sandboxes.

`base.py` is the contract; `docker/` and `kubernetes/` implement it. `load_driver` picks one by
name, importing it lazily so that a Docker-only install never needs a cluster client to work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.drivers.base import Driver
    from orchestrator.settings import Settings


def load_driver(settings: Settings) -> Driver:
    if settings.driver == "docker":
        from orchestrator.drivers.docker.driver import DockerDriver

        return DockerDriver.from_settings(settings)
    from orchestrator.drivers.kubernetes.driver import KubernetesDriver

    return KubernetesDriver.from_settings(settings)
