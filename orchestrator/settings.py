"""Settings: one pydantic-settings object read from `DEN_*` environment variables.

Every field carries a description and a group (`json_schema_extra`), from which the settings
table of docs/settings.md is written (scripts/gen-docs) and checked (tests/unit/test_docs.py
fails when a setting is undocumented).
Unsafe defaults are refused in production mode (`DEN_ENVIRONMENT=production`).
"""

from __future__ import annotations

from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator.notify import EVENTS, parse_offsets, parse_smtp_url


class TemplateCaps(BaseModel):
    """Caps for one template, each tighter than (or equal to) the global one it names.

    A template cap counts only that template's trials; `None` leaves the global cap alone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_active_trials: int | None = Field(None, ge=0)
    max_active_trials_per_user: int | None = Field(None, ge=0)
    max_active_trials_per_department: int | None = Field(None, ge=0)
    max_duration: int | None = Field(None, ge=1)
    self_service_max_duration: int | None = Field(None, ge=1)
    max_total_cpu: float | None = Field(None, ge=0)
    max_total_memory_mib: int | None = Field(None, ge=0)


class WarmPool(BaseModel):
    """One warm pool of a template (`DEN_WARM_POOLS`): how many sandboxes to keep ready, and
    the parameters they are started with (none: the template's defaults). A request is served
    from it when its parameters, with the template's defaults filled in, are the same."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(ge=0, le=100)
    parameters: dict[str, Any] = Field(default_factory=dict)


class GroupMapping(BaseModel):
    """What one provider group gives a person who signs in (`DEN_OIDC_GROUPS`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["civil_servant", "supplier", "platform_engineer", "approver"]
    department: str = Field("", max_length=100)
    supplier: str = Field("", max_length=40)


class Webhook(BaseModel):
    """One receiver of `DEN_WEBHOOKS`: JSON bodies POSTed to `url`, signed with `secret`,
    for the `events` listed (none: every event)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(max_length=2000)
    secret: str = Field(min_length=1, max_length=500)
    events: tuple[str, ...] = ()


class RateCard(BaseModel):
    """What the operator pays for a sandbox's resources (`DEN_RATE_CARD`), from which the den
    estimates each trial's cost (`orchestrator.cost`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = Field(
        pattern=r"^[A-Z]{3}$", description="ISO 4217 code of the currency, e.g. GBP (three capitals)."
    )
    cpu_hour: float = Field(ge=0, description="The price of one core used for one hour.")
    gib_hour: float = Field(ge=0, description="The price of one GiB of memory held for one hour.")


def _setting(default: Any, group: str, description: str, **kwargs: Any) -> Any:
    return Field(default, description=description, json_schema_extra={"group": group}, **kwargs)


def _cidrs(value: str) -> str:
    """A comma-separated list of networks (`10.1.0.0/16, 192.0.2.10/32`); a typo refuses to
    start rather than silently allowing, or forbidding, something else."""
    for part in filter(None, (p.strip() for p in value.split(","))):
        try:
            ip_network(part)
        except ValueError as exc:
            raise ValueError(f"{part!r} is not a network address range: {exc}") from exc
    return value


#: Comma-separated CIDRs, checked at start-up (`orchestrator.egress.parse_cidrs` reads them).
CidrList = Annotated[str, AfterValidator(_cidrs)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEN_", extra="ignore")

    # --- general
    environment: Literal["development", "production"] = _setting(
        "development",
        "general",
        "`production` refuses unsafe defaults (no bootstrap token "
        "shorter than 32 characters, no development sign-in).",
    )
    data_dir: Path = _setting(
        Path("data"), "general", "Directory for the embedded SQLite database and local state."
    )
    log_level: str = _setting("INFO", "general", "Log level (DEBUG, INFO, WARNING, ERROR).")
    log_format: Literal["console", "json"] = _setting(
        "console", "general", "`json` for one JSON object per log line."
    )
    instance: str = _setting(
        "default",
        "general",
        "Name of this orchestrator, put on every runtime resource it makes: "
        "orchestrators sharing a Docker engine or cluster need different names, so that each "
        "one's orphan sweep leaves the others' sandboxes alone.",
        pattern=r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$",
    )
    templates_dir: Path | None = _setting(
        None,
        "general",
        "Template directory loaded (published) at start-up; defaults to the "
        "bundled `sandbox_templates/` when it exists.",
    )
    # --- db
    database_url: str = _setting(
        "",
        "db",
        "SQLAlchemy URL. Empty means SQLite in `DEN_DATA_DIR/den.db`. PostgreSQL: "
        "`postgresql+psycopg://user:pass@host/db`.",
    )
    # --- auth
    bootstrap_admin_token: str = _setting(
        "",
        "auth",
        "If set, a platform-engineer user `admin` with this API token exists after "
        "start-up (for scripts and first use).",
    )
    max_token_lifetime: int = _setting(
        90 * 86400,
        "auth",
        "Longest lifetime of an API token, in seconds: a token asked for "
        "with no expiry gets this one, a longer one is refused, and a token made with another "
        "token never outlives it. The bootstrap token is exempt.",
        ge=60,
    )
    oidc_issuer: str = _setting(
        "",
        "auth",
        "OpenID Connect issuer URL of the organisation's provider; its "
        "`/.well-known/openid-configuration` gives the endpoints and signing keys. Set, the "
        "sign-in page signs people in through it (authorisation code flow with PKCE; the "
        "provider must redirect to `DEN_PUBLIC_URL` + `/sign-in/callback`).",
    )
    oidc_client_id: str = _setting("", "auth", "The den's client id at the provider.")
    oidc_client_secret: str = _setting(
        "",
        "auth",
        "The den's client secret at the provider (empty for a public client, which PKCE still protects).",
    )
    oidc_scopes: str = _setting(
        "openid email profile",
        "auth",
        "Scopes asked for at sign-in, space-separated (`openid` is always sent).",
    )
    oidc_username_claim: str = _setting(
        "preferred_username",
        "auth",
        "ID token claim whose value (lower-cased) is the den "
        "user's name, e.g. `preferred_username` or `email`.",
    )
    oidc_roles_claim: str = _setting(
        "groups",
        "auth",
        "ID token claim listing the person's groups; `DEN_OIDC_GROUPS` maps "
        "them to a role and department. Empty: roles come only from users made beforehand.",
    )
    oidc_groups: dict[str, GroupMapping] = _setting(
        {},
        "auth",
        "JSON map from a provider group to the den role and department it gives, "
        'e.g. `{"hmrc-staff": {"role": "civil_servant", "department": "HMRC"}, '
        '"den-ops": {"role": "platform_engineer"}}` (`supplier` as a key binds the '
        "supplier role to a supplier's slug). A group named like a role (`approver`) gives that "
        "role. With several groups the strongest role wins (platform engineer, approver, civil "
        "servant, supplier); the role and department follow the groups at every sign-in.",
    )
    oidc_create_users: bool = _setting(
        True,
        "auth",
        "Make a user at their first sign-in from the role their groups give; "
        "`false` lets in only users a platform engineer made beforehand (the provider then "
        "only identifies them, unless their groups map to a role).",
    )
    oidc_timeout: float = _setting(
        10.0,
        "auth",
        "Seconds to wait for the provider (discovery, keys, the token exchange) "
        "before the sign-in page says it is unavailable.",
        gt=0,
    )
    # --- rules
    min_trial_duration: int = _setting(300, "rules", "Shortest allowed trial, in seconds.", ge=1)
    max_trial_duration: int = _setting(
        14 * 24 * 3600, "rules", "Global cap on a trial's total duration, in seconds.", ge=1
    )
    max_active_trials: int = _setting(1000, "rules", "Global cap on trials that are not yet stopped.", ge=1)
    max_active_trials_per_user: int = _setting(
        5, "rules", "Cap on one person's trials that are not yet stopped.", ge=1
    )
    max_active_trials_per_department: int = _setting(
        20,
        "rules",
        "Cap on one department's trials that are not yet stopped (people with no "
        "department are not counted together).",
        ge=1,
    )
    max_total_cpu: float = _setting(
        32.0,
        "rules",
        "Cap on the CPU cores that all trials not yet stopped may reserve "
        "together (the sum of their components' CPU limits).",
        gt=0,
    )
    max_total_memory_mib: int = _setting(
        65536,
        "rules",
        "Cap on the memory, in MiB, that all trials not yet stopped may "
        "reserve together (the sum of their components' memory limits).",
        ge=1,
    )
    self_service_max_duration: int = _setting(
        86400,
        "rules",
        "Longest trial, in seconds and counting extensions, that needs nobody's "
        "approval; a longer request or extension waits for an approver.",
        ge=1,
    )
    template_caps: dict[str, TemplateCaps] = _setting(
        {},
        "rules",
        'Per-template caps as JSON, e.g. `{"open-data-dashboard": '
        '{"max_active_trials": 10, "self_service_max_duration": 7200}}`; keys: '
        "`max_active_trials`, `max_active_trials_per_user`, `max_active_trials_per_department`, "
        "`max_duration`, `self_service_max_duration`, `max_total_cpu`, `max_total_memory_mib`. "
        "A template's cap counts that template's trials only.",
    )
    allowed_image_prefixes: str = _setting(
        "",
        "rules",
        "Comma-separated image prefixes, e.g. `registry.example/approved/,"
        "innovation-den/`: a new template version whose images all start with one of them, "
        "that declares no egress and asks for no more resources than the template's last "
        "published version (or, for a first version, than the manifest defaults) is published "
        "at once, its images pinned by digest. Empty: every version waits for a platform "
        "engineer's review.",
    )
    egress_allowed_cidrs: CidrList = _setting(
        "",
        "rules",
        "Comma-separated private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, "
        "fc00::/7) that templates may declare egress to, e.g. `10.20.0.0/16` for an internal "
        "test API; every other private range is refused when a template is published and when "
        "a trial starts. Loopback, link-local (cloud metadata), multicast, the cluster's pod and "
        "service ranges, the Docker bridges and the den's own address stay refused whatever "
        "this says.",
    )
    # --- reconciler
    driver: Literal["docker", "kubernetes"] = _setting(
        "docker", "reconciler", "Runtime for sandboxes: `docker` or `kubernetes`."
    )
    start_timeout: int = _setting(
        180,
        "reconciler",
        "Seconds a sandbox may take to become ready before it fails with `StartTimeout`.",
        ge=1,
    )
    poll_interval: float = _setting(
        0.25, "reconciler", "Seconds between observations of sandboxes that are starting or stopping.", gt=0
    )
    liveness_interval: float = _setting(
        15.0,
        "reconciler",
        "Seconds between checks that running sandboxes still exist (one "
        "runtime call per check, whatever the number of trials).",
        gt=0,
    )
    sweep_interval: float = _setting(
        60.0, "reconciler", "Seconds between orphan sweeps (resources labelled for no live trial).", gt=0
    )
    idle_timeout: int = _setting(
        0,
        "reconciler",
        "Seconds with no visit to a Ready sandbox (a request through its address) after "
        "which it sleeps: Docker stops its containers, Kubernetes scales its Deployments to "
        "zero, and its CPU and memory no longer count in the caps. The next visit wakes it; "
        "its time-box keeps running meanwhile. A template's `limits.idleTimeout` overrides "
        "it. `0`: sandboxes never sleep unless their template says so.",
        ge=0,
        le=7 * 86400,
    )
    warm_pools: dict[str, int | WarmPool | list[WarmPool]] = _setting(
        {},
        "reconciler",
        'Warm pools as JSON, template name to size, e.g. `{"open-data-dashboard": 2}`: the '
        "reconciler keeps that many sandboxes of the template's newest published version "
        "started and ready, owned by nobody, and a request with the template's default "
        "parameters gets one at once. A pool of other parameters (a preset): "
        '`{"size": 2, "parameters": {"dataset": "roads"}}`; several: a list of them. Pooled '
        "sandboxes count in `DEN_MAX_TOTAL_CPU` and `DEN_MAX_TOTAL_MEMORY_MIB`, against no "
        "person or department.",
    )
    warm_pool_max_age: int = _setting(
        86400,
        "reconciler",
        "Seconds a pooled sandbox waits for a request before it is replaced by a new one.",
        ge=60,
    )
    usage_sample_interval: float = _setting(
        30.0,
        "reconciler",
        "Seconds between readings of each running sandbox's CPU time and memory (Docker's "
        "container stats; on Kubernetes the kubelet's summary through the API server), each "
        "in a lane of its own beside the reconciler's work. A sandbox is also read once more "
        "just before it sleeps or is removed.",
        ge=1,
        le=3600,
    )
    rate_card: RateCard | None = _setting(
        None,
        "reconciler",
        'What sandboxes cost the operator, as JSON: `{"currency": "GBP", "cpu_hour": 0.04, '
        '"gib_hour": 0.005}` (per core-hour of CPU used, per GiB-hour of memory reserved). With it, '
        "a trial's cost is forecast when it is requested and on the approval page, shown so far "
        "on the trial page and in the API, and given finally in the report and `/metrics` "
        "([Resource use and cost](cost.md)). Unset: resource use is still measured, no cost is shown.",
    )
    retention_days: int = _setting(
        730,
        "reconciler",
        "Days the free text of an ended trial is kept (its problem, hypothesis, success "
        "criteria, the reasons given for it, and the evaluation's evidence, lessons and private "
        "notes); the reconciler then removes it, keeping the title, scores and decision. `0` "
        "keeps it for ever. The privacy notice (`/privacy`) states it.",
        ge=0,
        le=36500,
    )
    idle_wakeup: float = _setting(
        2.0,
        "reconciler",
        "Longest sleep of the reconciler's loop. Commits that change intent "
        "wake it at once (on PostgreSQL also from other processes, by LISTEN/NOTIFY), so this "
        "only bounds how late it notices a change made some other way.",
        gt=0,
    )
    wake_socket: str = _setting(
        "",
        "reconciler",
        "A Unix socket path on which the reconciler listens for wake-ups from API processes "
        "on the same machine, and to which those processes send one after each commit that "
        "changes intent: what NOTIFY does on PostgreSQL, for SQLite. `den serve --workers N` "
        "sets it for its own processes; set it yourself only to run `den reconcile` beside "
        "`den serve --no-reconciler` on one SQLite database.",
        max_length=100,
    )
    reconciler_workers: int = _setting(
        8,
        "reconciler",
        "Trials worked on at once in each of the reconciler's two lanes "
        "(starting sandboxes; ending them): runtime calls and readiness probes of different "
        "trials run concurrently, so one slow trial never holds up another's expiry.",
        ge=1,
        le=64,
    )
    leader_election: Literal["auto", "none", "postgres", "kubernetes"] = _setting(
        "auto",
        "reconciler",
        "How one of several reconcilers is chosen to act (the others "
        "stand by and take over): `postgres`, a session advisory lock on the database; "
        "`kubernetes`, a Lease in `DEN_KUBERNETES_ORCHESTRATOR_NAMESPACE`; `auto`, the Lease "
        "with the Kubernetes driver inside a cluster, else the advisory lock on PostgreSQL, else "
        "(SQLite) a file lock beside the database; `none`, every reconciler acts (only when "
        "exactly one runs).",
    )
    leader_renew_interval: float = _setting(
        2.0,
        "reconciler",
        "Seconds between a reconciler's checks of its leadership (the leader "
        "renews its claim, a standby tries to take it). On PostgreSQL a standby takes over "
        "within about two of these plus one second of the leader's death or loss of its "
        "database connection.",
        ge=0.2,
        le=30,
    )
    leader_lease_seconds: int = _setting(
        10,
        "reconciler",
        "Kubernetes Lease duration: a leader that has not renewed its Lease "
        "for this long stops acting (a little before), and a standby then takes over. At least "
        "twice `DEN_LEADER_RENEW_INTERVAL`.",
        ge=2,
        le=300,
    )
    leader_identity: str = _setting(
        "",
        "reconciler",
        "This reconciler's name as the leader (the Lease's `holderIdentity`); "
        "the chart sets the pod's name. Empty: the host name and process id.",
        max_length=128,
    )
    # --- docker
    docker_host: str = _setting(
        "", "docker", "Docker engine address; empty uses the environment (`DOCKER_HOST`) or the local socket."
    )
    docker_publish_host: str = _setting(
        "127.0.0.1", "docker", "Host address that sandbox ports are published on (loopback only by default)."
    )
    docker_bridge_cidrs: CidrList = _setting(
        "172.16.0.0/12,192.168.0.0/16",
        "docker",
        "Comma-separated ranges of the Docker "
        "engine's bridge networks (`docker0` and its `default-address-pools`; Docker's own "
        "defaults here): no template may declare egress into them.",
    )
    # --- kubernetes
    kubeconfig: str = _setting(
        "", "kubernetes", "Path of a kubeconfig; empty uses in-cluster config or `~/.kube/config`."
    )
    kubernetes_orchestrator_namespace: str = _setting(
        "innovation-den",
        "kubernetes",
        "Namespace the orchestrator runs in: its pods may reach "
        "the sandboxes' exposed ports (everything else is denied).",
    )
    kubernetes_pod_pids_limit: int = _setting(
        1024,
        "kubernetes",
        "The `podPidsLimit` of the kubelets sandboxes run on (most processes "
        "and threads in one pod; each component is one pod). Kubernetes has no per-container "
        "limit, so a component declaring more is refused; 0 means the nodes set none.",
        ge=0,
    )
    kubernetes_node_loss_seconds: int = _setting(
        30,
        "kubernetes",
        "How long a sandbox's pod waits on a node that stopped answering (NotReady or "
        "unreachable) before Kubernetes evicts it and starts it on another node; the trial stays "
        "Ready meanwhile. Kubernetes' own default is 300.",
        ge=0,
        le=3600,
    )
    kubernetes_pod_cidr: CidrList = _setting(
        "10.244.0.0/16",
        "kubernetes",
        "The cluster's pod range(s), comma-separated (its "
        "`--cluster-cidr`): no template may declare egress into them.",
    )
    kubernetes_service_cidr: CidrList = _setting(
        "10.96.0.0/12",
        "kubernetes",
        "The cluster's Service range(s), comma-separated (its "
        "`--service-cluster-ip-range`): no template may declare egress into them.",
    )
    kubernetes_host_cidr: str = _setting(
        "",
        "kubernetes",
        "When the orchestrator runs outside the cluster: the CIDRs its traffic "
        "to pods comes from (comma-separated, e.g. the node's address), allowed in like the "
        "namespace above.",
    )
    # --- notifications
    expiry_warnings: str = _setting(
        "3600,600",
        "notifications",
        "When the owner is warned that a trial will end: seconds before `expires_at`, "
        "comma-separated. A trial shorter than a warning gets the nearest one only, once.",
    )
    smtp_url: str = _setting(
        "",
        "notifications",
        "Mail server for emails: `smtp://user:pass@host:587` (STARTTLS when the server "
        "offers it) or `smtps://...` (TLS from the start); user and password percent-encoded. "
        "Empty sends no email.",
    )
    mail_from: str = _setting(
        "innovation-den@localhost", "notifications", "The `From` address of the den's emails.", max_length=320
    )
    webhooks: tuple[Webhook, ...] = _setting(
        (),
        "notifications",
        'JSON list of `{"url", "secret", "events"}`: each event is POSTed to `url` as JSON, '
        "signed in `X-Den-Signature: sha256=<hex HMAC-SHA256 of the body>` with `secret`; "
        "`events` lists the event names it wants (empty: all).",
    )
    notify_max_attempts: int = _setting(
        12,
        "notifications",
        "Attempts at one delivery before it is given up as `failed` (waits between them "
        "double from 1 s up to 5 minutes).",
        ge=1,
        le=100,
    )
    notify_timeout: float = _setting(
        10.0,
        "notifications",
        "Seconds a mail server or webhook receiver has to answer one delivery.",
        gt=0,
        le=120,
    )
    notify_poll_interval: float = _setting(
        1.0,
        "notifications",
        "Longest wait of the delivery worker between looks at the outbox.",
        gt=0,
        le=60,
    )
    # --- engagement
    publisher_name: str = _setting(
        "Innovation Den",
        "engagement",
        "Who publishes the OCDS release packages of challenges (`publisher.name`): your organisation's name.",
        min_length=1,
        max_length=200,
    )
    ocid_prefix: str = _setting(
        "ocds-den000",
        "engagement",
        "OCDS ocid prefix of your organisation's challenges (register one with the Open "
        "Contracting Partnership); each challenge's ocid is the prefix, `-`, its id.",
        pattern=r"^ocds-[a-z0-9]{6}$",
    )
    # --- web
    public_url: str = _setting(
        "", "web", "Public base URL of the service (for links); empty derives it from requests."
    )
    sandbox_domain: str = _setting(
        "sandbox.localhost",
        "web",
        "Domain under which each sandbox gets an origin of its own, "
        "`<trial>-<component>.<domain>`, with the scheme and port of the den's public URL. "
        "In production a wildcard DNS name and a wildcard TLS certificate on another site than "
        "the den's (docs/security.md); the default resolves to loopback in browsers.",
        pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$",
    )
    max_request_bytes: int = _setting(1_048_576, "web", "Largest request body accepted, in bytes.", ge=1024)
    department_names: dict[str, str] = _setting(
        {},
        "web",
        "JSON map from a department's code, as users carry it, to the name pages show, e.g. "
        '`{"dwp": "Department for Work and Pensions"}`. Adds to (or corrects) the built-in names '
        "of the UK government's ministerial departments; a code with no name is shown as written.",
    )
    sandbox_max_concurrent_requests: int = _setting(
        32,
        "web",
        "Requests one trial's sandboxes (all its components together) may have in "
        "flight through the den at once, until each answer has been relayed; as many more wait "
        "up to `DEN_SANDBOX_QUEUE_WAIT` seconds, the rest get 503 `SandboxBusy` with "
        "`Retry-After`. So one flooded sandbox cannot starve the others.",
        ge=1,
    )
    sandbox_queue_wait: float = _setting(
        5.0,
        "web",
        "Seconds a request waits for a place among its trial's "
        "`DEN_SANDBOX_MAX_CONCURRENT_REQUESTS` before it is answered 503 `SandboxBusy`.",
        ge=0,
    )
    sandbox_request_timeout: float = _setting(
        30.0,
        "web",
        "Seconds a sandbox has to start answering a request (connecting at most "
        "5 of them), else 504 `SandboxTimeout`; also the longest it may fall silent while its "
        "answer streams (then the connection is cut).",
        gt=0,
    )
    watch_poll_interval: float = _setting(
        0.5,
        "web",
        "Seconds between the database reads that feed a watch (`GET "
        "/api/v1/trials?watch=true`, `denctl get tr --watch`); one indexed query per watcher.",
        gt=0,
    )
    session_max_age: int = _setting(
        8 * 3600,
        "web",
        "Seconds a web sign-in lasts (server-side session; signing out ends it at once).",
        ge=60,
    )
    session_cookie_secure: bool = _setting(
        True,
        "web",
        "Mark the session cookie `Secure` (and name it `__Host-den_session`). "
        "Browsers accept it over plain http only on `localhost`/`127.0.0.1`: set `false` to "
        "serve pages over plain http on another host name (never in production).",
    )
    dev_sign_in: bool | None = _setting(
        None,
        "web",
        "Development sign-in: pick any existing user, no password. Empty means on "
        "when `DEN_ENVIRONMENT=development`, off otherwise; `true` in production is refused.",
    )
    govuk_brand: bool = _setting(
        False,
        "web",
        "Show the GOV.UK crown and logotype in the header: only for a service on GOV.UK. "
        "Off, the pages carry GOV.UK's generic header with the service's name.",
    )
    contact_email: str = _setting(
        "",
        "web",
        "Email address of the team that runs this den, given on the accessibility statement "
        "for people who need information in another format; empty gives the feedback form only.",
        max_length=320,
    )

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production" and 0 < len(self.bootstrap_admin_token) < 32:
            raise ValueError("DEN_BOOTSTRAP_ADMIN_TOKEN must be at least 32 characters in production")
        if self.environment == "production" and self.dev_sign_in:
            raise ValueError("DEN_DEV_SIGN_IN cannot be enabled in production")
        if bool(self.oidc_issuer) != bool(self.oidc_client_id):
            raise ValueError(
                "DEN_OIDC_ISSUER and DEN_OIDC_CLIENT_ID go together: set both for single sign-on, or neither"
            )
        if self.oidc_issuer and not self.oidc_issuer.startswith(("https://", "http://")):
            raise ValueError("DEN_OIDC_ISSUER must be an http(s) URL")
        if self.environment == "production" and self.oidc_issuer.startswith("http://"):
            raise ValueError("DEN_OIDC_ISSUER must use https in production")
        if self.environment == "production" and not self.session_cookie_secure:
            raise ValueError("DEN_SESSION_COOKIE_SECURE cannot be false in production")
        return self

    @model_validator(mode="after")
    def _check_notifications(self) -> Settings:
        try:
            parse_offsets(self.expiry_warnings)
        except ValueError as exc:
            raise ValueError(f"DEN_EXPIRY_WARNINGS: {exc}; give seconds such as 3600,600") from None
        if self.smtp_url:
            try:
                parse_smtp_url(self.smtp_url)
            except ValueError as exc:
                raise ValueError(f"DEN_SMTP_URL {exc}") from None
        for number, hook in enumerate(self.webhooks, start=1):
            parts = urlsplit(hook.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    f"DEN_WEBHOOKS: webhook {number}'s url must be an http(s) URL, not {hook.url!r}"
                )
            unknown = sorted(set(hook.events) - set(EVENTS))
            if unknown:
                raise ValueError(
                    f"DEN_WEBHOOKS: webhook {number} lists unknown events {', '.join(unknown)}; "
                    f"known: {', '.join(EVENTS)}"
                )
        return self

    @model_validator(mode="after")
    def _leader_timing(self) -> Settings:
        """A Lease renewed less than twice per duration is lost to one slow renewal."""
        if self.leader_lease_seconds < 2 * self.leader_renew_interval:
            raise ValueError(
                "DEN_LEADER_LEASE_SECONDS must be at least twice "
                "DEN_LEADER_RENEW_INTERVAL: lengthen the lease or renew more often"
            )
        return self

    @model_validator(mode="after")
    def _refuse_the_den_among_sandboxes(self) -> Settings:
        """Requests for the sandbox domain never reach the den: the den cannot live there, and
        in production sandboxes must not be named below the den's own host either (they would
        share its site, so its `SameSite` cookies would reach them)."""
        den = (urlsplit(self.public_url).hostname or "").lower()
        domain = self.sandbox_domain
        if den and (den == domain or den.endswith("." + domain)):
            raise ValueError(
                "DEN_PUBLIC_URL's host is inside DEN_SANDBOX_DOMAIN: the den "
                "would be served as a sandbox; use another sandbox domain"
            )
        if self.environment == "production" and den and domain.endswith("." + den):
            raise ValueError(
                "DEN_SANDBOX_DOMAIN is below the den's own host: in production "
                "give sandboxes a domain on another site (docs/security.md)"
            )
        return self

    @property
    def dev_sign_in_enabled(self) -> bool:
        return self.dev_sign_in if self.dev_sign_in is not None else self.environment == "development"

    @property
    def image_prefixes(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.allowed_image_prefixes.split(",") if p.strip())

    @property
    def warning_offsets(self) -> tuple[int, ...]:
        return parse_offsets(self.expiry_warnings)

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'den.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
