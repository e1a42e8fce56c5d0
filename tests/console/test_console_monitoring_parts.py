"""The monitoring pages' drawing, without a browser: the fleet map places every located
transformer as a link coloured by status and ringed by its worst alarm; curves mark each alarm of
the window from its start to its clearing; the live alarm feed hands out what a page missed and
tells when it missed too much."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from e200 import alarms
from e200.console.charts import (
    CURVE_GROUPS,
    RULE_GROUP,
    SEVERITY_COLOUR,
    STATUS_COLOUR,
    MapPoint,
    curve_option,
    fleet_map_svg,
    marks_in_window,
)
from e200.console.i18n import has_text
from e200.console.live import RING, AlarmFeed

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def test_the_map_links_every_located_transformer_and_keeps_geography() -> None:
    points = [
        MapPoint("T-WEST", 30.0, 120.0, "online", 50.0, None, 0),
        MapPoint("T-EAST", 30.0, 120.1, "offline", None, None, 0),
        MapPoint("T-NORTH", 30.1, 120.0, "online", 112.0, "major", 2),
        MapPoint("T-NOWHERE", None, None, "online", 10.0, None, 0),
    ]
    svg, missing = fleet_map_svg(points, lambda a: f"/console/transformers/{a}")
    assert missing == 1 and "T-NOWHERE" not in svg
    dots = {m["asset"]: m for m in re.finditer(
        r'<a href="(?P<href>[^"]+)" aria-label="[^"]+" data-asset="(?P<asset>[^"]+)">.*?'
        r'<circle cx="(?P<x>[\d.]+)" cy="(?P<y>[\d.]+)" r="(?P<r>[\d.]+)" fill="(?P<fill>[^"]+)"'
        r' stroke="(?P<stroke>[^"]+)"', svg)}  # fmt: skip
    assert set(dots) == {"T-WEST", "T-EAST", "T-NORTH"}
    assert dots["T-NORTH"]["href"] == "/console/transformers/T-NORTH"
    x = {a: float(d["x"]) for a, d in dots.items()}
    y = {a: float(d["y"]) for a, d in dots.items()}
    assert x["T-EAST"] > x["T-WEST"] and y["T-NORTH"] < y["T-WEST"]  # east right, north up
    # 0.1° of longitude at 30° N is shorter than 0.1° of latitude
    assert (x["T-EAST"] - x["T-WEST"]) < (y["T-WEST"] - y["T-NORTH"])
    assert dots["T-EAST"]["fill"] == STATUS_COLOUR["offline"]
    assert dots["T-NORTH"]["stroke"] == SEVERITY_COLOUR["major"]
    assert float(dots["T-NORTH"]["r"]) > float(dots["T-WEST"]["r"])  # bigger when loaded
    assert svg.index("T-NORTH") > svg.index("T-WEST")  # alarmed ones are drawn on top


def test_names_are_escaped_in_the_map() -> None:
    svg, _ = fleet_map_svg([MapPoint('T<"&>', 1.0, 1.0, "online", 1.0, None, 0)], lambda a: a)
    assert 'T<"' not in svg and "T&lt;&quot;&amp;&gt;" in svg


def _alarm(rule: str, start: datetime, end: datetime | None, severity: str = "major") -> Any:
    return SimpleNamespace(rule=rule, severity=severity, started_at=start, cleared_at=end)


def test_curves_mark_the_alarms_of_the_window_clipped_to_it() -> None:
    start, end = T0, T0 + timedelta(days=1)
    found = [
        _alarm("overload", T0 + timedelta(hours=18), T0 + timedelta(hours=20)),
        _alarm("over_voltage", T0 - timedelta(hours=2), T0 + timedelta(hours=1), "minor"),
        _alarm("outage", T0 + timedelta(hours=23), None, "critical"),  # still open
        _alarm("heavy_load", T0 - timedelta(days=2), T0 - timedelta(days=1)),  # before
        _alarm("heavy_load", T0 + timedelta(days=2), None),  # after
    ]
    marks = marks_in_window(found, start, end)
    assert [(m.label, m.start, m.end) for m in marks] == [
        ("Overload", T0 + timedelta(hours=18), T0 + timedelta(hours=20)),
        ("Over-voltage", T0, T0 + timedelta(hours=1)),
        ("Outage (no voltage)", T0 + timedelta(hours=23), None),
    ]
    ts = [T0 + timedelta(minutes=15 * k) for k in range(1, 97)]
    values = {"p_kw": [50.0] * 96, "s_kva": [60.0] * 96, "v_a_v": [230.0] * 96}
    curve = {"ts": ts, "from": start, "to": end, "values": values}
    option = curve_option(curve, "power", marks)
    names = [s["name"] for s in option["series"]]
    assert names == ["Active power", "Apparent power"]  # q_kvar was not in the curve
    areas = option["series"][0]["markArea"]["data"]

    def at(hours: int) -> str:
        return (T0 + timedelta(hours=hours)).isoformat()

    assert [(a[0]["name"], a[0]["xAxis"], a[1]["xAxis"]) for a in areas] == [
        ("Overload", at(18), at(20)),
        ("Over-voltage", at(0), at(1)),
        ("Outage (no voltage)", at(23), end.isoformat()),
    ]
    assert option["series"][0]["data"][0] == [ts[0].isoformat(), 50.0]


def test_every_rule_and_group_has_a_text_and_a_curve() -> None:
    groups = {key for key, _, _ in CURVE_GROUPS}
    assert set(RULE_GROUP.values()) <= groups
    for key, quantities, _ in CURVE_GROUPS:
        assert has_text(f"curve_group.{key}")
        assert all(has_text(f"quantity.{q}") for q in quantities), key
    for rule in alarms.RULES:  # the transformer rules open a curve that shows them
        if rule.device_kind == "transformer" and rule.key != "stale_quantity":
            assert rule.key in RULE_GROUP, rule.key
    for severity in alarms.SEVERITIES:
        assert has_text(f"severity.{severity}") and severity in SEVERITY_COLOUR
    for state in alarms.STATES:
        assert has_text(f"alarm_state.{state}")


def test_the_feed_hands_out_what_a_page_missed_and_says_when_it_missed_too_much() -> None:
    feed = AlarmFeed(engine=None)  # type: ignore[arg-type]  # never started: fed by hand
    for k in range(3):
        feed._add({"event": "raised", "id": k, "rule": "overload", "severity": "major",
                   "asset_number": f"T{k}", "device_kind": "transformer"})  # fmt: skip
    news, lost = feed.after(1)
    assert [e.alarm_id for e in news] == [1, 2] and not lost
    assert feed.after(feed.seq) == ([], False)
    for k in range(RING + 5):
        feed._add({"event": "cleared", "id": k})
    news, lost = feed.after(1)
    assert lost and len(news) == RING


def test_the_voltage_evidence_draws_the_limits_and_keeps_them_in_view() -> None:
    from e200.console.monitoring.voltage import evidence_option

    ts = [T0 + timedelta(minutes=15 * k) for k in range(1, 5)]
    curve = {"ts": ts, "values": {"v_a_v": [231.0, 252.0, 250.0, 232.0],
                                  "v_b_v": [230.0, 251.0, None, 231.0]}}  # fmt: skip
    option = evidence_option(curve, over_v=247.1, under_v=207.8)
    assert [s["name"] for s in option["series"]] == ["Voltage A", "Voltage B"]
    lines = option["series"][0]["markLine"]["data"]
    assert [line["yAxis"] for line in lines] == [247.1, 207.8]
    assert option["yAxis"]["min"] <= 207.8 and option["yAxis"]["max"] >= 252.0
