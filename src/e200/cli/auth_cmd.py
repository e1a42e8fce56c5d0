"""``e200 auth``: directory sync, API keys, lockouts."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from e200.cli.common import CLI_ACTOR, console
from e200.cli.common import cli_detail as _cli_detail
from e200.cli.common import settings_from as _settings

auth_app = typer.Typer(help="Users and sign-on: directory sync, API keys, lockouts.",
                       no_args_is_help=True)  # fmt: skip

# Exit codes of `e200 auth`: 1 a name or input is wrong, 2 no directory is configured,
# 3 the directory cannot be reached or refuses the service account.
EXIT_NO_DIRECTORY = 2
EXIT_DIRECTORY_DOWN = 3


@auth_app.command("sync-directory")
def auth_sync_directory() -> None:
    """Compare E200's directory users with LDAP/AD now: refresh their roles and scope from the
    group mappings, disable those the directory no longer has or no longer maps (their sessions
    and tokens stop at once). The hourly maintenance does the same while E200 runs."""
    from e200 import auth
    from e200.auth.login import DirectoryDownError
    from e200.db import Database

    settings = _settings()
    if not settings.ldap_url:
        console.print("[red]No directory configured:[/] set E200_LDAP_URL (and the other "
                      "E200_LDAP_* settings) to sync users from LDAP/AD.")  # fmt: skip
        raise typer.Exit(EXIT_NO_DIRECTORY)
    database = Database.open(settings)
    try:
        with console.status(f"Reading users from {settings.ldap_url}…"):
            result = auth.sync_directory(database.engine, settings)
    except DirectoryDownError as exc:
        console.print(f"[red]Directory sync failed, nothing changed:[/] {exc}")
        raise typer.Exit(EXIT_DIRECTORY_DOWN) from exc
    finally:
        database.close()
    table = Table(title="Directory sync", show_header=False)
    table.add_row("directory", settings.ldap_url)
    table.add_row("directory users", str(result.directory_users))
    table.add_row("E200 users updated", str(result.updated))
    table.add_row("E200 users disabled", str(len(result.disabled)))
    for name in result.disabled:
        table.add_row("", f"[yellow]{name}[/]")
    console.print(table)


@auth_app.command("create-api-key")
def auth_create_api_key(
    user: Annotated[str, typer.Option("--user", help="The user the key acts as.")],
    name: Annotated[str, typer.Option("--name", help="Label, e.g. the client's name.")],
) -> None:
    """Create an API key acting as USER (their roles and scope) and print it once on standard
    output; only its hash is stored. Send it as the X-API-Key header."""
    from sqlalchemy import select

    from e200 import auth
    from e200.auth.credentials import create_api_key
    from e200.auth.tables import user_account
    from e200.db import Database

    label = name.strip()
    if not label or len(label) > 100:
        console.print("[red]--name must be 1 to 100 characters.[/]")
        raise typer.Exit(1)
    database = Database.open(_settings())
    try:
        with database.engine.begin() as conn:
            account = conn.execute(
                select(user_account.c.id, user_account.c.status).where(
                    user_account.c.username == user
                )
            ).first()
            if account is None:
                console.print(f"[red]No user {user!r}.[/]")
                raise typer.Exit(1)
            if account.status != "active":
                console.print(f"[red]User {user!r} is {account.status}:[/] a key acting as "
                              "them would not work.")  # fmt: skip
                raise typer.Exit(1)
            key, row = create_api_key(conn, account.id, label, created_by=None)
            auth.audit.record(
                conn,
                action="create_user_api_key",
                outcome="success",
                actor=CLI_ACTOR,
                target=f"username={user}",
                detail=_cli_detail(name=label, prefix=row["prefix"]),
            )
    finally:
        database.close()
    console.print(f"API key [bold]{label}[/] for [bold]{user}[/] (prefix {row['prefix']}). "
                  "It is shown only now: store it in the client's secrets.")  # fmt: skip
    typer.echo(key)


@auth_app.command("unlock")
def auth_unlock(
    username: Annotated[str, typer.Argument(help="The locked user.")],
) -> None:
    """Lift a lockout after repeated failed logins (resets the failure counter)."""
    from e200 import auth
    from e200.auth import accounts
    from e200.db import Database
    from e200.kernel import NotFoundError, Permission, Principal, Scope

    # The CLI runs on the server with the database's credentials: it may manage everyone.
    operator = Principal(
        user_id=0,
        username=CLI_ACTOR,
        permissions=frozenset(Permission),
        scope=Scope.everything(),
        via="cli",
    )
    database = Database.open(_settings())
    try:
        with database.engine.begin() as conn:
            try:
                before = accounts.get_user(conn, operator, username)
            except NotFoundError as exc:
                console.print(f"[red]No user {username!r}.[/]")
                raise typer.Exit(1) from exc
            user = accounts.unlock_user(conn, operator, username)
            auth.audit.record(
                conn,
                action="unlock_user",
                outcome="success",
                actor=CLI_ACTOR,
                target=f"username={username}",
                detail=_cli_detail(),
            )
    finally:
        database.close()
    what = "unlocked" if before["locked"] else "was not locked; failed logins reset"
    note = "" if user["status"] == "active" else f" (the account is {user['status']})"
    console.print(f"{username} {what}{note}.")
