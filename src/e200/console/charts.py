"""What the monitoring pages draw, as plain data (no NiceGUI here, so it is tested directly):
the fleet map as SVG and ECharts options of a transformer's curves with its alarms marked.

The map is drawn from the archive's coordinates without map tiles: utilities run E200 in their
own data centres, often without internet access, and a tile server is one more thing to run.
Each transformer is a link (keyboard and screen-reader reachable) to its page.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from e200 import alarms
from e200.console.i18n import has_text, t

# Quantity groups of the transformer curves: (key, quantities, unit shown on the axis).
CURVE_GROUPS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("voltage", ("v_a_v", "v_b_v", "v_c_v"), "V"),
    ("current", ("i_a_a", "i_b_a", "i_c_a", "i_n_a"), "A"),
    ("power", ("p_kw", "q_kvar", "s_kva"), "kW · kvar · kVA"),
    ("power_factor", ("pf",), ""),
    ("frequency", ("freq_hz",), "Hz"),
    ("thd", ("thd_v_pct", "thd_i_pct"), "%"),
    ("temperature", ("oil_temp_c", "amb_temp_c"), "°C"),
    ("humidity", ("humidity_pct",), "%"),
)
GROUP_QUANTITIES = {key: qs for key, qs, _ in CURVE_GROUPS}
# Which curve group shows an alarm's cause best (the alarm center opens it with the alarm).
RULE_GROUP = {
    "outage": "voltage", "phase_loss": "voltage", "under_voltage": "voltage",
    "over_voltage": "voltage", "overload": "power", "heavy_load": "power",
    "severe_overload": "power", "reverse_power": "power", "low_power_factor": "power_factor",
    "under_frequency": "frequency", "over_frequency": "frequency", "voltage_thd": "thd",
    "current_thd": "thd", "current_unbalance": "current", "oil_over_temperature": "temperature",
    "humidity": "humidity", "transformer_loss_high": "power",
}  # fmt: skip

SEVERITY_COLOUR = {"critical": "#b71c1c", "major": "#e65100", "minor": "#f9a825",
                   "warning": "#5c6bc0"}  # fmt: skip
STATUS_COLOUR = {"online": "#2e7d32", "offline": "#9e9e9e", "out_of_supply": "#212121"}


def filled(colour: str) -> str:
    """CSS of a badge in one of our hex colours (Quasar's ``color`` takes palette names only)."""
    return f"background: {colour}; color: white"


def outlined(colour: str) -> str:
    return f"background: transparent; color: {colour}; border: 1px solid {colour}"


def rule_label(rule: str) -> str:
    """A rule's name for people: the console's text, else the catalogue's label, else the key."""
    if has_text(f"rule.{rule}"):
        return t(f"rule.{rule}")
    spec = alarms.RULES_BY_KEY.get(rule)
    return spec.label if spec is not None else rule.replace("_", " ").capitalize()


@dataclass(frozen=True)
class MapPoint:
    asset_number: str
    lat: float | None
    lon: float | None
    status: str
    loading_pct: float | None
    worst_severity: str | None
    active_alarms: int


def _projection(points: Sequence[MapPoint], width: float, height: float, pad: float
                ) -> Callable[[float, float], tuple[float, float]]:  # fmt: skip
    """Equirectangular, x scaled by cos(latitude) so that distances look right, fitted."""
    lats = [p.lat for p in points if p.lat is not None]
    lons = [p.lon for p in points if p.lon is not None]
    lat0, lat1, lon0, lon1 = min(lats), max(lats), min(lons), max(lons)
    k = math.cos(math.radians((lat0 + lat1) / 2))
    span_x = max((lon1 - lon0) * k, 1e-6)
    span_y = max(lat1 - lat0, 1e-6)
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
    off_x = (width - span_x * scale) / 2
    off_y = (height - span_y * scale) / 2

    def place(lat: float, lon: float) -> tuple[float, float]:
        return off_x + (lon - lon0) * k * scale, height - off_y - (lat - lat0) * scale

    return place


def fleet_map_svg(points: Iterable[MapPoint], href: Callable[[str], str],
                  width: int = 900, height: int = 520, *,
                  fill_of: dict[str, str] | None = None) -> tuple[str, int]:  # fmt: skip
    """The fleet as an SVG map: a dot per transformer coloured by status (or by ``fill_of``, e.g.
    a rate), its size by loading, ringed in the colour of its worst active alarm. Returns the SVG
    and how many transformers have no coordinates (not drawn)."""
    points = list(points)
    located = [p for p in points if p.lat is not None and p.lon is not None]
    missing = len(points) - len(located)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="{escape(t("fleet.map"))}" class="e200-fleet-map" '
             f'style="width:100%;height:auto;background:#f5f7fa;border-radius:6px">']  # fmt: skip
    if located:
        place = _projection(located, width, height, 24)
        # Alarmed transformers last, so they are drawn on top.
        for p in sorted(located, key=lambda p: (p.active_alarms > 0, p.loading_pct or 0)):
            assert p.lat is not None and p.lon is not None
            x, y = place(p.lat, p.lon)
            loading = max(0.0, min(p.loading_pct or 0.0, 150.0))
            r = 4 + 5 * loading / 150
            fill = (fill_of or {}).get(p.asset_number) or STATUS_COLOUR.get(p.status, "#9e9e9e")
            ring = SEVERITY_COLOUR.get(p.worst_severity or "", "")
            stroke = (f'stroke="{ring}" stroke-width="3"' if ring
                      else 'stroke="#ffffff" stroke-width="1"')  # fmt: skip
            label = t("fleet.point", asset=p.asset_number, status=t(f"monitor_status.{p.status}"),
                      loading="–" if p.loading_pct is None else f"{p.loading_pct:.0f}",
                      alarms=p.active_alarms)  # fmt: skip
            parts.append(
                f'<a href="{escape(href(p.asset_number))}" aria-label="{escape(label)}" '
                f'data-asset="{escape(p.asset_number)}"><title>{escape(label)}</title>'
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{fill}" {stroke}/></a>'
            )
    parts.append("</svg>")
    return "".join(parts), missing


