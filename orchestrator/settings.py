"""Settings: one pydantic-settings object read from `DEN_*` environment variables.

Every field carries a description and a group (`json_schema_extra`), from which the README's
settings table is checked (tests/unit/test_docs.py fails when a setting is undocumented).
Unsafe defaults are refused in production mode (`DEN_ENVIRONMENT=production`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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


def _setting(default: Any, group: str, description: str, **kwargs: Any) -> Any:
    return Field(default, description=description, json_schema_extra={"group": group}, **kwargs)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEN_", extra="ignore")

    # --- general
    environment: Literal["development", "production"] = _setting(
        "development", "general", "`production` refuses unsafe defaults (no bootstrap token "
        "shorter than 32 characters, no development sign-in)."
    )
    data_dir: Path = _setting(
        Path("data"), "general", "Directory for the embedded SQLite database and local state."
    )
    log_level: str = _setting("INFO", "general", "Log level (DEBUG, INFO, WARNING, ERROR).")
    log_format: Literal["console", "json"] = _setting(
        "console", "general", "`json` for one JSON object per log line."
    )
    instance: str = _setting(
        "default", "general", "Name of this orchestrator, put on every runtime resource it makes: "
        "orchestrators sharing a Docker engine or cluster need different names, so that each "
        "one's orphan sweep leaves the others' sandboxes alone.",
        pattern=r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$",
    )
    templates_dir: Path | None = _setting(
        None, "general", "Template directory loaded (published) at start-up; defaults to the "
        "bundled `sandbox_templates/` when it exists."
    )
    # --- db
    database_url: str = _setting(
        "", "db", "SQLAlchemy URL. Empty means SQLite in `DEN_DATA_DIR/den.db`. PostgreSQL: "
        "`postgresql+psycopg://user:pass@host/db`."
    )
    # --- auth
    bootstrap_admin_token: str = _setting(
        "", "auth", "If set, a platform-engineer user `admin` with this API token exists after "
        "start-up (for scripts and first use)."
    )
    # --- rules
    min_trial_duration: int = _setting(
        300, "rules", "Shortest allowed trial, in seconds.", ge=1
    )
    max_trial_duration: int = _setting(
        14 * 24 * 3600, "rules", "Global cap on a trial's total duration, in seconds.", ge=1
    )
    max_active_trials: int = _setting(
        1000, "rules", "Global cap on trials that are not yet stopped.", ge=1
    )
    max_active_trials_per_user: int = _setting(
        5, "rules", "Cap on one person's trials that are not yet stopped.", ge=1
    )
    max_active_trials_per_department: int = _setting(
        20, "rules", "Cap on one department's trials that are not yet stopped (people with no "
        "department are not counted together).", ge=1
    )
    max_total_cpu: float = _setting(
        32.0, "rules", "Cap on the CPU cores that all trials not yet stopped may reserve "
        "together (the sum of their components' CPU limits).", gt=0
    )
    max_total_memory_mib: int = _setting(
        65536, "rules", "Cap on the memory, in MiB, that all trials not yet stopped may "
        "reserve together (the sum of their components' memory limits).", ge=1
    )
    self_service_max_duration: int = _setting(
        86400, "rules", "Longest trial, in seconds and counting extensions, that needs nobody's "
        "approval; a longer request or extension waits for an approver.", ge=1
    )
    template_caps: dict[str, TemplateCaps] = _setting(
        {}, "rules", "Per-template caps as JSON, e.g. `{\"open-data-dashboard\": "
        "{\"max_active_trials\": 10, \"self_service_max_duration\": 7200}}`; keys: "
        "`max_active_trials`, `max_active_trials_per_user`, `max_active_trials_per_department`, "
        "`max_duration`, `self_service_max_duration`, `max_total_cpu`, `max_total_memory_mib`. "
        "A template's cap counts that template's trials only."
    )
    # --- reconciler
    driver: Literal["docker", "kubernetes"] = _setting(
        "docker", "reconciler", "Runtime for sandboxes: `docker` or `kubernetes`."
    )
    start_timeout: int = _setting(
        180, "reconciler", "Seconds a sandbox may take to become ready before it fails with "
        "`StartTimeout`.", ge=1
    )
    poll_interval: float = _setting(
        0.25, "reconciler", "Seconds between observations of sandboxes that are starting or "
        "stopping.", gt=0
    )
    liveness_interval: float = _setting(
        15.0, "reconciler", "Seconds between checks that running sandboxes still exist (one "
        "runtime call per check, whatever the number of trials).", gt=0
    )
    sweep_interval: float = _setting(
        60.0, "reconciler", "Seconds between orphan sweeps (resources labelled for no live "
        "trial).", gt=0
    )
    idle_wakeup: float = _setting(
        2.0, "reconciler", "Longest sleep of a reconciler that runs apart from the API (it "
        "then looks for new requests).", gt=0
    )
    # --- docker
    docker_host: str = _setting(
        "", "docker", "Docker engine address; empty uses the environment (`DOCKER_HOST`) or "
        "the local socket."
    )
    docker_publish_host: str = _setting(
        "127.0.0.1", "docker", "Host address that sandbox ports are published on (loopback "
        "only by default)."
    )
    # --- kubernetes
    kubeconfig: str = _setting(
        "", "kubernetes", "Path of a kubeconfig; empty uses in-cluster config or `~/.kube/config`."
    )
    kubernetes_orchestrator_namespace: str = _setting(
        "innovation-den", "kubernetes", "Namespace the orchestrator runs in: its pods may reach "
        "the sandboxes' exposed ports (everything else is denied)."
    )
    kubernetes_host_cidr: str = _setting(
        "", "kubernetes", "When the orchestrator runs outside the cluster: the CIDRs its traffic "
        "to pods comes from (comma-separated, e.g. the node's address), allowed in like the "
        "namespace above."
    )
    # --- web
    public_url: str = _setting(
        "", "web", "Public base URL of the service (for links); empty derives it from requests."
    )
    max_request_bytes: int = _setting(
        1_048_576, "web", "Largest request body accepted, in bytes.", ge=1024
    )
    watch_poll_interval: float = _setting(
        0.5, "web", "Seconds between the database reads that feed a watch (`GET "
        "/api/v1/trials?watch=true`, `denctl get tr --watch`); one indexed query per watcher.",
        gt=0
    )
    session_max_age: int = _setting(
        8 * 3600, "web", "Seconds a web sign-in lasts (server-side session; signing out ends it "
        "at once).", ge=60
    )
    session_cookie_secure: bool = _setting(
        True, "web", "Mark the session cookie `Secure` (and name it `__Host-den_session`). "
        "Browsers accept it over plain http only on `localhost`/`127.0.0.1`: set `false` to "
        "serve pages over plain http on another host name (never in production)."
    )
    dev_sign_in: bool | None = _setting(
        None, "web", "Development sign-in: pick any existing user, no password. Empty means on "
        "when `DEN_ENVIRONMENT=development`, off otherwise; `true` in production is refused."
    )

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production" and 0 < len(self.bootstrap_admin_token) < 32:
            raise ValueError(
                "DEN_BOOTSTRAP_ADMIN_TOKEN must be at least 32 characters in production"
            )
        if self.environment == "production" and self.dev_sign_in:
            raise ValueError("DEN_DEV_SIGN_IN cannot be enabled in production")
        if self.environment == "production" and not self.session_cookie_secure:
            raise ValueError("DEN_SESSION_COOKIE_SECURE cannot be false in production")
        return self

    @property
    def dev_sign_in_enabled(self) -> bool:
        return self.dev_sign_in if self.dev_sign_in is not None else self.environment == "development"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'den.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
