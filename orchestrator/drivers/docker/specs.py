"""Pure builders for the Docker driver: names, labels and the arguments of every Docker call.

Nothing here imports `docker` or does I/O, so every hardening decision is a plain value that unit
tests can assert without a daemon (`tests/unit/test_docker_specs.py`). `driver.py` passes these
dicts straight to the docker SDK.

The decisions, in one place:

- Names: the trial's network is `den-<trial id>`, a component's container
  `den-<trial id>-<component>`; the component name is its DNS alias on the trial network (and
  its hostname), so components reach each other as `http://<component>:<port>/`.
- Labels: every network, container and volume carries the trial id, the managed-by marker and,
  on containers, the component name, so a sweep finds every orphan by label alone.
- Isolation: the trial network is `internal` (no route out, no DNS forwarding) unless the
  template declares egress. Docker does not publish ports of containers on an internal network,
  so the host reaches an endpoint on the container's own address on the trial bridge (see
  `driver.py`); the port bindings below, on `docker_publish_host` with an ephemeral host port,
  take effect only on networks with egress and are loopback-only whenever they do. Every trial
  bridge is named `dn<hash>` for the host firewall (`firewall.py`), which keeps every sandbox
  off the host and lets one with egress reach only its declared destinations; the network's
  `innovation-den.io/egress-to` label records those destinations as resolved at start, and
  their names go into the containers' `/etc/hosts`.
- Hardening, always: read-only root filesystem with small `noexec,nosuid,nodev` tmpfs mounts for
  `writable_paths` (and over any `VOLUME` the image declares, so no anonymous volume is ever
  writable), every capability dropped, `no-new-privileges`, uid/gid 10001, never privileged,
  no binds, no mounts, no devices, the Docker socket never present, CPU/memory/PID limits from
  the manifest with swap disabled, no restart, a bounded json-file log.
- Environment, tmpfs sizes, labels, endpoint keys and URLs: the rules both runtimes share
  (`orchestrator/drivers/common.py`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from orchestrator.drivers import common
from orchestrator.drivers.base import COMPONENT_LABEL, INSTANCE_LABEL, TRIAL_LABEL, TrialSpec
from orchestrator.drivers.docker import firewall
from orchestrator.errors import PermanentError
from orchestrator.manifest import Component, parse_cpu, parse_memory

PREFIX = "den-"
SANDBOX_USER = f"{common.SANDBOX_UID}:{common.SANDBOX_UID}"
TMPFS_OPTIONS = "rw,noexec,nosuid,nodev"
LOG_CONFIG: dict[str, Any] = {"type": "json-file", "config": {"max-size": "10m", "max-file": "2"}}
# Trial ids become part of Docker object names: keep them to what every Docker name accepts.
_TRIAL_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")


def check_trial_id(trial_id: str) -> str:
    if not _TRIAL_ID.match(trial_id):
        raise PermanentError(
            f"Trial id {trial_id!r} cannot name Docker objects: use letters, digits, '_', '.' "
            "or '-', at most 63 characters, starting with a letter or digit.",
            reason="InvalidTrialId",
        )
    return trial_id


def network_name(trial_id: str) -> str:
    return f"{PREFIX}{check_trial_id(trial_id)}"


def container_name(trial_id: str, component: str) -> str:
    return f"{PREFIX}{check_trial_id(trial_id)}-{component}"


def trial_filter(trial_id: str | None = None, *, instance: str | None = None) -> dict[str, list[str]]:
    """A Docker list filter: resources of one trial, or (None) of any trial of `instance`."""
    if trial_id is not None:
        return {"label": [f"{TRIAL_LABEL}={trial_id}"]}
    return {"label": [TRIAL_LABEL, f"{INSTANCE_LABEL}={instance or 'default'}"]}


def network_kwargs(spec: TrialSpec, allowed: Sequence[firewall.Destination] = ()) -> dict[str, Any]:
    """The trial network: its bridge named for the host firewall, and what it may reach (the
    declared destinations as resolved at start) recorded on it, so that every later start
    and every container sees the same addresses."""
    return {
        "name": network_name(spec.trial_id),
        "driver": "bridge",
        "internal": not spec.egress,
        "check_duplicate": True,
        "options": {firewall.BRIDGE_OPTION: firewall.bridge_name(spec.trial_id)},
        "labels": {**common.labels(spec), firewall.EGRESS_LABEL: firewall.to_label(allowed)},
    }


def port_bindings(component: Component, publish_host: str) -> dict[str, tuple[str, None]]:
    """Each exposed port on `publish_host` with an ephemeral host port chosen by Docker."""
    return {f"{p.container_port}/tcp": (publish_host, None) for _, p in common.exposed_ports(component)}


def tmpfs_mounts(component: Component, image_volumes: Iterable[str] = ()) -> dict[str, str]:
    """Small tmpfs mounts for writable paths and over the image's `VOLUME`s."""
    options = f"{TMPFS_OPTIONS},size={common.tmpfs_bytes(component)},mode=1777"
    return dict.fromkeys([*component.writable_paths, *sorted(image_volumes)], options)


def validate(spec: TrialSpec) -> None:
    """Refuse a spec the builders would refuse, before anything is created for it."""
    check_trial_id(spec.trial_id)
    common.check_parameters(spec)


def limits(component: Component) -> dict[str, Any]:
    memory = parse_memory(component.resources.memory)
    return {
        "nano_cpus": parse_cpu(component.resources.cpu) * 1_000_000,
        "mem_limit": memory,
        "memswap_limit": memory,  # equal to the limit: no swap
        "pids_limit": component.resources.pids,
    }


def hardening() -> dict[str, Any]:
    """Settings no manifest can change."""
    return {
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "user": SANDBOX_USER,
        "privileged": False,
        "ipc_mode": "private",
        "restart_policy": {"Name": "no"},
        "log_config": LOG_CONFIG,
    }


def container_kwargs(
    spec: TrialSpec,
    component: Component,
    *,
    network: str,
    publish_host: str,
    image_volumes: Iterable[str] = (),
    allowed: Sequence[firewall.Destination] = (),
) -> dict[str, Any]:
    """Keyword arguments of `client.containers.create` for one component of a trial.

    `network` is the trial network's id (or name); `image_volumes` are the `VOLUME` paths the
    image declares, covered with tmpfs so that no Docker volume is created for them; the
    declared names among `allowed` are written into `/etc/hosts` with the addresses the
    firewall allows (the sandbox's DNS cannot look them up outside).
    """
    name = container_name(spec.trial_id, component.name)
    return {
        "image": component.image,
        "command": list(component.command) if component.command is not None else None,
        "name": name,
        "hostname": component.name,
        "labels": common.labels(spec, component.name),
        "environment": common.environment(spec, component),
        "network": network,
        "networking_config": {network: {"Aliases": [component.name]}},
        "ports": port_bindings(component, publish_host),
        "extra_hosts": firewall.extra_hosts(allowed),
        "tmpfs": tmpfs_mounts(component, image_volumes),
        "use_config_proxy": False,  # never inject the client's proxy settings into the env
        **limits(component),
        **hardening(),
    }


def component_of(labels: Mapping[str, str] | None) -> str:
    return (labels or {}).get(COMPONENT_LABEL, "")
