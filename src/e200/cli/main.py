"""``e200``: start the system, run migrations, inspect the database."""

from __future__ import annotations

import signal
import threading
import time
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from e200 import __version__, logs
from e200.cli.archives_cmd import archives_app, bench_import
from e200.cli.bench_alarms_cmd import bench_alarms
from e200.cli.quality_cmd import bench_quality, quality_app
from e200.config import Settings
from e200.sim.cli import sim_app

app = typer.Typer(
    help="E200 master station for distribution networks.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold database passwords
)
db_app = typer.Typer(help="Database: migrations and status.", no_args_is_help=True)
app.add_typer(db_app, name="db")
bench_app = typer.Typer(help="Benchmarks (results go into docs/performance.md).",
                        no_args_is_help=True)  # fmt: skip
app.add_typer(bench_app, name="bench")
app.add_typer(sim_app, name="sim")
app.add_typer(archives_app, name="archives")
app.add_typer(quality_app, name="quality")
bench_app.command("import")(bench_import)
bench_app.command("quality")(bench_quality)
bench_app.command("alarms")(bench_alarms)
auth_app = typer.Typer(help="Users and sign-on: directory sync, API keys, lockouts.",
                       no_args_is_help=True)  # fmt: skip
app.add_typer(auth_app, name="auth")
console = Console(stderr=True)


def _settings(**overrides: object) -> Settings:
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    logs.configure(settings.log_level, settings.log_json)
    return settings


@app.command()
def version() -> None:
    """Print the E200 version."""
    typer.echo(__version__)


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default 8000).")] = None,
    demo: Annotated[bool | None, typer.Option("--demo/--no-demo",
                                              help="Load the demo grid when empty.")] = None,
) -> None:  # fmt: skip
    """Start everything: database (embedded unless E200_DATABASE_URL), migrations, API, console."""
    import uvicorn

    from e200 import auth
    from e200.api import create_app
    from e200.db import Database, EmbeddedPostgresError, upgrade
    from e200.sim import load_demo_grid

    settings = _settings(host=host, port=port, load_demo_grid=demo)
    started = time.monotonic()
    stop = threading.Event()  # ends the background ingest and dispatch loops
    with console.status("Starting the database…"):
        try:
            database = Database.open(settings)
        except EmbeddedPostgresError as exc:
            console.print(f"[red]Cannot start the embedded PostgreSQL:[/] {exc}")
            raise typer.Exit(2) from exc
    try:
        with console.status("Migrating the schema…"):
            upgrade(database.engine)
        admin_password = auth.ensure_admin(database.engine)
        written = 0
        if settings.load_demo_grid:
            with console.status("Loading the demo grid…"):
                written = load_demo_grid(database.engine)
            if written:
                console.print(f"Demo grid loaded: {written} assets.")
        from e200.cli.runtime import (
            Totals,
            alarm_timer_thread,
            demo_thread,
            dispatch_thread,
            ingest_thread,
            maintenance_thread,
            make_pipeline,
        )

        pipeline = make_pipeline(database.engine, settings)
        ingest_thread(pipeline, ["memory"], stop, Totals())
        dispatch_thread(database.engine, "memory://commands", stop)
        maintenance_thread(database.engine, settings, stop)
        history_loading = threading.Event()
        alarm_timer_thread(database.engine, settings, stop, paused=history_loading)
        if settings.load_demo_grid and settings.demo_live:
            # Simulated history for a new demo archive, then live data, in the background.
            demo_thread(database.engine, settings, stop, settings.demo_history_days if written
                        else 0, loading=history_loading)  # fmt: skip
        web_app = create_app(settings, database.engine, pipeline=pipeline)
        url = f"http://{settings.host}:{settings.port}"
        lines = [f"Console   [bold]{url}/console/[/]", f"API docs  {url}/api/docs"]
        if admin_password:
            lines.append(f"Login     [bold]admin[/] / [bold]{admin_password}[/]  "
                         "(shown once; you will be asked to change it)")  # fmt: skip
        else:
            lines.append("Login     admin (password as shown at the first start)")
        lines.append(f"Ready in {time.monotonic() - started:.1f} s. Ctrl-C stops everything.")
        console.print(Panel("\n".join(lines), title=f"E200 {__version__}", expand=False))
        uvicorn.run(web_app, host=settings.host, port=settings.port, log_level="warning",
                    log_config=None)  # fmt: skip
    finally:
        stop.set()
        database.close()
        console.print("E200 stopped.")


