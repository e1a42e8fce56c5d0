"""``e200 archives …``: import the archive from template files, write the templates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from e200 import archives

archives_app = typer.Typer(help="Archive: templated bulk import.", no_args_is_help=True)
console = Console(stderr=True)
CLI_ACTOR = "e200-cli"
EXIT_REJECTED = 1  # rows were rejected (nothing written in all-or-nothing mode)
EXIT_FILE = 2  # the file cannot be read as an import
EXIT_FAILED = 3  # the import failed (database, scope re-check)


@archives_app.command("import")
def import_(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="A template workbook (.xlsx) or CSV files named after their sheet (meters.csv).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Verify only; write nothing.")] = False,
    mode: Annotated[
        str, typer.Option(help="create: new records only; upsert: also update existing ones.")
    ] = "create",
    valid_rows: Annotated[
        bool,
        typer.Option(
            "--valid-rows",
            help="Write the valid rows and return the rest (default: all or nothing).",
        ),
    ] = False,
    sheet: Annotated[
        str | None, typer.Option(help="Sheet of a single CSV file (default: from its name).")
    ] = None,
    rejected: Annotated[
        Path | None,
        typer.Option(help="Where to write the rejected rows (default: next to the first file)."),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the job as one JSON line.")
    ] = False,
) -> None:
    """Verify a file of the import templates and (unless --dry-run) write it into the archive,
    as one transaction. Runs on the server with the database's credentials (whole grid); the
    job is recorded under the name e200-cli and audited."""
    from e200.cli.common import cli_detail as _cli_detail
    from e200.cli.common import settings_from as _settings
    from e200.db import Database, upgrade
    from e200.kernel import E200Error, Scope

    if mode not in ("create", "upsert"):
        raise typer.BadParameter("create or upsert", param_hint="--mode")
    if sheet is not None and sheet not in archives.imports.SHEETS:
        raise typer.BadParameter(
            f"one of {', '.join(archives.imports.SHEETS)}", param_hint="--sheet"
        )
    inputs = [archives.imports.input_file(f, sheet=sheet) for f in files]
    options = archives.imports.Options(
        mode=mode,  # type: ignore[arg-type]
        on_error="valid_rows" if valid_rows else "all_or_nothing",
        dry_run=dry_run,
        actor=CLI_ACTOR,
    )
    settings = _settings()
    database = Database.open(settings)
    try:
        upgrade(database.engine)
        scope = Scope.everything()
        try:
            archives.imports.plan(inputs)
        except E200Error as exc:
            console.print(f"[red]{exc.detail}[/]")
            raise typer.Exit(EXIT_FILE) from exc
        job_id = archives.imports.create_job(
            database.engine, username=CLI_ACTOR, scope=scope, files=inputs, options=options
        )
        with _progress() as progress:
            task = progress.add_task("verifying", total=None)

            def show(status: str, done: int, total: int) -> None:
                progress.update(task, description=status, completed=done, total=total or None)

            archives.imports.execute_job(
                database.engine, job_id, inputs, options, scope, progress=show
            )
        with database.engine.connect() as conn:
            job = archives.imports.get_job(conn, job_id, CLI_ACTOR, scope)
            body = (
                archives.imports.rejected_file(conn, job_id, CLI_ACTOR, scope)
                if job["rejected_name"]
                else None
            )
        _audit(database.engine, job, _cli_detail)
    finally:
        database.close()
    report = job["report"]
    if body is not None:
        target = rejected or files[0].with_name(body[1])
        target.write_bytes(body[0])
        job["rejected_path"] = str(target)
    _show(job)
    if json_out:
        out = {k: v for k, v in job.items() if k not in ("report",)}
        out |= {
            "error_total": report.get("error_total", 0),
            "written": report.get("written"),
            "message": report.get("message"),
        }
        typer.echo(orjson.dumps(out, default=str).decode())
    if job["status"] == "failed":
        raise typer.Exit(EXIT_FAILED)
    if job["counts"].get("total", {}).get("reject"):
        raise typer.Exit(EXIT_REJECTED)


def _audit(engine: Any, job: dict[str, Any], detail: Any) -> None:
    from e200 import auth

    with engine.begin() as conn:
        auth.audit.record(
            conn,
            action="archives_import",
            outcome="success" if job["status"] == "done" else "failure",
            actor=CLI_ACTOR,
            target=f"import={job['id']}",
            detail=detail(
                file=job["file_name"],
                mode=job["mode"],
                on_error=job["on_error"],
                dry_run=job["dry_run"],
                counts=job["counts"].get("total", {}),
                written=job["report"].get("written"),
            ),
        )


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _show(job: dict[str, Any]) -> None:
    report = job["report"]
    if job["status"] == "failed":
        console.print(f"[red]Import {job['id']} failed:[/] {report.get('message')}")
        return
    verb = (
        "verified (dry run)"
        if job["dry_run"]
        else "written"
        if report.get("written")
        else "not written"
    )
    table = Table(title=f"Import {job['id']}: {job['file_name']} — {verb}")
    for col in ("sheet", "rows", "create", "update", "unchanged", "reject"):
        table.add_column(col, justify="left" if col == "sheet" else "right")
    for name, c in job["counts"].items():
        table.add_row(
            name,
            *(f"{c[k]:,}" for k in ("rows", "create", "update", "unchanged", "reject")),
            style="bold" if name == "total" else None,
        )
    console.print(table)
    errors = report.get("errors", [])
    for e in errors[:20]:
        where = f"{e['sheet']} row {e['row']}" + (f", {e['column']}" if e.get("column") else "")
        console.print(f"  [yellow]{where}[/]: {e['message']}")
    if report.get("error_total", 0) > 20:
        console.print(f"  … {report['error_total'] - 20:,} more error(s)")
    for warning in report.get("warnings", []):
        console.print(f"  [dim]{warning}[/]")
    if job.get("rejected_path"):
        console.print(f"Rejected rows with an error column: {job['rejected_path']}")


@archives_app.command("templates")
def templates(
    out: Annotated[Path, typer.Option("--out", help="Folder to write into.")] = Path("."),
) -> None:
    """Write the import templates: e200-import-v1.xlsx (every sheet, notes, drop-downs) and one
    CSV per sheet."""
    out.mkdir(parents=True, exist_ok=True)
    sheets = list(archives.imports.SHEETS.values())
    (out / "e200-import-v1.xlsx").write_bytes(archives.imports.template_workbook(sheets))
    for s in sheets:
        (out / f"{s.name}.csv").write_bytes(archives.imports.csv_bytes(s.column_names, []))
    console.print(f"Templates (version {archives.imports.TEMPLATE_VERSION}) written to {out}")


def bench_import(
    rows: Annotated[int, typer.Option(help="Meters in the generated file.")] = 500_000,
    fmt: Annotated[str, typer.Option("--format", help="xlsx or csv.")] = "xlsx",
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """A generated meters file (with the org units, substations, feeders and transformers it
    needs) verified and committed through the import, against raw COPY of the same rows."""
    from e200.bench.imports import run
    from e200.cli.common import settings_from as _settings

    if fmt not in ("xlsx", "csv"):
        raise typer.BadParameter("xlsx or csv", param_hint="--format")
    settings = _settings(log_level="warning")
    with console.status("benchmark") as status:
        result = run(rows, fmt, settings.database_url, progress=lambda msg: status.update(msg))
    if json_out:
        typer.echo(orjson.dumps(result).decode())
        return
    table = Table(title=f"e200 bench import: {result['rows']:,} meters ({fmt})")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    for key in ("verify_seconds", "commit_seconds", "seconds", "copy_seconds"):
        table.add_row(key.removesuffix("_seconds") or "total", f"{result[key]:.1f}")
    console.print(table)
    console.print(
        f"import/raw COPY = {result['ratio_vs_copy']}x, peak RSS {result['peak_rss_mb']} MB"
    )
