"""`denctl`: the kubectl-like client for Innovation Den.

Verbs follow kubectl: `get`, `describe`, `apply -f`, `delete`, `events`; resources have short
names (`templates`/`tmpl`, `trials`/`tr`, `suppliers`); `-o table|wide|json|yaml|name`.
Exit codes: 0 success, 1 refused by the server, 2 usage, 3 server unreachable, 4 not found.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from orchestrator.cli.client import EXIT_USAGE, ApiError, Client

app = typer.Typer(help=__doc__, no_args_is_help=True,
                  context_settings={"help_option_names": ["-h", "--help"]})
out = Console(soft_wrap=True)
err = Console(stderr=True)

RESOURCES = {"templates": "templates", "template": "templates", "tmpl": "templates",
             "trials": "trials", "trial": "trials", "tr": "trials",
             "suppliers": "suppliers", "supplier": "suppliers"}
Server = Annotated[str | None, typer.Option("--server", help="API URL (DEN_SERVER).")]
Token = Annotated[str | None, typer.Option("--token", help="API token (DEN_TOKEN).")]
Output = Annotated[str, typer.Option("-o", "--output", help="table, wide, json, yaml or name.")]


def _resource(name: str) -> str:
    if name not in RESOURCES:
        err.print(f"error: unknown resource {name!r}; use templates (tmpl), trials (tr) or "
                  "suppliers")
        raise typer.Exit(EXIT_USAGE)
    return RESOURCES[name]


def _call(client: Client, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return client.request(method, path, **kwargs)
    except ApiError as exc:
        err.print(f"error: {exc.reason}: {exc.detail}", markup=False)
        for problem in exc.problems:
            hint = f" ({problem['hint']})" if problem.get("hint") else ""
            err.print(f"  - {problem['field']}: {problem['message']}{hint}", markup=False)
        raise typer.Exit(exc.exit_code) from exc


def human_duration(seconds: int) -> str:
    """kubectl-style short durations: 42s, 5m, 3h, 2d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def age(when: str | None, now: datetime) -> str:
    if not when:
        return "<none>"
    return human_duration(abs(int((now - datetime.fromisoformat(when)).total_seconds())))


def _rows(kind: str, item: dict[str, Any], *, wide: bool, now: datetime) -> list[str]:
    if kind == "trials":
        left = item.get("time_left_seconds")
        expires = "<none>" if left is None or item["phase"] == "Stopped" else human_duration(left)
        row = [item["id"], item["template"], item["phase"], item["reason"],
               age(item["created_at"], now), expires]
        return [*row, item["owner"], ", ".join(item["endpoints"].values())] if wide else row
    if kind == "templates":
        row = [item["name"], item["version"], item["supplier"], item["status"]]
        return [*row, ", ".join(item["problem_areas"]), item["summary"]] if wide else row
    row = [item["slug"], item["name"], item["size"].upper()]
    return [*row, ", ".join(item["templates"])] if wide else row


HEADERS = {
    "trials": (["NAME", "TEMPLATE", "PHASE", "REASON", "AGE", "EXPIRES IN"], ["OWNER", "ENDPOINTS"]),
    "templates": (["NAME", "VERSION", "SUPPLIER", "STATUS"], ["PROBLEM AREAS", "SUMMARY"]),
    "suppliers": (["NAME", "DISPLAY NAME", "SIZE"], ["TEMPLATES"]),
}


def render(kind: str, items: list[dict[str, Any]], output: str) -> None:
    if output == "json":
        sys.stdout.write(json.dumps({"items": items}, indent=2) + "\n")
        return
    if output == "yaml":
        sys.stdout.write(yaml.safe_dump({"items": items}, sort_keys=False))
        return
    if output == "name":
        key = "slug" if kind == "suppliers" else ("id" if kind == "trials" else "name")
        for item in items:
            sys.stdout.write(f"{kind}/{item[key]}\n")
        return
    if output not in ("table", "wide"):
        err.print(f"error: unknown output format {output!r}; use table, wide, json, yaml, name")
        raise typer.Exit(EXIT_USAGE)
    now = datetime.now(UTC)
    base, extra = HEADERS[kind]
    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for header in base + (extra if output == "wide" else []):
        table.add_column(header, no_wrap=True)
    for item in items:
        table.add_row(*_rows(kind, item, wide=output == "wide", now=now))
    out.print(table)


