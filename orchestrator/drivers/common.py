"""What every runtime does alike: the rules a sandbox follows whatever runs it.

Pure: no SDK and no I/O. `docker/specs.py` and `kubernetes/manifests.py` build their runtime's
objects from these, and both drivers read endpoints and failures through them, so each rule
below is written once and holds on Docker and on Kubernetes alike:

- Labels: every resource carries the trial id, the managed-by marker, the instance that made
  it and the template; a component's resources carry the component's name too.
- User: a sandbox runs as uid and gid 10001, never root.
- Environment: the component's env, then the trial's parameters (the user's choices override
  the supplier's defaults), then the reserved `DEN_*` variables. A parameter may not name a
  reserved variable (`orchestrator.manifest.is_reserved_env`): that is refused, never silently
  dropped. `HOME` is the component's first writable path unless its env sets one, since uid
  10001 has no home of its own and the root filesystem is read-only; a component that declares
  no writable path keeps whatever `HOME` its image gives (nowhere is writable for it then).
- Writable paths: in-memory tmpfs, each at most 64 MiB and a quarter of the component's memory
  (what a tmpfs holds is charged to the component's memory).
- Endpoints: one per exposed port, the first keyed by the component's name and the others
  `<component>-<port name>`, each `http://host:port/` (an IPv6 host in brackets).
- Failures: a failed component's message ends with its last log lines (at most 10, each cut to
  300 characters, the whole within the 2,000 characters a trial's message holds).
"""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.drivers.base import (
    COMPONENT_LABEL,
    INSTANCE_LABEL,
    MANAGED_LABEL,
    MANAGED_VALUE,
    TEMPLATE_LABEL,
    TRIAL_LABEL,
    TrialSpec,
)
from orchestrator.errors import Problem, ValidationFailed
from orchestrator.manifest import Component, Port, is_reserved_env, parse_memory

SANDBOX_UID = 10001
TMPFS_MAX_BYTES = 64 * 2**20
FAILED_LOG_LINES = 10
LOG_LINE_CHARS = 300
MESSAGE_CHARS = 2000  # a trial's `message` column


def labels(spec: TrialSpec, component: str | None = None) -> dict[str, str]:
    """The labels of a trial's resources (of one component's, given its name)."""
    found = {
        TRIAL_LABEL: spec.trial_id,
        MANAGED_LABEL: MANAGED_VALUE,
        INSTANCE_LABEL: spec.instance,
        TEMPLATE_LABEL: spec.template,
    }
    if component is not None:
        found[COMPONENT_LABEL] = component
    return found


def check_parameters(spec: TrialSpec) -> None:
    """Refuse a trial whose parameters name a reserved variable, naming each one."""
    problems = [
        Problem(
            f"parameters.{name}",
            f"{name} is reserved and cannot be set by a parameter",
            "rename the parameter",
        )
        for name in spec.parameters_env
        if is_reserved_env(name)
    ]
    if problems:
        raise ValidationFailed(problems)


def environment(spec: TrialSpec, component: Component) -> dict[str, str]:
    """Component env < trial parameters < the driver's own `DEN_*` variables; `HOME` as above."""
    check_parameters(spec)
    env = {**component.env, **spec.parameters_env}
    if "HOME" not in env and component.writable_paths:
        env["HOME"] = component.writable_paths[0]
    env.update({"DEN_TRIAL_ID": spec.trial_id, "DEN_COMPONENT": component.name})
    return env


def tmpfs_bytes(component: Component) -> int:
    """The size of each of the component's writable paths."""
    return min(TMPFS_MAX_BYTES, parse_memory(component.resources.memory) // 4)


def exposed_ports(component: Component) -> list[tuple[str, Port]]:
    """(endpoint key, port) of each exposed port: the first is keyed by the component name."""
    exposed = [p for p in component.ports if p.expose]
    return [
        (component.name if i == 0 else f"{component.name}-{port.name}", port)
        for i, port in enumerate(exposed)
    ]


def url(host: str, port: int | str) -> str:
    """`http://host:port/`; an unspecified address is reached on loopback."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def endpoints(component: Component, target: Callable[[int], tuple[str, int] | None]) -> dict[str, str]:
    """The component's endpoint URLs: `target(container port)` says where this machine reaches
    a port (host, port), or None while it cannot (that endpoint is left out)."""
    found = {}
    for key, port in exposed_ports(component):
        where = target(port.container_port)
        if where is not None:
            found[key] = url(*where)
    return found


def with_last_lines(failure: str, output: str) -> str:
    """`failure`, followed by the last lines of the component's `output` when there are any."""
    lines = "\n".join(line[:LOG_LINE_CHARS] for line in output.strip().splitlines()[-FAILED_LOG_LINES:])
    return f"{failure}; last log lines:\n{lines}"[:MESSAGE_CHARS] if lines else failure
