"""The sandbox template manifest (`template.yaml`): a runtime-neutral pydantic model.

A manifest says what a supplier offers: metadata, the components (image, ports, env, command,
resources, readiness probe), parameters (a small subset of JSON Schema, checked by
orchestrator/parameters.py, whose values reach the workload as environment variables), limits,
declared egress, data classification and suggested success criteria. Everything a supplier
writes is data: nothing here is ever rendered as a template.

Security is by construction: the model has no field that could ask for a privileged container,
a host path, host networking or extra capabilities, and unknown fields are refused, so such a
request fails validation with the field named. The JSON Schema of this model is published in
`sandbox_templates/README.md` (tests/unit/test_manifest_schema_doc.py keeps it current).
"""

from __future__ import annotations

import posixpath
import re
import socket
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from orchestrator import parameters

_DNS_LABEL = r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$"
# ASCII only: the pattern engine's \d and \w also match other scripts' digits and letters, which
# no runtime accepts in a label or an image reference (and which make look-alike versions).
_SEMVER = r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]{1,20})?$"
# A Docker/OCI image reference: [registry[:port]/]path[:tag][@digest]. No spaces, quotes, shell
# metacharacters or upper case in the path, so it can never smuggle anything into a command.
_IMAGE = (
    r"^(?:(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+|localhost)(?::[0-9]{1,5})?/)?"
    r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@sha256:[a-f0-9]{64})?$"
)
_ENV_NAME = r"^[A-Z_][A-Z0-9_]{0,63}$"
_PARAM_NAME = re.compile(parameters.NAME_PATTERN)
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
_MEMORY_UNITS = {
    None: 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}

#: Environment variables the workload's runtime or the driver owns: no parameter may set them.
RESERVED_ENV = frozenset(
    {
        "PATH",
        "HOME",
        "HOSTNAME",
        "USER",
        "SHELL",
        "PWD",
        "ENV",
        "BASH_ENV",
        "IFS",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONUSERBASE",
        "NODE_OPTIONS",
        "NODE_PATH",
        "PERL5OPT",
        "PERL5LIB",
        "RUBYOPT",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
    }
)
RESERVED_PREFIX = "DEN_"


def is_reserved_env(name: str) -> bool:
    return name in RESERVED_ENV or name.upper() in RESERVED_ENV or name.upper().startswith(RESERVED_PREFIX)


DnsLabel = Annotated[str, StringConstraints(pattern=_DNS_LABEL)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
LongText = Annotated[str, StringConstraints(max_length=5000)]
Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]


def parse_cpu(value: str) -> int:
    """A CPU quantity ("0.5", "500m", "2") as millicores."""
    match = _QUANTITY.match(value)
    if not match or match.group(2) not in (None, "m"):
        raise ValueError(f"{value!r} is not a CPU quantity: use cores like '0.5' or '500m'")
    number = float(match.group(1))
    return int(number if match.group(2) == "m" else number * 1000)


def parse_memory(value: str) -> int:
    """A memory quantity ("256Mi", "1Gi", "500M") as bytes."""
    match = _QUANTITY.match(value)
    if not match or match.group(2) == "m":
        raise ValueError(f"{value!r} is not a memory quantity: use e.g. '256Mi' or '1Gi'")
    return int(float(match.group(1)) * _MEMORY_UNITS[match.group(2)])


def _cpu(value: str) -> str:
    if not 10 <= parse_cpu(value) <= 8000:
        raise ValueError("CPU must be between 10m and 8 cores")
    return value


def _memory(value: str) -> str:
    if not 16 * 2**20 <= parse_memory(value) <= 32 * 2**30:
        raise ValueError("memory must be between 16Mi and 32Gi")
    return value


Cpu = Annotated[str, AfterValidator(_cpu)]
Memory = Annotated[str, AfterValidator(_memory)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


def _service_name(value: str) -> str:
    """A container port's name on Kubernetes is an IANA service name: at most 15 characters,
    at least one letter, no '--'."""
    if len(value) > 15 or "--" in value or not re.search("[a-z]", value):
        raise ValueError(
            f"port name {value!r} must be at most 15 characters, with a letter "
            "and no '--' (Kubernetes names container ports so)"
        )
    return value


class Port(_Model):
    name: Annotated[DnsLabel, AfterValidator(_service_name)] = "http"
    container_port: int = Field(ge=1024, le=65535, description="Unprivileged port (>= 1024).")
    expose: bool = Field(True, description="Give this port an endpoint URL for the trial.")


class HttpProbe(_Model):
    path: Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._~/?=&%-]{0,200}$")] = "/"
    port: int = Field(ge=1024, le=65535)


class ReadinessProbe(_Model):
    http_get: HttpProbe
    period_seconds: float = Field(1.0, gt=0, le=60)
    timeout_seconds: float = Field(1.0, gt=0, le=30)


