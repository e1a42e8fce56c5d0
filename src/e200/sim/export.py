"""Export a simulation: the grid as CSV, the messages as gzip JSON lines, the truth as JSON.

Byte-identical for the same seed: fixed row and key order, gzip header without a file name and
with mtime 0, ``\\n`` line ends.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from e200 import archives
from e200.sim.faults import Fault, FaultPlan
from e200.sim.grid import SimGrid
from e200.sim.messages import Message, step_messages, terminal_meters
from e200.sim.simulate import Simulator, day_start

GRID_FILES = (
    "org_units",
    "substations",
    "feeders",
    "transformers",
    "terminals",
    "meters",
    "lv_lines",
)


def _csv(path: Path, header: list[str], rows: Iterable[Iterable[Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode())


def export_grid(grid: SimGrid, out: Path) -> None:
    _csv(
        out / "org_units.csv",
        ["code", "name", "kind", "parent"],
        ([o.code, o.name, o.kind, o.parent or ""] for o in grid.org_units),
    )
    _csv(
        out / "substations.csv",
        ["asset_number", "name", "voltage_kv", "lat", "lon", "org_unit"],
        (
            [s.asset_number, s.name, s.voltage_kv, s.lat, s.lon, s.org_unit]
            for s in grid.substations
        ),
    )
    _csv(
        out / "feeders.csv",
        ["asset_number", "name", "substation", "org_unit", "voltage_kv"],
        ([f.asset_number, f.name, f.substation, f.org_unit, f.voltage_kv] for f in grid.feeders),
    )
    _csv(
        out / "transformers.csv",
        [
            "asset_number",
            "name",
            "rated_kva",
            "feeder",
            "org_unit",
            "no_load_loss_kw",
            "load_loss_kw",
            "uk_pct",
            "vector_group",
            "lat",
            "lon",
        ],
        (
            [
                a.transformer.asset_number,
                a.transformer.name,
                a.transformer.rated_kva,
                a.transformer.feeder,
                a.transformer.org_unit,
                a.transformer.no_load_loss_kw,
                a.transformer.load_loss_kw,
                a.transformer.uk_pct,
                a.transformer.vector_group,
                a.transformer.lat,
                a.transformer.lon,
            ]
            for a in grid.areas
        ),
    )
    _csv(
        out / "terminals.csv",
        ["asset_number", "transformer", "interval_min"],
        (
            [a.terminal.asset_number, a.terminal.transformer, a.terminal.interval_min]
            for a in grid.areas
        ),
    )
    _csv(
        out / "meters.csv",
        [
            "asset_number",
            "customer_account",
            "customer_name",
            "transformer",
            "phase",
            "wiring",
            "node",
            "profile",
            "annual_kwh",
            "pv_kwp",
            "pf",
            "ct_ratio",
            "archive_transformer",
            "archive_phase",
            "archive_ct_ratio",
            "lat",
            "lon",
        ],
        (
            [
                m.asset_number,
                m.customer_account,
                m.customer_name,
                a.transformer.asset_number,
                m.phase,
                m.wiring,
                m.node,
                m.profile,
                m.annual_kwh,
                m.pv_kwp,
                m.pf,
                m.ct_ratio,
                m.archive_transformer,
                m.archive_phase,
                m.archive_ct_ratio,
                m.lat,
                m.lon,
            ]
            for a in grid.areas
            for m in a.meters
        ),
    )
    _csv(
        out / "lv_lines.csv",
        ["transformer", "from_node", "to_node", "cable", "length_km"],
        (
            [a.transformer.asset_number, ln.from_node, ln.to_node, ln.cable, ln.length_km]
            for a in grid.areas
            for ln in a.lines
        ),
    )


TEMPLATE_WORKBOOK = "archive.xlsx"


def template_rows(grid: SimGrid) -> dict[str, list[list[Any]]]:
    """The grid as the archive believes it (archive errors included: a meter's transformer,
    phase and CT ratio are the ``archive_*`` ones), as rows of the import templates
    (docs/import.md, template version 1). Terminals and meters inherit their transformer's org
    unit; every relation starts at ``grid.since``."""
    since = grid.since.isoformat().replace("+00:00", "Z")
    values: dict[str, list[dict[str, Any]]] = {
        "org_units": [
            {"code": o.code, "name": o.name, "kind": o.kind, "parent": o.parent}
            for o in grid.org_units
        ],
        "substations": [
            {"asset_number": s.asset_number, "name": s.name, "voltage_kv": s.voltage_kv,
             "lat": s.lat, "lon": s.lon, "org_unit": s.org_unit, "valid_from": since}
            for s in grid.substations
        ],
        "feeders": [
            {"asset_number": f.asset_number, "name": f.name, "voltage_kv": f.voltage_kv,
             "substation": f.substation, "org_unit": f.org_unit, "valid_from": since}
            for f in grid.feeders
        ],
        "transformers": [
            {"asset_number": t.asset_number, "name": t.name, "rated_kva": t.rated_kva,
             "primary_rated_kv": t.primary_kv, "secondary_rated_v": t.secondary_v, "phases": 3,
             "vector_group": t.vector_group, "no_load_loss_kw": t.no_load_loss_kw,
             "load_loss_kw": t.load_loss_kw, "lat": t.lat, "lon": t.lon, "feeder": t.feeder,
             "org_unit": t.org_unit, "valid_from": since}
            for t in (a.transformer for a in grid.areas)
        ],
        "terminals": [
            {"asset_number": a.terminal.asset_number, "name": "Station-area terminal",
             "kind": "ttu", "protocol": "mqtt", "reporting_interval_min": a.terminal.interval_min,
             "collection_enabled": "true", "transformer": a.transformer.asset_number,
             "valid_from": since}
            for a in grid.areas
        ],
        "meters": [
            {"asset_number": m.asset_number, "customer_account": m.customer_account,
             "customer_name": m.customer_name, "wiring": m.wiring, "ct_ratio": m.archive_ct_ratio,
             "pt_ratio": 1.0, "tariff": "commercial" if m.profile == "g0" else "residential",
             "collection_enabled": "true", "lat": m.lat, "lon": m.lon,
             "transformer": m.archive_transformer, "phase": m.archive_phase, "valid_from": since}
            for a in grid.areas
            for m in a.meters
        ],
    }  # fmt: skip
    sheets = archives.imports.SHEETS
    return {
        name: [[_cell(row.get(col)) for col in sheets[name].column_names] for row in rows]
        for name, rows in values.items()
    }


def _cell(value: Any) -> Any:
    return "" if value is None else value


def export_templates(grid: SimGrid, out: Path, *, workbook: bool = True) -> list[Path]:
    """Write the grid as import templates: one CSV per sheet and (``workbook``) all sheets in
    one XLSX workbook with the notes sheet. Byte-stable for the same grid."""
    out.mkdir(parents=True, exist_ok=True)
    sheets = archives.imports.SHEETS
    rows = template_rows(grid)
    written = []
    for name, sheet_rows in rows.items():
        path = out / f"{name}.csv"
        path.write_bytes(archives.imports.csv_bytes(sheets[name].column_names, sheet_rows))
        written.append(path)
    if workbook:
        path = out / TEMPLATE_WORKBOOK
        path.write_bytes(archives.imports.template_workbook([sheets[n] for n in rows], rows))
        written.append(path)
    return written


def simulate_messages(
    grid: SimGrid, seed: int, start: datetime, days: int, plan: FaultPlan | None = None
) -> Iterable[Message]:
    """Every message of ``days`` from ``start`` (a UTC midnight), area by area, in time order."""
    sim = Simulator(grid, seed=seed, plan=plan)
    start = day_start(start)
    for area in grid.areas:
        first = True
        for d in range(days):
            ad = sim.area_day(area, start + timedelta(days=d))
            for k, ts in enumerate(ad.ends):
                if first:
                    yield terminal_meters(area, ts)
                    first = False
                yield from step_messages(ad, k)


def export(grid: SimGrid, messages: Iterable[Message], truth: list[Fault], out_dir: Path) -> Path:
    """Write ``grid/*.csv``, ``templates/*.csv`` + ``templates/archive.xlsx`` (the archive's
    view in the import templates), ``messages.jsonl.gz`` and ``truth.json`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "grid").mkdir(exist_ok=True)
    export_grid(grid, out_dir / "grid")
    export_templates(grid, out_dir / "templates")
    with (
        (out_dir / "messages.jsonl.gz").open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
    ):
        for msg in messages:
            gz.write(orjson.dumps(msg, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE))
    doc = {"seed": grid.seed, "faults": [f.as_json() for f in truth]}
    (out_dir / "truth.json").write_bytes(
        orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
    )
    return out_dir
