"""Data queries: aggregates on a hand-checkable series (a gap, days of 23 and 25 hours),
register-difference energy against the simulator's own energy, downsampling that keeps every
extreme, and the caller's scope on every query and export."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, select, text

from e200 import archives
from e200.api import create_app
from e200.auth.tables import audit_event, role
from e200.config import Settings
from e200.kernel import NotFoundError, Scope
from e200.sim import backfill, build_grid, load_grid
from e200.sim.simulate import Simulator, day_start
from e200.telemetry.partitions import ensure_partitions, existing_partitions
from e200.telemetry.queries import (
    CurveResult,
    analysis,
    bucket_edges,
    curves,
    downsample,
    slice_starts,
)
from tests.telemetry.conftest import build_area
from tests.users import api_key, make_user

BERLIN = "Europe/Berlin"
EVERYTHING = Scope.everything()
STEP = timedelta(minutes=15)


def _partitions(engine: Engine, start: datetime, end: datetime) -> None:
    days = set()
    day = start.date() - timedelta(days=1)
    while day <= end.date() + timedelta(days=1):
        days.add(day)
        day += timedelta(days=1)
    with engine.begin() as conn:
        known = existing_partitions(conn)
        for table in ("dt_reading", "meter_reading"):
            ensure_partitions(conn, table, days, known)


def _insert_dt(engine: Engine, transformer: str, rows: list[tuple[datetime, float, float]]) -> None:
    """(ts, p_kw, e_imp_kwh) readings of a transformer."""
    _partitions(engine, rows[0][0], rows[-1][0])
    with engine.begin() as conn:
        tid = archives.lookup_devices(conn, "transformer", [transformer])[transformer].id
        conn.execute(
            text("INSERT INTO telemetry.dt_reading (transformer_id, ts, interval_min, p_kw, "
                 "e_imp_kwh, s_kva, received_at) VALUES (:id, :ts, 15, :p, :e, :p, now())"),
            [{"id": tid, "ts": ts, "p": p, "e": e} for ts, p, e in rows],
        )  # fmt: skip


def _local(y: int, m: int, d: int, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=ZoneInfo(BERLIN)).astimezone(UTC)


def _register_series(start: datetime, end: datetime) -> list[tuple[datetime, float, float]]:
    """A reading every 15 min in (start, end]: 4 kW, the register +1 kWh per interval."""
    rows, ts, e = [], start, 1000.0
    while ts <= end:
        rows.append((ts, 4.0, e))
        ts, e = ts + STEP, e + 1.0
    return rows


def _series(result: CurveResult, quantity: str, stat: str) -> list[float | None]:
    found = [s for s in result.series if s.quantity == quantity and s.stat == stat]
    assert len(found) == 1
    return list(found[0].values)


def test_aggregates_on_a_hand_checkable_series_with_a_gap_and_a_23_hour_day(
    area: Engine,
) -> None:
    # Local days 28, 29 (the spring change: 23 hours) and 30 March 2026 in Berlin.
    start, end = _local(2026, 3, 28), _local(2026, 3, 31)
    rows = _register_series(start, end)
    # A spike and a dip; a gap from local 22:00 on the 29th to 02:00 on the 30th (the register
    # still counts: the 16 kWh difference across the gap is shared 8/8 between the two days).
    gap_from, gap_to = _local(2026, 3, 29, 22), _local(2026, 3, 30, 2)
    spike, dip = _local(2026, 3, 29, 12), _local(2026, 3, 30, 3)
    rows = [(ts, 50.0 if ts == spike else -2.0 if ts == dip else p, e) for ts, p, e in rows
            if not gap_from < ts < gap_to]  # fmt: skip
    _insert_dt(area, "T1", rows)
    with area.connect() as conn:
        day = curves(conn, ["T1"], EVERYTHING, start=start, end=end,
                     quantities=["e_imp_kwh", "p_kw"], step="day", tz=BERLIN)  # fmt: skip
        hour = curves(conn, ["T1"], EVERYTHING, start=_local(2026, 3, 29),
                      end=_local(2026, 3, 30), quantities=["e_imp_kwh"], step="hour",
                      tz=BERLIN)  # fmt: skip
        month = curves(conn, ["T1"], EVERYTHING, start=start, end=end, quantities=["e_imp_kwh"],
                       step="month", tz=BERLIN)  # fmt: skip
    assert day.series[0].ts == [_local(2026, 3, d) for d in (28, 29, 30)]
    assert _series(day, "e_imp_kwh", "sum") == pytest.approx([96.0, 92.0, 96.0])
    # readings per day: 96, 92 − 8 lost in the gap on the 29th, 96 − 7 on the 30th
    assert _series(day, "readings", "n") == [96.0, 84.0, 89.0]
    assert _series(day, "p_kw", "max") == [4.0, 50.0, 4.0]
    assert _series(day, "p_kw", "min") == [4.0, 4.0, -2.0]
    assert _series(day, "p_kw", "avg") == pytest.approx(
        [4.0, (83 * 4 + 50) / 84, (88 * 4 - 2) / 89]
    )
    # 23 local hours on the 29th, 4 kWh in each — the gap's hours included
    energy = _series(hour, "e_imp_kwh", "sum")
    assert len(energy) == 23
    assert energy == pytest.approx([4.0] * 23)
    # March holds what was measured of it, nothing extrapolated: 96 + 92 + 96
    assert _series(month, "e_imp_kwh", "sum") == pytest.approx([284.0])


def test_a_25_hour_day_and_its_25_hours(area: Engine) -> None:
    start, end = _local(2026, 10, 24), _local(2026, 10, 27)
    _insert_dt(area, "T1", _register_series(start, end))
    with area.connect() as conn:
        day = curves(conn, ["T1"], EVERYTHING, start=start, end=end, quantities=["e_imp_kwh"],
                     step="day", tz=BERLIN)  # fmt: skip
        hour = curves(conn, ["T1"], EVERYTHING, start=_local(2026, 10, 25),
                      end=_local(2026, 10, 26), quantities=["e_imp_kwh"], step="hour",
                      tz=BERLIN)  # fmt: skip
    assert _series(day, "e_imp_kwh", "sum") == pytest.approx([96.0, 100.0, 96.0])
    assert _series(day, "readings", "n") == [96.0, 100.0, 96.0]
    # the repeated hour (02:00 CEST and 02:00 CET) is two buckets
    assert _series(hour, "e_imp_kwh", "sum") == pytest.approx([4.0] * 25)
    assert len(bucket_edges(_local(2026, 10, 25), _local(2026, 10, 26), "15min", BERLIN)) == 101


def test_register_difference_energy_equals_the_simulators_energy(engine: Engine) -> None:
    grid = build_grid("tiny", seed=5)
    load_grid(engine, grid, bulk=False)
    end = datetime(2026, 6, 4, tzinfo=UTC)
    result = backfill(engine, grid, 3, 5, end=end)
    assert result.quarantined == 0 and result.stored == result.received
    area_ = grid.areas[0]
    trafo, meter = area_.transformer.asset_number, area_.meters[0].asset_number
    # Gaps in the middle of the days: the register difference across them keeps the energy.
    with engine.begin() as conn:
        tid = archives.lookup_devices(conn, "transformer", [trafo])[trafo].id
        mid = archives.lookup_devices(conn, "meter", [meter])[meter].id
        conn.execute(text("DELETE FROM telemetry.dt_reading WHERE transformer_id = :id AND "
                          "extract(hour FROM ts) IN (3, 4, 11) AND extract(minute FROM ts) > 0"),
                     {"id": tid})  # fmt: skip
        conn.execute(text("DELETE FROM telemetry.meter_reading WHERE meter_id = :id AND "
                          "extract(hour FROM ts) IN (5, 6)"), {"id": mid})  # fmt: skip
    # The simulator's own per-interval energy, replayed with the same seed.
    sim = Simulator(grid, seed=5)
    truth_dt: dict[datetime, float] = {}
    truth_m: dict[datetime, float] = {}
    day = day_start(end - timedelta(days=3))
    while day < end:
        for a in grid.areas:
            ad = sim.area_day(a, day)
            if a is not area_:
                continue
            for k, ts in enumerate(ad.ends):
                truth_dt[ts] = max(float(ad.dt_values["p_kw"][k]), 0.0) * 0.25
                truth_m[ts] = max(float(ad.meter_p[k, 0]), 0.0) * 0.25
        day += timedelta(days=1)
    tz = "Asia/Shanghai"
    start_local, end_local = (
        datetime(2026, 6, 1, 16, tzinfo=UTC),
        datetime(2026, 6, 3, 16, tzinfo=UTC),
    )
    with engine.connect() as conn:
        got = curves(conn, [trafo, meter], EVERYTHING, start=start_local, end=end_local,
                     quantities=["e_imp_kwh"], step="day", tz=tz)  # fmt: skip
    edges = bucket_edges(start_local, end_local, "day", tz)
    assert len(edges) == 3
    for device, truth in ((trafo, truth_dt), (meter, truth_m)):
        (series,) = [s for s in got.series if s.device == device and s.stat == "sum"]
        expected = [sum(e for ts, e in truth.items() if lo < ts <= hi)
                    for lo, hi in itertools.pairwise(edges)]  # fmt: skip
        print(f"{device}: register differences {series.values} vs simulator {expected}")
        assert all(v is not None for v in series.values)
        # registers are reported to 0.01 kWh: two roundings per day at most
        assert series.values == pytest.approx(expected, abs=0.011)


def test_downsampling_keeps_every_extreme() -> None:
    rng = np.random.default_rng(3)
    n = 35_040  # a year of 15-min readings
    x = (np.arange(n, dtype=np.int64) * 900) + 1_767_225_600
    y = np.cumsum(rng.normal(0, 1, n))
    y[rng.integers(0, n, 40)] += rng.normal(0, 80, 40)  # spikes both ways
    kept = np.ones(n, dtype=bool)
    kept[rng.integers(0, n, 3000)] = False  # and gaps
    keep_x, keep_y = x[kept], y[kept]
    for xs, ys, max_points in ((x, y, 1000), (keep_x, keep_y, 400), (x, y, 10)):
        idx = downsample(xs, ys, max_points)
        assert len(idx) <= max_points
        assert np.all(np.diff(idx) > 0)
        chosen = set(idx.tolist())
        assert {0, len(xs) - 1, int(np.argmin(ys)), int(np.argmax(ys))} <= chosen
        # every slice's minimum and maximum (slices: max_points // 4 equal parts of the range)
        slices = max_points // 4
        edges = np.linspace(float(xs[0]), float(xs[-1]), slices + 1)
        for s in range(slices):
            inside = (xs >= edges[s]) & ((xs < edges[s + 1]) if s < slices - 1 else True)
            where = np.flatnonzero(inside)
            if len(where):
                assert ys[where].min() in ys[idx] and ys[where].max() in ys[idx], s
        assert len(slice_starts(xs, slices)) == slices
    short = downsample(x[:50], y[:50], 100)
    assert short.tolist() == list(range(50))


def test_a_year_is_downsampled_and_short_windows_are_native(area: Engine) -> None:
    end = _local(2026, 11, 1)
    start = end - timedelta(days=365)
    rows = _register_series(start, end)
    peak = rows[len(rows) // 3][0]
    rows = [
        (ts, 999.0 if ts == peak else p + (i % 96) / 10, e) for i, (ts, p, e) in enumerate(rows)
    ]
    _insert_dt(area, "T1", rows)
    with area.connect() as conn:
        year = curves(conn, ["T1"], EVERYTHING, start=start, end=end, quantities=["p_kw"],
                      max_points=800)  # fmt: skip
        week = curves(conn, ["T1"], EVERYTHING, start=end - timedelta(days=7), end=end,
                      quantities=["p_kw"], max_points=800)  # fmt: skip
    (ys,) = year.series
    assert ys.downsampled and ys.points == len(rows) - 1 and len(ys.values) <= 800
    assert max(v for v in ys.values if v is not None) == 999.0
    assert peak in ys.ts
    (ws,) = week.series
    assert not ws.downsampled and len(ws.values) == ws.points == 7 * 96


# -- the API: several devices, export, scope ---------------------------------------------------


@pytest.fixture()
def world(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    """Region A (T1 with meters M1..M3 from the telemetry area) and region B (T-B)."""
    build_area(engine)
    with engine.begin() as conn:
        archives.create_org_unit(conn, archives.OrgUnitIn(code="B", name="B", kind="region",
                                                          parent="CO"), EVERYTHING)  # fmt: skip
        archives.create_asset(conn, archives.KINDS["transformer"], archives.TransformerIn(
            asset_number="T-B", rated_kva=250, primary_rated_kv=10, secondary_rated_v=400,
            org_unit="B"), EVERYTHING)  # fmt: skip
        archives.create_org_unit(conn, archives.OrgUnitIn(code="A", name="A", kind="region",
                                                          parent="CO"), EVERYTHING)  # fmt: skip
    start = datetime(2026, 11, 20, tzinfo=UTC)
    series = _register_series(start, start + timedelta(days=2))
    _insert_dt(engine, "T1", series)
    _insert_dt(engine, "T-B", [(ts, p * 10, e * 2) for ts, p, e in series])
    settings = Settings(data_dir=tmp_path, database_url="unused://", timezone=BERLIN)
    with TestClient(create_app(settings, engine, console=False)) as client:
        yield client


WINDOW = {"from": "2026-11-20T00:00:00Z", "to": "2026-11-22T00:00:00Z"}


def test_several_devices_on_one_answer_and_exports(world: TestClient, engine: Engine) -> None:
    headers = {"X-API-Key": api_key(engine)}
    both = {**WINDOW, "devices": "T1,T-B", "quantities": "p_kw,e_imp_kwh"}
    r = world.get("/api/v1/telemetry/curves", headers=headers, params=both)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(s["device"], s["quantity"]) for s in body["series"]] == [
        ("T1", "p_kw"),
        ("T1", "e_imp_kwh"),
        ("T-B", "p_kw"),
        ("T-B", "e_imp_kwh"),
    ]
    assert body["series"][0]["ts"][0] == "2026-11-20T00:00:00Z"
    assert body["series"][2]["values"][0] == 40.0 and len(body["series"][0]["values"]) == 192
    day = {**WINDOW, "devices": "T1,T-B", "quantities": "e_imp_kwh,p_kw", "step": "day"}
    r = world.get("/api/v1/telemetry/curves/export", headers=headers,
                  params={**day, "format": "csv"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.text)))
    # Berlin days of the UTC window (it starts at 01:00 local on the 20th): whole local days
    # 20th (readings from 01:00: 92 intervals), 21st, 22nd (its first hour holds data)
    assert [row["device"] for row in table] == ["T-B"] * 3 + ["T1"] * 3
    assert [float(row["e_imp_kwh"]) for row in table if row["device"] == "T1"] == [
        pytest.approx(92.0), pytest.approx(96.0), pytest.approx(4.0)]  # fmt: skip
    assert table[0]["ts_local (Europe/Berlin)"] == "2026-11-20T00:00+01:00"
    assert {"p_kw_avg", "p_kw_min", "p_kw_max", "readings"} <= set(table[0])
    r = world.get("/api/v1/telemetry/curves/export", headers=headers,
                  params={**day, "format": "xlsx"})  # fmt: skip
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content), read_only=True)["curves"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("device", "ts_utc", "ts_local (Europe/Berlin)") and len(rows) == 7
    # an export is an audited action, with its query
    with engine.connect() as conn:
        details = conn.execute(select(audit_event.c.detail).where(
            audit_event.c.action == "curves_export")).scalars().all()  # fmt: skip
    assert [d["request"]["format"] for d in details] == ["csv", "xlsx"]
    assert details[0]["request"]["devices"] == "T1,T-B"


def test_scope_is_enforced_on_every_query_and_export(world: TestClient, engine: Engine) -> None:
    with engine.begin() as conn:  # T1 lives in CO itself, T-B in region B under it
        conn.execute(role.insert().values(name="viewer_exporter", builtin=False,
                                          permissions=["view_data", "export_data"]))  # fmt: skip
    make_user(engine, "b_user", roles=("viewer_exporter",), org_units=("B",))
    headers = {"X-API-Key": api_key(engine, "b_user")}
    params = {**WINDOW, "quantities": "p_kw"}
    for route in ("/api/v1/telemetry/curves", "/api/v1/telemetry/curves/export"):
        for devices in ("T1", "T-B,T1", "M1", "NOPE"):
            r = world.get(route, headers=headers, params={**params, "devices": devices})
            assert r.status_code == 404, (route, devices, r.text)
        r = world.get(route, headers=headers, params={**params, "devices": "T-B"})
        assert r.status_code == 200, r.text
        if route.endswith("export"):
            shown = {row["device"] for row in csv.DictReader(io.StringIO(r.text))}
        else:
            shown = {s["device"] for s in r.json()["series"]}
        assert shown == {"T-B"}
    # the analysis sees only the caller's devices, and refuses another region's org unit
    per_transformer = {**WINDOW, "measure": "energy_kwh", "group_by": "transformer"}
    r = world.get("/api/v1/telemetry/analysis", headers=headers, params=per_transformer)
    assert r.status_code == 200, r.text
    assert {row["group"] for row in r.json()["rows"]} == {"T-B"}
    r = world.get("/api/v1/telemetry/analysis", headers=headers,
                  params={**WINDOW, "org_unit": "CO", "measure": "energy_kwh"})  # fmt: skip
    assert r.status_code == 404, r.text
    with engine.connect() as conn, pytest.raises(NotFoundError):
        curves(conn, ["T1"], Scope(("no-such-path.",)))


def test_analysis_totals_and_distributions(world: TestClient, engine: Engine) -> None:
    headers = {"X-API-Key": api_key(engine)}
    r = world.get("/api/v1/telemetry/analysis", headers=headers,
                  params={**WINDOW, "measure": "energy_kwh", "group_by": "org_unit"})  # fmt: skip
    assert r.status_code == 200, r.text
    rows = {(row["group"], row["ts"]): row for row in r.json()["rows"]}
    # T1 (in CO) 4 kW, T-B (in B) twice its register steps: 8 kWh per 15 min
    co = rows[("CO", "2026-11-20T23:00:00Z")]
    assert co["total"] == pytest.approx(96.0) and co["devices"] == 1
    assert rows[("B", "2026-11-19T23:00:00Z")]["total"] == pytest.approx(184.0)
    with engine.connect() as conn:
        by_feeder = analysis(conn, EVERYTHING, measure="peak_loading_pct", group_by="feeder",
                             start=datetime(2026, 11, 20, tzinfo=UTC),
                             end=datetime(2026, 11, 22, tzinfo=UTC), step="none")  # fmt: skip
        meters = analysis(conn, EVERYTHING, measure="energy_kwh", group_by="customer_type",
                          device_kind="meter", start=datetime(2026, 11, 20, tzinfo=UTC),
                          end=datetime(2026, 11, 22, tzinfo=UTC))  # fmt: skip
        yesterday = analysis(conn, EVERYTHING, measure="avg_p_kw", group_by="org_unit", tz=BERLIN)
    # by default the local day before today
    local_from = yesterday["from"].astimezone(ZoneInfo(BERLIN))
    assert (local_from.hour, local_from.minute) == (0, 0)
    assert yesterday["to"].astimezone(ZoneInfo(BERLIN)).date() == local_from.date() + timedelta(1)
    got = {row["group"]: row for row in by_feeder["rows"]}
    # T1 on F1: s_kva = 4 of 400 kVA = 1 %; T-B has no feeder: 40 of 250 kVA = 16 %
    assert got["F1"]["max"] == pytest.approx(1.0) and got["F1"]["total"] is None
    assert got["(none)"]["max"] == pytest.approx(16.0) and got["(none)"]["max_device"] == "T-B"
    assert meters["devices_in_scope"] == 3 and meters["rows"] == []  # no meter readings stored