class Resources(_Model):
    cpu: Cpu = "0.5"
    memory: Memory = "256Mi"
    pids: int = Field(256, ge=16, le=4096, description="Most processes/threads at once.")


class Component(_Model):
    name: DnsLabel
    image: Annotated[str, StringConstraints(pattern=_IMAGE, max_length=255)]
    command: list[Annotated[str, StringConstraints(max_length=1000)]] | None = Field(None, max_length=50)
    ports: list[Port] = Field(default_factory=list, max_length=10)
    env: dict[
        Annotated[str, StringConstraints(pattern=_ENV_NAME)],
        Annotated[str, StringConstraints(max_length=4096)],
    ] = Field(default_factory=dict, max_length=100)
    resources: Resources = Field(default_factory=Resources)
    readiness_probe: ReadinessProbe | None = None
    writable_paths: list[Annotated[str, StringConstraints(pattern=r"^/[a-z0-9._/-]{1,100}$")]] = Field(
        default_factory=lambda: ["/tmp"],
        max_length=5,
        description="Small tmpfs mounts; the root filesystem is read-only.",
    )

    @field_validator("writable_paths")
    @classmethod
    def _plain_unique_paths(cls, value: list[str]) -> list[str]:
        """Each a distinct mount point: '/tmp/' or '/x/..' name the same place as another path
        (or the root), which both runtimes refuse when the sandbox starts."""
        for path in value:
            if posixpath.normpath(path) != path or path == "/":
                raise ValueError(
                    f"{path!r} must be a plain absolute path below '/', such as "
                    "/tmp (no '.', '..', '//' or trailing '/')"
                )
        if len(set(value)) != len(value):
            raise ValueError("writable paths must be unique")
        return value

    @model_validator(mode="after")
    def _probe_port_declared(self) -> Component:
        if self.readiness_probe is not None:
            declared = {p.container_port for p in self.ports}
            if self.readiness_probe.http_get.port not in declared:
                raise ValueError(
                    f"readinessProbe port {self.readiness_probe.http_get.port} is not one of "
                    "the component's ports"
                )
        names = [p.name for p in self.ports]
        if len(names) != len(set(names)):
            raise ValueError("port names must be unique within a component")
        return self


#: Destinations no sandbox may ever reach, whatever the den's settings say, each with why: a
#: range that overlaps one of them (`0.0.0.0/0` contains them all) is refused as well.
NEVER_EGRESS: dict[IPv4Network | IPv6Network, str] = {
    ip_network("0.0.0.0/8"): "'this network': the machine the sandbox runs on",
    ip_network("127.0.0.0/8"): "loopback: the machine the sandbox runs on",
    ip_network("169.254.0.0/16"): "link-local, where cloud metadata services answer (169.254.169.254)",
    ip_network("224.0.0.0/4"): "multicast",
    ip_network("240.0.0.0/4"): "reserved (and broadcast)",
    ip_network("::/127"): "the unspecified and loopback IPv6 addresses",
    ip_network("fe80::/10"): "IPv6 link-local",
    ip_network("ff00::/8"): "IPv6 multicast",
}
#: DNS suffixes that only ever name something inside a machine, a site or a cluster.
INTERNAL_SUFFIXES = (
    "localhost",
    "local",
    "localdomain",
    "internal",
    "svc",
    "cluster.local",
    "home.arpa",
    "lan",
)
_EGRESS_HOST = (
    r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$"
    r"|^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$"
)


def never_reason(network: IPv4Network | IPv6Network) -> str:
    """Why no sandbox may reach (part of) `network`, or "" when nothing forbids it outright."""
    for forbidden, why in NEVER_EGRESS.items():
        if forbidden.version == network.version and forbidden.overlaps(network):
            return f"{forbidden} ({why})"
    return ""


def is_internal_name(name: str) -> bool:
    name = name.removeprefix("*.").rstrip(".")
    return any(name == suffix or name.endswith("." + suffix) for suffix in INTERNAL_SUFFIXES)