@app.command()
def ingest(
    source: Annotated[list[str], typer.Option(
        "--source", help="kafka://host:port/topic?group=G, mqtt://host:port/filter, memory")],
    commands: Annotated[str | None, typer.Option(
        help="Where to send downlink commands (kafka://host:port or mqtt://host:port).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 5000,
    exit_after: Annotated[int | None, typer.Option(
        help="Stop once this many messages were received (tests, replays).")] = None,
) -> None:  # fmt: skip
    """Ingest telemetry from one or more sources until Ctrl-C/SIGTERM (at-least-once; offsets
    are committed only after a batch is stored)."""
    from e200.cli.runtime import (
        Totals,
        alarm_timer_thread,
        dispatch_thread,
        ingest_thread,
        maintenance_thread,
        make_pipeline,
    )
    from e200.db import Database, upgrade

    settings = _settings()
    database = Database.open(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    totals = Totals()
    try:
        upgrade(database.engine)
        pipeline = make_pipeline(database.engine, settings)
        thread = ingest_thread(pipeline, list(source), stop, totals, batch_size=batch_size)
        maintenance_thread(database.engine, settings, stop)
        alarm_timer_thread(database.engine, settings, stop)
        if commands:
            dispatch_thread(database.engine, commands, stop)
        console.print(f"Ingesting from {', '.join(source)}. Ctrl-C stops.")
        last_report = time.monotonic()
        while not stop.wait(0.2):
            if exit_after is not None and totals.received >= exit_after:
                stop.set()
            if time.monotonic() - last_report >= 10:
                last_report = time.monotonic()
                console.print(f"ingest: {totals.as_dict()}")
        thread.join(timeout=30)
    finally:
        stop.set()
        database.close()
    # One machine-readable line at the end, for scripts and tests.
    typer.echo(orjson.dumps({"ingest": totals.as_dict()}).decode())


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


# Exit codes of `e200 auth`: 1 a name or input is wrong, 2 no directory is configured,
# 3 the directory cannot be reached or refuses the service account.
EXIT_NO_DIRECTORY = 2
EXIT_DIRECTORY_DOWN = 3
CLI_ACTOR = "e200-cli"


def _cli_detail(**detail: object) -> dict[str, object]:
    """Audit detail of a CLI action: who ran it on the server, besides what it did."""
    import getpass

    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        os_user = "unknown"
    return {"via": "cli", "os_user": os_user, **detail}


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


@bench_app.command("ingest")
def bench_ingest(
    rows: Annotated[int, typer.Option(help="Transformer readings in the run.")] = 1_000_000,
    transformers: Annotated[int, typer.Option()] = 10_000,
    workers: Annotated[int, typer.Option(help="Ingest processes for the Kafka run.")] = 2,
    batch_size: Annotated[int, typer.Option()] = 5000,
    kafka: Annotated[str | None, typer.Option(
        help="host:port of a Kafka broker; default: start Tansu.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:  # fmt: skip
    """Raw COPY vs the ingest pipeline (memory and Kafka) vs naive INSERTs, in one run."""
    from e200.bench.ingest import run

    settings = _settings(log_level="warning")
    with console.status("benchmark") as status:
        result = run(rows, transformers, workers, batch_size, kafka, settings.database_url,
                     progress=lambda msg: status.update(msg))  # fmt: skip
    if json_out:
        typer.echo(orjson.dumps(result).decode())
        return
    table = Table(title=f"e200 bench ingest: {result['rows']:,} readings")
    table.add_column("path")
    table.add_column("readings/s", justify="right")
    table.add_column("vs raw COPY", justify="right")
    copy = result["copy_rows_per_s"]
    for label, key in (("(a) raw binary COPY", "copy_rows_per_s"),
                       ("(b) pipeline, memory source", "memory_rows_per_s"),
                       (f"(c) pipeline, Kafka, {workers} process(es)", "kafka_rows_per_s"),
                       ("(d) naive per-row INSERT", "naive_rows_per_s")):  # fmt: skip
        table.add_row(label, f"{result[key]:,}", f"{result[key] / copy:.2f}")
    console.print(table)
    console.print(f"memory/naive = {result['memory_vs_naive']}x, peak RSS "
                  f"{result['peak_rss_mb']} MB")  # fmt: skip


@bench_app.command("queries")
def bench_queries(
    transformers: Annotated[int, typer.Option(help="Transformers with 15-min data.")] = 10_000,
    days: Annotated[int, typer.Option(help="Days of history at the first measurement.")] = 30,
    grown_days: Annotated[int, typer.Option(help="Days of history at the second one.")] = 90,
    year_transformers: Annotated[int, typer.Option(help="Transformers with a full year.")] = 3,
    repeats: Annotated[int, typer.Option(help="Timed calls per curve figure.")] = 100,
    meters_per_transformer: Annotated[int, typer.Option(
        help="Meters under each transformer for the acquisition-quality day (0: skip).")] = 50,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:  # fmt: skip
    """Curves and aggregates through the API vs plain SQL of the same rows, at two history
    sizes; one day's acquisition quality of the meters."""
    from e200.bench.queries import run

    settings = _settings(log_level="warning")
    with console.status("benchmark") as status:
        result = run(transformers, days, grown_days, year_transformers, repeats,
                     settings.database_url, progress=lambda msg: status.update(msg),
                     meters_per_transformer=meters_per_transformer)  # fmt: skip
    if json_out:
        typer.echo(orjson.dumps(result).decode())
        return
    table = Table(title=f"e200 bench queries: {transformers:,} transformers")
    table.add_column("figure")
    for n in (days, grown_days) if grown_days > days else (days,):
        table.add_column(f"{n} days", justify="right")
    sizes = [result[f"at_{n}d"] for n in ((days, grown_days) if grown_days > days else (days,))]
    for key in ("curve_7d_p95_ms", "curve_7d_vs_sql", "curve_1y_p95_ms", "curve_1y_vs_sql",
                "day_aggregate_s", "day_aggregate_vs_sql"):  # fmt: skip
        table.add_row(key, *(str(s[key]) for s in sizes))
    console.print(table)
    console.print(f"quality_day_s: {result['quality_day_s']} "
                  f"{result.get('quality_day_note', '')}")  # fmt: skip


def main() -> None:
    from e200 import archives, terminal

    # As in create_app: archive changes made by any command (an import) sync the terminals.
    archives.on_relation_change(terminal.push_on_relation_change)
    app()
