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
    from e200.cli.main import _settings
    from e200.db import Database, upgrade
    from e200.kernel import E200Error

    settings = _settings(log_level="warning")
    try:
        last = (date.fromisoformat(day) if day else
                quality.local_today(settings.timezone) - timedelta(days=1))  # fmt: skip
    except ValueError as exc:
        raise typer.BadParameter("YYYY-MM-DD", param_hint="--day") from exc
    wanted = [last - timedelta(days=i) for i in range(days - 1, -1, -1)]
    rules = quality.QualityRules(offline_after_intervals=settings.offline_after_intervals)
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
