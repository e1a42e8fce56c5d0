"""``e200 bench ingest`` and ``e200 bench queries`` (the other benchmarks sit with their
commands)."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.table import Table

from e200.cli.common import console
from e200.cli.common import settings_from as _settings

bench_app = typer.Typer(help="Benchmarks (results go into docs/performance.md).",
                        no_args_is_help=True)  # fmt: skip


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
