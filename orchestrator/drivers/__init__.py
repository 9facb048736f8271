"""Runtime drivers: the only code that creates, observes and removes sandboxes.

`base.py` is the contract; `docker/` and `kubernetes/` implement it. `load_driver` picks one by
name, importing it lazily so that a Docker-only install never needs a cluster client to work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator.errors import DenError, RuntimeUnavailable

if TYPE_CHECKING:
    from orchestrator.drivers.base import Driver
    from orchestrator.settings import Settings


def load_driver(settings: Settings) -> Driver:
    if settings.driver == "docker":
        from orchestrator.drivers.docker.driver import DockerDriver

        return DockerDriver.from_settings(settings)
    from orchestrator.drivers.kubernetes.driver import KubernetesDriver

    return KubernetesDriver.from_settings(settings)


_shared_lock = threading.Lock()


def shared_driver(state: Any) -> Driver:
    """The process's driver for the API and pages (`state.driver`, an app's state), made on
    first use, after a request passed its checks: an API that never reads logs or publishes a
    version never needs a runtime."""
    with _shared_lock:
        if getattr(state, "driver", None) is None:
            try:
                state.driver = load_driver(state.settings)
            except DenError:
                raise
            except Exception as exc:  # a runtime client that cannot even be configured
                raise RuntimeUnavailable(
                    f"the {state.settings.driver} runtime cannot be reached from the API"
                ) from exc
        driver: Driver = state.driver
        return driver


def image_pinner(state: Any) -> Callable[[str], str]:
    """`pin_image` of the shared driver, made only when a version is really being pinned."""
    return lambda image: shared_driver(state).pin_image(image)
