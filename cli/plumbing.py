"""What every `denctl` command shares: the global flags (given before or after the verb), the
client they make, errors turned into messages and exit codes, and trials found by id or name."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import typer

from cli import contexts, explaining
from cli.client import EXIT_DENIED, EXIT_ERROR, EXIT_NOT_FOUND, EXIT_USAGE, Answer, ApiError, Client
from cli.parsing import UsageError, parse_output, parse_refs

RESOURCES = explaining.alias_map()
TRIAL_ID = re.compile(r"^t[0-9a-f]{12}$")
NOT_SIGNED_IN = "not signed in: set DEN_TOKEN or --token, or `denctl config set-context`"


@dataclass
class Globals:
    """The flags given before the verb (`denctl --server X get tr`)."""

    server: str | None = None
    token: str | None = None
    context: str | None = None
    output: str | None = None


def globals_of(ctx: typer.Context) -> Globals:
    found = ctx.find_root().obj
    return found if isinstance(found, Globals) else Globals()


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(code)


def usage(exc: UsageError) -> typer.Exit:
    return fail(str(exc), EXIT_USAGE)


def refs(
    first: str, rest: list[str] | None, *, allowed: tuple[str, ...] = ("templates", "trials", "suppliers")
) -> tuple[str, list[str]]:
    try:
        return parse_refs(first, rest or [], aliases=RESOURCES, allowed=allowed)
    except UsageError as exc:
        raise usage(exc) from exc


def output_of(ctx: typer.Context, output: str | None, formats: tuple[str, ...]) -> tuple[str, str]:
    try:
        return parse_output(output or globals_of(ctx).output or "table", formats=formats)
    except UsageError as exc:
        raise usage(exc) from exc


def client(
    ctx: typer.Context,
    server: str | None,
    token: str | None,
    context: str | None,
    *,
    signed: bool = True,
) -> Client:
    """The client for a command: its own flags first, then the global ones, then contexts.
    With no token at all nothing is sent (exit 5), unless the request needs none."""
    given = globals_of(ctx)
    try:
        made = Client.resolve(
            server=server or given.server, token=token or given.token, context=context or given.context
        )
    except contexts.ConfigError as exc:
        raise fail(str(exc)) from exc
    if signed and not made.token:
        raise fail(NOT_SIGNED_IN, EXIT_DENIED)
    return made


def report(exc: ApiError) -> typer.Exit:
    sys.stderr.write(f"error: {exc.reason}: {exc.detail}\n")
    for problem in exc.problems:
        hint = f" ({problem['hint']})" if problem.get("hint") else ""
        sys.stderr.write(f"  - {problem['field']}: {problem['message']}{hint}\n")
    return typer.Exit(exc.exit_code)


def answer(made: Client, method: str, path: str, **kwargs: Any) -> Answer:
    try:
        return made.call(method, path, **kwargs)
    except ApiError as exc:
        raise report(exc) from exc


def call(made: Client, method: str, path: str, **kwargs: Any) -> Any:
    return answer(made, method, path, **kwargs).body


def now() -> datetime:
    return datetime.now(UTC)


def trial_id(made: Client, name: str) -> str:
    """A trial's id, or the id of the one trial you may see that has this name."""
    if TRIAL_ID.match(name):
        return name
    found = call(made, "GET", "/api/v1/trials", params={"name": name})["items"]
    if not found:
        raise fail(f"NotFound: no trial with the id or name {name!r}", EXIT_NOT_FOUND)
    if len(found) > 1:
        ids = ", ".join(f"{t['id']} (owner {t['owner']})" for t in found)
        raise fail(f"several trials are named {name!r}: {ids}; use the id", EXIT_ERROR)
    return str(found[0]["id"])
