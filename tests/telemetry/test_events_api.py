"""Device events over the REST API: ingested through POST /api/v1/ingest, read back per device
filtered by time and kind, newest first, and only within the caller's scope."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from e200 import archives
from e200.kernel import Scope, utc_now
from tests.telemetry.conftest import build_area
from tests.users import api_key, make_user


def _ts(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _event(device: str, ts: datetime, event: str, detail: Any = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"v": 1, "type": "event", "device": device, "ts": _ts(ts),
                           "event": event}  # fmt: skip
    if detail is not None:
        msg["detail"] = detail
    return msg


def _at(answer: dict[str, Any]) -> list[tuple[datetime, str]]:
    return [(datetime.fromisoformat(e["ts"].replace("Z", "+00:00")), e["event"])
            for e in answer["events"]]  # fmt: skip


def test_events_are_read_back_by_time_and_kind_within_scope(client: TestClient,
                                                            engine: Engine) -> None:  # fmt: skip
    build_area(engine)
    with engine.begin() as conn:  # region B under the company: its users do not see M1
        region = archives.OrgUnitIn(code="B", name="B", kind="region", parent="CO")
        archives.create_org_unit(conn, region, Scope.everything())
    now = utc_now().replace(microsecond=0)
    down, up = now - timedelta(hours=2), now - timedelta(hours=1, minutes=58)
    old = now - timedelta(days=9)
    batch = [
        _event("M1", down, "power_down", {"last_gasp": True}),
        _event("M1", up, "power_up"),
        _event("M1", now - timedelta(minutes=30), "cover_open", "terminal cover"),
        _event("M1", old, "clock_error"),
        _event("M2", down, "power_down"),
        _event("T1", down, "phase_loss", {"phase": "B"}),
    ]
    answer = client.post("/api/v1/ingest", json=batch).json()
    assert (answer["stored"], answer["quarantined"]) == (6, 0), answer

    # Default window: the last 7 days, newest first, only this meter's events.
    week = client.get("/api/v1/devices/M1/events").json()
    assert week["kind"] == "meter" and week["truncated"] is False
    assert _at(week) == [(now - timedelta(minutes=30), "cover_open"), (up, "power_up"),
                         (down, "power_down")]  # fmt: skip
    assert week["events"][0]["detail"] == "terminal cover"
    assert week["events"][2]["detail"] == {"last_gasp": True}

    # A window [from, to) and kinds.
    window = {"from": _ts(old - timedelta(minutes=1)), "to": _ts(up)}
    both = client.get("/api/v1/devices/M1/events", params=window).json()
    assert _at(both) == [(down, "power_down"), (old, "clock_error")]
    kinds = client.get("/api/v1/devices/M1/events",
                       params={**window, "kind": "clock_error,phase_loss"}).json()  # fmt: skip
    assert _at(kinds) == [(old, "clock_error")]
    limited = client.get("/api/v1/devices/M1/events", params={"limit": 1}).json()
    assert _at(limited) == [(now - timedelta(minutes=30), "cover_open")]
    assert limited["truncated"] is True
    transformer = client.get("/api/v1/devices/T1/events").json()
    assert transformer["kind"] == "transformer"
    assert [(e["event"], e["detail"]) for e in transformer["events"]] == [
        ("phase_loss", {"phase": "B"})]  # fmt: skip

    bad = client.get("/api/v1/devices/M1/events", params={"kind": "explosion"})
    assert bad.status_code == 422 and bad.json()["field"] == "kind"
    reversed_window = {"from": _ts(now), "to": _ts(now - timedelta(hours=1))}
    bad = client.get("/api/v1/devices/M1/events", params=reversed_window)
    assert bad.status_code == 422 and bad.json()["field"] == "from"
    assert client.get("/api/v1/devices/M404/events").status_code == 404

    # Scope: a viewer of region B does not see M1 (404, as if it did not exist); of CO does.
    make_user(engine, "b_viewer", roles=("viewer",), org_units=("B",))
    make_user(engine, "co_viewer", roles=("viewer",), org_units=("CO",))
    as_b = {"X-API-Key": api_key(engine, "b_viewer")}
    assert client.get("/api/v1/devices/M1/events", headers=as_b).status_code == 404
    assert client.get("/api/v1/devices/T1/events", headers=as_b).status_code == 404
    as_co = {"X-API-Key": api_key(engine, "co_viewer")}
    seen = client.get("/api/v1/devices/M1/events", headers=as_co)
    assert seen.status_code == 200 and len(seen.json()["events"]) == 3
