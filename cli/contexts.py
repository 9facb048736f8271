"""`denctl` contexts: named (server, token) pairs in a config file, kubectl style.

The file is `~/.config/denctl/config.yaml` (or `$DENCTL_CONFIG`), written with mode 0600
because it holds API tokens. Where a command's server and token come from, first found wins:
`--server`/`--token`, then `--context NAME`, then `DEN_SERVER`/`DEN_TOKEN`, then the current
context, then http://127.0.0.1:8000 with no token.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SERVER = "http://127.0.0.1:8000"


class ConfigError(Exception):
    """The config file is unreadable or names no such context (a usage error)."""


@dataclass
class Context:
    name: str
    server: str
    token: str = ""


@dataclass
class Config:
    contexts: list[Context] = field(default_factory=list)
    current: str = ""

    def find(self, name: str) -> Context:
        for context in self.contexts:
            if context.name == name:
                return context
        raise ConfigError(f"no context {name!r} in {config_path()}; see `denctl config get-contexts`")

    def upsert(self, context: Context) -> None:
        self.contexts = [c for c in self.contexts if c.name != context.name] + [context]


def config_path() -> Path:
    explicit = os.environ.get("DENCTL_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "denctl" / "config.yaml"


def load() -> Config:
    path = config_path()
    if not path.exists():
        return Config()
    try:
        data: Any = yaml.safe_load(path.read_text()) or {}
        contexts = [
            Context(name=str(c["name"]), server=str(c["server"]), token=str(c.get("token") or ""))
            for c in data.get("contexts") or []
        ]
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return Config(contexts=contexts, current=str(data.get("current-context") or ""))


def save(config: Config) -> Path:
    """Write the file with mode 0600 (its directory 0700): it holds tokens."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    document = {
        "apiVersion": "innovation-den.io/v1",
        "kind": "Config",
        "current-context": config.current,
        "contexts": [{"name": c.name, "server": c.server, "token": c.token} for c in config.contexts],
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(document, handle, sort_keys=False)
    os.chmod(path, 0o600)  # an older file may have been made with looser bits
    return path


def resolve(*, server: str | None, token: str | None, context: str | None) -> tuple[str, str]:
    """(server, token) for a command, by the precedence in the module's docstring."""
    env_server, env_token = os.environ.get("DEN_SERVER"), os.environ.get("DEN_TOKEN")
    if context is None and (env_server or env_token):
        base = (env_server or DEFAULT_SERVER, env_token or "")
    else:
        chosen = _chosen_context(context)
        base = (chosen.server, chosen.token) if chosen else (DEFAULT_SERVER, "")
    return server or base[0], token or base[1]


def _chosen_context(name: str | None) -> Context | None:
    config = load()
    if name is not None:
        return config.find(name)
    return config.find(config.current) if config.current else None
