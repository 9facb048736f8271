"""`den users` and `den tokens`: first set-up, straight on the database (no server needed).

Each write is audited with the actor `system` and the source `den cli`. A token is printed
once, on standard output alone, so that `TOKEN=$(den tokens create alice)` works.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from orchestrator import crud, db
from orchestrator.errors import DenError
from orchestrator.settings import Settings

users_app = typer.Typer(help="People and their roles.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)
SOURCE = "den cli"


def _fail(exc: DenError) -> typer.Exit:
    typer.echo(f"error: {exc.reason}: {exc.detail}", err=True)
    return typer.Exit(1)


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="Sign-in name, e.g. alice.")],
    role: Annotated[str, typer.Option(help="civil_servant, supplier, platform_engineer or approver.")],
    department: Annotated[str, typer.Option(help="The person's department.")] = "",
    supplier: Annotated[str, typer.Option(help="The supplier's slug (role supplier only).")] = "",
) -> None:
    """Create a user.

    Example:

    \b
      den users create alice --role civil_servant --department dwp
    """
    from orchestrator.startup import prepare_database

    engine = prepare_database(Settings())
    try:
        with db.session_scope(engine) as session:
            crud.create_user(
                session,
                actor=None,
                now=datetime.now(UTC),
                source=SOURCE,
                data=crud.NewUser(name=name, role=role, department=department, supplier=supplier),
            )
    except DenError as exc:
        raise _fail(exc) from exc
    typer.echo(f"users/{name} created ({role})", err=True)


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "",
    expires_in: Annotated[int | None, typer.Option(help="Seconds until it expires.", min=60)] = None,
) -> None:
    """Make an API token and print it: it is shown this once.

    Example:

    \b
      export DEN_TOKEN=$(den tokens create alice --name laptop --expires-in 2592000)
    """
    from orchestrator.startup import prepare_database

    settings = Settings()
    engine = prepare_database(settings)
    now = datetime.now(UTC)
    try:
        with db.session_scope(engine) as session:
            owner = crud.get_user(session, name=user)
            token, _row = crud.issue_token(
                session,
                user=owner,
                now=now,
                name=name,
                source=SOURCE,
                ttl=timedelta(seconds=expires_in) if expires_in else None,
                max_lifetime=timedelta(seconds=settings.max_token_lifetime),
            )
    except DenError as exc:
        raise _fail(exc) from exc
    typer.echo(token)
