"""Data queries: curves of any devices and quantities over any window, aggregates by 15 min /
hour / local day / local month, multi-dimensional analysis, and export of the same.

Rules (docs/queries.md):
- Readings are stamped at the end of their interval, so a reading at ``ts`` belongs to the
  bucket that holds ``ts − 1 µs``: the 00:00 reading closes the previous day.
- A curve is native (every stored point) while a series has at most ``max_points`` points in the
  window; past that it is downsampled: the window is cut into ``max_points // 4`` equal time
  slices whose minimum and maximum are always kept (so every extreme survives, the global ones
  included), and tsdownsample's MinMaxLTTB chooses the other half of the points for the shape.
- Aggregates: energy (the register quantities, ``register=True`` in the contract) is the sum of
  register differences. A difference between two consecutive readings is shared among the
  buckets its interval overlaps in proportion to time, so a gap loses nothing and counts nothing
  twice; the other quantities give avg / min / max of the readings in the bucket.
- Day and month buckets follow the utility's local calendar (``Settings.timezone``): a day of a
  daylight-saving change has 23 or 25 hours. 15-min and hour buckets follow the local clock too
  (an hour repeated at the autumn change is two buckets, as it is two hours).
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, text
from tsdownsample import MinMaxLTTBDownsampler

from e200 import archives
from e200.kernel import InvalidInputError, Scope, as_utc, utc_now
from e200.telemetry.contract import DT_QUANTITIES, METER_QUANTITIES, Quantity
from e200.telemetry.service import find_device

Step = Literal["auto", "raw", "15min", "hour", "day", "month"]
STEPS: tuple[str, ...] = ("auto", "raw", "15min", "hour", "day", "month")
AGGREGATE_STEPS: tuple[str, ...] = ("15min", "hour", "day", "month")
MAX_DEVICES = 50
MAX_POINTS_LIMIT = 20_000
MAX_RAW_POINTS = 200_000  # per series with step=raw
MAX_BUCKETS = 100_000  # per device and quantity with an aggregate step
# How far beyond the window a register reading is looked for, so that the difference across the
# window's first and last edge counts too (gaps inside the window count whatever their length).
REGISTER_LOOKBACK = timedelta(hours=6)
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_TABLES = {
    "transformer": ("telemetry.dt_reading", "transformer_id", DT_QUANTITIES),
    "meter": ("telemetry.meter_reading", "meter_id", METER_QUANTITIES),
}


# -- buckets ------------------------------------------------------------------------------------


def _floor_local(ts: datetime, step: str, zone: ZoneInfo) -> datetime:
    local = ts.astimezone(zone)
    if step == "15min":
        local = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
    elif step == "hour":
        local = local.replace(minute=0, second=0, microsecond=0)
    elif step == "day":
        return datetime(local.year, local.month, local.day, tzinfo=zone).astimezone(UTC)
    else:
        return datetime(local.year, local.month, 1, tzinfo=zone).astimezone(UTC)
    return local.astimezone(UTC)


def bucket_edges(start: datetime, end: datetime, step: str, tz: str) -> list[datetime]:
    """Bucket boundaries (UTC) covering [start, end): the first is the local bucket holding
    ``start``, the last the first boundary at or after ``end``."""
    zone = ZoneInfo(tz)
    first = _floor_local(as_utc(start), step, zone)
    edges = [first]
    if step in ("15min", "hour"):
        width = timedelta(minutes=15 if step == "15min" else 60)
        # Sub-day steps advance in absolute time from a local-clock boundary (the offsets of
        # all zones are whole quarter hours; daylight saving moves them by whole hours).
        while edges[-1] < end:
            edges.append(edges[-1] + width)
            if len(edges) > MAX_BUCKETS + 1:
                raise InvalidInputError(f"step: more than {MAX_BUCKETS} buckets; use a longer "
                                        "step or a shorter window", field="step")  # fmt: skip
        return edges
    day = first.astimezone(zone).date()
    while edges[-1] < end:
        if step == "day":
            day = day + timedelta(days=1)
        else:
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        edges.append(datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC))
    return edges


# -- downsampling -------------------------------------------------------------------------------


def downsample(x: I64, y: F64, max_points: int) -> I64:
    """Indices of at most ``max_points`` points of (x, y) — x ascending, y without NaN — that
    keep the minimum and maximum of each of ``max_points // 4`` equal slices of the x range
    (hence the global extremes, and the first and last point) plus MinMaxLTTB's choice for the
    shape. Series that already fit are returned whole."""
    n = len(x)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    slices = max(max_points // 4, 1)
    starts = slice_starts(x, slices)
    bounds = np.append(starts, n)
    keep: list[int] = [0, n - 1]
    for a, b in itertools.pairwise(bounds.tolist()):
        if b > a:
            part = y[a:b]
            keep.append(int(a + np.argmin(part)))
            keep.append(int(a + np.argmax(part)))
    chosen = np.unique(np.asarray(keep, dtype=np.int64))
    room = max_points - len(chosen)
    if room >= 3:
        lttb = MinMaxLTTBDownsampler()  # type: ignore[no-untyped-call]
        shape = lttb.downsample(x, y, n_out=room).astype(np.int64)
        merged = np.union1d(chosen, shape)
        if len(merged) > max_points:  # overlapping choices never grow it; trim LTTB-only points
            extra = np.setdiff1d(shape, chosen)[: max_points - len(chosen)]
            merged = np.union1d(chosen, extra)
        chosen = merged
    return chosen


def slice_starts(x: I64, slices: int) -> I64:
    """Index of the first point of each of ``slices`` equal slices of [x[0], x[-1]] (a slice
    holds x in [edge, next edge); the last one also holds x[-1])."""
    edges = np.linspace(float(x[0]), float(x[-1]), slices + 1)[:-1]
    starts = np.searchsorted(x, edges, side="left").astype(np.int64)
    starts[0] = 0
    return starts


# -- devices ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Device:
    asset_number: str
    kind: str  # transformer | meter
    id: int


def resolve_devices(conn: Connection, numbers: Sequence[str], scope: Scope) -> list[Device]:
    """The devices by asset number, each inside ``scope`` (else NotFound: 404 as elsewhere)."""
    if not numbers:
        raise InvalidInputError("devices: name at least one transformer or meter", field="devices")
    if len(numbers) > MAX_DEVICES:
        raise InvalidInputError(f"devices: at most {MAX_DEVICES}", field="devices")
    out = []
    for number in dict.fromkeys(numbers):
        kind, _ = find_device(conn, number, scope)
        if kind == "terminal":
            raise InvalidInputError(f"devices: {number} is a terminal; it has no readings of its "
                                    "own, ask for its transformer", field="devices")  # fmt: skip
        ref = archives.lookup_devices(conn, kind, [number])[number]
        out.append(Device(number, kind, ref.id))
    return out


def _quantities(devices: list[Device], names: Sequence[str] | None) -> list[Quantity]:
    kinds = {d.kind for d in devices}
    by_kind = {k: {q.name: q for q in _TABLES[k][2]} for k in kinds}
    wanted = list(dict.fromkeys(names)) if names else ["p_kw"]
    out = []
    for name in wanted:
        for kind in sorted(kinds):
            if name not in by_kind[kind]:
                raise InvalidInputError(f"quantities: {name!r} is not a {kind} quantity; use "
                                        f"{sorted(by_kind[kind])}", field="quantities")  # fmt: skip
        out.append(next(by_kind[k][name] for k in sorted(kinds)))
    return out


# -- curves -------------------------------------------------------------------------------------


@dataclass
class Series:
    """One line of a chart: a device's quantity (and, for aggregates, a statistic)."""

    device: str
    kind: str
    quantity: str
    unit: str
    stat: str  # value (native or downsampled) | avg | min | max | sum (energy) | n (readings)
    ts: list[datetime]
    values: list[float | None]
    points: int  # readings behind the series in the window
    downsampled: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device, "kind": self.kind, "quantity": self.quantity,
            "unit": self.unit, "stat": self.stat, "points": self.points,
            "downsampled": self.downsampled, "ts": self.ts, "values": self.values,
        }  # fmt: skip


