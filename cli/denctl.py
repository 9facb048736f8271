"""`denctl`: the kubectl-like client for Innovation Den.

Verbs follow kubectl: get, describe, apply -f, create -f, delete, extend, approve, reject, open,
wait, logs, events, explain, api-resources, version, config; publish and close for challenges.
Resources have short names: templates (tmpl), trials (tr), challenges (ch), suppliers; objects
are named `TYPE NAME...` or `TYPE/NAME...`.
Global flags (--server, --token, --context, -o) go before or after the verb.
Output: -o table|wide|json|yaml|name|jsonpath=...|custom-columns=...; -l phase=Ready,owner=y
filters trials on the server (and -l stage=Published challenges), --field-selector
phase!=Stopped on the client; -w/--watch streams changes. Exit codes: 0 success, 1 refused
by the server, 2 usage, 3 server unreachable (or not a den), 4 not found, 5 not signed in or
not allowed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from cli import applying, challenges, describing, describing_challenges, explaining, plumbing, render
from cli.client import EXIT_ERROR, EXIT_NOT_FOUND, EXIT_USAGE, ApiError, Client
from cli.denctl_config import config_app
from cli.parsing import (
    UsageError,
    parse_duration,
    parse_field_selector,
    select_fields,
    sort_by,
)
from cli.plumbing import Globals, answer, call, fail, now, refs, report, trial_id
from orchestrator import __version__

app = typer.Typer(
    help=__doc__,
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(config_app, name="config")

RESOURCES = plumbing.RESOURCES
SELECTOR_KEYS = ("phase", "template", "owner", "department")
#: kind -> the keys `-l` takes (the API's own filters of the list)
SELECTORS = {"trials": SELECTOR_KEYS, "challenges": challenges.SELECTOR_KEYS}
FIELD_KEYS = {
    "challenges": ("id", "name", "stage", "title", "owner", "department"),
    "trials": ("id", "name", "phase", "reason", "template", "owner", "department", "shared_with_department"),
    "templates": ("name", "version", "supplier", "status", "data_classification"),
    "suppliers": ("slug", "name", "size"),
    "notifications": ("event", "channel", "state", "trial_id", "recipient", "target"),
}


# --- completion: resources, ids from the server, output formats ----------------------------


def _complete_resource(ctx: typer.Context, incomplete: str) -> list[str]:
    if "/" in incomplete:
        type_, _, start = incomplete.partition("/")
        kind = RESOURCES.get(type_)
        return [f"{type_}/{n}" for n in _server_names(ctx, kind, start)] if kind else []
    return [name for name in RESOURCES if name.startswith(incomplete)]


def _complete_name(ctx: typer.Context, incomplete: str) -> list[str]:
    first = str(ctx.params.get("resource") or "")
    if "/" in first:
        type_ = first.partition("/")[0]
        return [
            f"{type_}/{n}" for n in _server_names(ctx, RESOURCES.get(type_), incomplete.partition("/")[2])
        ]
    return _server_names(ctx, RESOURCES.get(first, "trials"), incomplete)


def _server_names(ctx: typer.Context, kind: str | None, start: str) -> list[str]:
    """Names of `kind` from the server, when it answers within two seconds; else none."""
    if kind is None:
        return []
    params = ctx.find_root().params
    try:
        made = Client.resolve(
            server=ctx.params.get("server") or params.get("server"),
            token=ctx.params.get("token") or params.get("token"),
            context=ctx.params.get("context") or params.get("context"),
        )
        made.timeout = 2.0
        items = made.request("GET", f"/api/v1/{kind}")["items"] if made.token else []
    except Exception:  # completion never fails the shell: no server, no names
        return []
    key = render.KINDS[kind][4]
    names = [str(i[key]) for i in items] + [
        str(i["name"]) for i in items if kind in ("trials", "challenges") and i.get("name")
    ]
    return sorted({n for n in names if n.startswith(start)})


def _complete_output(incomplete: str) -> list[str]:
    return [name for name in render.OUTPUT_CHOICES if name.startswith(incomplete)]


Resource = Annotated[
    str,
    typer.Argument(
        help="templates (tmpl), trials (tr), challenges (ch), suppliers or notifications; or "
        "TYPE/NAME (trials/ID).",
        autocompletion=_complete_resource,
    ),
]
Server = Annotated[str | None, typer.Option("--server", help="API URL (else DEN_SERVER, or the context's).")]
Token = Annotated[str | None, typer.Option("--token", help="API token (else DEN_TOKEN, or the context's).")]
ContextName = Annotated[str | None, typer.Option("--context", help="Use this context from the config file.")]
Output = Annotated[
    str | None,
    typer.Option(
        "-o",
        "--output",
        help="table, wide, json, yaml, name, jsonpath=TEMPLATE or custom-columns=HEADER:.field,...",
        autocompletion=_complete_output,
    ),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Check and print what would happen; change nothing.")]


@app.callback()
def _global_flags(
    ctx: typer.Context,
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
    output: Output = None,
) -> None:
    """Flags before the verb apply to it, as kubectl's do; the verb's own flags win."""
    ctx.obj = Globals(server=server, token=token, context=context, output=output)


def selectors(text: str | None, *, kind: str = "trials") -> dict[str, str]:
    """`phase=Ready,owner=alice` -> query parameters; unknown keys are a usage error."""
    found: dict[str, str] = {}
    keys = SELECTORS.get(kind, SELECTOR_KEYS)
    for part in filter(None, (text or "").split(",")):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in keys or not value.strip():
            raise fail(f"bad selector {part!r}: use key=value with keys " + ", ".join(keys))
        found[key.strip()] = value.strip()
    return found


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except UsageError as exc:
        raise plumbing.usage(exc) from exc


def _seconds_or_duration(text: str) -> int:
    """`--timeout` of `delete --wait`: a duration (60s, 5m), or seconds as earlier releases took."""
    return (
        int(text) if text.strip().isascii() and text.strip().isdigit() and int(text) > 0 else _duration(text)
    )


# --- get ---------------------------------------------------------------------------------

FORMATS = render.OUTPUTS


@app.command()
def get(
    ctx: typer.Context,
    resource: Resource,
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="Objects: their names, or trials' and challenges' ids.", autocompletion=_complete_name
        ),
    ] = None,
    output: Output = None,
    selector: Annotated[
        str | None,
        typer.Option(
            "-l",
            "--selector",
            help="Trials: phase=Ready,template=NAME,owner=NAME,department=NAME; challenges: "
            "stage=Published,owner=NAME,name=NAME.",
        ),
    ] = None,
    field_selector: Annotated[
        str | None,
        typer.Option("--field-selector", help="Keep objects whose fields match: phase=Ready,template!=x."),
    ] = None,
    sort: Annotated[
        str | None, typer.Option("--sort-by", help="Order by a JSONPath field, e.g. .expires_at.")
    ] = None,
    watch: Annotated[
        bool,
        typer.Option("-w", "--watch", help="Trials only: after the list, print each change as it happens."),
    ] = False,
    chunk_size: Annotated[
        int,
        typer.Option(
            "--chunk-size",
            min=0,
            max=plumbing.MAX_CHUNK_SIZE,
            help="Read long lists this many items a request, page after page (0: one request, "
            "the server's first page only).",
        ),
    ] = plumbing.CHUNK_SIZE,
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """List objects, or show some.

    Examples:

    \b
      denctl get tmpl
      denctl get tmpl open-data-dashboard        # every version and its status
      denctl get tr -o wide -l phase=Ready,owner=alice
      denctl get tr --field-selector phase!=Stopped --sort-by .expires_at
      denctl get tr -o jsonpath='{.items[*].id}'
      denctl get tr -o custom-columns=ID:.id,PHASE:.phase
      denctl get tr -w
      denctl get tr --chunk-size 100             # every trial, 100 a request
      denctl get ch -l stage=Published -o wide   # challenges open to responses
      denctl get ch missed-appointments -o yaml  # a document apply -f takes back
      denctl get notifications --field-selector state=failed
      denctl get trials/t1a2b3c4d5e6 -o yaml     # a document apply -f takes back
    """
    kind, names = refs(
        resource, names, allowed=("templates", "trials", "challenges", "suppliers", "notifications")
    )
    shown = plumbing.output_of(ctx, output, FORMATS)
    if watch and kind != "trials":
        raise fail("--watch applies to trials only")
    if selector and kind not in SELECTORS:
        raise fail("-l applies to trials and challenges only")
    params = selectors(selector, kind=kind)
    try:
        terms = parse_field_selector(field_selector, keys=FIELD_KEYS[kind])
        if sort:
            sort_by([], sort)
    except UsageError as exc:
        raise plumbing.usage(exc) from exc
    made = plumbing.client(ctx, server, token, context)
    if watch:
        _watch(made, params, shown[0])
        return
    items, single = _fetch(made, kind, names, params, chunk_size=chunk_size)
    items = select_fields(items, terms)
    if sort:
        items = sort_by(items, sort)
    sys.stdout.write(render.shaped(kind, items, shown, now=now(), single=single))


def _fetch(
    made: Client, kind: str, names: list[str], params: dict[str, str], *, chunk_size: int
) -> tuple[list[dict[str, Any]], bool]:
    if kind == "challenges":
        return challenges.fetch(made, names, params, chunk_size=chunk_size)
    if names and kind == "trials":
        found = [call(made, "GET", f"/api/v1/trials/{trial_id(made, n)}") for n in names]
        return found, len(found) == 1
    if names and kind == "templates":
        versions: list[dict[str, Any]] = []
        for name in names:
            versions += call(made, "GET", f"/api/v1/templates/{name}")["versions"]
        return versions, False
    if names and kind == "notifications":
        raise fail("get notifications takes no names: keep some with --field-selector state=failed")
    items: list[dict[str, Any]] = plumbing.items(made, f"/api/v1/{kind}", params, chunk_size=chunk_size)
    if names:
        missing = [n for n in names if n not in {i["slug"] for i in items}]
        if missing:
            raise fail(f"NotFound: no supplier {missing[0]!r}", EXIT_NOT_FOUND)
        items = [i for i in items if i["slug"] in names]
    return items, len(names) == 1


def _watch(made: Client, params: dict[str, str], output: str) -> None:
    sys.stdout.write(render.watch_header("trials", output))
    sys.stdout.flush()
    try:
        for line in made.lines("/api/v1/trials", {**params, "watch": "true"}):
            if line.strip():
                event = yaml.safe_load(line)
                sys.stdout.write(render.watch_line("trials", event["object"], output, now=now()))
                sys.stdout.flush()
    except ApiError as exc:
        raise report(exc) from exc
    except KeyboardInterrupt:
        return


# --- describe ----------------------------------------------------------------------------


@app.command()
def describe(
    ctx: typer.Context,
    resource: Resource,
    name: Annotated[
        str | None,
        typer.Argument(
            help="A trial's or challenge's id or name, a template's name, or a template version "
            "(NAME@VERSION: its review).",
            autocompletion=_complete_name,
        ),
    ] = None,
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """Show a trial in full (approval, extensions, evaluation, timeline), a template with
    every version, one version's review (what changed since the last published version), or a
    challenge with its answered questions, sessions, responses and the equal offer's trials
    (each as far as you may see it).

    Examples:

    \b
      denctl describe tr t1a2b3c4d5e6
      denctl describe trials/air-quality-pilot
      denctl describe tmpl open-data-dashboard
      denctl describe tmpl open-data-dashboard@1.1.0
      denctl describe ch missed-appointments
    """
    kind, names = refs(resource, [name] if name else [], allowed=("trials", "templates", "challenges"))
    if len(names) != 1:
        raise fail("name one object: denctl describe tr ID (or trials/ID)")
    made = plumbing.client(ctx, server, token, context)
    target = names[0]
    if kind == "challenges":
        found_challenge, below = challenges.describe(made, target)
        describing_challenges.challenge(found_challenge, below, now=now())
        return
    if kind == "templates" and "@" in target:
        template, _, version = target.partition("@")
        describing.review(call(made, "GET", f"/api/v1/templates/{template}/versions/{version}"))
        return
    if kind == "templates":
        describing.template(call(made, "GET", f"/api/v1/templates/{target}"), now=now())
        return
    found = trial_id(made, target)
    trial = call(made, "GET", f"/api/v1/trials/{found}")
    events = plumbing.items(made, f"/api/v1/trials/{found}/events")
    try:
        evaluation: dict[str, Any] | None = made.request("GET", f"/api/v1/trials/{found}/evaluation")
    except ApiError:
        evaluation = None
    describing.trial(trial, events, evaluation, now=now())


# --- apply, create and delete ------------------------------------------------------------

Filename = Annotated[
    str,
    typer.Option(
        "-f",
        "--filename",
        help="YAML or JSON file (- for standard input): a template manifest (kind: "
        "SandboxTemplate), a trial (kind: Trial), a challenge (kind: Challenge) or a supplier "
        "(kind: Supplier); several documents may be separated by ---.",
    ),
]


def _send_file(
    ctx: typer.Context,
    filename: str,
    output: str | None,
    conn: tuple[Any, Any, Any],
    *,
    create: bool,
    dry_run: bool,
) -> None:
    shown = plumbing.output_of(ctx, output, ("table", "name"))[0]
    text = _read(filename)
    made = plumbing.client(ctx, *conn)
    docs = applying.load(text)
    for document in docs:
        raw = text if len(docs) == 1 else yaml.safe_dump(document, sort_keys=False).encode()
        line = applying.one(made, document, raw, create=create, dry_run=dry_run)
        sys.stdout.write(line.split(" ")[0] + "\n" if shown == "name" else line + "\n")


@app.command()
def apply(
    ctx: typer.Context,
    filename: Filename,
    output: Annotated[str | None, typer.Option("-o", "--output", help="table or name.")] = None,
    dry_run: DryRun = False,
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """Publish template versions, ask for trials, write challenges, register suppliers, from a
    file. Applying the same file again changes nothing: a trial is found again by its
    metadata.name ("unchanged"); a trial's spec cannot change, so a file that differs is
    refused (exit 1). A challenge is found again the same way and changed while it is a draft
    ("configured"); spec.publish: true publishes it; a published one that differs is refused
    (ChallengeNotDraft, exit 1).

    Examples:

    \b
      denctl apply -f sandbox_templates/open-data-dashboard/template.yaml
      denctl apply -f trial.yaml     # kind: Trial, metadata: {name: ...}, spec: {template: ...}
      denctl get tr/air-quality-pilot -o yaml > trial.yaml; denctl apply -f trial.yaml
      denctl apply -f trial.yaml --dry-run
      denctl apply -f challenge.yaml # kind: Challenge, metadata: {name: ...}, spec: {title: ...}
      cat supplier.yaml | denctl apply -f -
    """
    _send_file(ctx, filename, output, (server, token, context), create=False, dry_run=dry_run)


@app.command()
def create(
    ctx: typer.Context,
    filename: Filename,
    output: Annotated[str | None, typer.Option("-o", "--output", help="table or name.")] = None,
    dry_run: DryRun = False,
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """Like apply, but every Trial document asks for a new trial each time, and every
    Challenge document writes a new challenge (neither needs a metadata.name; one it has must
    be free: AlreadyExists, exit 1).

    Examples:

    \b
      denctl create -f trial.yaml
      denctl create -f trial.yaml --dry-run -o name
    """
    _send_file(ctx, filename, output, (server, token, context), create=True, dry_run=dry_run)


def _read(filename: str) -> bytes:
    if filename == "-":
        return sys.stdin.buffer.read()
    path = Path(filename)
    if not path.is_file():
        raise fail(f"no file {filename!r}")
    return path.read_bytes()


@app.command()
def delete(
    ctx: typer.Context,
    resource: Resource,
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Trial ids or names (or trials/ID...).", autocompletion=_complete_name),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every trial you may see that is not stopped yet.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --all: do not ask first.")] = False,
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
        str, typer.Option("--timeout", help="How long --wait waits before failing: 5m, 90s (or seconds).")
    ] = "5m",
    dry_run: DryRun = False,
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """End trials now: their sandboxes are torn down (a pending request is withdrawn).
    --all asks first, unless --yes (and refuses, exit 2, when nobody can answer).

    Examples:

    \b
      denctl delete tr t1a2b3c4d5e6
      denctl delete trials/t1a2b3c4d5e6 trials/t6e5d4c3b2a1
      denctl delete tr --all --yes --wait     # e.g. before uninstalling the orchestrator
      denctl delete tr --all -l template=open-data-dashboard
    """
    _kind, names = refs(resource, names, allowed=("trials",))
    if bool(names) == all_:
        raise fail("name the trials to end, or use --all (not both)")
    if selector and not all_:
        raise fail("-l/--selector goes with --all")
    seconds = _seconds_or_duration(timeout)
    made = plumbing.client(ctx, server, token, context)
    if all_:
        found = plumbing.items(made, "/api/v1/trials", selectors(selector))
        ids = [t["id"] for t in found if t["phase"] != "Stopped"]
        if ids and not yes and not dry_run:
            _confirm(ids)
    else:
        ids = [trial_id(made, n) for n in names]
    if dry_run:
        for found_id in ids:
            call(made, "GET", f"/api/v1/trials/{found_id}")
            sys.stdout.write(f"trials/{found_id} ending (dry run)\n")
        return
    _end_each(made, ids, tolerate_ending=all_)
    if wait:
        _wait_stopped(made, ids, timeout=seconds)


def _confirm(ids: list[str]) -> None:
    if not sys.stdin.isatty():
        raise fail(
            f"--all would end {len(ids)} trial(s) and nobody can confirm here: add --yes (-y) to go ahead"
        )
    sys.stderr.write("".join(f"  trials/{i}\n" for i in ids))
    if not typer.confirm(f"End these {len(ids)} trial(s)?", default=False, err=True):
        raise fail("nothing ended", EXIT_ERROR)


def _end_each(made: Client, ids: list[str], *, tolerate_ending: bool) -> None:
    """End each trial; with --all, one already on its way out (409 Conflict) is fine."""
    for found in ids:
        try:
            made.call("POST", f"/api/v1/trials/{found}/end")
        except ApiError as exc:
            if exc.status != 409 or not tolerate_ending:
                raise report(exc) from exc
        sys.stdout.write(f"trials/{found} ending\n")


def _wait_stopped(made: Client, ids: list[str], *, timeout: int) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(ids)
    while waiting:
        for found in list(waiting):
            trial = call(made, "GET", f"/api/v1/trials/{found}")
            if trial["phase"] == "Stopped":
                waiting.remove(found)
                sys.stdout.write(f"trials/{found} stopped\n")
        if waiting and time.monotonic() > deadline:
            raise fail(
                f"still not stopped after {render.human_duration(timeout)}: {', '.join(waiting)}", EXIT_ERROR
            )
        if waiting:
            time.sleep(1)


def _post_each(made: Client, ids: list[str], *, action: str, done: str) -> None:
    """POST /api/v1/trials/{id}/{action} for each trial, kubectl-style: one line each."""
    for found in ids:
        call(made, "POST", f"/api/v1/trials/{found}/{action}")
        sys.stdout.write(f"trials/{found} {done}\n")


# --- wait --------------------------------------------------------------------------------


@app.command("wait")
def wait_(
    ctx: typer.Context,
    resource: Resource,
    names: Annotated[
        list[str] | None, typer.Argument(help="Trial ids or names.", autocompletion=_complete_name)
    ] = None,
    for_: Annotated[str, typer.Option("--for", help="The condition: phase=PHASE.")] = "phase=Ready",
    timeout: Annotated[str, typer.Option("--timeout", help="How long to wait: 60s, 5m.")] = "30s",
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """Wait until each trial is in a phase (exit 1 on timeout, naming the phase it is in).

    Examples:

    \b
      denctl wait --for=phase=Ready tr/t1a2b3c4d5e6 --timeout 60s
      denctl wait trials/air-quality-pilot --for phase=Stopped --timeout 5m
    """
    _kind, names = refs(resource, names, allowed=("trials",))
    key, sep, wanted = for_.partition("=")
    if key != "phase" or not sep or not wanted:
        raise fail(f"--for {for_!r}: use --for=phase=PHASE, e.g. --for=phase=Ready")
    if not names:
        raise fail("name the trials to wait for: denctl wait tr/ID --for=phase=Ready")
    seconds = _duration(timeout)
    made = plumbing.client(ctx, server, token, context)
    ids = [trial_id(made, n) for n in names]
    deadline = time.monotonic() + seconds
    waiting = list(ids)
    while True:
        for found in list(waiting):
            phase = call(made, "GET", f"/api/v1/trials/{found}")["phase"]
            if phase == wanted:
                waiting.remove(found)
                sys.stdout.write(f"trials/{found} condition met (phase={wanted})\n")
            elif phase in ("Stopped", "Failed") and wanted not in ("Stopped", "Failed"):
                raise fail(f"trials/{found} is {phase}: it will never be {wanted}", EXIT_ERROR)
            elif time.monotonic() > deadline:
                raise fail(
                    f"timed out after {render.human_duration(seconds)} waiting for trials/{found}: "
                    f"phase is {phase}, not {wanted}",
                    EXIT_ERROR,
                )
        if not waiting:
            return
        time.sleep(1)


# --- extend, approve, reject -------------------------------------------------------------


@app.command()
def extend(
    ctx: typer.Context,
    resource: Resource,
    name: Annotated[
        str | None, typer.Argument(help="The trial's id or name.", autocompletion=_complete_name)
    ] = None,
    by: Annotated[str, typer.Option("--by", help="How much longer, with a unit: 30m, 1h30m, 2d.")] = "",
    dry_run: DryRun = False,
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """Give a trial more time. Past the self-service limit the extension waits for an
    approver; a rule that forbids it is named (exit 1). A duration needs its unit.

    Examples:

    \b
      denctl extend tr t1a2b3c4d5e6 --by 30m
      denctl extend trials/t1a2b3c4d5e6 --by 2h    # may wait for an approver
      denctl extend tr/air-quality-pilot --by 1h30m --dry-run
    """
    _kind, names = refs(resource, [name] if name else [], allowed=("trials",))
    if len(names) != 1:
        raise fail("name one trial: denctl extend tr ID --by 30m")
    if not by:
        raise fail("say how much longer: --by 30m (a number with a unit: s, m, h, d)")
    seconds = _duration(by)
    made = plumbing.client(ctx, server, token, context)
    found = trial_id(made, names[0])
    if dry_run:
        trial = call(made, "GET", f"/api/v1/trials/{found}")
        sys.stdout.write(
            f"trials/{found} extended by {render.human_duration(seconds)} (dry run; now "
            f"{trial['phase']}, {trial['extension_count']} extension(s) so far)\n"
        )
        return
    answered = answer(made, "POST", f"/api/v1/trials/{found}/extend", json={"duration_seconds": seconds})
    trial = answered.body
    if answered.status == 202:
        sys.stdout.write(
            f"trials/{found} extension by {render.human_duration(seconds)} waits for an approver\n"
        )
        return
    sys.stdout.write(
        f"trials/{found} extended: expires at {trial['expires_at']} (in "
        f"{render.until(trial['expires_at'], now())})\n"
    )


@app.command()
def approve(
    ctx: typer.Context,
    resource: Resource,
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Trial ids, or template versions (NAME@VERSION).", autocompletion=_complete_name),
    ] = None,
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
    kind, names = refs(resource, names, allowed=("trials", "templates"))
    if not names:
        raise fail("name what to approve: denctl approve tr ID, or tmpl NAME@VERSION")
    made = plumbing.client(ctx, server, token, context)
    if kind == "templates":
        for name in names:
            _set_version_status(made, name, status="Published", reason=reason)
        return
    _post_each(made, [trial_id(made, n) for n in names], action="approve", done="approved")


def _set_version_status(made: Client, ref: str, *, status: str, reason: str) -> None:
    name, _, version = ref.partition("@")
    if not version:
        raise fail(f"name the version to review: {name}@VERSION (see denctl describe tmpl {name})")
    row = call(
        made,
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
    ctx: typer.Context,
    resource: Resource,
    name: Annotated[
        str | None,
        typer.Argument(
            help="The trial's id, or a template version (NAME@VERSION).", autocompletion=_complete_name
        ),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why: the requester (or supplier) reads it.")] = "",
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
    kind, names = refs(resource, [name] if name else [], allowed=("trials", "templates"))
    if len(names) != 1 or not reason:
        raise fail('name one object and say why: denctl reject tr ID --reason "..."')
    made = plumbing.client(ctx, server, token, context)
    if kind == "templates":
        _set_version_status(made, names[0], status="Rejected", reason=reason)
        return
    found = trial_id(made, names[0])
    call(made, "POST", f"/api/v1/trials/{found}/reject", json={"reason": reason})
    sys.stdout.write(f"trials/{found} rejected\n")


# --- publish and close challenges --------------------------------------------------------

ChallengeRefs = Annotated[
    list[str] | None,
    typer.Argument(help="Challenge ids or names (or challenges/ID...).", autocompletion=_complete_name),
]


def _challenge_action(
    ctx: typer.Context,
    resource: str,
    names: list[str] | None,
    conn: tuple[Any, Any, Any],
    *,
    action: str,
    done: str,
) -> None:
    """`POST .../{id}/{action}` for each challenge, kubectl-style: one line each."""
    _kind, names = refs(resource, names, allowed=("challenges",))
    if not names:
        raise fail(f"name the challenges to {action}: denctl {action} ch ID (or challenges/ID)")
    made = plumbing.client(ctx, *conn)
    for name in names:
        found = challenges.act(made, name, action=action)
        sys.stdout.write(f"challenges/{found['id']} {done} ({found['stage']})\n")


@app.command()
def publish(
    ctx: typer.Context,
    resource: Resource,
    names: ChallengeRefs = None,
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """Publish draft challenges (their owner): every supplier and signed-in person sees them
    from then on, and they stay as suppliers read them. Or apply a file with spec.publish: true.

    Examples:

    \b
      denctl publish ch c1a2b3c4d5e6
      denctl publish challenges/missed-appointments
    """
    _challenge_action(ctx, resource, names, (server, token, context), action="publish", done="published")


@app.command()
def close(
    ctx: typer.Context,
    resource: Resource,
    names: ChallengeRefs = None,
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """Close published challenges before their closing date (their owner): no more
    responses, questions or registrations.

    Examples:

    \b
      denctl close ch c1a2b3c4d5e6
      denctl close challenges/missed-appointments
    """
    _challenge_action(ctx, resource, names, (server, token, context), action="close", done="closed")


# --- open ------------------------------------------------------------------------------


@app.command("open")
def open_(
    ctx: typer.Context,
    resource: Resource,
    name: Annotated[
        str | None, typer.Argument(help="The trial's id or name.", autocompletion=_complete_name)
    ] = None,
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
      denctl open trials/t1a2b3c4d5e6 web
      xdg-open "$(denctl open tr t1a2b3c4d5e6)"
    """
    if "/" in resource and name is not None and component is None:
        name, component = None, name  # trials/ID COMPONENT
    _kind, names = refs(resource, [name] if name else [], allowed=("trials",))
    if len(names) != 1:
        raise fail("name one trial: denctl open tr ID [COMPONENT]")
    made = plumbing.client(ctx, server, token, context)
    body = {"component": component} if component else {}
    found = trial_id(made, names[0])
    opened = call(made, "POST", f"/api/v1/trials/{found}/open", json=body)
    sys.stdout.write(opened["url"] + "\n")


