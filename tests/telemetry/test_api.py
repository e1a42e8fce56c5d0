"""Telemetry over the REST API: HTTP ingest, latest values, curves, liveness, quarantine."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from e200.kernel import utc_now
from tests.telemetry.conftest import build_area


def _ts(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _grid_end() -> datetime:
    now = utc_now()
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


def test_http_ingest_then_read_curves_latest_and_liveness(client: TestClient) -> None:
    build_area(client.app.state.engine)  # type: ignore[attr-defined]
    end = _grid_end()
    batch: list[dict[str, Any]] = [
        {"v": 1, "type": "dt_interval", "terminal": "TTU1", "device": "T1",
         "ts": _ts(end - timedelta(minutes=15 * i)), "interval_min": 15,
         "values": {"v_a_v": 230.0 + i, "p_kw": 50.0 + i, "e_imp_kwh": 1000.0 - i}}
        for i in range(8)
    ]  # fmt: skip
    batch.append({"v": 1, "type": "meter_interval", "device": "NOPE", "ts": _ts(end),
                  "interval_min": 15, "values": {"v_v": 230.0}})  # fmt: skip
    answer = client.post("/api/v1/ingest", json=batch).json()
    assert (answer["received"], answer["stored"], answer["quarantined"]) == (9, 8, 1)
    assert answer["rejected"][0]["reason"] == "unknown_device"
    assert answer["rejected"][0]["device"] == "NOPE"

    curve = client.get("/api/v1/devices/T1/readings", params={"quantities": "v_a_v,p_kw"}).json()
    assert curve["quantities"] == ["v_a_v", "p_kw"]
    assert len(curve["ts"]) == 8
    assert curve["values"]["v_a_v"] == [230.0 + i for i in reversed(range(8))]
    bad = client.get("/api/v1/devices/T1/readings", params={"quantities": "colour"})
    assert bad.status_code == 422 and bad.json()["field"] == "quantities"

    latest = client.get("/api/v1/devices/T1/latest").json()
    assert latest["values"]["v_a_v"] == 230.0 and latest["ts"] == _ts(end)
    live = client.get("/api/v1/devices/TTU1/latest").json()
    assert live["online"] is True and live["offline_after_min"] == 45
    assert client.get("/api/v1/devices/M404/latest").status_code == 404

    counters = client.get("/api/v1/ingest/counters").json()
    assert counters == [{**counters[0], "source": "http", "received": 9, "stored": 8,
                         "quarantined": 1, "duplicates": 0}]  # fmt: skip
    summary = client.get("/api/v1/ingest/quarantine/summary").json()
    assert [(s["reason"], s["count"]) for s in summary] == [("unknown_device", 1)]
    entries = client.get("/api/v1/ingest/quarantine", params={"reason": "unknown_device"}).json()
    assert '"NOPE"' in entries[0]["payload"]
    unknown = client.get("/api/v1/ingest/unknown-devices").json()
    assert [(u["device"], u["messages"]) for u in unknown] == [("NOPE", 1)]


def test_malformed_http_body_is_quarantined_not_refused(client: TestClient) -> None:
    answer = client.post("/api/v1/ingest", content=b"\x00\xffgarbage").json()
    assert (answer["received"], answer["quarantined"]) == (1, 1)
    assert answer["rejected"][0]["reason"] == "malformed_json"


def test_schemas_are_published_and_documented(client: TestClient) -> None:
    from pathlib import Path

    schemas = client.get("/api/v1/ingest/schemas").json()
    assert set(schemas) == {"dt_interval", "meter_interval", "meter_daily", "event",
                            "terminal_meters", "command_ack"}  # fmt: skip
    assert "v_a_v" in schemas["dt_interval"]["properties"]["values"]["properties"]
    doc = (Path(__file__).resolve().parents[2] / "docs" / "telemetry.md").read_text()
    for name, schema in schemas.items():  # the published contract is the code's, exactly
        block = doc.split(f"### `{name}`\n```json\n", 1)[1].split("\n```", 1)[0]
        assert json.loads(block) == schema, f"docs/telemetry.md is stale for {name}"


def test_readings_default_to_the_last_seven_days(client: TestClient) -> None:
    build_area(client.app.state.engine)  # type: ignore[attr-defined]
    end = _grid_end()
    old = end - timedelta(days=8)
    batch = [{"v": 1, "type": "meter_interval", "device": "M1", "ts": _ts(t), "interval_min": 15,
              "values": {"v_v": 229.0}} for t in (old, end)]  # fmt: skip
    assert client.post("/api/v1/ingest", json=batch).json()["stored"] == 2
    curve = client.get("/api/v1/devices/M1/readings").json()
    assert curve["ts"] == [_ts(end)]
    both = client.get("/api/v1/devices/M1/readings",
                      params={"from": _ts(old - timedelta(minutes=1))}).json()  # fmt: skip
    assert len(both["ts"]) == 2
    assert datetime.fromisoformat(both["from"]) < old.replace(tzinfo=UTC)
