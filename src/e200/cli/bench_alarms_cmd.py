"""``e200 bench alarms``: from a reading's arrival to its alarm at an open console."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


def bench_alarms(
    transformers: Annotated[int, typer.Option(min=1, help="1 % of them overloaded.")] = 10_000,
    intervals: Annotated[int, typer.Option(min=1, help="15-min intervals, one reading per "
                                           "transformer each.")] = 8,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 5000,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:  # fmt: skip
    """Alarm latency (source → stored → NOTIFY at a listening console) at the pipeline's own
    rate, and the pipeline's readings/s with and without the alarm engine, in one run."""
    from e200.bench.alarms import run
    from e200.cli.common import settings_from as _settings

    settings = _settings(log_level="warning")
    with console.status("benchmark") as status:
        result = run(transformers, intervals, batch_size, settings.database_url, settings,
                     progress=lambda msg: status.update(msg))  # fmt: skip
    if json_out:
        typer.echo(orjson.dumps(result).decode())
        return
    table = Table(title=f"e200 bench alarms: {result['readings']:,} readings, "
                        f"{transformers:,} transformers × {intervals} intervals")  # fmt: skip
    table.add_column("pipeline (memory source)")
    table.add_column("readings/s", justify="right")
    table.add_column("vs without engine", justify="right")
    table.add_row("without the alarm engine (baseline)", f"{result['baseline_readings_per_s']:,}",
                  "1.00")  # fmt: skip
    table.add_row("with the alarm engine", f"{result['readings_per_s']:,}",
                  f"{result['ratio_vs_baseline']:.2f}")  # fmt: skip
    console.print(table)
    latency = Table(title="source → console notification (ms)")
    for column in ("event", "count", "p50", "p99", "max"):
        latency.add_column(column, justify="left" if column == "event" else "right")
    events = (("raised", "latency", result["alarms_raised"]),
              ("cleared", "clear_latency", result["alarms_cleared"]))  # fmt: skip
    for label, prefix, count in events:
        if f"{prefix}_p50_ms" in result:
            latency.add_row(label, str(count), *(str(result[f"{prefix}_{q}_ms"])
                                                 for q in ("p50", "p99", "max")))  # fmt: skip
    console.print(latency)
    console.print(f"alarms by rule {result['alarms_by_rule']}, unmatched notifications "
                  f"{result['unmatched_notifications']}, load at start "
                  f"{result['load_1m_at_start']}, peak RSS {result['peak_rss_mb']} MB")  # fmt: skip