@dataclass
class CurveResult:
    start: datetime
    end: datetime
    step: str
    max_points: int
    tz: str
    series: list[Series] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.start, "to": self.end, "step": self.step,
                "max_points": self.max_points, "timezone": self.tz,
                "series": [s.as_dict() for s in self.series]}  # fmt: skip


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = as_utc(end) if end else utc_now()
    start = as_utc(start) if start else end - timedelta(days=7)
    if start >= end:
        raise InvalidInputError("from: must be before to", field="from")
    return start, end


def _epochs_to_datetimes(seconds: Iterable[float]) -> list[datetime]:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return [epoch + timedelta(microseconds=round(s * 1_000_000)) for s in seconds]


def _fetch_columns(conn: Connection, device: Device, names: list[str], start: datetime,
                   end: datetime) -> tuple[I64, dict[str, F64]]:  # fmt: skip
    """Epoch seconds and one float array per quantity (NaN where not reported) of the readings
    with start <= ts < end, as arrays built by PostgreSQL (one row back)."""
    table, key, _ = _TABLES[device.kind]
    cols = ", ".join(f"array_agg({n} ORDER BY ts)" for n in names)
    row = conn.execute(text(
        f"SELECT array_agg(CAST(extract(epoch FROM ts) AS bigint) ORDER BY ts), {cols} "
        f"FROM {table} WHERE {key} = :id AND ts >= :start AND ts < :end"
    ), {"id": device.id, "start": start, "end": end}).one()  # fmt: skip
    if row[0] is None:
        return np.zeros(0, dtype=np.int64), {n: np.zeros(0) for n in names}
    x = np.asarray(row[0], dtype=np.int64)
    return x, {n: np.asarray(row[i + 1], dtype=np.float64) for i, n in enumerate(names)}


