"""`den`: run the product (API + web + reconciler), the reconciler alone, migrations, images."""

from __future__ import annotations

import ipaddress
import os
import secrets
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from cli import admin, logs
from orchestrator.settings import Settings

app = typer.Typer(
    help="Run Innovation Den.", no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]}
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
images_app = typer.Typer(help="Sandbox images, built locally with no registry.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(images_app, name="images")
app.add_typer(admin.users_app, name="users")
app.add_typer(admin.tokens_app, name="tokens")


def _settings(**overrides: object) -> Settings:
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    logs.configure(settings.log_level, settings.log_format)
    return settings


def _admin_token(settings: Settings) -> str:
    """The bootstrap token: from DEN_BOOTSTRAP_ADMIN_TOKEN, or made once for local use and
    kept (mode 0600) in the data directory so that restarts keep it."""
    if settings.bootstrap_admin_token:
        return settings.bootstrap_admin_token
    if settings.environment == "production":
        return ""
    path = settings.data_dir / "admin-token"
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = "den_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def is_loopback(host: str) -> bool:
    """Only this machine can reach the address (`localhost`, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    driver: Annotated[str | None, typer.Option(help="docker or kubernetes (DEN_DRIVER).")] = None,
    reconciler: Annotated[
        bool,
        typer.Option(
            help="Run the reconciler in this process. --no-reconciler when `den reconcile` runs "
            "apart (the Helm chart with PostgreSQL, where the API has several replicas)."
        ),
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Processes serving the API and the pages (about one per core). With more than "
            "one, the reconciler runs in a process of its own beside them: still exactly one.",
        ),
    ] = 1,
) -> None:
    """Serve the API and web pages, with the reconciler: in one process, or in --workers
    processes and one reconciler process."""
    import uvicorn

    from api.main import create_app

    settings = _settings(driver=driver)
    if settings.dev_sign_in_enabled and not is_loopback(host):
        typer.echo(
            f"den serve: development sign-in lets anyone sign in as anyone, so it is "
            f"served on loopback only, not on {host}. Set DEN_DEV_SIGN_IN=false (and "
            "DEN_OIDC_ISSUER for single sign-on), or DEN_ENVIRONMENT=production.",
            err=True,
        )
        raise typer.Exit(2)
    token = _admin_token(settings)
    if token:
        settings = settings.model_copy(update={"bootstrap_admin_token": token})
    url = f"http://{host}:{port}"
    typer.echo(f"Innovation Den on {url}  (driver: {settings.driver})", err=True)
    if token and not os.environ.get("DEN_BOOTSTRAP_ADMIN_TOKEN"):
        typer.echo(f"API token (platform engineer): {token}", err=True)
        typer.echo(f"  export DEN_SERVER={url} DEN_TOKEN={token}", err=True)
    if workers > 1:
        from cli.serving import serve_workers

        given = {"DEN_DRIVER": settings.driver} | ({"DEN_BOOTSTRAP_ADMIN_TOKEN": token} if token else {})
        serve_workers(
            settings, host=host, port=port, workers=workers, reconciler=reconciler, environment=given
        )
        return
    uvicorn.run(
        create_app(settings, with_reconciler=reconciler),
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=False,
    )


@app.command()
def reconcile(
    health_port: Annotated[
        int | None,
        typer.Option(
            help="Serve /healthz (the loop keeps turning), /readyz (the database answers) and "
            "/metrics on this port, for probes and Prometheus."
        ),
    ] = None,
    health_host: Annotated[str, typer.Option(help="Address of the health server.")] = "0.0.0.0",
) -> None:
    """Run the reconciler alone (a second Deployment beside the API)."""
    from cli.health import serve_health
    from orchestrator import db, leadership
    from orchestrator.drivers import load_driver
    from orchestrator.errors import DenError
    from orchestrator.reconciler import Reconciler
    from orchestrator.startup import prepare

    settings = _settings()
    engine = prepare(settings)
    stop, wake = threading.Event(), threading.Event()
    try:
        # Several `den reconcile` may run: one leads, the others stand by (and take over).
        keeper = leadership.build(settings, on_gain=wake.set)
    except DenError as exc:
        typer.echo(f"den reconcile: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    reconciler = Reconciler(
        engine=engine, driver=load_driver(settings), settings=settings, wake=wake, leader=keeper.is_leader
    )

    if health_port is not None:
        # A pass may wait out the longest back-off; a loop silent for much longer is stuck, and
        # so is a leadership keeper (a hung leader would keep its claim and nobody would act).
        serve_health(
            health_host,
            health_port,
            last_turn=lambda: min(reconciler.last_turn, keeper.last_tick),
            database_ok=lambda: db.problem(engine),
            stale_after=120.0,
            leader=keeper.is_leader,
        )

    def _stop(*_: object) -> None:
        stop.set()
        reconciler.wake.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    keeper.start()
    try:
        reconciler.run(stop)
    finally:
        keeper.stop()  # a standby takes over at its next try, not after the lease runs out


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply database migrations (to the newest revision by default)."""
    from orchestrator import db

    settings = _settings()
    engine = db.make_engine(settings.effective_database_url)
    db.upgrade(engine, revision)
    typer.echo(f"database at {revision}: {engine.url.render_as_string(hide_password=True)}")


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(help="Where to write the copy (replaced whole).")],
) -> None:
    """Copy the embedded SQLite database to FILE while the service runs (PostgreSQL: pg_dump).

    To restore: stop the service, copy FILE to the database's path (DEN_DATA_DIR/den.db),
    remove den.db-wal and den.db-shm beside it, start the service (docs/operating-ha.md)."""
    from orchestrator import db
    from orchestrator.errors import DenError

    settings = _settings()
    try:
        made = db.backup_sqlite(settings.effective_database_url, file)
    except DenError as exc:
        typer.echo(f"den db backup: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    except OSError as exc:
        typer.echo(f"den db backup: cannot write {file}: {exc.strerror}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"backed up to {made.path} ({made.size} bytes, schema revision {made.revision})")


@images_app.command("build")
def images_build(
    templates: Annotated[list[str] | None, typer.Argument(help="Template names (all if none).")] = None,
    templates_dir: Annotated[Path | None, typer.Option(help="Template directory.")] = None,
) -> None:
    """Build the bundled templates' images locally (base image from Debian packages)."""
    from orchestrator import images
    from orchestrator.errors import DenError
    from orchestrator.startup import templates_dir as default_dir

    settings = _settings()
    directory = templates_dir or default_dir(settings)
    if directory is None:
        typer.echo("no template directory: pass --templates-dir", err=True)
        raise typer.Exit(2)
    try:
        built = images.build_all(
            directory, templates or None, settings=settings, log=lambda line: typer.echo(line, err=True)
        )
    except DenError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    for image in built:
        typer.echo(image)


def main() -> None:
    sys.exit(app())


if __name__ == "__main__":
    main()
