"""The alarm engine on the ingest pipeline: durations, hysteresis (no flapping), replays and two
concurrent pipelines (one alarm), the offline timer, the last gasp (outage), threshold
inheritance through the API (next batch, audited), contextual advice and links."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import text

from e200 import alarms
from e200.bus import Delivery
from e200.telemetry import Pipeline
from tests.terminal.conftest import build_areas, engine_of

STEP = timedelta(minutes=15)
V_PHASE = 400 / 3**0.5  # build_areas: 400 kVA, 400 V
T0 = (datetime.now(UTC) - timedelta(hours=20)).replace(minute=0, second=0, microsecond=0)


def _dt(k: int, device: str = "T1", terminal: str = "TTU1", *, loading: float = 50.0,
        v_pu: float = 1.0, **extra: float) -> dict[str, Any]:  # fmt: skip
    s = 400 * loading / 100
    i = s * 1000 / (3 * V_PHASE * v_pu)
    values: dict[str, float] = {
        "v_a_v": round(V_PHASE * v_pu + 0.1 * (k % 3), 2), "v_b_v": round(V_PHASE * v_pu, 2),
        "v_c_v": round(V_PHASE * v_pu - 0.1 * (k % 2), 2), "i_a_a": i, "i_b_a": i, "i_c_a": i,
        "p_kw": s * 0.95, "q_kvar": s * 0.31, "s_kva": s, "pf": 0.95, "freq_hz": 50.0,
        "thd_v_pct": 2.0, "thd_i_pct": 8.0, "oil_temp_c": 50.0, "amb_temp_c": 20.0,
        "humidity_pct": 60.0,
    }  # fmt: skip
    values.update(extra)
    ts = (T0 + STEP * k).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"v": 1, "type": "dt_interval", "terminal": terminal, "device": device, "ts": ts,
            "interval_min": 15, "values": values}  # fmt: skip


def _ingest(pipeline: Pipeline, *messages: dict[str, Any]) -> None:
    result = pipeline.process([Delivery(orjson.dumps(list(messages)), "test", "t#1")], "test")
    assert result.quarantined == 0, result.rejected


def _alarms(client: TestClient, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get(
        "/api/v1/alarms", params={"limit": "1000", **params}
    ).json()["items"]
    return items


def _pipeline(client: TestClient) -> Pipeline:
    pipeline: Pipeline = client.app.state.pipeline  # type: ignore[attr-defined]
    return pipeline


def test_overload_needs_two_intervals_and_records_start_peak_last(client: TestClient) -> None:
    build_areas(engine_of(client))
    pipe = _pipeline(client)
    _ingest(pipe, _dt(0, loading=60), _dt(1, loading=110))
    assert not _alarms(client, rule="overload")  # one interval is not enough
    _ingest(pipe, _dt(2, loading=125))
    [alarm] = _alarms(client, rule="overload")
    assert alarm["state"] == "active" and alarm["started_at"].startswith(
        (T0 + STEP).strftime("%Y-%m-%dT%H:%M")
    )
    _ingest(pipe, _dt(3, loading=118), _dt(4, loading=112))
    [alarm] = _alarms(client, rule="overload")
    assert (alarm["peak_value"], alarm["last_value"]) == (125.0, 112.0)
    assert alarm["details"]["threshold"] == 100.0
    assert alarm["advice"]["causes"] and alarm["advice"]["checks"]
    link = alarm["advice"]["links"]["readings"]
    assert link.startswith("/api/v1/devices/T1/readings?from=") and "quantities=" in link
    assert client.get(link).status_code == 200
    # Clears after 2 intervals inside the band (≤ 95 %), not at the first value below 100 %.
    _ingest(pipe, _dt(5, loading=97), _dt(6, loading=90))
    assert _alarms(client, rule="overload")[0]["state"] == "active"
    _ingest(pipe, _dt(7, loading=80))
    [alarm] = _alarms(client, rule="overload")
    assert alarm["state"] == "cleared" and alarm["duration_s"] == 6 * STEP.total_seconds()
    # History is kept: a new episode is a new alarm.
    _ingest(pipe, _dt(8, loading=140), _dt(9, loading=140))
    assert [a["state"] for a in _alarms(client, rule="overload")] == ["active", "cleared"]
    assert [a["rule"] for a in _alarms(client, rule="severe_overload")] == ["severe_overload"]


def test_a_value_oscillating_around_the_threshold_does_not_flap(client: TestClient) -> None:
    build_areas(engine_of(client))
    pipe = _pipeline(client)
    # Around 100 % every other interval: never 2 intervals in a row → no overload at all.
    _ingest(pipe, *(_dt(k, loading=101 if k % 2 else 99) for k in range(12)))
    assert not _alarms(client, rule="overload")
    # Once raised, oscillating between 97 and 103 stays one episode (band: ≤ 95 %).
    _ingest(pipe, _dt(12, loading=105), _dt(13, loading=105))
    for k in range(14, 30):
        _ingest(pipe, _dt(k, loading=103 if k % 2 else 97))
    [alarm] = _alarms(client, rule="overload")
    assert alarm["state"] == "active"
    # Voltage around the upper limit: one over-voltage episode, not one per crossing.
    for k in range(30, 40):
        _ingest(pipe, _dt(k, v_pu=1.075 if k % 2 else 1.065))
    assert len(_alarms(client, rule="over_voltage")) == 1


def test_replays_and_two_concurrent_pipelines_make_one_alarm(client: TestClient) -> None:
    engine = engine_of(client)
    build_areas(engine)
    batches = [[_dt(k, loading=120, device=d, terminal=t) for d, t in (("T1", "TTU1"),
                                                                        ("T3", "TTU3"))]
               for k in range(6)]  # fmt: skip
    pipes = [Pipeline(engine), Pipeline(engine)]  # two ingest processes
    for pipe in pipes:
        pipe.hooks.append(alarms.AlarmEngine())
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(pipe: Pipeline) -> None:
        try:
            for batch in batches:
                barrier.wait()
                _ingest(pipe, *batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in pipes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for device in ("T1", "T3"):
        found = _alarms(client, rule="overload", device=device)
        assert len(found) == 1 and found[0]["state"] == "active", found
    # The same messages again (at-least-once redelivery): nothing new, nothing cleared.
    _ingest(pipes[0], *batches[2], *batches[3])
    assert len(_alarms(client, rule="overload")) == 2
    assert all(a["state"] == "active" for a in _alarms(client, rule="overload"))


def _at(pipe: Pipeline, when: datetime) -> None:
    """Deliveries from now on arrive at ``when`` (the pipeline's clock)."""
    pipe.clock = lambda: when


def test_offline_timer_raises_without_a_message_and_a_report_clears(client: TestClient) -> None:
    engine = engine_of(client)
    build_areas(engine)
    pipe = _pipeline(client)
    late = timedelta(seconds=30)
    _at(pipe, T0 + late)
    _ingest(pipe, _dt(0), _dt(0, device="T3", terminal="TTU3"))
    _at(pipe, T0 + STEP + late)
    _ingest(pipe, _dt(1, device="T3", terminal="TTU3"))
    timer = alarms.AlarmEngine()
    with engine.begin() as conn:
        assert timer.check_offline(conn, now=T0 + late + STEP * 2.9) == 0  # 2.9 intervals silent
        assert timer.check_offline(conn, now=T0 + late + STEP * 3) == 1  # TTU1: 3 intervals
        assert timer.check_offline(conn, now=T0 + late + STEP * 3.5) == 0  # already raised
    [offline] = _alarms(client, rule="terminal_offline")
    assert offline["asset_number"] == "TTU1" and offline["device_kind"] == "terminal"
    assert offline["started_at"].startswith((T0 + late + STEP * 3).strftime("%Y-%m-%dT%H:%M"))
    _at(pipe, T0 + STEP * 4 + late)
    _ingest(pipe, _dt(4))
    [offline] = _alarms(client, rule="terminal_offline")
    assert offline["state"] == "cleared"


def test_liveness_is_arrival_time_so_a_backlog_raises_no_offline_alarm(
    client: TestClient,
) -> None:
    """Readings stamped hours ago that arrive now (an ingest restarted on a backlog, a terminal
    sending what it buffered through an uplink outage) are a terminal heard from now: the timer
    raises nothing, also while the backlog is read batch by batch, and the newest message time
    is still recorded."""
    engine = engine_of(client)
    build_areas(engine)
    pipe = _pipeline(client)
    now = T0 + STEP * 40  # the readings below are 10 hours old
    timer = alarms.AlarmEngine()
    for k in range(0, 8, 2):  # the backlog in batches, 15 s apart
        _at(pipe, now + timedelta(seconds=15 * k))
        _ingest(pipe, _dt(k), _dt(k + 1), _dt(k, device="T3", terminal="TTU3"))
        with engine.begin() as conn:
            assert timer.check_offline(conn, now=now + timedelta(seconds=15 * k + 10)) == 0
    assert _alarms(client, rule="terminal_offline") == []
    with engine.begin() as conn:
        live = alarms.terminal_liveness(conn)
        assert {v.heard_at for v in live.values()} == {now + timedelta(seconds=90)}
        # still silent only k × 15 min after the last delivery arrived
        assert timer.check_offline(conn, now=now + timedelta(seconds=90) + STEP * 3) == 2


def test_a_replay_stamped_in_the_past_does_not_move_liveness_back(client: TestClient) -> None:
    """A replay that claims its deliveries arrived long ago (the simulator's history) leaves a
    newer arrival as it is: a live terminal does not turn silent because history is loaded."""
    engine = engine_of(client)
    build_areas(engine)
    pipe = _pipeline(client)
    now = T0 + STEP * 40
    _at(pipe, now)
    _ingest(pipe, _dt(39))
    _at(pipe, T0 + timedelta(seconds=30))
    _ingest(pipe, _dt(0))
    with engine.begin() as conn:
        [live] = alarms.terminal_liveness(conn).values()
        assert live.heard_at == now
        assert alarms.AlarmEngine().check_offline(conn, now=now + STEP) == 0


def test_the_timer_clears_an_offline_alarm_once_the_terminal_is_heard_from_again(
    client: TestClient,
) -> None:
    """An offline alarm raised while a batch of the terminal was being stored (the batch did
    not see it to clear it) is cleared by the timer's next run."""
    engine = engine_of(client)
    build_areas(engine)
    pipe = _pipeline(client)
    _at(pipe, T0)
    _ingest(pipe, _dt(0))
    timer = alarms.AlarmEngine()
    with engine.begin() as conn:
        assert timer.check_offline(conn, now=T0 + STEP * 4) == 1
    with engine.begin() as conn:  # heard from again, the batch's clear not applied
        conn.execute(text("UPDATE telemetry.terminal_liveness SET last_seen_at = :t"),
                     {"t": T0 + STEP * 4 + timedelta(seconds=5)})  # fmt: skip
    with engine.begin() as conn:
        assert timer.check_offline(conn, now=T0 + STEP * 4 + timedelta(seconds=30)) == 0
    [offline] = _alarms(client, rule="terminal_offline")
    assert offline["state"] == "cleared"


def _event(at: datetime, device: str, event: str) -> dict[str, Any]:
    return {"v": 1, "type": "event", "device": device,
            "ts": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "event": event}  # fmt: skip


def test_a_terminals_last_gasp_raises_outage_on_its_transformer_and_power_up_clears(
    client: TestClient,
) -> None:
    build_areas(engine_of(client))
    pipe = _pipeline(client)
    down, up = T0 + STEP + timedelta(minutes=4), T0 + STEP * 9 + timedelta(minutes=2)
    _ingest(pipe, _dt(0), _dt(1))
    _ingest(pipe, _event(down, "TTU1", "power_down"), _event(down, "M1", "power_down"))
    [outage] = _alarms(client, rule="outage")  # on T1 only: a meter's gasp is no DT outage
    assert (outage["asset_number"], outage["state"]) == ("T1", "active")
    assert outage["started_at"].startswith(down.strftime("%Y-%m-%dT%H:%M"))
    assert outage["details"]["source"] == "last_gasp" and "last gasp" in outage["message"]
    _ingest(pipe, _event(up, "TTU1", "power_up"))
    [outage] = _alarms(client, rule="outage")
    assert outage["state"] == "cleared" and outage["cleared_at"].startswith(
        up.strftime("%Y-%m-%dT%H:%M")
    )
    # A lost power-up: the first reading with voltage clears the outage.
    _ingest(pipe, _event(up + STEP * 2, "TTU1", "power_down"))
    _ingest(pipe, _dt(13))
    assert [a["state"] for a in _alarms(client, rule="outage")] == ["cleared", "cleared"]


def test_threshold_inheritance_takes_effect_on_the_next_batch_and_is_audited(
    client: TestClient,
) -> None:
    build_areas(engine_of(client))
    pipe = _pipeline(client)
    base = "/api/v1/alarm-thresholds"
    got = {t["rule"]: t for t in client.get(f"{base}/transformers/T1").json()}
    assert got["heavy_load"]["value"] == 80.0 and got["heavy_load"]["origin"] == "default"
    assert got["outage"]["value"] == 60.0 and got["outage"]["unit"] == "%"
    # Org unit A (T1, T2) lowers heavy load to 50 %; B (T3) keeps the default.
    r = client.put(f"{base}/org-units/A/heavy_load", json={"value": 50})
    assert r.status_code == 200, r.text
    got = {t["rule"]: t for t in client.get(f"{base}/transformers/T1").json()}
    assert (got["heavy_load"]["value"], got["heavy_load"]["origin"],
            got["heavy_load"]["origin_key"]) == (50.0, "org_unit", "A")  # fmt: skip
    _ingest(pipe, *(_dt(k, loading=60, device=d, terminal=t) for k in range(2)
                    for d, t in (("T1", "TTU1"), ("T2", "TTU2"), ("T3", "TTU3"))))  # fmt: skip
    assert sorted(a["asset_number"] for a in _alarms(client, rule="heavy_load")) == ["T1", "T2"]
    # The transformer level wins over the org unit: T2 back to 90 % → it clears.
    assert client.put(f"{base}/transformers/T2/heavy_load", json={"value": 90}).status_code == 200
    _ingest(pipe, *(_dt(k, loading=60, device="T2", terminal="TTU2") for k in (2, 3)))
    states = {a["asset_number"]: a["state"] for a in _alarms(client, rule="heavy_load")}
    assert states == {"T1": "active", "T2": "cleared"}
    # Outside the allowed range, unknown rules and terminal rules per transformer are refused.
    assert client.put(f"{base}/org-units/A/outage", json={"value": 90}).status_code == 422
    assert client.put(f"{base}/org-units/A/nope", json={"value": 1}).status_code == 404
    assert client.put(f"{base}/transformers/T1/terminal_offline",
                      json={"value": 4}).status_code == 422  # fmt: skip
    # Clearing the override inherits again (idempotent).
    for _ in range(2):
        r = client.delete(f"{base}/transformers/T2/heavy_load")
        got = {t["rule"]: t for t in r.json()}
        assert r.status_code == 200 and got["heavy_load"]["origin"] == "org_unit"
    audit = client.get("/api/v1/audit", params={"limit": "100"}).json()["items"]
    actions = [a["action"] for a in audit if a["outcome"] == "success"]
    assert sum(a["outcome"] != "success" for a in audit) == 3  # refused changes are audited too
    assert actions.count("set_threshold") == 2 and actions.count("clear_threshold") == 2
    org_audit = next(a for a in audit if a["action"] == "set_threshold"
                     and a["detail"]["request"]["rule"] == "heavy_load"
                     and a["detail"]["request"]["key"] == "A")  # fmt: skip
    assert org_audit["detail"]["request"]["value"] == 50


def test_advice_reads_the_context(client: TestClient) -> None:
    engine = alarms.AlarmEngine(timezone="UTC")
    spec = alarms.RULES_BY_KEY
    rating = {"v_phase": V_PHASE, "s_rated": 400.0, "i_rated": 577.0,
              "no_load_loss_kw": 0.6, "load_loss_kw": 4.3}  # fmt: skip
    evening = datetime(2026, 6, 15, 19, 0, tzinfo=UTC)
    unbalanced = alarms.Reading(evening, 15, {"i_a_a": 700.0, "i_b_a": 400.0, "i_c_a": 300.0,
                                              "s_kva": 430.0}, rating)  # fmt: skip
    advice = engine.advice(spec["overload"], "T1", unbalanced, evening)
    assert any("rebalance phases" in c for c in advice["context"])
    noon = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
    pv = alarms.Reading(noon, 15, {"v_a_v": 250.0, "p_kw": -80.0}, rating)
    advice = engine.advice(spec["over_voltage"], "T1", pv, noon)
    assert any("PV export" in c and "tap position" in c for c in advice["context"])
    assert "v_a_v" in advice["links"]["readings"] and "p_kw" in advice["links"]["readings"]


def test_buffered_frozen_readings_do_not_raise_stale_until_a_fresh_one_does(
    client: TestClient,
) -> None:
    """``stale_quantity`` says the measurement is frozen *now*: readings a terminal buffered
    (arriving hours after their interval) are counted but raise nothing; the first reading that
    arrives on time and is still frozen raises it, started when the freeze began."""
    build_areas(engine_of(client))
    pipe = _pipeline(client)
    frozen = {"v_a_v": 231.0, "v_c_v": 230.5}
    _at(pipe, T0 + STEP * 40)  # 6 frozen intervals, ten hours late
    _ingest(pipe, *(_dt(k, **frozen) for k in range(6)))
    assert _alarms(client, rule="stale_quantity") == []
    _at(pipe, T0 + STEP * 6 + timedelta(seconds=30))
    _ingest(pipe, _dt(6, **frozen))
    [stale] = _alarms(client, rule="stale_quantity")
    assert stale["state"] == "active"
    assert stale["started_at"].startswith(T0.strftime("%Y-%m-%dT%H:%M"))
