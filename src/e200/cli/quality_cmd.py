"""``e200 quality …``: compute the daily acquisition-quality figures."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

quality_app = typer.Typer(help="Acquisition quality: daily figures.", no_args_is_help=True)
console = Console(stderr=True)


@quality_app.command("compute")
def compute(
    day: Annotated[
        str | None,
        typer.Option("--day", help="Local calendar day YYYY-MM-DD (default: yesterday)."),
    ] = None,
    days: Annotated[int, typer.Option(help="Also this many days before it.", min=1)] = 1,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line per day.")] = False,
) -> None:
    """Compute (or recompute: the day's rows are replaced) the figures of a day for the whole
    grid, in the configured time zone (E200_TIMEZONE)."""
    from e200 import quality
    from e200.cli.common import settings_from as _settings
    from e200.db import Database, upgrade
    from e200.kernel import E200Error

    settings = _settings(log_level="warning")
    try:
        last = (date.fromisoformat(day) if day else
                quality.local_today(settings.timezone) - timedelta(days=1))  # fmt: skip
    except ValueError as exc:
        raise typer.BadParameter("YYYY-MM-DD", param_hint="--day") from exc
    wanted = [last - timedelta(days=i) for i in range(days - 1, -1, -1)]
    rules = quality.QualityRules()
    database = Database.open(settings)
    try:
        upgrade(database.engine)
        columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                   TimeElapsedColumn())  # fmt: skip
        with Progress(*columns, console=console, disable=json_out) as progress:
            task = progress.add_task("acquisition quality", total=len(wanted))
            for d in wanted:
                progress.update(task, description=f"acquisition quality {d}")
                with database.engine.begin() as conn:
                    done = quality.compute_day(conn, d, settings.timezone, rules)
                progress.advance(task)
                result = {"day": d.isoformat(), "meters": done.meters,
                          "terminals": done.terminals, "seconds": round(done.seconds, 3),
                          "partial": done.partial}  # fmt: skip
                if json_out:
                    typer.echo(orjson.dumps(result).decode())
                else:
                    console.print(
                        f"{d}: {done.meters} meters, {done.terminals} terminals in "
                        f"{done.seconds:.2f} s" + (" (partial)" if done.partial else "")
                    )
    except E200Error as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    finally:
        database.close()


def bench_quality(
    transformers: Annotated[int, typer.Option(help="Transformers, one terminal each.")] = 10_000,
    meters_per_transformer: Annotated[int, typer.Option(help="Meters under each.")] = 50,
    runs: Annotated[int, typer.Option(help="Computations of the day (best counts).", min=1)] = 3,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """One day of acquisition quality for a synthetic grid (default: the province size, 10,000
    terminals and 500,000 meters): load a day of readings, compute it, read the summary and the
    weak points. Needs several GB of disk at full size."""
    from e200.bench.quality import run
    from e200.cli.common import settings_from as _settings

    settings = _settings(log_level="warning")
    with console.status("benchmark") as status:
        result = run(transformers, meters_per_transformer, runs, settings.database_url,
                     progress=lambda msg: status.update(msg))  # fmt: skip
    if json_out:
        typer.echo(orjson.dumps(result).decode())
        return
    for key in ("meters", "meter_readings", "quality_day_s", "quality_day_runs_s", "summary_s",
                "weak_points_s", "completeness_rate_pct", "load_1m_at_start"):  # fmt: skip
        console.print(f"{key}: {result[key]}")
