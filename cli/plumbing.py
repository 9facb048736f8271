"""What every `denctl` command shares: the global flags (given before or after the verb), the
client they make, errors turned into messages and exit codes, lists read page after page, and
trials found by id or name."""

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
#: Items per request when a list is read (`denctl get --chunk-size`, as kubectl's default).
CHUNK_SIZE = 500
MAX_CHUNK_SIZE = 1000  # the server's largest `limit`


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


def items(
    made: Client, path: str, params: dict[str, str] | None = None, *, chunk_size: int = CHUNK_SIZE
) -> list[Any]:
    """Every item of a list, following `metadata.continue` page after page, `chunk_size`
    items a request (kubectl's `--chunk-size`). 0: one request with no `limit`, which holds
    the server's default page; when more follow, a warning says how to see them."""
    asked = {**(params or {}), **({"limit": str(chunk_size)} if chunk_size else {})}
    found: list[Any] = []
    seen: set[str] = set()
    while True:
        body = _page(made, path, asked)
        found += body["items"]
        token = (body.get("metadata") or {}).get("continue")
        if not token:
            return found
        if not chunk_size:
            sys.stderr.write(
                f"warning: the server holds more than these {len(found)}; leave --chunk-size 0 out "
                "(or give --chunk-size N) to read every page\n"
            )
            return found
        if token in seen:  # a server that repeats itself would otherwise be read forever
            raise fail(f"the server sent the same continue token twice for {path}; try again", EXIT_ERROR)
        seen.add(token)
        asked = {**asked, "continue": token}


def _page(made: Client, path: str, params: dict[str, str]) -> Any:
    """One page; a den from before lists had pages refuses `limit`, and is asked without it."""
    try:
        return made.call("GET", path, params=params).body
    except ApiError as exc:
        fields = {p.get("field") for p in exc.problems if "unknown" in p.get("message", "")}
        if exc.status != 422 or "limit" not in fields or "continue" in params:
            raise report(exc) from exc
    return call(made, "GET", path, params={k: v for k, v in params.items() if k != "limit"})


def now() -> datetime:
    return datetime.now(UTC)


def trial_id(made: Client, name: str) -> str:
    """A trial's id, or the id of the one trial you may see that has this name."""
    if TRIAL_ID.match(name):
        return name
    found = items(made, "/api/v1/trials", {"name": name})
    if not found:
        raise fail(f"NotFound: no trial with the id or name {name!r}", EXIT_NOT_FOUND)
    if len(found) > 1:
        ids = ", ".join(f"{t['id']} (owner {t['owner']})" for t in found)
        raise fail(f"several trials are named {name!r}: {ids}; use the id", EXIT_ERROR)
    return str(found[0]["id"])
