"""The data-query and customer pages' option builders and table, without a browser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from e200 import telemetry
from e200.console.data.query_charts import (
    analysis_option,
    analysis_totals,
    daily_energy_option,
    event_detail,
    event_label,
    event_rows,
    format_number,
    groups_for,
    meter_groups,
    quantities_for,
    query_option,
    series_notes,
    table_of,
    with_event_marks,
)

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def _series(device: str, quantity: str, stat: str, values: list[float | None], *,
            unit: str = "kW", kind: str = "transformer", step_min: int = 60,
            points: int | None = None, downsampled: bool = False
            ) -> telemetry.CurveSeries:  # fmt: skip
    ts = [T0 + timedelta(minutes=step_min * i) for i in range(len(values))]
    return telemetry.CurveSeries(device, kind, quantity, unit, stat, ts, values,
                                 points if points is not None else len(values),
                                 downsampled)  # fmt: skip


def _result(step: str, *series: telemetry.CurveSeries) -> telemetry.CurveResult:
    return telemetry.CurveResult(T0, T0 + timedelta(days=1), step, 1000, "Europe/Berlin",
                                 list(series))  # fmt: skip


def test_quantity_groups_offer_only_what_every_chosen_kind_has() -> None:
    assert quantities_for(["transformer", "meter"], ["p_kw", "q_kvar", "v_v"]) == ["p_kw"]
    assert quantities_for(["meter"], ["v_a_v", "v_v"]) == ["v_a_v", "v_v"]
    mixed = dict(groups_for(["transformer", "meter"]))
    assert mixed["voltage"] == ["v_a_v", "v_b_v", "v_c_v"]
    assert "temperature" not in mixed and "frequency" not in mixed
    assert dict(groups_for(["transformer"]))["temperature"] == ["oil_temp_c", "amb_temp_c"]
    assert meter_groups("three_phase")["voltage"] == ("v_a_v", "v_b_v", "v_c_v")
    assert meter_groups("single_phase")["current"] == ("i_a",)


def test_every_device_and_quantity_on_one_chart_with_an_axis_per_unit() -> None:
    result = _result(
        "auto",
        _series("T-1", "p_kw", "value", [1.0, 2.0]),
        _series("T-2", "p_kw", "value", [3.0, None]),
        _series("T-1", "v_a_v", "value", [230.0, 231.0], unit="V"),
    )
    option = query_option(result)
    names = [s["name"] for s in option["series"]]
    assert len(names) == 3 and names[0].startswith("T-1") and names[1].startswith("T-2")
    assert [a["name"] for a in option["yAxis"]] == ["kW", "V"]
    assert [s["yAxisIndex"] for s in option["series"]] == [0, 0, 1]
    assert option["series"][1]["data"][1] == [(T0 + timedelta(hours=1)).isoformat(), None]
    assert option["xAxis"]["min"] == T0.isoformat()


def test_aggregates_chart_the_average_and_energy_sums_table_has_every_statistic() -> None:
    result = _result(
        "hour",
        _series("T-1", "p_kw", "avg", [1.0, 2.0]),
        _series("T-1", "p_kw", "min", [0.5, 1.5]),
        _series("T-1", "p_kw", "max", [1.5, 2.5]),
        _series("T-1", "e_imp_kwh", "sum", [1.0, 2.0], unit="kWh"),
        _series("T-1", "readings", "n", [4.0, 4.0], unit="1"),
    )
    option = query_option(result)
    assert [s["type"] for s in option["series"]] == ["line", "bar"]
    assert option["series"][0]["step"] == "start"
    columns, rows, total = table_of(result, BERLIN)
    assert columns == ["p_kw_avg", "p_kw_min", "p_kw_max", "e_imp_kwh", "readings"]
    assert total == 2
    assert rows[0] == {"device": "T-1", "ts": "2026-11-20 01:00", "p_kw_avg": "1.000",
                       "p_kw_min": "0.500", "p_kw_max": "1.500", "e_imp_kwh": "1.000",
                       "readings": "4"}  # fmt: skip


def test_table_rows_sorted_by_device_and_time_and_cut_at_the_limit() -> None:
    result = _result(
        "auto",
        _series("T-2", "p_kw", "value", [3.0, 4.0]),
        _series("T-1", "p_kw", "value", [1.0, None]),
    )
    columns, rows, total = table_of(result, BERLIN, limit=3)
    assert columns == ["p_kw"] and total == 4 and len(rows) == 3
    assert [(r["device"], r["p_kw"]) for r in rows] == [("T-1", "1.000"), ("T-1", ""),
                                                        ("T-2", "3.000")]  # fmt: skip
    assert format_number(None) == "" and format_number(2.34567) == "2.346"


def test_downsampled_series_are_said_to_be() -> None:
    result = _result(
        "auto",
        _series("T-1", "p_kw", "value", [1.0, 2.0, 3.0], points=35040, downsampled=True),
        _series("T-2", "p_kw", "value", [1.0, None]),
    )
    notes = series_notes(result)
    assert [(n.downsampled, n.shown, n.points) for n in notes] == [(True, 3, 35040),
                                                                   (False, 1, 2)]  # fmt: skip
    assert [n.text_key for n in notes] == ["query.note_downsampled", "query.note_native"]
    hourly = series_notes(_result("hour", _series("T-1", "p_kw", "avg", [1.0, None], points=4)))
    assert [(n.text_key, n.shown, n.points) for n in hourly] == [("query.note_aggregate", 1, 4)]


def test_analysis_bars_totals_for_energy_mean_and_max_otherwise() -> None:
    energy = {"unit": "kWh", "rows": [
        {"group": "F2", "devices": 3, "total": 30.0, "mean": 10.0, "max": 12.0},
        {"group": "F1", "devices": 2, "total": 10.0, "mean": 5.0, "max": 6.0},
    ]}  # fmt: skip
    option = analysis_option(energy)
    assert option["xAxis"]["data"] == ["F1", "F2"]
    assert [s["data"] for s in option["series"]] == [[10.0, 30.0]]
    assert analysis_totals(energy) == {"groups": 2, "devices": 5, "total": 40.0, "max": 12.0}
    loading = {"unit": "%", "rows": [
        {"group": "T-1", "devices": 1, "total": None, "mean": 80.0, "max": 80.0},
    ]}  # fmt: skip
    assert len(analysis_option(loading)["series"]) == 2
    assert analysis_totals(loading)["total"] is None


def test_daily_energy_bars_are_labelled_by_local_day() -> None:
    series = _series("M-1", "e_imp_kwh", "sum", [1.5, None], unit="kWh", kind="meter",
                     step_min=24 * 60)  # fmt: skip
    option = daily_energy_option(series, BERLIN)
    assert option["xAxis"]["data"] == ["2026-11-20", "2026-11-21"]
    assert option["series"][0]["data"] == [1.5, None]


def test_meter_events_are_listed_in_local_time_with_their_kind_in_words_and_marked() -> None:
    from e200.console.i18n import has_text, t

    assert all(has_text(f"event.{kind}") for kind in telemetry.EVENT_KINDS)
    events = [
        {"ts": T0 + timedelta(hours=3), "event": "power_up", "detail": None},
        {"ts": T0 + timedelta(hours=2, seconds=7), "event": "power_down",
         "detail": {"last_gasp": True, "v_v": 12.5}},
        {"ts": T0 + timedelta(hours=1), "event": "cover_open", "detail": "terminal cover"},
    ]  # fmt: skip
    rows = event_rows(events, BERLIN)
    assert [(r.time, r.kind, r.label, r.detail) for r in rows] == [
        ("2026-11-20 04:00:00", "power_up", t("event.power_up"), ""),
        ("2026-11-20 03:00:07", "power_down", t("event.power_down"), "last_gasp: True, v_v: 12.5"),
        ("2026-11-20 02:00:00", "cover_open", t("event.cover_open"), "terminal cover"),
    ]
    assert event_label("something_new") == "Something new"
    assert event_detail(None) == "" and event_detail(7) == "7"

    option = query_option(
        _result(
            "auto",
            _series("M1", "v_v", "value", [230.0, 231.0], unit="V", kind="meter"),
            _series("M1", "p_kw", "value", [1.0, 2.0], kind="meter"),
        )
    )
    marked = with_event_marks(option, events)
    lines = marked["series"][0]["markLine"]["data"]
    assert [(m["name"], m["xAxis"]) for m in lines] == [
        (t(f"event.{e['event']}"), e["ts"].isoformat()) for e in events
    ]
    assert "markLine" not in marked["series"][1] and "markLine" not in option["series"][0]
    assert with_event_marks(option, []) is option