# --- logs and events ---------------------------------------------------------------------


def _one_trial(ref: str) -> str:
    """`ID`, `NAME` or `trials/ID` for the verbs that take only a trial."""
    if "/" in ref:
        return refs(ref, [], allowed=("trials",))[1][0]
    return ref


@app.command()
def logs(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="The trial's id or name (or trials/ID).", autocompletion=_complete_name)
    ],
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
      denctl logs trials/t1a2b3c4d5e6 api -f --tail 20
    """
    made = plumbing.client(ctx, server, token, context)
    found = trial_id(made, _one_trial(name))
    component = component or _only_component(made, found)
    try:
        for line in made.lines(
            f"/api/v1/trials/{found}/logs/{component}", {"follow": str(follow).lower(), "tail": tail}
        ):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except ApiError as exc:
        raise report(exc) from exc
    except KeyboardInterrupt:
        return


def _only_component(made: Client, found: str) -> str:
    trial = call(made, "GET", f"/api/v1/trials/{found}")
    template, _, version = trial["template"].partition("@")
    detail = call(made, "GET", f"/api/v1/templates/{template}")
    components = next(v["components"] for v in detail["versions"] if v["version"] == version)
    if len(components) != 1:
        raise fail(f"trial {found} has components {', '.join(components)}: name one")
    return str(components[0])


@app.command()
def events(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="The trial's id or name (or trials/ID).", autocompletion=_complete_name)
    ],
    output: Output = None,
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """A trial's timeline, oldest first.

    Examples:

    \b
      denctl events t1a2b3c4d5e6
      denctl events trials/t1a2b3c4d5e6 -o json
    """
    shown = plumbing.output_of(ctx, output, FORMATS)
    made = plumbing.client(ctx, server, token, context)
    found = trial_id(made, _one_trial(name))
    items = plumbing.items(made, f"/api/v1/trials/{found}/events")
    sys.stdout.write(render.shaped("events", items, shown, now=now()))


@app.command()
def members(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="The trial's id or name (or trials/ID).", autocompletion=_complete_name)
    ],
    output: Output = None,
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """A team trial's members (collaborators and assessors), as they were added.

    Examples:

    \b
      denctl members t1a2b3c4d5e6
      denctl members trials/t1a2b3c4d5e6 -o json
    """
    shown = plumbing.output_of(ctx, output, FORMATS)
    made = plumbing.client(ctx, server, token, context)
    found = trial_id(made, _one_trial(name))
    items = call(made, "GET", f"/api/v1/trials/{found}/members")["items"]
    sys.stdout.write(render.shaped("members", items, shown, now=now()))


# --- explain, api-resources, version -----------------------------------------------------


@app.command()
def explain(
    path: Annotated[str, typer.Argument(help="A resource, or one of its fields: trials.spec.duration.")],
) -> None:
    """Describe a resource's document and its fields (no server needed).

    Examples:

    \b
      denctl explain trials
      denctl explain trials.spec.duration
    """
    try:
        sys.stdout.write(explaining.explain(path))
    except UsageError as exc:
        raise plumbing.usage(exc) from exc


@app.command("api-resources")
def api_resources(
    ctx: typer.Context,
    output: Annotated[str | None, typer.Option("-o", "--output", help="table, wide or name.")] = None,
) -> None:
    """The resources denctl knows, their short names and kinds (no server needed).

    Example:

    \b
      denctl api-resources
    """
    shown = plumbing.output_of(ctx, output, ("table", "wide", "name"))[0]
    rows = explaining.rows()
    if shown == "name":
        sys.stdout.write("".join(f"{r[0]}\n" for r in rows))
        return
    headers = ["NAME", "SHORTNAMES", "KIND"] + (["VERBS"] if shown == "wide" else [])
    sys.stdout.write(render.table(headers, [r[: len(headers)] for r in rows]))


@app.command()
def version(
    ctx: typer.Context,
    server: Server = None,
    token: Token = None,
    context: ContextName = None,
) -> None:
    """The client's version and the server's (from its OpenAPI document; no token needed).

    Example:

    \b
      denctl version
    """
    sys.stdout.write(f"Client Version: {__version__}\n")
    made = plumbing.client(ctx, server, token, context, signed=False)
    info = call(made, "GET", "/openapi.json").get("info", {})
    sys.stdout.write(f"Server Version: {info.get('version', '-')}\n")


def main() -> None:
    try:
        app(prog_name="denctl")
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
