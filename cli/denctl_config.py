"""`denctl config`: contexts (named servers and tokens) in the config file, kubectl style.

The file's format and the order in which a command picks its server and token are in
`cli/contexts.py`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cli import contexts, render
from cli.client import EXIT_USAGE

config_app = typer.Typer(
    help="Contexts: named servers and tokens in the config file "
    "(~/.config/denctl/config.yaml, or $DENCTL_CONFIG).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
Output = Annotated[str, typer.Option("-o", "--output", help="table or name.")]


def _fail(message: str) -> typer.Exit:
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(EXIT_USAGE)


@config_app.command("set-context")
def set_context(
    name: Annotated[str, typer.Argument(help="The context's name.")],
    server: Annotated[str, typer.Option("--server", help="API URL.")],
    token: Annotated[str, typer.Option("--token", help="API token.")] = "",
    use: Annotated[bool, typer.Option("--use", help="Make it the current context too.")] = False,
) -> None:
    """Add or replace a context (the file is written with mode 0600).

    Example:

    \b
      denctl config set-context prod --server https://den.example.gov.uk --token "$TOKEN" --use
    """
    config = _load_config()
    config.upsert(contexts.Context(name=name, server=server, token=token))
    if use or not config.current:
        config.current = name
    path = contexts.save(config)
    sys.stdout.write(f"context {name!r} set in {path}\n")


@config_app.command("use-context")
def use_context(name: Annotated[str, typer.Argument(help="The context's name.")]) -> None:
    """Make a context the current one.

    Example:

    \b
      denctl config use-context prod
    """
    config = _load_config()
    _find(config, name)
    config.current = name
    contexts.save(config)
    sys.stdout.write(f"switched to context {name!r}\n")


@config_app.command("get-contexts")
def get_contexts(output: Output = "table") -> None:
    """List the contexts; * marks the current one.

    Example:

    \b
      denctl config get-contexts -o name
    """
    config = _load_config()
    if output not in ("table", "name"):
        raise _fail(f"unknown output format {output!r}; use table or name")
    if output == "name":
        sys.stdout.write("".join(f"{c.name}\n" for c in config.contexts))
        return
    sys.stdout.write(
        render.table(
            ["CURRENT", "NAME", "SERVER"],
            [["*" if c.name == config.current else "", c.name, c.server] for c in config.contexts],
        )
    )


@config_app.command("current-context")
def current_context() -> None:
    """Print the current context's name.

    Example:

    \b
      denctl config current-context
    """
    config = _load_config()
    if not config.current:
        raise _fail("no current context; see `denctl config use-context`")
    sys.stdout.write(config.current + "\n")


def _load_config() -> contexts.Config:
    try:
        return contexts.load()
    except contexts.ConfigError as exc:
        raise _fail(str(exc)) from exc


def _find(config: contexts.Config, name: str) -> contexts.Context:
    try:
        return config.find(name)
    except contexts.ConfigError as exc:
        raise _fail(str(exc)) from exc
