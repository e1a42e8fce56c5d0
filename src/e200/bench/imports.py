"""`e200 bench import`: how fast does a large template file get verified and written?

One run, on the same machine and the same generated rows:
  (a) the import: a workbook (or CSV) with the org units, substations, feeders and transformers
      that N meters need, verified and committed through ``archives.imports.run_import`` — the
      code path of the API and the CLI;
  (b) the baseline: raw binary COPY of the same meter rows into a scratch copy of the meter
      table (same columns and indexes), no checks, no relations.
The file is generated before any timing starts (XLSX with a minimal streaming writer: the
styled templates' writer, openpyxl, needs about a minute for 500,000 rows).
"""

from __future__ import annotations

import csv
import resource
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import psycopg
from sqlalchemy import Engine, text

from e200 import archives
from e200.db import EmbeddedPostgres, make_engine, upgrade
from e200.kernel import Scope

METERS_PER_TRANSFORMER = 50
SINCE = "2026-01-01T00:00:00Z"
SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Otieno", "Kamau", "Wanjiru")


def grid_rows(meters: int) -> dict[str, Iterable[list[Any]]]:
    """Rows of every sheet for ``meters`` meters: 50 per transformer, 10 transformers per
    feeder, 10 feeders per substation, 10 substations per region."""
    transformers = max(1, -(-meters // METERS_PER_TRANSFORMER))
    feeders = max(1, -(-transformers // 10))
    substations = max(1, -(-feeders // 10))
    regions = max(1, -(-substations // 10))
    sheets = archives.imports.SHEETS

    def rows(name: str, values: Iterator[dict[str, Any]]) -> Iterator[list[Any]]:
        columns = sheets[name].column_names
        for v in values:
            yield [v.get(c, "") for c in columns]

    return {
        "org_units": rows(
            "org_units",
            iter(
                [{"code": "BENCH", "name": "Bench utility", "kind": "company"}]
                + [
                    {"code": f"R{r}", "name": f"Region {r}", "kind": "region", "parent": "BENCH"}
                    for r in range(regions)
                ]
            ),
        ),
        "substations": rows(
            "substations",
            (
                {
                    "asset_number": f"BS{s}",
                    "name": f"Substation {s}",
                    "voltage_kv": 110,
                    "org_unit": f"R{s // 10}",
                    "valid_from": SINCE,
                }
                for s in range(substations)
            ),
        ),
        "feeders": rows(
            "feeders",
            (
                {
                    "asset_number": f"BF{f}",
                    "voltage_kv": 10,
                    "substation": f"BS{f // 10}",
                    "valid_from": SINCE,
                }
                for f in range(feeders)
            ),
        ),
        "transformers": rows(
            "transformers",
            (
                {
                    "asset_number": f"BT{t}",
                    "rated_kva": 400,
                    "primary_rated_kv": 10,
                    "secondary_rated_v": 400,
                    "vector_group": "Dyn11",
                    "feeder": f"BF{t // 10}",
                    "valid_from": SINCE,
                }
                for t in range(transformers)
            ),
        ),
        "meters": rows("meters", _meters(meters)),
    }


def _meters(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        three = i % 20 == 0
        yield {
            "asset_number": f"BM{i:09d}",
            "customer_account": f"CA{10_000_000 + i}",
            "customer_name": f"{SURNAMES[i % len(SURNAMES)]} household",
            "wiring": "three_phase" if three else "single_phase",
            "ct_ratio": 40.0 if three else 1.0,
            "tariff": "residential",
            "lat": round(30 + (i % 1000) / 1000, 6),
            "lon": round(120 + (i % 997) / 1000, 6),
            "transformer": f"BT{i // METERS_PER_TRANSFORMER}",
            "phase": "ABC" if three else "ABC"[i % 3],
            "valid_from": SINCE,
        }


def _letters(n: int) -> list[str]:
    out = []
    for i in range(n):
        s, k = "", i + 1
        while k:
            k, r = divmod(k - 1, 26)
            s = chr(65 + r) + s
        out.append(s)
    return out


def write_xlsx(path: Path, sheets: Mapping[str, Iterable[Sequence[Any]]]) -> None:
    """A minimal XLSX (inline strings, no styles), streamed into the zip row by row."""
    names = list(sheets)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i + 1}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(len(names))
        )
        z.writestr(
            "[Content_Types].xml",
            (
                '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org'
                '/package/2006/content-types"><Default Extension="rels" ContentType="application/'
                'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
                'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
                'ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                f"{overrides}</Types>"
            ),
        )
        z.writestr(
            "_rels/.rels",
            (
                '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
                'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
                'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
                'Target="xl/workbook.xml"/></Relationships>'
            ),
        )
        listed = "".join(
            f'<sheet name="{n}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i, n in enumerate(names)
        )
        z.writestr(
            "xl/workbook.xml",
            (
                '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.'
                'org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/'
                f'officeDocument/2006/relationships"><sheets>{listed}</sheets></workbook>'
            ),
        )
        rels = "".join(
            f'<Relationship Id="rId{i + 1}" Type="http://schemas.openxmlformats.org/'
            f'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i + 1}.xml"/>'
            for i in range(len(names))
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            (
                '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
                f'openxmlformats.org/package/2006/relationships">{rels}</Relationships>'
            ),
        )
        for i, name in enumerate(names):
            columns = archives.imports.SHEETS[name].column_names
            letters = _letters(len(columns))
            with z.open(f"xl/worksheets/sheet{i + 1}.xml", "w") as f:
                f.write(
                    b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
                    b'openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                )
                buf: list[str] = []
                buf.append(_row(1, columns, letters))
                for r, row in enumerate(sheets[name], start=2):
                    buf.append(_row(r, row, letters))
                    if len(buf) >= 5000:
                        f.write("".join(buf).encode())
                        buf.clear()
                f.write("".join(buf).encode())
                f.write(b"</sheetData></worksheet>")


def _row(r: int, row: Sequence[Any], letters: list[str]) -> str:
    cells = []
    for letter, value in zip(letters, row, strict=False):
        if value is None or value == "":
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            cells.append(f'<c r="{letter}{r}"><v>{value}</v></c>')
        else:
            cells.append(
                f'<c r="{letter}{r}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'
            )
    return f'<row r="{r}">{"".join(cells)}</row>'


def write_csvs(folder: Path, sheets: Mapping[str, Iterable[Sequence[Any]]]) -> list[Path]:
    paths = []
    for name, rows in sheets.items():
        path = folder / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(archives.imports.SHEETS[name].column_names)
            writer.writerows(rows)
        paths.append(path)
    return paths


def _dsn(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False).replace("+psycopg", "")


def raw_copy(engine: Engine, meters: int) -> float:
    """Binary COPY of the same meter rows (typed, prebuilt) into a scratch copy of the table."""
    columns = [
        "asset_number",
        "customer_account",
        "customer_name",
        "wiring",
        "ct_ratio",
        "pt_ratio",
        "tariff",
        "lat",
        "lon",
    ]
    types = ["text", "text", "text", "text", "float8", "float8", "text", "float8", "float8"]
    rows = [
        [
            m["asset_number"],
            m["customer_account"],
            m["customer_name"],
            m["wiring"],
            m["ct_ratio"],
            1.0,
            m["tariff"],
            m["lat"],
            m["lon"],
        ]
        for m in _meters(meters)
    ]
    with psycopg.connect(_dsn(engine)) as conn:
        conn.execute("DROP TABLE IF EXISTS public.bench_import_copy")
        conn.execute("CREATE TABLE public.bench_import_copy (LIKE archives.meter INCLUDING ALL)")
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                f"COPY public.bench_import_copy ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE public.bench_import_copy")
        conn.commit()
    return elapsed


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(
    meters: int = 500_000,
    fmt: str = "xlsx",
    database_url: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    cluster = None
    work = Path(tempfile.mkdtemp(prefix="e200-bench-import-"))
    if database_url is None:
        work.chmod(0o711)
        cluster = EmbeddedPostgres(work / "pg")
        database_url = cluster.start()
    engine = make_engine(database_url, pool_size=4)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            if conn.execute(text("SELECT 1 FROM archives.meter LIMIT 1")).first():
                raise RuntimeError("the benchmark needs an empty archive (E200_DATABASE_URL)")
        progress(f"writing {meters:,} meters as {fmt}")
        if fmt == "xlsx":
            path = work / "bench.xlsx"
            write_xlsx(path, grid_rows(meters))
            files = [archives.imports.input_file(path)]
        else:
            files = [archives.imports.input_file(p) for p in write_csvs(work, grid_rows(meters))]
        size_mb = sum(f.path.stat().st_size for f in files) / 2**20
        marks: dict[str, float] = {}

        def tick(status: str, done: int, total: int) -> None:
            marks.setdefault(status, time.perf_counter())
            progress(f"{status} {done:,}/{total:,} rows")

        started = time.perf_counter()
        outcome = archives.imports.run_import(
            engine,
            files,
            archives.imports.Options(mode="create", dry_run=False),
            Scope.everything(),
            progress=tick,
        )
        seconds = time.perf_counter() - started
        if not outcome.written or outcome.counts["total"]["reject"]:
            raise RuntimeError(f"the import did not write everything: {outcome.errors[:5]}")
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM archives.meter_transformer")).scalar()
        if stored != meters:
            raise RuntimeError(f"{stored} meter relations stored, {meters} expected")
        verify_s = marks.get("writing", started + seconds) - started
        progress("raw COPY of the same rows")
        copy_s = raw_copy(engine, meters)
    finally:
        engine.dispose()
        if cluster is not None:
            cluster.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return {
        "rows": meters,
        "format": fmt,
        "file_mb": round(size_mb, 1),
        "rows_total": outcome.counts["total"]["rows"],
        "seconds": round(seconds, 2),
        "verify_seconds": round(verify_s, 2),
        "commit_seconds": round(seconds - verify_s, 2),
        "copy_seconds": round(copy_s, 2),
        "rows_per_s": round(meters / seconds),
        "copy_rows_per_s": round(meters / copy_s),
        "ratio_vs_copy": round(seconds / copy_s, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


__all__ = ["grid_rows", "run", "write_csvs", "write_xlsx"]