def curves(
    conn: Connection,
    devices: Sequence[str],
    scope: Scope,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    quantities: Sequence[str] | None = None,
    step: str = "auto",
    max_points: int = 1000,
    tz: str = "UTC",
) -> CurveResult:
    """Curves of several devices over [start, end) (default: the last 7 days) — native,
    downsampled or aggregated (see the module's rules)."""
    if step not in STEPS:
        raise InvalidInputError(f"step: one of {list(STEPS)}", field="step")
    if not 10 <= max_points <= MAX_POINTS_LIMIT:
        raise InvalidInputError(f"max_points: between 10 and {MAX_POINTS_LIMIT}",
                                field="max_points")  # fmt: skip
    start, end = _window(start, end)
    found = resolve_devices(conn, devices, scope)
    qs = _quantities(found, quantities)
    result = CurveResult(start, end, step, max_points, tz)
    if step in AGGREGATE_STEPS:
        edges = bucket_edges(start, end, step, tz)
        for device in found:
            result.series += _aggregate_device(conn, device, qs, edges)
        return result
    for device in found:
        x, columns = _fetch_columns(conn, device, [q.name for q in qs], start, end)
        if step == "raw" and len(x) > MAX_RAW_POINTS:
            raise InvalidInputError(f"step: {len(x)} readings of {device.asset_number} in the "
                                    f"window, more than {MAX_RAW_POINTS} at step=raw; use "
                                    "step=auto or an aggregate", field="step")  # fmt: skip
        for q in qs:
            y = columns[q.name]
            valid = ~np.isnan(y)
            xv, yv = x[valid], y[valid]
            idx = downsample(xv, yv, max_points) if step == "auto" else np.arange(len(xv))
            result.series.append(Series(
                device.asset_number, device.kind, q.name, q.unit, "value",
                _epochs_to_datetimes(xv[idx].tolist()), yv[idx].tolist(), len(xv),
                downsampled=len(idx) < len(xv),
            ))  # fmt: skip
    return result


# -- aggregates ---------------------------------------------------------------------------------

_STATS_SQL = """
SELECT width_bucket(ts - interval '1 microsecond', CAST(:edges AS timestamptz[])) AS k,
       count(*) AS n, {cols}
FROM {table} WHERE {key} = :id AND ts > :first AND ts <= :last
GROUP BY 1 ORDER BY 1
"""

