"""What the data-query and customer pages draw, as plain data (no NiceGUI here, so it is tested
directly): quantity groups per device kind, windows, the ECharts options of several devices'
curves on one chart, the table of the same data, the analysis bars, a meter's daily energy and its
events (a list and marks on its curve).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from e200 import telemetry
from e200.console.i18n import has_text, t

# Quantity groups of the query page: (key, quantities). A group offers the quantities that every
# chosen device kind has (the query answers 422 for a quantity one of the devices lacks).
QUERY_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("power", ("p_kw", "q_kvar", "s_kva")),
    ("voltage", ("v_a_v", "v_b_v", "v_c_v", "v_v")),
    ("current", ("i_a_a", "i_b_a", "i_c_a", "i_n_a", "i_a")),
    ("energy", ("e_imp_kwh", "e_exp_kwh", "eq_kvarh")),
    ("power_factor", ("pf",)),
    ("frequency", ("freq_hz",)),
    ("thd", ("thd_v_pct", "thd_i_pct")),
    ("temperature", ("oil_temp_c", "amb_temp_c")),
)
KIND_QUANTITIES: dict[str, frozenset[str]] = {
    "transformer": frozenset(q.name for q in telemetry.DT_QUANTITIES),
    "meter": frozenset(q.name for q in telemetry.METER_QUANTITIES),
}
WINDOWS: dict[str, timedelta] = {
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "1y": timedelta(days=365),
}
# The page's steps: "auto" (native, downsampled when long) and the backend's aggregates.
STEPS: tuple[str, ...] = ("auto", "15min", "hour", "day", "month")
AGGREGATE_STEPS = ("15min", "hour", "day", "month")
CHARTED_STATS = ("value", "sum", "avg")  # min / max / readings are in the table
TABLE_ROW_LIMIT = 5000


def quantities_for(kinds: Iterable[str], quantities: Iterable[str]) -> list[str]:
    """The quantities every one of ``kinds`` has, in the given order."""
    wanted = set(kinds)
    return [q for q in quantities if all(q in KIND_QUANTITIES.get(k, ()) for k in wanted)]


def groups_for(kinds: Iterable[str]) -> list[tuple[str, list[str]]]:
    """The quantity groups that have at least one quantity for all ``kinds``."""
    kinds = list(kinds)
    out = [(key, quantities_for(kinds, qs)) for key, qs in QUERY_GROUPS]
    return [(key, qs) for key, qs in out if qs]


def quantity_label(name: str) -> str:
    return t(f"quantity.{name}") if has_text(f"quantity.{name}") else name


def series_name(s: telemetry.CurveSeries) -> str:
    """Legend name of one series: device, quantity and (aggregates) the statistic."""
    stat = "" if s.stat in ("value", "sum") else f" ({t(f'stat.{s.stat}')})"
    return f"{s.device} · {quantity_label(s.quantity)}{stat}"


def charted(result: telemetry.CurveResult) -> list[telemetry.CurveSeries]:
    return [s for s in result.series if s.stat in CHARTED_STATS]


def query_option(result: telemetry.CurveResult) -> dict[str, Any]:
    """Every device × quantity of the answer on one chart: one y axis per unit (the first two left
    and right, more further out); aggregates draw their average (energy: the sum) with steps."""
    shown = charted(result)
    units = list(dict.fromkeys(s.unit for s in shown)) or [""]
    aggregate = result.step in AGGREGATE_STEPS
    series: list[dict[str, Any]] = []
    for s in shown:
        line: dict[str, Any] = {
            "name": series_name(s), "type": "bar" if s.stat == "sum" else "line",
            "showSymbol": False, "yAxisIndex": units.index(s.unit), "connectNulls": False,
            "data": [[ts.isoformat(), v] for ts, v in zip(s.ts, s.values, strict=True)],
        }  # fmt: skip
        if aggregate and s.stat != "sum":
            line["step"] = "start"
        series.append(line)
    y_axes = [
        {"type": "value", "name": unit if unit != "1" else "", "scale": True,
         "position": "left" if i % 2 == 0 else "right", "offset": 56 * (i // 2),
         "alignTicks": True}
        for i, unit in enumerate(units)
    ]  # fmt: skip
    right = 56 * ((len(units)) // 2) + 24
    left = 56 * ((len(units) + 1) // 2)
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "type": "scroll"},
        "grid": {"left": left, "right": right, "top": 40, "bottom": 56},
        "xAxis": {"type": "time", "min": result.start.isoformat(), "max": result.end.isoformat()},
        "yAxis": y_axes,
        "dataZoom": [{"type": "inside"}, {"type": "slider", "height": 18}],
        "series": series,
    }


@dataclass(frozen=True)
class SeriesNote:
    """What the page says of one series under the chart."""

    name: str
    points: int  # readings behind it in the window
    shown: int  # points drawn
    downsampled: bool
    aggregate: bool = False  # buckets of an aggregate step (``shown`` counts those with data)

    @property
    def text_key(self) -> str:
        if self.aggregate:
            return "query.note_aggregate"
        return "query.note_downsampled" if self.downsampled else "query.note_native"


def series_notes(result: telemetry.CurveResult) -> list[SeriesNote]:
    aggregate = result.step in AGGREGATE_STEPS
    return [
        SeriesNote(series_name(s), s.points, sum(v is not None for v in s.values),
                   s.downsampled, aggregate)
        for s in charted(result)
    ]  # fmt: skip


def format_number(value: float | None) -> str:
    """A table cell: three decimals, empty for no value."""
    return "" if value is None else f"{value:.3f}"


def column_key(s: telemetry.CurveSeries) -> str:
    """Column of a series in the table and the export: ``p_kw``, ``p_kw_avg``, ``readings``."""
    if s.stat == "n":
        return "readings"
    return s.quantity if s.stat in ("value", "sum") else f"{s.quantity}_{s.stat}"


def table_of(result: telemetry.CurveResult, tz: tzinfo, limit: int = TABLE_ROW_LIMIT
             ) -> tuple[list[str], list[dict[str, str]], int]:  # fmt: skip
    """The answer as rows (one per device and time, sorted as the export sorts them) with one
    column per quantity and statistic. Returns the columns, at most ``limit`` rows and how many
    rows there are in all."""
    columns: list[str] = []
    cells: dict[tuple[str, datetime], dict[str, float | None]] = {}
    for s in result.series:
        col = column_key(s)
        if col not in columns:
            columns.append(col)
        for ts, value in zip(s.ts, s.values, strict=True):
            cells.setdefault((s.device, ts), {})[col] = value
    keys = sorted(cells)
    rows = [
        {"device": device, "ts": local_time(ts, tz),
         **{c: _cell(c, cells[(device, ts)].get(c)) for c in columns}}
        for device, ts in keys[:limit]
    ]  # fmt: skip
    return columns, rows, len(keys)


def _cell(column: str, value: float | None) -> str:
    if column == "readings" and value is not None:
        return str(int(value))
    return format_number(value)


def local_time(ts: datetime, tz: tzinfo) -> str:
    return ts.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def analysis_option(answer: dict[str, Any]) -> dict[str, Any]:
    """Bars per group of an analysis over the window as one bucket: the total for additive
    measures (energy), else the mean and the maximum over the group's devices."""
    rows = sorted(answer["rows"], key=lambda r: str(r["group"]))
    groups = [str(r["group"]) for r in rows]
    additive = any(r.get("total") is not None for r in rows)
    if additive:
        bars = [("total", [r["total"] for r in rows])]
    else:
        bars = [("mean", [r["mean"] for r in rows]), ("max", [r["max"] for r in rows])]
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 64, "right": 24, "top": 40, "bottom": 72},
        "xAxis": {"type": "category", "data": groups, "axisLabel": {"rotate": 30}},
        "yAxis": {"type": "value", "name": answer.get("unit", "")},
        "series": [{"name": t(f"analysis.{key}"), "type": "bar", "data": data}
                   for key, data in bars],
    }  # fmt: skip


