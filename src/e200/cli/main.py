"""``e200``: the command. Process roles (up, serve, worker, ingest) are in ``roles``; each
group of subcommands in its own module."""

from __future__ import annotations

import typer
from rich.table import Table

from e200 import __version__
from e200.cli import roles
from e200.cli.archives_cmd import archives_app, bench_import
from e200.cli.auth_cmd import auth_app
from e200.cli.bench_alarms_cmd import bench_alarms
from e200.cli.bench_cmd import bench_app
from e200.cli.common import console
from e200.cli.common import settings_from as _settings
from e200.cli.quality_cmd import bench_quality, quality_app
from e200.sim.cli import sim_app

app = typer.Typer(
    help="E200 master station for distribution networks.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold database passwords
)
db_app = typer.Typer(help="Database: migrations and status.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(bench_app, name="bench")
app.add_typer(sim_app, name="sim")
app.add_typer(archives_app, name="archives")
app.add_typer(quality_app, name="quality")
app.add_typer(auth_app, name="auth")
bench_app.command("import")(bench_import)
bench_app.command("quality")(bench_quality)
bench_app.command("alarms")(bench_alarms)
for role in (roles.up, roles.serve, roles.worker, roles.ingest):
    app.command()(role)


@app.command()
def version() -> None:
    """Print the E200 version."""
    typer.echo(__version__)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Run the migrations up to the code's head (idempotent)."""
    from e200.db import Database, current_revision, upgrade

    database = Database.open(_settings())
    try:
        upgrade(database.engine)
        console.print(f"Schema at revision {current_revision(database.engine)}.")
    finally:
        database.close()


@db_app.command("status")
def db_status() -> None:
    """Show where the database is and whether its schema is current."""
    from e200.db import Database, current_revision, head_revision

    settings = _settings()
    database = Database.open(settings)
    try:
        table = Table(show_header=False)
        table.add_row("database", "embedded" if database.embedded else "external")
        if database.embedded:
            table.add_row("data", str(database.embedded.pgdata))
        table.add_row("schema revision", str(current_revision(database.engine)))
        table.add_row("code revision", head_revision())
        console.print(table)
    finally:
        database.close()


def main() -> None:
    from e200.jobs import install_listeners

    # As in every role: archive changes made by any command (an import) sync the terminals.
    install_listeners()
    app()