# Energy per device and bucket from a monotonic register, without sorting the readings: within
# a bucket the readings' difference is max − min; the difference between a bucket's first
# reading and the last reading before it (in an earlier bucket, across any gap) is shared among
# the buckets that interval (pt, t0] overlaps, in proportion to time. Bucket k is
# [edges[k], edges[k+1]); k = 0 holds the lookback before the window, k = nb + 1 the lookahead.
_ENERGY_SQL = """
WITH b AS (
  SELECT d.{key} AS id, width_bucket(d.ts - interval '1 microsecond',
                                     CAST(:edges AS timestamptz[])) AS k,
         min(d.ts) AS t0, max(d.ts) AS t1, min(d.{reg}) AS r0, max(d.{reg}) AS r1
  FROM {table} d
  WHERE {where} AND d.{reg} IS NOT NULL
    AND d.ts > CAST(:first AS timestamptz) - CAST(:lookback AS interval)
    AND d.ts <= CAST(:last AS timestamptz) + CAST(:lookback AS interval)
  GROUP BY 1, 2
), s AS (
  SELECT b.*, lag(t1) OVER w AS pt, lag(r1) OVER w AS pr
  FROM b WINDOW w AS (PARTITION BY id ORDER BY k)
), e AS (SELECT CAST(:edges AS timestamptz[]) AS edges)
SELECT id, k, sum(energy) AS value FROM (
  SELECT id, k, r1 - r0 AS energy FROM s WHERE k BETWEEN 1 AND :nb
  UNION ALL
  SELECT s.id, j AS k, (s.r0 - s.pr)
         * extract(epoch FROM least(s.t0, e.edges[j + 1]) - greatest(s.pt, e.edges[j]))
         / extract(epoch FROM s.t0 - s.pt) AS energy
  FROM s, e, generate_series(greatest(width_bucket(s.pt, e.edges), 1), least(s.k, :nb)) AS j
  WHERE s.pt IS NOT NULL
) AS x GROUP BY 1, 2
"""


def _device_filter(key: str, ids: int | None) -> str:
    """One device (:id), the devices of :ids (few: an index probe each), or every device of the
    table (many: one scan; the join with the caller's devices drops the others)."""
    if ids is None:
        return f"d.{key} = :id"
    return f"d.{key} = ANY(CAST(:ids AS bigint[]))" if ids <= ANY_IDS_LIMIT else "true"


ANY_IDS_LIMIT = 500


def _aggregate_device(conn: Connection, device: Device, qs: list[Quantity],
                      edges: list[datetime]) -> list[Series]:  # fmt: skip
    table, key, _ = _TABLES[device.kind]
    nb = len(edges) - 1
    params = {"id": device.id, "edges": edges, "first": edges[0], "last": edges[-1]}
    plain = [q for q in qs if not q.register]
    cols = ", ".join(f"avg({q.name}), min({q.name}), max({q.name})" for q in plain) or "1"
    rows = conn.execute(text(_STATS_SQL.format(cols=cols, table=table, key=key)), params).all()
    counts: list[float | None] = [0.0] * nb
    stats: dict[tuple[str, str], list[float | None]] = {
        (q.name, s): [None] * nb for q in plain for s in ("avg", "min", "max")
    }
    for row in rows:
        k = int(row[0]) - 1
        if not 0 <= k < nb:
            continue
        counts[k] = float(row[1])
        for i, q in enumerate(plain):
            for j, s in enumerate(("avg", "min", "max")):
                stats[(q.name, s)][k] = row[2 + 3 * i + j]
    ts = edges[:-1]
    total = int(sum(c or 0 for c in counts))
    out: list[Series] = []
    for q in qs:
        if q.register:
            energy: list[float | None] = [None] * nb
            sql = _ENERGY_SQL.format(key=key, reg=q.name, table=table,
                                     where=_device_filter(key, None))  # fmt: skip
            for _, k, value in conn.execute(text(sql), {
                **params, "lookback": REGISTER_LOOKBACK, "nb": nb}):  # fmt: skip
                if 1 <= k <= nb:
                    energy[k - 1] = (energy[k - 1] or 0.0) + float(value)
            out.append(Series(device.asset_number, device.kind, q.name, q.unit, "sum", ts,
                              energy, total))  # fmt: skip
        else:
            for s in ("avg", "min", "max"):
                out.append(Series(device.asset_number, device.kind, q.name, q.unit, s, ts,
                                  stats[(q.name, s)], total))  # fmt: skip
    out.append(Series(device.asset_number, device.kind, "readings", "1", "n", ts, counts, total))
    return out


# -- multi-dimensional analysis -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Measure:
    """One figure per device and bucket that the analysis can total and distribute."""

    name: str
    unit: str
    description: str
    kinds: tuple[str, ...]  # device kinds it applies to
    additive: bool  # a group total (sum over devices) makes sense
    sql: str  # aggregate over the bucket's readings ("" for energy: register differences)
    scale: str = "v.value"  # per device, with its factor g.factor (multiplier or rating)