def analysis_totals(answer: dict[str, Any]) -> dict[str, float | int | None]:
    """The figures over every group: devices with data, total (additive), max."""
    rows = answer["rows"]
    totals = [r["total"] for r in rows if r.get("total") is not None]
    maxima = [r["max"] for r in rows if r.get("max") is not None]
    return {
        "groups": len({r["group"] for r in rows}),
        "devices": sum(int(r["devices"]) for r in rows),
        "total": sum(totals) if totals else None,
        "max": max(maxima) if maxima else None,
    }


def daily_energy_option(series: telemetry.CurveSeries, tz: tzinfo) -> dict[str, Any]:
    """A meter's energy per local day (register differences) as bars."""
    days = [ts.astimezone(tz).strftime("%Y-%m-%d") for ts in series.ts]
    return {
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 64, "right": 24, "top": 24, "bottom": 48},
        "xAxis": {"type": "category", "data": days},
        "yAxis": {"type": "value", "name": series.unit},
        "series": [{"name": quantity_label(series.quantity), "type": "bar",
                    "data": list(series.values)}],
    }  # fmt: skip


def meter_groups(wiring: str | None) -> dict[str, tuple[str, ...]]:
    """The customer page's curve groups of a meter by its wiring."""
    if wiring == "three_phase":
        return {"voltage": ("v_a_v", "v_b_v", "v_c_v"), "current": ("i_a_a", "i_b_a", "i_c_a"),
                "power": ("p_kw",)}  # fmt: skip
    return {"voltage": ("v_v",), "current": ("i_a",), "power": ("p_kw",)}


