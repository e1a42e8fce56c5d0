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
    """Write ``grid/*.csv``, ``messages.jsonl.gz`` and ``truth.json`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "grid").mkdir(exist_ok=True)
    export_grid(grid, out_dir / "grid")
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
