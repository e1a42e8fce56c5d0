"""Transformer monitoring on known readings: derived values, status, the fleet's scope and the
reporting-interval commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from e200 import archives
from e200.archives import KINDS, FeederIn, OrgUnitIn, SubstationIn, TerminalIn, TransformerIn
from e200.bus import Delivery
from e200.kernel import Scope
from tests.users import api_key, make_user

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
# region -> transformers (each with terminal TTU-<n>)
REGIONS = {"A": ("T1", "T2", "T3"), "B": ("T4",)}


def build(engine: Engine) -> None:
    everything = Scope.everything()
    with engine.begin() as conn:
        archives.create_org_unit(conn, OrgUnitIn(code="CO", name="Co", kind="company"), everything)
        for region, trafos in REGIONS.items():
            archives.create_org_unit(
                conn, OrgUnitIn(code=region, name=region, kind="region", parent="CO"), everything
            )
            archives.create_asset(
                conn,
                KINDS["substation"],
                SubstationIn(asset_number=f"SS-{region}", org_unit=region, valid_from=SINCE),
                everything,
            )
            archives.create_asset(
                conn,
                KINDS["feeder"],
                FeederIn(asset_number=f"F-{region}", substation=f"SS-{region}", valid_from=SINCE),
                everything,
            )
            for i, t in enumerate(trafos):
                data = TransformerIn(
                    asset_number=t, rated_kva=400, primary_rated_kv=10, secondary_rated_v=400,
                    no_load_loss_kw=0.5, load_loss_kw=4.0, lat=-1.28 + i / 100, lon=36.8,
                    feeder=f"F-{region}", valid_from=SINCE,
                )  # fmt: skip
                archives.create_asset(conn, KINDS["transformer"], data, everything)
                archives.create_asset(
                    conn,
                    KINDS["terminal"],
                    TerminalIn(asset_number=f"TTU-{t}", transformer=t, valid_from=SINCE),
                    everything,
                )


def _grid_end() -> datetime:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=now.minute % 15)


def reading(trafo: str, values: dict[str, float], ts: datetime | None = None) -> dict[str, Any]:
    stamp = (ts or _grid_end()).isoformat().replace("+00:00", "Z")
    return {"v": 1, "type": "dt_interval", "terminal": f"TTU-{trafo}", "device": trafo,
            "ts": stamp, "interval_min": 15, "values": values}  # fmt: skip


def ingest(client: TestClient, *messages: dict[str, Any]) -> None:
    pipeline = client.app.state.pipeline  # type: ignore[attr-defined]
    result = pipeline.process([Delivery(orjson.dumps(list(messages)), "test", "t#1")], "test")
    assert result.quarantined == 0, result.rejected


KNOWN = {
    "v_a_v": 230.0, "v_b_v": 232.0, "v_c_v": 228.0,
    "i_a_a": 300.0, "i_b_a": 360.0, "i_c_a": 240.0, "i_n_a": 30.0,
    "p_kw": 192.0, "q_kvar": 56.0, "s_kva": 200.0, "pf": 0.96, "freq_hz": 50.01,
    "e_imp_kwh": 12345.0, "e_exp_kwh": 10.0, "eq_kvarh": 2345.0,
    "thd_v_pct": 2.5, "thd_i_pct": 8.0, "oil_temp_c": 55.0, "amb_temp_c": 24.0,
    "humidity_pct": 61.0,
}  # fmt: skip


@pytest.fixture()
def world(client: TestClient) -> TestClient:
    build(client.app.state.engine)  # type: ignore[attr-defined]
    ingest(
        client,
        reading("T1", KNOWN),
        reading("T2", {**KNOWN, "s_kva": 440.0}),
        reading("T3", {"v_a_v": 4.0, "v_b_v": 3.0, "v_c_v": 5.0, "s_kva": 0.0}),
        reading("T4", KNOWN),
    )
    return client


def test_latest_values_and_derived_quantities(world: TestClient) -> None:
    t1 = world.get("/api/v1/monitoring/transformers/T1").json()
    assert t1["status"] == "online"
    assert t1["values"] == KNOWN  # every electrical and environmental quantity
    assert t1["derived"] == {
        "loading_pct": 50.0,  # 200 / 400 kVA
        "current_unbalance_pct": 20.0,  # (360 − 300) / 300, at ≥ 20 % of rated current
        "loss_kw": 1.5,  # 0.5 + 4.0 × 0.5²
        "v_min_v": 228.0,
        "v_max_v": 232.0,
        "loading_level": "normal",
    }
    assert t1["last_report_at"] is not None and t1["reading_ts"] is not None
    assert (t1["feeder"], t1["terminal"], t1["org_unit"]) == ("F-A", "TTU-T1", "A")
    t2 = world.get("/api/v1/monitoring/transformers/T2").json()
    assert t2["derived"]["loading_pct"] == 110.0
    assert t2["derived"]["loss_kw"] == pytest.approx(0.5 + 4.0 * 1.1**2, abs=1e-3)


def _silent(engine: Engine, trafo: str, minutes: int) -> None:
    """Make a transformer's terminal and readings look last heard of ``minutes`` ago."""
    ago = {"ago": timedelta(minutes=minutes), "t": trafo, "term": f"TTU-{trafo}"}
    with engine.begin() as conn:
        conn.execute(text("UPDATE telemetry.terminal_liveness SET last_seen_at = now() - :ago "
                          "WHERE terminal_id = (SELECT id FROM archives.terminal "
                          "WHERE asset_number = :term)"), ago)  # fmt: skip
        conn.execute(text("UPDATE telemetry.dt_reading SET received_at = now() - :ago "
                          "WHERE transformer_id = (SELECT id FROM archives.transformer "
                          "WHERE asset_number = :t)"), ago)  # fmt: skip