def _egress_host(value: str) -> str:
    """An address range that is a proper network and reaches none of `NEVER_EGRESS`, or a DNS
    name that is neither an address in disguise nor an obviously internal name."""
    if "/" in value:
        try:
            network = ip_network(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a network: {exc}") from exc
        reason = never_reason(network)
        if reason:
            raise ValueError(f"{value} reaches {reason}: no sandbox may ever reach it")
        return value
    last = value.rsplit(".", 1)[-1]
    if last.isdigit() or last.startswith("0x") or _inet_aton(value):
        raise ValueError(
            f"{value!r} is an address written as a name: write it as a CIDR such as 203.0.113.10/32"
        )
    if is_internal_name(value):
        raise ValueError(
            f"{value!r} is an internal name (.localhost, .local, .internal, .svc, "
            "...): sandboxes reach only public destinations"
        )
    return value


def _inet_aton(value: str) -> bool:
    try:
        socket.inet_aton(value)  # the C library reads '1.0x7f' as an address too
    except OSError:
        return False
    return True


class Egress(_Model):
    host: Annotated[str, StringConstraints(pattern=_EGRESS_HOST), AfterValidator(_egress_host)]
    ports: list[int] = Field(default_factory=lambda: [443], min_length=1, max_length=10)


class Limits(_Model):
    default_duration: int = Field(3600, ge=1, description="Seconds.")
    max_duration: int = Field(4 * 3600, ge=1, description="Seconds, including extensions.")
    max_extensions: int = Field(1, ge=0, le=10)
    cpu: Cpu = "1"
    memory: Memory = "1Gi"
    idle_timeout: int | None = Field(
        None,
        ge=1,
        le=7 * 86400,
        description="Seconds with no visit after which the sandbox sleeps (its CPU and memory "
        "released) until the next visit wakes it; absent: the den's DEN_IDLE_TIMEOUT.",
    )

    @model_validator(mode="after")
    def _default_within_max(self) -> Limits:
        if self.default_duration > self.max_duration:
            raise ValueError("defaultDuration must not be longer than maxDuration")
        return self


class Metadata(_Model):
    name: DnsLabel
    version: Annotated[str, StringConstraints(pattern=_SEMVER)]
    supplier: DnsLabel
    summary: ShortText
    description: LongText = ""
    problem_areas: list[Tag] = Field(min_length=1, max_length=10)
    tags: list[Tag] = Field(default_factory=list, max_length=20)


def _check_parameters_schema(value: dict[str, Any]) -> dict[str, Any]:
    """The parameter subset (orchestrator/parameters.py) and names safe as environment
    variables; every problem is reported at its own path below `spec.parameters`."""
    issues = _name_issues(value) + parameters.schema_problems(value)
    if issues:
        raise ValidationError.from_exception_data(
            "parameters",
            [
                InitErrorDetails(
                    type=PydanticCustomError(
                        "parameter_schema", "{message}", {"message": issue.message, "hint": issue.hint}
                    ),
                    loc=issue.path,
                    input=None,
                )
                for issue in issues
            ],
        )
    return value


def _name_issues(schema: dict[str, Any]) -> list[parameters.Issue]:
    properties = schema.get("properties")
    names = [name for name in properties if isinstance(name, str)] if isinstance(properties, dict) else []
    issues = []
    for name in names:
        path = ("properties", name[:60])
        if not _PARAM_NAME.match(name):
            issues.append(
                parameters.Issue(
                    path,
                    f"parameter name {name[:60]!r} must be lower case letters, digits and '_' "
                    "(it becomes an environment variable)",
                    "start with a letter; at most 40 characters",
                )
            )
        elif is_reserved_env(name.upper()):
            issues.append(
                parameters.Issue(
                    path,
                    f"parameter name {name!r} would set the reserved variable {name.upper()}",
                    "choose another name",
                )
            )
    if isinstance(properties, dict) and len(names) != len(properties):
        issues.append(parameters.Issue(("properties",), "parameter names must be text", "quote the names"))
    return issues


ParametersSchema = Annotated[
    dict[str, Any], AfterValidator(_check_parameters_schema), WithJsonSchema(parameters.published_schema())
]


class Spec(_Model):
    components: list[Component] = Field(min_length=1, max_length=8)
    parameters: ParametersSchema = Field(default_factory=lambda: {"type": "object", "properties": {}})
    limits: Limits = Field(default_factory=Limits)
    egress: list[Egress] = Field(default_factory=list, max_length=20)
    data_classification: Literal["synthetic", "open"]
    success_criteria: list[ShortText] = Field(default_factory=list, max_length=20)

    @field_validator("components")
    @classmethod
    def _unique_component_names(cls, value: list[Component]) -> list[Component]:
        names = [c.name for c in value]
        if len(names) != len(set(names)):
            raise ValueError("component names must be unique")
        return value

    @model_validator(mode="after")
    def _within_limits(self) -> Spec:
        cpu = sum(parse_cpu(c.resources.cpu) for c in self.components)
        memory = sum(parse_memory(c.resources.memory) for c in self.components)
        if cpu > parse_cpu(self.limits.cpu):
            raise ValueError(f"components ask for {cpu}m CPU in all, over limits.cpu")
        if memory > parse_memory(self.limits.memory):
            raise ValueError("components ask for more memory in all than limits.memory")
        return self


class TemplateManifest(_Model):
    api_version: Literal["innovation-den.io/v1"] = Field(alias="apiVersion")
    kind: Literal["SandboxTemplate"]
    metadata: Metadata
    spec: Spec

    @property
    def ref(self) -> str:
        return f"{self.metadata.name}@{self.metadata.version}"