MEASURES: tuple[Measure, ...] = (
    Measure("energy_kwh", "kWh", "Active energy imported (register differences; meters times "
            "their CT × PT multiplier)", ("transformer", "meter"), True, "",
            "v.value * g.factor"),
    Measure("peak_loading_pct", "%", "Highest loading S / S_rated × 100 in the bucket",
            ("transformer",), False,
            "max(coalesce(d.s_kva, sqrt(d.p_kw ^ 2 + coalesce(d.q_kvar, 0) ^ 2)))",
            "v.value / g.factor * 100"),
    Measure("peak_p_kw", "kW", "Highest active power in the bucket", ("transformer", "meter"),
            False, "max(d.p_kw)"),
    Measure("avg_p_kw", "kW", "Average active power in the bucket", ("transformer", "meter"),
            False, "avg(d.p_kw)"),
    Measure("min_v_v", "V", "Lowest phase voltage in the bucket", ("transformer", "meter"), False,
            "min(least(d.v_a_v, d.v_b_v, d.v_c_v{meter_v}))"),
)  # fmt: skip
MEASURE_BY_NAME = {m.name: m for m in MEASURES}
GROUPS: dict[str, tuple[str, ...]] = {
    "transformer": ("org_unit", "feeder", "transformer"),
    "meter": ("org_unit", "feeder", "transformer", "customer_type", "meter"),
}
ANALYSIS_STEPS = ("none", "hour", "day", "month")

_PLAIN_SQL = """
SELECT d.{key} AS id, width_bucket(d.ts - interval '1 microsecond',
                                   CAST(:edges AS timestamptz[])) AS k, {agg} AS value
FROM {table} d
WHERE {where} AND d.ts > :first AND d.ts <= :last
GROUP BY 1, 2
"""

_GROUP_SQL = """
WITH v AS ({values}),
g AS (SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:groups AS text[]),
                           CAST(:factors AS float8[])) AS g(id, grp, factor)),
s AS (SELECT g.grp, v.k, v.id, {scale} AS value FROM v JOIN g ON g.id = v.id
      WHERE v.k BETWEEN 1 AND :nb AND v.value IS NOT NULL)
SELECT grp, k, count(*) AS devices, sum(value) AS total, avg(value) AS mean, min(value) AS min,
       percentile_cont(0.25) WITHIN GROUP (ORDER BY value) AS p25,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS median,
       percentile_cont(0.75) WITHIN GROUP (ORDER BY value) AS p75,
       max(value) AS max, (array_agg(id ORDER BY value DESC))[1] AS max_id
FROM s GROUP BY 1, 2 ORDER BY 1, 2
"""