def curve_option(curve: dict[str, Any], group: str, marks: Sequence[AlarmMark]) -> dict[str, Any]:
    """ECharts option of one quantity group over the curve's window, with each alarm of the
    window as a shaded band from its start to its clearing (or the window's end) and its name."""
    stamps = [ts.isoformat() for ts in curve["ts"]]
    quantities = [q for q in GROUP_QUANTITIES[group] if q in curve["values"]]
    series: list[dict[str, Any]] = [
        {"name": t(f"quantity.{q}"), "type": "line", "showSymbol": False,
         "data": [[s, v] for s, v in zip(stamps, curve["values"][q], strict=True)]}
        for q in quantities
    ]  # fmt: skip
    areas = [
        [{"name": m.label, "xAxis": m.start.isoformat(),
          "itemStyle": {"color": SEVERITY_COLOUR.get(m.severity, "#9e9e9e"), "opacity": 0.15}},
         {"xAxis": (m.end or curve["to"]).isoformat()}]
        for m in marks
    ]  # fmt: skip
    if series and areas:
        label = {"position": "insideTopLeft", "fontSize": 11}
        series[0]["markArea"] = {"silent": True, "label": label, "data": areas}
    unit = next(u for key, _, u in CURVE_GROUPS if key == group)
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 56, "right": 24, "top": 36, "bottom": 56},
        "xAxis": {"type": "time", "min": curve["from"].isoformat(), "max": curve["to"].isoformat()},
        "yAxis": {"type": "value", "name": unit, "scale": True},
        "dataZoom": [{"type": "inside"}, {"type": "slider", "height": 18}],
        "series": series,
    }


@dataclass(frozen=True)
class AlarmMark:
    label: str
    severity: str
    start: datetime
    end: datetime | None  # None: still open


def marks_in_window(alarms: Iterable[Any], start: datetime, end: datetime) -> list[AlarmMark]:
    """The alarms (``AlarmOut``-like) that overlap [start, end), clipped to the window."""
    out = []
    for a in alarms:
        if a.started_at >= end or (a.cleared_at is not None and a.cleared_at < start):
            continue
        label = rule_label(a.rule)
        out.append(AlarmMark(label, a.severity, max(a.started_at, start),
                             None if a.cleared_at is None else min(a.cleared_at, end)))  # fmt: skip
    return out
