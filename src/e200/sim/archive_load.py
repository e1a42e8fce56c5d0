"""Write a :class:`SimGrid` into the archive — as the archive *believes* it (archive errors
included: a meter's archived transformer, phase and CT ratio are ``archive_*``).

Two paths:

* :func:`load_grid_service` — through the archive facade (``archives.create_asset``), exactly as
  an operator or an import writes; about 5 ms per asset, right for small grids;
* :func:`load_grid_bulk` — the *one* place that writes the archive tables directly with COPY,
  for the city/province presets, until the templated bulk import exists and replaces it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Table, select

from e200 import archives
from e200.archives import (
    KINDS,
    FeederIn,
    MeterIn,
    OrgUnitIn,
    SubstationIn,
    TerminalIn,
    TransformerIn,
)
from e200.kernel import Scope
from e200.sim.grid import SimGrid

BULK_ABOVE_ASSETS = 5_000


def asset_count(grid: SimGrid) -> int:
    return (
        len(grid.substations)
        + len(grid.feeders)
        + 2 * len(grid.areas)
        + sum(len(a.meters) for a in grid.areas)
    )


def load_grid(engine: Engine, grid: SimGrid, *, bulk: bool | None = None) -> int:
    """Write the grid if the archive is empty; return the number of assets written."""
    use_bulk = asset_count(grid) > BULK_ABOVE_ASSETS if bulk is None else bulk
    with engine.begin() as conn:
        if archives.list_org_units(conn, Scope.everything()):
            return 0
        _org_units(conn, grid)
        if use_bulk:
            return load_grid_bulk(conn, grid)
        return load_grid_service(conn, grid)


def _org_units(conn: Connection, grid: SimGrid) -> None:
    scope = Scope.everything()
    for ou in grid.org_units:
        archives.create_org_unit(
            conn,
            OrgUnitIn(
                code=ou.code,
                name=ou.name,
                kind=ou.kind,
                parent=ou.parent,
            ),
            scope,
        )


def load_grid_service(conn: Connection, grid: SimGrid) -> int:
    scope = Scope.everything()
    since = grid.since
    create = archives.create_asset
    written = 0
    for s in grid.substations:
        create(
            conn,
            KINDS["substation"],
            SubstationIn(
                asset_number=s.asset_number,
                name=s.name,
                voltage_kv=s.voltage_kv,
                lat=s.lat,
                lon=s.lon,
                org_unit=s.org_unit,
                valid_from=since,
            ),
            scope,
        )
        written += 1
    for f in grid.feeders:
        create(
            conn,
            KINDS["feeder"],
            FeederIn(
                asset_number=f.asset_number,
                name=f.name,
                voltage_kv=f.voltage_kv,
                substation=f.substation,
                valid_from=since,
            ),
            scope,
        )
        written += 1
    for a in grid.areas:
        t = a.transformer
        create(
            conn,
            KINDS["transformer"],
            TransformerIn(
                asset_number=t.asset_number,
                name=t.name,
                rated_kva=t.rated_kva,
                primary_rated_kv=t.primary_kv,
                secondary_rated_v=t.secondary_v,
                vector_group=t.vector_group,
                no_load_loss_kw=t.no_load_loss_kw,
                load_loss_kw=t.load_loss_kw,
                lat=t.lat,
                lon=t.lon,
                feeder=t.feeder,
                valid_from=since,
            ),
            scope,
        )
        create(
            conn,
            KINDS["terminal"],
            TerminalIn(
                asset_number=a.terminal.asset_number,
                name="Station-area terminal",
                protocol="mqtt",
                reporting_interval_min=a.terminal.interval_min,
                transformer=t.asset_number,
                valid_from=since,
            ),
            scope,
        )
        written += 2
    for a in grid.areas:  # after every transformer: archive errors point at siblings
        for m in a.meters:
            create(
                conn,
                KINDS["meter"],
                MeterIn(
                    asset_number=m.asset_number,
                    customer_account=m.customer_account,
                    customer_name=m.customer_name,
                    wiring=m.wiring,
                    ct_ratio=m.archive_ct_ratio,
                    tariff="commercial" if m.profile == "g0" else "residential",
                    lat=m.lat,
                    lon=m.lon,
                    transformer=m.archive_transformer,
                    phase=m.archive_phase,
                    valid_from=since,
                ),
                scope,
            )
            written += 1
    return written


def _table(name: str) -> Table:
    return archives.metadata.tables[f"archives.{name}"]


def _copy(
    conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    raw: Any = conn.connection.driver_connection
    cols = ", ".join(columns)
    with raw.cursor() as cur, cur.copy(f"COPY archives.{table.name} ({cols}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)


def _ids(conn: Connection, name: str) -> dict[str, int]:
    if name == "org_unit":
        t = _table(name)
        return {r.code: r.id for r in conn.execute(select(t.c.id, t.c.code))}
    t = _table(name)
    return {r.asset_number: r.id for r in conn.execute(select(t.c.id, t.c.asset_number))}


def load_grid_bulk(conn: Connection, grid: SimGrid) -> int:
    """Assets and their effective-dated relations by COPY (org units must exist already).

    Writes what :func:`load_grid_service` writes — the same columns, relations and validity —
    without per-row checks: the grid is generated, so its references are known to be sound."""
    since = grid.since
    orgs = _ids(conn, "org_unit")
    areas = grid.areas
    _copy(
        conn,
        _table("substation"),
        ("asset_number", "name", "voltage_kv", "lat", "lon"),
        ((s.asset_number, s.name, s.voltage_kv, s.lat, s.lon) for s in grid.substations),
    )
    _copy(
        conn,
        _table("feeder"),
        ("asset_number", "name", "voltage_kv"),
        ((f.asset_number, f.name, f.voltage_kv) for f in grid.feeders),
    )
    _copy(
        conn,
        _table("transformer"),
        (
            "asset_number",
            "name",
            "rated_kva",
            "primary_rated_kv",
            "secondary_rated_v",
            "phases",
            "vector_group",
            "no_load_loss_kw",
            "load_loss_kw",
            "lat",
            "lon",
        ),
        (
            (
                a.transformer.asset_number,
                a.transformer.name,
                a.transformer.rated_kva,
                a.transformer.primary_kv,
                a.transformer.secondary_v,
                3,
                a.transformer.vector_group,
                a.transformer.no_load_loss_kw,
                a.transformer.load_loss_kw,
                a.transformer.lat,
                a.transformer.lon,
            )
            for a in areas
        ),
    )
    _copy(
        conn,
        _table("terminal"),
        ("asset_number", "name", "kind", "protocol", "reporting_interval_min"),
        (
            (
                a.terminal.asset_number,
                "Station-area terminal",
                "ttu",
                "mqtt",
                a.terminal.interval_min,
            )
            for a in areas
        ),
    )
    _copy(
        conn,
        _table("meter"),
        (
            "asset_number",
            "customer_account",
            "customer_name",
            "wiring",
            "ct_ratio",
            "pt_ratio",
            "tariff",
            "lat",
            "lon",
        ),
        (
            (
                m.asset_number,
                m.customer_account,
                m.customer_name,
                m.wiring,
                m.archive_ct_ratio,
                1.0,
                "commercial" if m.profile == "g0" else "residential",
                m.lat,
                m.lon,
            )
            for a in areas
            for m in a.meters
        ),
    )
    ids = {k: _ids(conn, k) for k in ("substation", "feeder", "transformer", "terminal", "meter")}
    org_of_dt = {a.transformer.asset_number: a.transformer.org_unit for a in areas}
    rel = [
        (
            "substation_org_unit",
            "substation_id",
            [(ids["substation"][s.asset_number], orgs[s.org_unit]) for s in grid.substations],
        ),
        (
            "feeder_org_unit",
            "feeder_id",
            [(ids["feeder"][f.asset_number], orgs[f.org_unit]) for f in grid.feeders],
        ),
        (
            "transformer_org_unit",
            "transformer_id",
            [
                (ids["transformer"][a.transformer.asset_number], orgs[a.transformer.org_unit])
                for a in areas
            ],
        ),
        (
            "terminal_org_unit",
            "terminal_id",
            [
                (ids["terminal"][a.terminal.asset_number], orgs[a.transformer.org_unit])
                for a in areas
            ],
        ),
        (
            "meter_org_unit",
            "meter_id",
            [
                (ids["meter"][m.asset_number], orgs[org_of_dt[m.archive_transformer]])
                for a in areas
                for m in a.meters
            ],
        ),
    ]
    for name, child, rows in rel:
        _copy(
            conn,
            _table(name),
            (child, "org_unit_id", "valid_from"),
            ((c, o, since) for c, o in rows),
        )
    _copy(
        conn,
        _table("feeder_substation"),
        ("feeder_id", "substation_id", "valid_from"),
        (
            (ids["feeder"][f.asset_number], ids["substation"][f.substation], since)
            for f in grid.feeders
        ),
    )
    _copy(
        conn,
        _table("transformer_feeder"),
        ("transformer_id", "feeder_id", "valid_from"),
        (
            (
                ids["transformer"][a.transformer.asset_number],
                ids["feeder"][a.transformer.feeder],
                since,
            )
            for a in areas
        ),
    )
    _copy(
        conn,
        _table("terminal_transformer"),
        ("terminal_id", "transformer_id", "valid_from"),
        (
            (
                ids["terminal"][a.terminal.asset_number],
                ids["transformer"][a.transformer.asset_number],
                since,
            )
            for a in areas
        ),
    )
    _copy(
        conn,
        _table("meter_transformer"),
        ("meter_id", "transformer_id", "phase", "valid_from"),
        (
            (
                ids["meter"][m.asset_number],
                ids["transformer"][m.archive_transformer],
                m.archive_phase,
                since,
            )
            for a in areas
            for m in a.meters
        ),
    )
    return asset_count(grid)