def analysis(
    conn: Connection,
    scope: Scope,
    *,
    measure: str,
    group_by: str,
    device_kind: str = "transformer",
    start: datetime | None = None,
    end: datetime | None = None,
    step: str = "day",
    org_unit: str | None = None,
    tz: str = "UTC",
    at: datetime | None = None,
) -> dict[str, Any]:
    """Per group (org unit, feeder, transformer, customer type, device) and bucket: how many
    devices had data, their total (additive measures), mean, min, quartiles, max and the device
    with the max. Devices and groups are the archive's at ``at`` (default now, the instant the
    scope is checked at everywhere), limited to ``scope``."""
    if device_kind not in GROUPS:
        raise InvalidInputError(f"device_kind: one of {sorted(GROUPS)}", field="device_kind")
    m = MEASURE_BY_NAME.get(measure)
    if m is None:
        raise InvalidInputError(f"measure: one of {sorted(MEASURE_BY_NAME)}", field="measure")
    if device_kind not in m.kinds:
        raise InvalidInputError(f"measure: {measure} applies to {list(m.kinds)}", field="measure")
    if group_by not in GROUPS[device_kind]:
        raise InvalidInputError(f"group_by: for {device_kind}s one of "
                                f"{list(GROUPS[device_kind])}", field="group_by")  # fmt: skip
    if step not in ANALYSIS_STEPS:
        raise InvalidInputError(f"step: one of {list(ANALYSIS_STEPS)}", field="step")
    zone = ZoneInfo(tz)
    end = as_utc(end) if end else _floor_local(utc_now(), "day", zone)
    # default: the local day before ``end`` (23 or 25 hours on a daylight-saving change)
    start = as_utc(start) if start else _floor_local(end - timedelta(hours=1), "day", zone)
    if start >= end:
        raise InvalidInputError("from: must be before to", field="from")
    edges = [start, end] if step == "none" else bucket_edges(start, end, step, tz)
    if step != "none":  # whole buckets only: the window grows to its buckets' edges
        start, end = edges[0], edges[-1]
    at = as_utc(at) if at else utc_now()
    ids: list[int] = []
    groups: list[str] = []
    factors: list[float] = []
    names: dict[int, str] = {}
    if device_kind == "transformer":
        for site in archives.transformer_sites(conn, scope, org_unit_code=org_unit, at=at):
            key = {"org_unit": site.org_unit, "feeder": site.feeder,
                   "transformer": site.asset_number}[group_by]  # fmt: skip
            ids.append(site.id)
            groups.append(key or "(none)")
            # energy: no multiplier on the transformer's terminal; loading: its rating
            factors.append(site.rated_kva if measure == "peak_loading_pct" else 1.0)
            names[site.id] = site.asset_number
    else:
        for ms in archives.meter_sites(conn, scope, org_unit_code=org_unit, at=at):
            key = {
                "org_unit": ms.org_unit,
                "feeder": ms.feeder,
                "transformer": ms.transformer,
                "customer_type": ms.customer_type,
                "meter": ms.asset_number,
            }[group_by]
            ids.append(ms.id)
            groups.append(key or "(none)")
            factors.append(ms.multiplier if measure == "energy_kwh" else 1.0)
            names[ms.id] = ms.asset_number
    table, key_col, _ = _TABLES[device_kind]
    where = _device_filter(key_col, len(ids))
    if m.name == "energy_kwh":
        values = _ENERGY_SQL.format(key=key_col, reg="e_imp_kwh", table=table, where=where)
    else:
        agg = m.sql.replace("{meter_v}", ", d.v_v" if device_kind == "meter" else "")
        values = _PLAIN_SQL.format(key=key_col, agg=agg, table=table, where=where)
    rows = conn.execute(text(_GROUP_SQL.format(values=values, scale=m.scale)), {
        "ids": ids, "groups": groups, "factors": factors, "edges": edges, "first": edges[0],
        "last": edges[-1], "nb": len(edges) - 1, "lookback": REGISTER_LOOKBACK,
    }).all() if ids else []  # fmt: skip
    out_rows = [{
        "group": r.grp, "ts": edges[int(r.k) - 1], "devices": r.devices,
        "total": r.total if m.additive else None, "mean": r.mean, "min": r.min, "p25": r.p25,
        "median": r.median, "p75": r.p75, "max": r.max, "max_device": names.get(r.max_id),
    } for r in rows]  # fmt: skip
    return {"measure": m.name, "unit": m.unit, "description": m.description,
            "device_kind": device_kind, "group_by": group_by, "step": step, "from": start,
            "to": end, "timezone": tz, "archive_at": at, "devices_in_scope": len(ids),
            "rows": out_rows}  # fmt: skip


# -- export -------------------------------------------------------------------------------------

ExportFormat = Literal["csv", "xlsx"]


def _table(result: CurveResult) -> tuple[list[str], list[list[Any]]]:
    """One row per device and time, one column per quantity (and statistic)."""
    zone = ZoneInfo(result.tz)
    columns: list[str] = []
    cells: dict[tuple[str, datetime], dict[str, Any]] = {}
    for s in result.series:
        col = s.quantity if s.stat in ("value", "sum") else f"{s.quantity}_{s.stat}"
        if s.stat == "n":
            col = "readings"
        if col not in columns:
            columns.append(col)
        for ts, value in zip(s.ts, s.values, strict=True):
            cells.setdefault((s.device, ts), {})[col] = value
    header = ["device", "ts_utc", f"ts_local ({result.tz})", *columns]
    rows = [
        [device, ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
         ts.astimezone(zone).isoformat(timespec="minutes"), *(vals.get(c) for c in columns)]
        for (device, ts), vals in sorted(cells.items())
    ]  # fmt: skip
    return header, rows


def export(result: CurveResult, fmt: ExportFormat) -> bytes:
    header, rows = _table(result)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
        return buf.getvalue().encode("utf-8")
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("curves")
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    info = book.create_sheet("query")
    for k, v in (("from", result.start.isoformat()), ("to", result.end.isoformat()),
                 ("step", result.step), ("max_points", result.max_points),
                 ("timezone", result.tz)):  # fmt: skip
        info.append([k, v])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def local_day(ts: datetime, tz: str) -> date:
    """The local calendar day an interval reading stamped ``ts`` (its end) belongs to."""
    return (as_utc(ts) - timedelta(microseconds=1)).astimezone(ZoneInfo(tz)).date()