# Colours of the event marks: loss of supply red, its return green, tampering and the rest amber.
EVENT_COLOUR = {"power_down": "#b71c1c", "phase_loss": "#e65100", "power_up": "#2e7d32",
                "phase_restore": "#2e7d32"}  # fmt: skip
OTHER_EVENT_COLOUR = "#f9a825"


def event_label(kind: str) -> str:
    """An event kind in words (``event.*``), else the code made readable."""
    return t(f"event.{kind}") if has_text(f"event.{kind}") else kind.replace("_", " ").capitalize()


def event_detail(detail: object) -> str:
    """An event's detail as the terminal sent it: an object as ``key: value`` pairs, a string as
    it is, nothing for none."""
    if detail is None:
        return ""
    if isinstance(detail, dict):
        return ", ".join(f"{k}: {v}" for k, v in detail.items())
    return str(detail)


@dataclass(frozen=True)
class EventRow:
    """One line of a device's event list."""

    time: str  # local, to the second
    kind: str
    label: str
    detail: str


def event_rows(events: Iterable[dict[str, Any]], tz: tzinfo) -> list[EventRow]:
    """The events of the telemetry read (``device_events``) as the page lists them."""
    return [EventRow(e["ts"].astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"), e["event"],
                     event_label(e["event"]), event_detail(e.get("detail")))
            for e in events]  # fmt: skip


def with_event_marks(option: dict[str, Any], events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The chart option with a vertical line per event at its time, named by its kind (on the
    first series; unchanged when there is no series or no event)."""
    lines = [{"name": event_label(e["event"]), "xAxis": e["ts"].isoformat(),
              "lineStyle": {"color": EVENT_COLOUR.get(e["event"], OTHER_EVENT_COLOUR)}}
             for e in events]  # fmt: skip
    if not lines or not option.get("series"):
        return option
    first = {**option["series"][0], "markLine": {
        "silent": True, "symbol": "none", "data": lines,
        "lineStyle": {"type": "dashed", "width": 1},
        "label": {"formatter": "{b}", "position": "insideEndTop", "fontSize": 10}}}  # fmt: skip
    return {**option, "series": [first, *option["series"][1:]]}


def names(devices: Sequence[str]) -> str:
    return ",".join(devices)
