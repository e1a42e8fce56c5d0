"""Decode, validate, store: what is valid is stored once, what is not is quarantined with its
reason and raw payload, and received = stored + quarantined + duplicates, always."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, text

from e200.telemetry import BatchResult, Pipeline
from e200.telemetry.service import counters
from tests.telemetry.conftest import NOW, deliveries, dt_msg, meter_msg


def counter(engine: Engine, source: str = "test") -> dict[str, Any]:
    """The source's counts, summed over its writers' rows (as the API reports them)."""
    with engine.connect() as conn:
        [row] = [r for r in counters(conn) if r["source"] == source]
    return row


def assert_adds_up(result: BatchResult) -> None:
    assert result.received == result.stored + result.quarantined + result.duplicates


def test_every_message_type_is_stored(pipeline: Pipeline, area: Engine) -> None:
    ts = NOW - timedelta(minutes=5)
    batch = [
        dt_msg(),
        meter_msg("M1"), meter_msg("M2", v_v=231.0),
        {"v": 1, "type": "meter_daily", "device": "M1", "date": "2026-11-26",
         "values": {"e_imp_kwh": 55.0, "e_exp_kwh": 0.0}},
        {"v": 1, "type": "event", "device": "M3", "ts": ts.isoformat(), "event": "power_down"},
        {"v": 1, "type": "terminal_meters", "terminal": "TTU1", "ts": ts.isoformat(),
         "meters": ["M1", "M2", "M3"]},
    ]  # fmt: skip
    result = pipeline.process(deliveries(batch), "test")
    assert (result.received, result.stored, result.quarantined) == (6, 6, 0), result.rejected
    with area.connect() as conn:
        dt = conn.execute(text("SELECT v_a_v, p_kw, e_imp_kwh, terminal_id IS NOT NULL "
                               "FROM telemetry.dt_reading")).one()  # fmt: skip
        assert tuple(dt) == (231.0, 80.0, 1000.0, True)
        assert conn.execute(text("SELECT count(*) FROM telemetry.meter_reading")).scalar() == 2
        assert conn.execute(text("SELECT count(*) FROM telemetry.meter_daily")).scalar() == 1
        assert conn.execute(text("SELECT event FROM telemetry.device_event")).scalar() == \
            "power_down"  # fmt: skip
        meters = conn.execute(text("SELECT meters FROM telemetry.terminal_meter_list")).scalar()
        assert meters == ["M1", "M2", "M3"]
        live = conn.execute(text("SELECT last_ts FROM telemetry.terminal_liveness")).scalar()
        assert live == ts
    assert counter(area) | {"updated_at": None} == {
        "source": "test",
        "received": 6,
        "stored": 6,
        "quarantined": 0,
        "duplicates": 0,
        "updated_at": None,
    }


def test_redelivery_is_idempotent_and_counted_as_duplicates(pipeline: Pipeline,
                                                            area: Engine) -> None:  # fmt: skip
    batch = [dt_msg(), meter_msg("M1"), meter_msg("M2")]
    first = pipeline.process(deliveries(batch), "test")
    again = pipeline.process(deliveries(batch, batch[0]), "test")  # plus a copy within the batch
    assert first.stored == 3
    assert (again.received, again.stored, again.duplicates) == (4, 0, 4)
    assert_adds_up(again)
    with area.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM telemetry.dt_reading")).scalar() == 1
    totals = counter(area)
    assert totals["received"] == 7 and totals["stored"] == 3 and totals["duplicates"] == 4


def _reasons(result: BatchResult) -> list[str]:
    return [r.reason for r in result.rejected]


def test_bad_input_is_quarantined_with_reason_and_payload(pipeline: Pipeline,
                                                          area: Engine) -> None:  # fmt: skip
    # A first good reading sets the registers the backwards check compares with.
    pipeline.process(deliveries(dt_msg(ts=NOW - timedelta(minutes=20))), "test")
    bad: list[Any] = [
        b"{not json",
        {"v": 1, "type": "dt_interval", "device": "T1", "interval_min": 15, "values": {}},
        {**dt_msg(), "v": 2},
        {**dt_msg(), "type": "weather"},
        {**dt_msg(), "device": "T404"},
        dt_msg(ts=NOW + timedelta(hours=2)),
        dt_msg(ts=NOW - timedelta(minutes=7)),
        dt_msg(v_a_v=520.0),  # 400 V transformer: phase voltage limit 1.5 × 230.9 V
        dt_msg(pf=1.7),
        dt_msg(e_imp_kwh=900.0),  # the register stood at 1000 kWh 15 minutes earlier
        dt_msg(ts=NOW - timedelta(days=900)),
        {**meter_msg(), "values": {"v_v": "high"}},
        {**meter_msg(), "values": {"power": 1.0}},
        [1, 2],
    ]
    result = pipeline.process(deliveries(*bad), "test")
    assert_adds_up(result)
    assert result.stored == 0
    assert sorted(_reasons(result)) == sorted([
        "malformed_json", "schema", "unsupported_version", "unknown_type", "unknown_device",
        "future_timestamp", "off_grid", "out_of_range", "out_of_range", "register_backwards",
        "beyond_retention", "schema", "schema", "schema", "schema"])  # fmt: skip
    ranges = sorted(r.detail for r in result.rejected if r.reason == "out_of_range")
    assert ranges == ["values.pf: 1.7 outside [-1, 1]",
                      "values.v_a_v: 520 V outside [0, 346.4]"]  # fmt: skip
    with area.connect() as conn:
        rows = conn.execute(text("SELECT reason, payload, ref, device FROM telemetry.quarantine "
                                 "ORDER BY id")).all()  # fmt: skip
    assert sorted(r.reason for r in rows) == sorted(_reasons(result))
    by_reason = {r.reason: r for r in rows}
    assert bytes(by_reason["malformed_json"].payload) == b"{not json"
    assert by_reason["malformed_json"].ref == "test#0"
    assert orjson.loads(bytes(by_reason["unknown_device"].payload))["device"] == "T404"
    assert by_reason["unknown_device"].device == "T404"
    assert by_reason["unknown_device"].ref == "test#4"
    totals = counter(area)
    assert totals["received"] == totals["stored"] + totals["quarantined"] + totals["duplicates"]


def test_iot_platform_envelope_is_mapped(area: Engine, tmp_path: Any) -> None:
    from e200.telemetry import IotMapping

    mapping_file = tmp_path / "iot.toml"
    mapping_file.write_text(
        '[products.ttu-v2]\nmessage_type = "dt_interval"\ninterval_min = 15\n'
        'device_from = "node_id"\nterminal_from = "gateway_id"\n'
        '[products.ttu-v2.properties]\nUa = "v_a_v"\nIa = "i_a_a"\nP = "p_kw"\n'
        "[products.ttu-v2.scale]\np_kw = 0.001\n"
    )
    pipeline = Pipeline(area, mapping=IotMapping.load(mapping_file), clock=lambda: NOW)

    def envelope(product: str) -> dict[str, Any]:
        return {
            "resource": "device.property",
            "event": "report",
            "event_time": "20261126T101500Z",
            "notify_data": {
                "header": {
                    "device_id": "dev-1",
                    "product_id": product,
                    "gateway_id": "TTU1",
                    "node_id": "T1",
                },
                "body": {
                    "services": [
                        {
                            "service_id": "Analog",
                            "properties": {"Ua": 230.5, "Ia": 88, "P": 61000, "Vendor": 7},
                            "event_time": "20261126T101500Z",
                        }
                    ]
                },
            },
        }

    result = pipeline.process(deliveries(envelope("ttu-v2"), envelope("other")), "iot")  # fmt: skip
    assert (result.stored, _reasons(result)) == (1, ["unmapped_product"])
    with area.connect() as conn:
        row = conn.execute(text("SELECT ts, v_a_v, i_a_a, p_kw FROM telemetry.dt_reading")).one()
    assert row.ts == NOW - timedelta(minutes=5)
    assert (row.v_a_v, row.i_a_a, row.p_kw) == (230.5, 88.0, 61.0)


def test_unknown_devices_are_listed(pipeline: Pipeline) -> None:
    pipeline.process(deliveries(meter_msg("M-NEW"), meter_msg("M-NEW"), meter_msg("M-OTHER")),
                     "test")  # fmt: skip
    with pipeline.engine.connect() as conn:
        listed = conn.execute(text(
            "SELECT device, count(*) FROM telemetry.quarantine WHERE reason = 'unknown_device' "
            "GROUP BY device ORDER BY device")).all()  # fmt: skip
    assert [tuple(r) for r in listed] == [("M-NEW", 2), ("M-OTHER", 1)]


def test_fast_and_generic_decoding_store_the_same(pipeline: Pipeline, area: Engine) -> None:
    """Interval readings take a typed fast path; a delivery it cannot take (here: an array with
    one malformed element) goes through the generic path. Both must store identical rows."""
    t1, t2 = NOW - timedelta(minutes=5), NOW - timedelta(minutes=20)
    fast = pipeline.process(deliveries([dt_msg(ts=t1, p_kw=81.5), meter_msg("M1", ts=t1)]), "t")
    slow = pipeline.process(
        deliveries([dt_msg(ts=t2, p_kw=81.5), meter_msg("M1", ts=t2), {"v": 1}]), "t"
    )
    assert (fast.stored, fast.quarantined) == (2, 0)
    assert (slow.stored, slow.quarantined) == (2, 1)
    with area.connect() as conn:
        rows = conn.execute(text("SELECT * FROM telemetry.dt_reading ORDER BY ts")).all()
        meters = conn.execute(text("SELECT * FROM telemetry.meter_reading ORDER BY ts")).all()
    strip = lambda r: tuple(v for k, v in r._mapping.items() if k not in ("ts", "received_at"))  # noqa: E731
    assert strip(rows[0]) == strip(rows[1])
    assert strip(meters[0]) == strip(meters[1])


def test_two_writers_of_one_source_do_not_wait_for_each_others_counter(area: Engine) -> None:
    """Two ingest processes reading one source (a Kafka topic) each count into a row of their
    own: a batch whose transaction is still open (here: held in a hook) does not hold up the
    other's batch, and the counts of both add up."""
    holding, release = threading.Event(), threading.Event()

    def hold(_conn: Any, _batch: Any) -> None:
        holding.set()
        assert release.wait(60)

    first, second = Pipeline(area, clock=lambda: NOW), Pipeline(area, clock=lambda: NOW)
    first.hooks.append(hold)
    a = threading.Thread(target=first.process, args=(deliveries([meter_msg("M1")]), "kafka://t"))
    a.start()
    try:
        assert holding.wait(60)
        done = threading.Event()
        b = threading.Thread(target=lambda: (second.process(deliveries([meter_msg("M2")]),
                                                            "kafka://t"), done.set()))  # fmt: skip
        b.start()
        b.join(60)
        assert done.is_set(), "the second writer waited for the first one's counter row"
    finally:
        release.set()
        a.join(60)
    assert counter(area, "kafka://t") | {"updated_at": None} == {
        "source": "kafka://t", "received": 2, "stored": 2, "quarantined": 0, "duplicates": 0,
        "updated_at": None}  # fmt: skip