def test_status_online_offline_and_out_of_supply(world: TestClient) -> None:
    engine: Engine = world.app.state.engine  # type: ignore[attr-defined]
    assert world.get("/api/v1/monitoring/transformers/T3").json()["status"] == "out_of_supply"
    # T2's terminal silent for 46 min > 3 × 15 min: offline (k: the terminal_offline threshold)
    _silent(engine, "T2", 46)
    t2 = world.get("/api/v1/monitoring/transformers/T2").json()
    assert t2["status"] == "offline" and "3 × 15 min" in t2["status_reason"]
    _silent(engine, "T2", 44)  # 44 min is still within 3 intervals
    assert world.get("/api/v1/monitoring/transformers/T2").json()["status"] == "online"
    fleet = world.get("/api/v1/monitoring/fleet").json()
    assert fleet["by_status"] == {"online": 3, "out_of_supply": 1}


def test_a_transformer_that_never_reported_is_offline(client: TestClient) -> None:
    build(client.app.state.engine)  # type: ignore[attr-defined]
    t1 = client.get("/api/v1/monitoring/transformers/T1").json()
    assert (t1["status"], t1["status_reason"], t1["values"]) == ("offline", "never reported", {})


def test_fleet_lists_only_in_scope_transformers_sorted(world: TestClient) -> None:
    engine: Engine = world.app.state.engine  # type: ignore[attr-defined]
    make_user(engine, "viewer-a", roles=("viewer",), org_units=("A",))
    headers = {"X-API-Key": api_key(engine, "viewer-a")}
    fleet = world.get("/api/v1/monitoring/fleet", params={"sort": "-loading_pct"},
                      headers=headers).json()  # fmt: skip
    assert fleet["total"] == 3
    assert [i["asset_number"] for i in fleet["items"]] == ["T2", "T1", "T3"]
    assert fleet["items"][0]["lat"] == pytest.approx(-1.27)
    assert world.get("/api/v1/monitoring/transformers/T4", headers=headers).status_code == 404
    assert world.get("/api/v1/monitoring/fleet", params={"org_unit": "B"},
                     headers=headers).status_code == 404  # fmt: skip
    everything = world.get("/api/v1/monitoring/fleet", params={"limit": 2, "offset": 2}).json()
    assert everything["total"] == 4 and [i["asset_number"] for i in everything["items"]] == [
        "T3", "T4"]  # fmt: skip
    assert world.get("/api/v1/monitoring/fleet", params={"sort": "nope"}).status_code == 422


def test_reporting_interval_commands_are_pending_until_acked(world: TestClient) -> None:
    answer = world.post("/api/v1/monitoring/reporting-interval",
                        json={"org_unit": "A", "interval_min": 5})  # fmt: skip
    assert answer.status_code == 202, answer.text
    commands = answer.json()["commands"]
    assert [c["terminal"] for c in commands] == ["TTU-T1", "TTU-T2", "TTU-T3"]
    assert {(c["status"], c["interval_min"], c["archive_interval_min"]) for c in commands} == {
        ("pending", 5, 15)}  # fmt: skip
    listed = world.get("/api/v1/terminals/TTU-T1/commands").json()
    assert [(c["kind"], c["status"]) for c in listed] == [("set_interval", "pending")]
    # The terminal's ack closes it and changes the archive's interval.
    ingest(world, {"v": 1, "type": "command_ack", "terminal": "TTU-T1",
                   "command_id": commands[0]["command_id"], "status": "ok"})  # fmt: skip
    t1 = world.get("/api/v1/monitoring/transformers/T1").json()
    assert t1["reporting_interval_min"] == 5
    one = world.post("/api/v1/monitoring/reporting-interval",
                     json={"terminal": "TTU-T4", "interval_min": 60}).json()  # fmt: skip
    assert [(c["terminal"], c["status"]) for c in one["commands"]] == [("TTU-T4", "pending")]
    for wrong in ({"terminal": "TTU-T4", "org_unit": "A", "interval_min": 60},
                  {"terminal": "TTU-T4", "interval_min": 10}):  # fmt: skip
        assert world.post("/api/v1/monitoring/reporting-interval", json=wrong).status_code == 422
