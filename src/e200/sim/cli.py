"""``e200 sim …``: run the fleet live, backfill history, export a labelled data set."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from e200.sim.faults import FaultConfig, inject_grid_faults, plan_faults
from e200.sim.grid import PRESETS, SimGrid, build_grid, sample_grid

sim_app = typer.Typer(help="Grid and fleet simulator.", no_args_is_help=True)
console = Console()

Preset = Annotated[str, typer.Option(help=f"Grid preset: {', '.join(PRESETS)}.")]
Seed = Annotated[int, typer.Option(help="Random seed (same seed, same grid and data).")]
NoFaults = Annotated[bool, typer.Option("--no-faults", help="Inject no fault at all.")]


def _grid(preset: str, seed: int, no_faults: bool) -> tuple[SimGrid, FaultConfig, list]:  # type: ignore[type-arg]
    if preset not in PRESETS:
        raise typer.BadParameter(f"unknown preset {preset!r}", param_hint="--preset")
    grid = build_grid(preset, seed)
    config = FaultConfig.none() if no_faults else FaultConfig()
    return grid, config, inject_grid_faults(grid, config, seed)


IOT_MAPPING = Path(__file__).with_name("iot_mapping.toml")


@sim_app.command()
def run(
    preset: Preset = "demo",
    seed: Seed = 200,
    no_faults: NoFaults = False,
    to: Annotated[
        str,
        typer.Option(
            "--to", help="memory | kafka://… | mqtt://… | http://host:port (POST /api/v1/ingest)"
        ),
    ] = "memory",
    topic: Annotated[str, typer.Option(help="Kafka/MQTT topic.")] = "e200.telemetry",
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 1.0,
    backlog: Annotated[
        float | None,
        typer.Option(
            help="Start this many hours before now and catch up at --speed "
            "(default: 1 when --speed > 1, else 0)."
        ),
    ] = None,
    max_intervals: Annotated[
        int | None, typer.Option(help="Stop after this many 15-min intervals.", min=1)
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many real seconds.", min=0)
    ] = None,
    envelope: Annotated[
        bool,
        typer.Option(
            "--envelope",
            help="Send readings as IoT platform envelopes (Huawei IoTDA device.property "
            f"reports); E200 decodes them with E200_IOT_MAPPING_FILE={IOT_MAPPING}.",
        ),
    ] = False,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="E200_API_KEY",
            help="API key for --to http://… (a user with the ingest_data permission).",
        ),
    ] = None,
    commands: Annotated[
        str | None,
        typer.Option(
            "--commands",
            help="Bus source of the downlink commands the terminals obey, e.g. "
            "mqtt://127.0.0.1:1883/e200/terminals/+/commands (default: in-process memory).",
        ),
    ] = None,
) -> None:
    """Publish live telemetry as simulated time advances (Ctrl-C, --max-intervals or
    --duration stop)."""
    from e200.bus import MemoryBus, Sink, Source, open_sink, open_source
    from e200.sim.backfill import floor_interval
    from e200.sim.live import run_live

    grid, config, truth = _grid(preset, seed, no_faults)
    now = datetime.now(UTC)
    hours = backlog if backlog is not None else (1.0 if speed > 1 else 0.0)
    start = floor_interval(now - timedelta(hours=hours))
    plan = plan_faults(grid, config, seed, start, now + timedelta(days=1), truth)
    target: MemoryBus | Sink
    if to.startswith(("http://", "https://")):
        target = _HttpSink(to, api_key)
    elif to.strip().lower() == "memory":
        target = MemoryBus.get("default")
    else:
        target = open_sink(to)
    command_source: Source | None = open_source(commands) if commands else None
    stop = threading.Event()
    timer = threading.Timer(duration, stop.set) if duration is not None else None
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    console.print(
        f"Simulating [bold]{preset}[/] ({len(grid.areas)} terminals, "
        f"{len(grid.meters)} meters) → {to} at {speed:g}×"
        + (" as IoT envelopes" if envelope else "")
        + ". Ctrl-C stops."
    )
    try:
        if timer is not None:
            timer.daemon = True
            timer.start()
        stats = run_live(
            grid,
            target,
            speed,
            stop,
            seed=seed,
            plan=plan,
            start=start,
            topic=topic,
            max_steps=max_intervals,
            envelope=envelope,
            commands=command_source,
        )
        if not isinstance(target, MemoryBus):
            target.flush()
    finally:
        if timer is not None:
            timer.cancel()
        signal.signal(signal.SIGINT, previous)
        if not isinstance(target, MemoryBus):
            target.close()
        if command_source is not None:
            command_source.close()
    last = stats.sim_time.isoformat() if stats.sim_time else "-"
    console.print(
        f"Published {stats.messages} messages in {stats.deliveries} deliveries "
        f"({stats.steps} intervals, up to {last})."
    )
    if isinstance(target, _HttpSink):
        console.print(
            f"Ingest answered: stored {target.stored}, quarantined {target.quarantined}, "
            f"duplicates {target.duplicates}"
        )


class _HttpSink:
    """POST each delivery to ``/api/v1/ingest`` of a running E200 (counts its answers)."""

    def __init__(self, base: str, api_key: str | None) -> None:
        import httpx

        self.url = base.rstrip("/") + "/api/v1/ingest"
        headers = {"X-API-Key": api_key} if api_key else {}
        self.client = httpx.Client(timeout=30, headers=headers)
        self.stored = self.quarantined = self.duplicates = 0

    def send(self, topic: str, payload: bytes, key: bytes | None = None) -> None:
        response = self.client.post(
            self.url, content=payload, headers={"content-type": "application/json"}
        )
        if response.status_code in (401, 403):
            raise typer.BadParameter(
                f"E200 refused the readings ({response.status_code}): "
                f"{response.json().get('detail')}; pass --api-key of a user allowed to ingest",
                param_hint="--api-key",
            )
        response.raise_for_status()
        answer = response.json()
        self.stored += int(answer.get("stored", 0))
        self.quarantined += int(answer.get("quarantined", 0))
        self.duplicates += int(answer.get("duplicates", 0))

    def flush(self, timeout_s: float = 10.0) -> None:
        return None

    def close(self) -> None:
        self.client.close()


@sim_app.command()
def backfill(
    days: Annotated[float, typer.Option(help="Days of history up to now.")] = 7.0,
    preset: Preset = "demo",
    seed: Seed = 200,
    no_faults: NoFaults = False,
    sample: Annotated[
        float | None,
        typer.Option(
            help="Backfill only a stratified share of the preset's feeders (e.g. 0.02) and "
            "extrapolate the time the whole grid would take.",
            min=0.0001,
            max=1.0,
        ),
    ] = None,
) -> None:
    """Load the grid into an empty archive and ingest simulated history through the pipeline
    (database: E200_DATABASE_URL or the embedded one)."""
    from e200.config import Settings
    from e200.db import Database, upgrade
    from e200.db.replay import history_replay
    from e200.jobs import make_pipeline
    from e200.sim.archive_load import load_grid
    from e200.sim.backfill import backfill as run_backfill
    from e200.sim.backfill import floor_interval

    full, config, truth = _grid(preset, seed, no_faults)
    grid = full if sample is None else sample_grid(full, sample)
    if sample is not None:
        console.print(
            f"Sample: {len(grid.feeders)}/{len(full.feeders)} feeders, "
            f"{len(grid.areas)}/{len(full.areas)} station areas, "
            f"{len(grid.meters):,}/{len(full.meters):,} meters"
        )
    settings = Settings()
    database = Database.open(settings)
    try:
        upgrade(database.engine)
        with console.status("Writing the grid into the archive…"):
            written = load_grid(database.engine, grid)
        console.print(
            f"Archive: {written} assets written"
            if written
            else "Archive not empty: grid assumed loaded"
        )
        end = floor_interval(datetime.now(UTC))
        # Faults are planned on the full grid (area positions = indices), then kept per area.
        plan = plan_faults(full, config, seed, end - timedelta(days=days), end, truth)
        # Through the pipeline `e200 ingest` runs (alarm engine included); checks of the present
        # (terminals silent now) wait while the history loads.
        pipeline = make_pipeline(database.engine, settings)
        with _progress() as progress, history_replay(database.engine):
            task = progress.add_task("Backfilling", total=len(grid.areas))
            result = run_backfill(
                database.engine,
                grid,
                days,
                seed,
                plan=plan,
                end=end,
                pipeline=pipeline,
                progress=lambda done, _: progress.update(task, completed=done),
            )
        console.print(
            f"{result.readings:,} readings in {result.seconds:.1f} s "
            f"({result.readings_per_s:,.0f}/s): stored {result.stored:,}, "
            f"quarantined {result.quarantined:,}, duplicates {result.duplicates:,}"
        )
        console.print(f"Injected faults: {len(plan.truth)} (e200 sim export writes the truth)")
        if sample is not None and grid.areas:
            factor = len(full.areas) / len(grid.areas)
            console.print(
                f"Extrapolated to the whole {preset} grid: {result.readings * factor:,.0f} "
                f"readings in ≈{result.seconds * factor / 60:,.1f} min "
                f"(simulation ≈{result.sim_seconds * factor / 60:,.1f} min of it), "
                f"{result.seconds * factor / days / 3600:,.2f} h per simulated day"
            )
    finally:
        database.close()


@sim_app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    days: Annotated[int, typer.Option(help="Days to simulate.")] = 1,
    start: Annotated[str, typer.Option(help="First day (YYYY-MM-DD, UTC).")] = "2026-06-01",
    preset: Preset = "demo",
    seed: Seed = 200,
    no_faults: NoFaults = False,
) -> None:
    """Write grid CSVs, messages (gzip JSON lines) and the fault truth; byte-identical per seed."""
    from e200.sim.export import export as run_export
    from e200.sim.export import simulate_messages

    grid, config, truth = _grid(preset, seed, no_faults)
    first = datetime.fromisoformat(start).replace(tzinfo=UTC)
    plan = plan_faults(grid, config, seed, first, first + timedelta(days=days), truth)
    with console.status(f"Simulating {days} day(s) of {len(grid.areas)} station areas…"):
        run_export(grid, simulate_messages(grid, seed, first, days, plan), plan.truth, out)
    console.print(f"Exported to {out}")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} areas"),
        TimeElapsedColumn(),
        console=console,
    )