@app.command()
def get(
    resource: Annotated[str, typer.Argument(help="templates|tmpl, trials|tr, suppliers")],
    name: Annotated[str | None, typer.Argument(help="One object by name or id.")] = None,
    output: Output = "table", server: Server = None, token: Token = None,
) -> None:
    """List objects, or show one.

    Examples:
      denctl get tmpl
      denctl get tr -o wide
      denctl get trial t1a2b3c4d5e6 -o yaml
    """
    kind = _resource(resource)
    client = Client.from_env(server, token)
    if name and kind == "trials":
        items = [_call(client, "GET", f"/api/v1/trials/{name}")]
    else:
        items = _call(client, "GET", f"/api/v1/{kind}")["items"]
        if name:
            key = "slug" if kind == "suppliers" else "name"
            items = [i for i in items if i[key] == name]
            if not items:
                err.print(f"error: NotFound: no {kind[:-1]} {name!r}")
                raise typer.Exit(4)
    render(kind, items, output)


@app.command()
def describe(
    resource: Annotated[str, typer.Argument(help="trials|tr")],
    name: Annotated[str, typer.Argument(help="The trial id.")],
    server: Server = None, token: Token = None,
) -> None:
    """Show a trial in full, with its timeline.

    Example:
      denctl describe tr t1a2b3c4d5e6
    """
    if _resource(resource) != "trials":
        err.print("error: describe supports trials; use `get -o yaml` for other kinds")
        raise typer.Exit(EXIT_USAGE)
    client = Client.from_env(server, token)
    trial = _call(client, "GET", f"/api/v1/trials/{name}")
    events = _call(client, "GET", f"/api/v1/trials/{name}/events")["items"]
    for key in ("id", "title", "template", "owner", "phase", "reason", "message", "created_at",
                "ready_at", "expires_at", "ended_at", "hypothesis"):
        out.print(f"{key.replace('_', ' ').title() + ':':<14}{trial[key] or '<none>'}", markup=False)
    out.print("Endpoints:")
    for component, url in trial["endpoints"].items() or [("<none>", "")]:
        out.print(f"  {component}  {url}", markup=False)
    out.print("Events:")
    _event_table(events)


def _event_table(events: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for header in ("AGE", "KIND", "PHASE", "REASON", "MESSAGE"):
        table.add_column(header)
    for event in events:
        table.add_row(age(event["at"], now), event["kind"], event["phase"], event["reason"],
                      event["message"])
    out.print(table)


@app.command()
def events(
    name: Annotated[str, typer.Argument(help="The trial id.")],
    output: Output = "table", server: Server = None, token: Token = None,
) -> None:
    """A trial's timeline, oldest first.

    Example:
      denctl events t1a2b3c4d5e6 -o json
    """
    items = _call(Client.from_env(server, token), "GET", f"/api/v1/trials/{name}/events")["items"]
    if output == "table":
        _event_table(items)
    else:
        sys.stdout.write(json.dumps({"items": items}, indent=2) + "\n" if output == "json"
                         else yaml.safe_dump({"items": items}, sort_keys=False))


@app.command()
def apply(
    filename: Annotated[Path, typer.Option("-f", "--filename", help="A template manifest "
                                           "(kind: SandboxTemplate) or a trial request "
                                           "(kind: Trial), YAML or JSON.")],
    output: Output = "table", server: Server = None, token: Token = None,
) -> None:
    """Publish a template version, or ask for a trial, from a file.

    Examples:
      denctl apply -f sandbox_templates/open-data-dashboard/template.yaml
      denctl apply -f trial.yaml     # kind: Trial, template: ..., title: ..., hypothesis: ...
    """
    if not filename.is_file():
        err.print(f"error: no file {str(filename)!r}")
        raise typer.Exit(EXIT_USAGE)
    text = filename.read_bytes()
    client = Client.from_env(server, token)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        document = None
    if isinstance(document, dict) and document.get("kind") == "Trial":
        body = {k: v for k, v in document.items() if k not in ("kind", "apiVersion")}
        trial = _call(client, "POST", "/api/v1/trials", json=body)
        out.print(f"trials/{trial['id']} created", markup=False)
        return
    stored = _call(client, "POST", "/api/v1/templates", content=text,
                   headers={"Content-Type": "application/yaml"})
    out.print(f"templates/{stored['name']}@{stored['version']} published", markup=False)


@app.command()
def delete(
    resource: Annotated[str, typer.Argument(help="trials|tr")],
    names: Annotated[list[str], typer.Argument(help="Trial ids.")],
    server: Server = None, token: Token = None,
) -> None:
    """End trials now: their sandboxes are torn down.

    Example:
      denctl delete tr t1a2b3c4d5e6
    """
    if _resource(resource) != "trials":
        err.print("error: only trials can be deleted (templates are deprecated instead)")
        raise typer.Exit(EXIT_USAGE)
    client = Client.from_env(server, token)
    for name in names:
        _call(client, "POST", f"/api/v1/trials/{name}/end")
        out.print(f"trials/{name} ending", markup=False)


def main() -> None:
    sys.exit(app())


if __name__ == "__main__":
    main()
