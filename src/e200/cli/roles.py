"""The process roles. Production runs them against one external PostgreSQL, as many of each as
needed: ``serve`` (REST API + console, stateless), ``ingest`` (sources → storage + alarm
engine), ``worker`` (background and periodic jobs). ``up`` is all of them in one process on
embedded defaults (what ``make run`` starts)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.panel import Panel

from e200 import __version__
from e200.cli.common import console, settings_from
from e200.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from e200.cli.runtime import Totals
    from e200.db import Database
    from e200.jobs import JobQueue


@contextlib.contextmanager
def _database(settings: Settings) -> Iterator[Database]:
    """The database, migrated to the code's head (embedded unless E200_DATABASE_URL)."""
    from e200.db import Database, EmbeddedPostgresError, upgrade

    with console.status("Starting the database…"):
        try:
            database = Database.open(settings)
        except EmbeddedPostgresError as exc:
            console.print(f"[red]Cannot start the embedded PostgreSQL:[/] {exc}")
            raise typer.Exit(2) from exc
    try:
        with console.status("Migrating the schema…"):
            upgrade(database.engine)
        yield database
    finally:
        database.close()


def _metrics(settings: Settings) -> None:
    """Prometheus metrics of a role without a web server (ingest, worker)."""
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port, addr=settings.host)


