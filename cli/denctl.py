"""`denctl`: the kubectl-like client for Innovation Den.

Verbs follow kubectl: get, describe, apply -f, delete, extend, approve, reject, open, logs,
events, config. Resources have short names: templates (tmpl), trials (tr), suppliers.
Output: -o table|wide|json|yaml|name; -l phase=Ready,template=x,owner=y filters trials;
-w/--watch streams changes. Exit codes: 0 success, 1 refused by the server, 2 usage,
3 server unreachable, 4 not found, 5 not signed in or not allowed.
"""

from __future__ import annotations

import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from cli import contexts, describing, render
from cli.client import EXIT_NOT_FOUND, EXIT_USAGE, Answer, ApiError, Client
from cli.denctl_config import config_app
from orchestrator import catalogue

app = typer.Typer(
    help=__doc__,
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(config_app, name="config")

RESOURCES = {
    "templates": "templates",
    "template": "templates",
    "tmpl": "templates",
    "trials": "trials",
    "trial": "trials",
    "tr": "trials",
    "suppliers": "suppliers",
    "supplier": "suppliers",
}
SELECTOR_KEYS = ("phase", "template", "owner", "department")


def _complete_resource(incomplete: str) -> list[str]:
    return [name for name in RESOURCES if name.startswith(incomplete)]


Resource = Annotated[
    str, typer.Argument(help="templates (tmpl), trials (tr) or suppliers.", autocompletion=_complete_resource)
]
Server = Annotated[str | None, typer.Option("--server", help="API URL (else DEN_SERVER, or the context's).")]
Token = Annotated[str | None, typer.Option("--token", help="API token (else DEN_TOKEN, or the context's).")]
ContextName = Annotated[str | None, typer.Option("--context", help="Use this context from the config file.")]
Output = Annotated[str, typer.Option("-o", "--output", help="table, wide, json, yaml or name.")]


# --- plumbing ----------------------------------------------------------------------------


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(code)


def _resource(name: str, *, allowed: tuple[str, ...] = ("templates", "trials", "suppliers")) -> str:
    kind = RESOURCES.get(name)
    if kind is None or kind not in allowed:
        raise _fail(f"unknown or unsupported resource {name!r} here; use " + ", ".join(allowed))
    return kind


def _output(output: str) -> str:
    if output not in render.OUTPUTS:
        raise _fail(f"unknown output format {output!r}; use {', '.join(render.OUTPUTS)}")
    return output


def _client(server: str | None, token: str | None, context: str | None) -> Client:
    try:
        return Client.resolve(server=server, token=token, context=context)
    except contexts.ConfigError as exc:
        raise _fail(str(exc)) from exc


def _report(exc: ApiError) -> typer.Exit:
    sys.stderr.write(f"error: {exc.reason}: {exc.detail}\n")
    for problem in exc.problems:
        hint = f" ({problem['hint']})" if problem.get("hint") else ""
        sys.stderr.write(f"  - {problem['field']}: {problem['message']}{hint}\n")
    return typer.Exit(exc.exit_code)


def _answer(client: Client, method: str, path: str, **kwargs: Any) -> Answer:
    try:
        return client.call(method, path, **kwargs)
    except ApiError as exc:
        raise _report(exc) from exc


def _call(client: Client, method: str, path: str, **kwargs: Any) -> Any:
    return _answer(client, method, path, **kwargs).body


def _now() -> datetime:
    return datetime.now(UTC)


def selectors(text: str | None) -> dict[str, str]:
    """`phase=Ready,owner=alice` -> query parameters; unknown keys are a usage error."""
    found: dict[str, str] = {}
    for part in filter(None, (text or "").split(",")):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in SELECTOR_KEYS or not value.strip():
            raise _fail(f"bad selector {part!r}: use key=value with keys " + ", ".join(SELECTOR_KEYS))
        found[key.strip()] = value.strip()
    return found


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")


def parse_duration(text: str) -> int:
    """`90`, `90s`, `30m`, `1h30m`, `2d` -> seconds."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise _fail(f"bad duration {text!r}: use e.g. 900, 30m, 1h30m or 2d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


# --- get ---------------------------------------------------------------------------------


@app.command()
def get(
    resource: Resource,
    name: Annotated[str | None, typer.Argument(help="One object: its name, or a trial's id.")] = None,
    output: Output = "table",
    selector: Annotated[
        str | None,
        typer.Option(
            "-l", "--selector", help="Trials only: phase=Ready,template=NAME,owner=NAME,department=NAME."
        ),
    ] = None,
    watch: Annotated[
        bool,
        typer.Option("-w", "--watch", help="Trials only: after the list, print each change as it happens."),
    ] = False,
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """List objects, or show one.

    Examples:

    \b
      denctl get tmpl
      denctl get tmpl open-data-dashboard        # every version and its status
      denctl get tr -o wide -l phase=Ready,owner=alice
      denctl get tr -w
      denctl get trial t1a2b3c4d5e6 -o yaml
    """
    kind, output = _resource(resource), _output(output)
    if (selector or watch) and kind != "trials":
        raise _fail("-l and --watch apply to trials only")
    params = selectors(selector)
    client = _client(server, token, context)
    if watch:
        _watch(client, params, output)
        return
    items, single = _fetch(client, kind, name, params)
    sys.stdout.write(render.render(kind, items, output, now=_now(), single=single))


def _fetch(
    client: Client, kind: str, name: str | None, params: dict[str, str]
) -> tuple[list[dict[str, Any]], bool]:
    if name and kind == "trials":
        return [_call(client, "GET", f"/api/v1/trials/{name}")], True
    if name and kind == "templates":
        detail = _call(client, "GET", f"/api/v1/templates/{name}")
        return detail["versions"], False
    items: list[dict[str, Any]] = _call(client, "GET", f"/api/v1/{kind}", params=params)["items"]
    if name:
        items = [i for i in items if i["slug"] == name]
        if not items:
            raise _fail(f"NotFound: no supplier {name!r}", EXIT_NOT_FOUND)
    return items, bool(name)


def _watch(client: Client, params: dict[str, str], output: str) -> None:
    sys.stdout.write(render.watch_header("trials", output))
    sys.stdout.flush()
    try:
        for line in client.lines("/api/v1/trials", {**params, "watch": "true"}):
            if line.strip():
                event = yaml.safe_load(line)
                sys.stdout.write(render.watch_line("trials", event["object"], output, now=_now()))
                sys.stdout.flush()
    except ApiError as exc:
        raise _report(exc) from exc
    except KeyboardInterrupt:
        return


# --- describe ----------------------------------------------------------------------------


@app.command()
def describe(
    resource: Resource,
    name: Annotated[
        str,
        typer.Argument(
            help="A trial's id, a template's name, or a template version (NAME@VERSION: its review)."
        ),
    ],
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """Show a trial in full (approval, extensions, evaluation, timeline), a template with
    every version, or one version's review (what changed since the last published version).

    Examples:

    \b
      denctl describe tr t1a2b3c4d5e6
      denctl describe tmpl open-data-dashboard
      denctl describe tmpl open-data-dashboard@1.1.0
    """
    kind = _resource(resource, allowed=("trials", "templates"))
    client = _client(server, token, context)
    if kind == "templates" and "@" in name:
        template, _, version = name.partition("@")
        describing.review(_call(client, "GET", f"/api/v1/templates/{template}/versions/{version}"))
        return
    if kind == "templates":
        describing.template(_call(client, "GET", f"/api/v1/templates/{name}"), now=_now())
        return
    trial = _call(client, "GET", f"/api/v1/trials/{name}")
    events = _call(client, "GET", f"/api/v1/trials/{name}/events")["items"]
    try:
        evaluation: dict[str, Any] | None = client.request("GET", f"/api/v1/trials/{name}/evaluation")
    except ApiError:
        evaluation = None
    describing.trial(trial, events, evaluation, now=_now())


# --- apply and delete --------------------------------------------------------------------


@app.command()
def apply(
    filename: Annotated[
        str,
        typer.Option(
            "-f",
            "--filename",
            help="YAML or JSON file (- for "
            "standard input): a template manifest (kind: "
            "SandboxTemplate), a trial request (kind: Trial) or a "
            "supplier (kind: Supplier); several documents may be "
            "separated by ---.",
        ),
    ],
    output: Output = "table",
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """Publish template versions, ask for trials, register suppliers, from a file.

    Examples:

    \b
      denctl apply -f sandbox_templates/open-data-dashboard/template.yaml
      denctl apply -f trial.yaml     # kind: Trial, template: ..., title: ..., hypothesis: ...
      cat supplier.yaml | denctl apply -f -
    """
    output = _output(output)
    text = _read(filename)
    client = _client(server, token, context)
    try:  # no aliases: a Trial document is re-encoded as JSON, which would expand a bomb
        documents = [d for d in yaml.load_all(text, Loader=catalogue.StrictSafeLoader) if d is not None]
    except yaml.YAMLError:
        documents = [None]  # the server names the YAML problem precisely
    for document in documents:
        raw = text if len(documents) == 1 else yaml.safe_dump(document, sort_keys=False).encode()
        line = _apply_one(client, document, raw)
        sys.stdout.write(line.split(" ")[0] + "\n" if output == "name" else line + "\n")


def _read(filename: str) -> bytes:
    if filename == "-":
        return sys.stdin.buffer.read()
    path = Path(filename)
    if not path.is_file():
        raise _fail(f"no file {filename!r}")
    return path.read_bytes()


def _apply_one(client: Client, document: Any, raw: bytes) -> str:
    kind = document.get("kind") if isinstance(document, dict) else None
    if kind in ("Trial", "Supplier"):
        body = {k: v for k, v in document.items() if k not in ("kind", "apiVersion")}
        path = "/api/v1/trials" if kind == "Trial" else "/api/v1/suppliers"
        created = _call(client, "POST", path, json=body)
        return (
            f"trials/{created['id']} created ({created['phase']})"
            if kind == "Trial"
            else f"suppliers/{created['slug']} created"
        )
    answer = _answer(
        client, "POST", "/api/v1/templates", content=raw, headers={"Content-Type": "application/yaml"}
    )
    stored = answer.body
    verb = (
        "unchanged"
        if answer.status != 201
        else "sent for review"
        if stored.get("status") == "PendingReview"
        else "published"
    )
    return f"templates/{stored['name']}@{stored['version']} {verb}"


@app.command()
def delete(
    resource: Resource,
    names: Annotated[list[str] | None, typer.Argument(help="Trial ids.")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every trial you may see that is not stopped yet.")
    ] = False,
    selector: Annotated[
        str | None,
        typer.Option(
            "-l", "--selector", help="Only trials matching, e.g. template=open-data-dashboard (with --all)."
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until each trial is Stopped, its teardown verified.")
    ] = False,
    timeout: Annotated[
        int, typer.Option("--timeout", help="Seconds --wait waits before failing.", min=1)
    ] = 300,
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """End trials now: their sandboxes are torn down (a pending request is withdrawn).

    Examples:

    \b
      denctl delete tr t1a2b3c4d5e6
      denctl delete tr --all --wait       # e.g. before uninstalling the orchestrator
      denctl delete tr --all -l template=open-data-dashboard
    """
    _resource(resource, allowed=("trials",))
    if bool(names) == all_:
        raise _fail("name the trials to end, or use --all (not both)")
    if selector and not all_:
        raise _fail("-l/--selector goes with --all")
    client = _client(server, token, context)
    if all_:
        found = _call(client, "GET", "/api/v1/trials", params=selectors(selector))["items"]
        names = [t["id"] for t in found if t["phase"] != "Stopped"]
        _end_each(client, names)
    else:
        _post_each(client, names or [], action="end", done="ending")
    if wait:
        _wait_stopped(client, names or [], timeout=timeout)


def _end_each(client: Client, names: list[str]) -> None:
    """End each trial; one already on its way out (409 Conflict) is fine with --all."""
    for name in names:
        try:
            client.call("POST", f"/api/v1/trials/{name}/end")
        except ApiError as exc:
            if exc.status != 409:
                raise _report(exc) from exc
        sys.stdout.write(f"trials/{name} ending\n")


def _wait_stopped(client: Client, names: list[str], *, timeout: int) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(names)
    while waiting:
        for name in list(waiting):
            trial = _call(client, "GET", f"/api/v1/trials/{name}")
            if trial["phase"] == "Stopped":
                waiting.remove(name)
                sys.stdout.write(f"trials/{name} stopped\n")
        if waiting and time.monotonic() > deadline:
            raise _fail(f"still not stopped after {timeout} s: {', '.join(waiting)}", 1)
        if waiting:
            time.sleep(1)


def _post_each(client: Client, names: list[str], *, action: str, done: str) -> None:
    """POST /api/v1/trials/{name}/{action} for each trial, kubectl-style: one line each."""
    for name in names:
        _call(client, "POST", f"/api/v1/trials/{name}/{action}")
        sys.stdout.write(f"trials/{name} {done}\n")


# --- extend, approve, reject -------------------------------------------------------------


@app.command()
def extend(
    resource: Resource,
    name: Annotated[str, typer.Argument(help="The trial's id.")],
    by: Annotated[str, typer.Option("--by", help="How much longer: 900, 30m, 1h30m, 2d.")],
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """Give a trial more time. Past the self-service limit the extension waits for an
    approver; a rule that forbids it is named (exit 1).

    Examples:

    \b
      denctl extend tr t1a2b3c4d5e6 --by 30m
      denctl extend tr t1a2b3c4d5e6 --by 2h    # may wait for an approver
    """
    _resource(resource, allowed=("trials",))
    seconds = parse_duration(by)
    client = _client(server, token, context)
    answer = _answer(client, "POST", f"/api/v1/trials/{name}/extend", json={"duration_seconds": seconds})
    trial = answer.body
    if answer.status == 202:
        sys.stdout.write(
            f"trials/{name} extension by {render.human_duration(seconds)} waits for an approver\n"
        )
        return
    sys.stdout.write(
        f"trials/{name} extended: expires at {trial['expires_at']} (in "
        f"{render.until(trial['expires_at'], _now())})\n"
    )


@app.command()
def approve(
    resource: Resource,
    names: Annotated[list[str], typer.Argument(help="Trial ids, or template versions (NAME@VERSION).")],
    reason: Annotated[
        str,
        typer.Option("--reason", help="For a template version: a note for the supplier and the audit log."),
    ] = "",
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """Approve what waits on trials (the trial itself, PendingApproval, or an extension;
    nobody approves their own request), or publish template versions waiting for review
    (platform engineers; their images are pinned by digest).

    Examples:

    \b
      denctl approve tr t1a2b3c4d5e6
      denctl describe tmpl open-data-dashboard@1.1.0   # what changed, first
      denctl approve tmpl open-data-dashboard@1.1.0
    """
    kind = _resource(resource, allowed=("trials", "templates"))
    client = _client(server, token, context)
    if kind == "templates":
        for name in names:
            _set_version_status(client, name, status="Published", reason=reason)
        return
    _post_each(client, names, action="approve", done="approved")


def _set_version_status(client: Client, ref: str, *, status: str, reason: str) -> None:
    name, _, version = ref.partition("@")
    if not version:
        raise _fail(f"name the version to review: {name}@VERSION (see denctl describe tmpl {name})")
    row = _call(
        client,
        "POST",
        f"/api/v1/templates/{name}/versions/{version}/status",
        json={"status": status, "reason": reason},
    )
    pinned = ", ".join(f"{c}={image}" for c, image in row.get("pinned_images", {}).items())
    sys.stdout.write(
        f"templates/{name}@{version} {status.lower()}"
        + (f" (pinned: {pinned})" if pinned and status == "Published" else "")
        + "\n"
    )


@app.command()
def reject(
    resource: Resource,
    name: Annotated[str, typer.Argument(help="The trial's id, or a template version (NAME@VERSION).")],
    reason: Annotated[str, typer.Option("--reason", help="Why: the requester (or supplier) reads it.")],
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """Reject what waits on a trial, or a template version waiting for review, saying why.

    Examples:

    \b
      denctl reject tr t1a2b3c4d5e6 --reason "Use the open-data template instead"
      denctl reject tmpl open-data-dashboard@1.1.0 --reason "Egress to a private range"
    """
    kind = _resource(resource, allowed=("trials", "templates"))
    client = _client(server, token, context)
    if kind == "templates":
        _set_version_status(client, name, status="Rejected", reason=reason)
        return
    _call(client, "POST", f"/api/v1/trials/{name}/reject", json={"reason": reason})
    sys.stdout.write(f"trials/{name} rejected\n")


# --- open ------------------------------------------------------------------------------


@app.command("open")
def open_(
    resource: Resource,
    name: Annotated[str, typer.Argument(help="The trial's id.")],
    component: Annotated[
        str | None, typer.Argument(help="Which component (needed when the trial exposes several).")
    ] = None,
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """Print a one-time address that opens a trial's sandbox in a browser, signed in as you.
    It is on the sandbox's own origin and works once, within a minute. Scripts can instead
    send their token to the sandbox's URL (`denctl describe tr`) as `X-Den-Token`.

    Examples:

    \b
      denctl open tr t1a2b3c4d5e6
      denctl open tr t1a2b3c4d5e6 web
      xdg-open "$(denctl open tr t1a2b3c4d5e6)"
    """
    _resource(resource, allowed=("trials",))
    client = _client(server, token, context)
    body = {"component": component} if component else {}
    answer = _call(client, "POST", f"/api/v1/trials/{name}/open", json=body)
    sys.stdout.write(answer["url"] + "\n")


# --- logs and events ---------------------------------------------------------------------


@app.command()
def logs(
    name: Annotated[str, typer.Argument(help="The trial's id.")],
    component: Annotated[
        str | None, typer.Argument(help="Which component (needed when the template has several).")
    ] = None,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Keep streaming new lines.")] = False,
    tail: Annotated[int, typer.Option("--tail", help="Lines from the end.", min=0)] = 200,
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """Print a trial component's logs, from whichever runtime runs it.

    Examples:

    \b
      denctl logs t1a2b3c4d5e6
      denctl logs t1a2b3c4d5e6 api -f --tail 20
    """
    client = _client(server, token, context)
    component = component or _only_component(client, name)
    try:
        for line in client.lines(
            f"/api/v1/trials/{name}/logs/{component}", {"follow": str(follow).lower(), "tail": tail}
        ):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except ApiError as exc:
        raise _report(exc) from exc
    except KeyboardInterrupt:
        return


def _only_component(client: Client, trial_id: str) -> str:
    trial = _call(client, "GET", f"/api/v1/trials/{trial_id}")
    template, _, version = trial["template"].partition("@")
    detail = _call(client, "GET", f"/api/v1/templates/{template}")
    components = next(v["components"] for v in detail["versions"] if v["version"] == version)
    if len(components) != 1:
        raise _fail(f"trial {trial_id} has components {', '.join(components)}: name one")
    return str(components[0])


@app.command()
def events(
    name: Annotated[str, typer.Argument(help="The trial's id.")],
    output: Output = "table",
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """A trial's timeline, oldest first.

    Examples:

    \b
      denctl events t1a2b3c4d5e6
      denctl events t1a2b3c4d5e6 -o json
    """
    output = _output(output)
    items = _call(_client(server, token, context), "GET", f"/api/v1/trials/{name}/events")["items"]
    sys.stdout.write(render.render("events", items, output, now=_now()))


def main() -> None:
    sys.exit(app(prog_name="denctl"))


if __name__ == "__main__":
    main()