async def _serve(web_app: FastAPI, settings: Settings, queue: JobQueue | None) -> None:
    """The API and console until Ctrl-C/SIGTERM; with ``queue``, a worker beside them."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(web_app, host=settings.host, port=settings.port,
                                           log_level="warning", log_config=None))  # fmt: skip
    worker = (
        asyncio.create_task(queue.work(install_signal_handlers=False), name="e200-worker")
        if queue is not None
        else None
    )
    try:
        await server.serve()
    finally:
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker


def _run_now(queue: JobQueue, name: str) -> None:
    """Queue a periodic job now (the demo's quality once its history is in); one already
    waiting will do."""
    from e200.kernel import ConflictError

    with contextlib.suppress(ConflictError):
        queue.defer(name)


def _banner(settings: Settings, admin_password: str | None, started: float, role: str) -> None:
    url = f"http://{settings.host}:{settings.port}"
    lines = [f"Console   [bold]{url}/console/[/]", f"API docs  {url}/api/docs"]
    if admin_password:
        lines.append(f"Login     [bold]admin[/] / [bold]{admin_password}[/]  "
                     "(shown once; you will be asked to change it)")  # fmt: skip
    else:
        lines.append("Login     admin (password as shown at the first start)")
    lines.append(f"Ready in {time.monotonic() - started:.1f} s ({role}). Ctrl-C stops everything.")
    console.print(Panel("\n".join(lines), title=f"E200 {__version__}", expand=False))


def up(
    host: Annotated[str | None, typer.Option(help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default 8000).")] = None,
    demo: Annotated[bool | None, typer.Option("--demo/--no-demo",
                                              help="Load the demo grid when empty.")] = None,
) -> None:  # fmt: skip
    """Start everything in one process: database (embedded unless E200_DATABASE_URL),
    migrations, API, console, ingest from the in-process bus, a job worker, the demo grid."""
    from e200 import auth, terminal
    from e200.api import create_app
    from e200.cli.runtime import Totals, demo_thread, ingest_thread
    from e200.jobs import make_pipeline, make_queue
    from e200.sim import load_demo_grid

    started = time.monotonic()
    settings = settings_from(host=host, port=port, load_demo_grid=demo)
    # Downlink commands go to the in-process bus, where the demo's terminals listen.
    settings = settings.model_copy(update={"commands_url": settings.commands_url
                                           or "memory://commands"})  # fmt: skip
    stop = threading.Event()  # ends the ingest loop and the demo simulator
    with _database(settings) as database:
        engine = database.engine
        admin_password = auth.ensure_admin(engine)
        written = 0
        if settings.load_demo_grid:
            with console.status("Loading the demo grid…"):
                written = load_demo_grid(engine)
            if written:
                console.print(f"Demo grid loaded: {written} assets.")
        pipeline = make_pipeline(engine, settings)
        queue = make_queue(database.url, engine, settings)
        try:
            ingest_thread(pipeline, ["memory"], stop, Totals())
            if settings.load_demo_grid and settings.demo_live:
                # Simulated history for a new demo archive, then live data, in the background.
                demo_thread(engine, settings, stop, settings.demo_history_days if written else 0,
                            on_history=lambda: _run_now(queue, "quality.recompute"))  # fmt: skip
            web_app = create_app(settings, engine, pipeline=pipeline, queue=queue)
            _banner(settings, admin_password, started, "all roles")
            asyncio.run(_serve(web_app, settings, queue))
        finally:
            stop.set()
            queue.close()
            terminal.close_sinks()
    console.print("E200 stopped.")


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default 8000).")] = None,
) -> None:  # fmt: skip
    """The REST API and the console (run several behind a load balancer; they share nothing but
    the database). Background work is queued for `e200 worker`."""
    from e200 import auth
    from e200.api import create_app
    from e200.jobs import make_pipeline, make_queue

    started = time.monotonic()
    settings = settings_from(host=host, port=port)
    with _database(settings) as database:
        admin_password = auth.ensure_admin(database.engine)
        pipeline = make_pipeline(database.engine, settings)  # POST /api/v1/ingest
        queue = make_queue(database.url, database.engine, settings)  # queued, not worked here
        try:
            web_app = create_app(settings, database.engine, pipeline=pipeline, queue=queue)
            _banner(settings, admin_password, started, "serve")
            asyncio.run(_serve(web_app, settings, None))
        finally:
            queue.close()


def _check(database: Database, settings: Settings, *, workers: bool) -> None:
    """A role's health check: database reachable, schema current (and workers alive)."""
    from e200.db import is_current
    from e200.jobs import live_workers

    if not is_current(database.engine):
        console.print("[red]schema not current[/]")
        raise typer.Exit(1)
    if workers:
        with database.engine.connect() as conn:
            alive = live_workers(conn, settings.worker_stalled_after_s)
        console.print(f"workers alive: {alive}")
        if not alive:
            raise typer.Exit(1)
    console.print("ok")


def worker(
    concurrency: Annotated[int | None, typer.Option(min=1, max=64, help="Jobs at once "
                                                    "(default 4).")] = None,
    commands: Annotated[str | None, typer.Option(help="Where downlink commands go "
                                                 "(kafka://host:port, mqtt://host:port).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Health check: exit 0 when the "
                                        "database is current and a worker is alive.")] = False,
) -> None:  # fmt: skip
    """Run background and periodic jobs until Ctrl-C/SIGTERM (run several: each periodic job
    still runs once per period; a worker that dies hands its jobs to the others)."""
    from e200 import terminal
    from e200.jobs import make_queue

    settings = settings_from(worker_concurrency=concurrency, commands_url=commands)
    with _database(settings) as database:
        if check:
            _check(database, settings, workers=True)
            return
        _metrics(settings)
        queue = make_queue(database.url, database.engine, settings)
        console.print(f"Worker on queues {', '.join(queue.queues())}; "
                      f"{len(queue.jobs)} jobs known. Ctrl-C stops.")  # fmt: skip
        try:
            asyncio.run(queue.work(install_signal_handlers=True))
        finally:
            queue.close()
            terminal.close_sinks()


async def _ingest_until(stop: threading.Event, totals: Totals, exit_after: int | None,
                        queue: JobQueue | None) -> None:  # fmt: skip
    worker = (asyncio.create_task(queue.work(install_signal_handlers=False))
              if queue is not None else None)  # fmt: skip
    last_report = time.monotonic()
    try:
        while not stop.is_set():
            await asyncio.sleep(0.2)
            if exit_after is not None and totals.received >= exit_after:
                stop.set()
            if worker is not None and worker.done():
                stop.set()  # the command worker failed: stop rather than run half a role
            if time.monotonic() - last_report >= 10:
                last_report = time.monotonic()
                console.print(f"ingest: {totals.as_dict()}")
    finally:
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker


def ingest(
    source: Annotated[list[str] | None, typer.Option(
        "--source", help="kafka://host:port/topic?group=G, mqtt://host:port/filter, memory")
    ] = None,
    commands: Annotated[str | None, typer.Option(
        help="Also send downlink commands there (kafka://host:port or mqtt://host:port): this "
        "process then works the jobs' commands queue too.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 5000,
    exit_after: Annotated[int | None, typer.Option(
        help="Stop once this many messages were received (tests, replays).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Health check: exit 0 when the "
                                        "database is reachable and current.")] = False,
) -> None:  # fmt: skip
    """Ingest telemetry from one or more sources until Ctrl-C/SIGTERM (at-least-once; offsets
    are committed only after a batch is stored). Run several in one consumer group."""
    from e200 import terminal
    from e200.cli.runtime import Totals, ingest_thread
    from e200.jobs import make_pipeline, make_queue

    settings = settings_from(commands_url=commands)
    totals = Totals()
    with _database(settings) as database:
        if check:
            _check(database, settings, workers=False)
            return
        if not source:
            raise typer.BadParameter("at least one --source", param_hint="--source")
        _metrics(settings)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        pipeline = make_pipeline(database.engine, settings)
        # With --commands, the command dispatch job only: the rest is for `e200 worker`.
        queue = (make_queue(database.url, database.engine, settings, queue="commands")
                 if commands else None)  # fmt: skip
        try:
            thread = ingest_thread(pipeline, list(source), stop, totals, batch_size=batch_size)
            console.print(f"Ingesting from {', '.join(source)}. Ctrl-C stops.")
            asyncio.run(_ingest_until(stop, totals, exit_after, queue))
            thread.join(timeout=30)
        finally:
            stop.set()
            if queue is not None:
                queue.close()
            terminal.close_sinks()
    # One machine-readable line at the end, for scripts and tests.
    typer.echo(orjson.dumps({"ingest": totals.as_dict()}).decode())
