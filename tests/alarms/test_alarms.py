"""Alarm lifecycle: one not-cleared alarm per device and rule (also under concurrent writers),
peak and last values, clear and raise again with history kept, acknowledge (once), list filters
and paging, and the caller's scope deciding what is visible."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text

from e200 import alarms, archives
from e200.alarms import AlarmOut
from e200.kernel import utc_now
from tests.terminal.conftest import build_areas, engine_of
from tests.users import api_key, make_user


def _ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        refs = {}
        for kind, numbers in (("terminal", ["TTU1", "TTU3"]), ("transformer", ["T1", "T3"]),
                              ("meter", ["M1", "M6"])):  # fmt: skip
            refs |= {n: r.id for n, r in archives.lookup_devices(conn, kind, numbers).items()}
    return refs


def _raise(engine: Engine, kind: str, device: str, rule: str = "overload", **kw: Any
           ) -> tuple[AlarmOut, bool]:  # fmt: skip
    values: dict[str, Any] = {"severity": "major", "message": f"{rule} on {device}"} | kw
    with engine.begin() as conn:
        return alarms.raise_or_update(conn, device_kind=kind, device_id=_ids(engine)[device],
                                      asset_number=device, rule=rule, **values)  # fmt: skip


def test_one_alarm_per_device_and_rule_with_peak_and_last_values(client: TestClient) -> None:
    engine = engine_of(client)
    build_areas(engine)
    advice = {"causes": ["evening peak"], "checks": ["rebalance"]}
    first, raised = _raise(engine, "transformer", "T1", value=105.0, advice=advice)
    assert raised and first.state == "active" and first.peak_value == 105.0
    again, raised = _raise(engine, "transformer", "T1", value=131.0, severity="critical")
    assert not raised and again.id == first.id
    assert (again.peak_value, again.last_value, again.severity) == (131.0, 131.0, "critical")
    lower, _ = _raise(engine, "transformer", "T1", value=110.0)
    assert (lower.peak_value, lower.last_value) == (131.0, 110.0)
    assert lower.advice == {}  # the caller's advice of this raise
    other_rule, raised = _raise(engine, "transformer", "T1", rule="heavy_load")
    assert raised and other_rule.id != first.id
    low, _ = _raise(engine, "meter", "M1", rule="under_voltage", value=190.0, peak="min")
    low, _ = _raise(engine, "meter", "M1", rule="under_voltage", value=180.0, peak="min")
    assert low.peak_value == 180.0
    # Cleared: the next raise is a new episode; the old one stays as history.
    with engine.begin() as conn:
        done = alarms.clear(conn, device_kind="transformer", device_id=_ids(engine)["T1"],
                            rule="overload", value=95.0)  # fmt: skip
        assert done is not None and done.state == "cleared" and done.last_value == 95.0
        assert alarms.clear(conn, device_kind="transformer", device_id=_ids(engine)["T1"],
                            rule="overload") is None  # fmt: skip
    new, raised = _raise(engine, "transformer", "T1", value=101.0)
    assert raised and new.id != first.id
    history = client.get("/api/v1/alarms", params={"device": "T1", "rule": "overload"}).json()
    assert [a["state"] for a in history["items"]] == ["active", "cleared"]


def test_concurrent_writers_never_make_two_alarms(client: TestClient) -> None:
    engine = engine_of(client)
    build_areas(engine)
    device_id = _ids(engine)["TTU1"]
    writers = 8
    barrier = threading.Barrier(writers)
    outcomes: list[bool] = []
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("SELECT 1"))
                barrier.wait(timeout=10)
                _, raised = alarms.raise_or_update(
                    conn, device_kind="terminal", device_id=device_id, asset_number="TTU1",
                    rule="terminal_offline", severity="major", message="offline", value=float(n),
                )  # fmt: skip
            outcomes.append(raised)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert sorted(outcomes) == [False] * (writers - 1) + [True]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*), max(peak_value) FROM alarms.alarm")).one()
    assert tuple(rows) == (1, writers - 1)


def test_acknowledge_once_and_by_whom(client: TestClient) -> None:
    engine = engine_of(client)
    build_areas(engine)
    alarm, _ = _raise(engine, "terminal", "TTU1", rule="terminal_sync_failed")
    acked = client.post(f"/api/v1/alarms/{alarm.id}/acknowledge", json={"comment": "on it"})
    assert acked.status_code == 200, acked.text
    body = acked.json()
    assert (body["state"], body["acknowledged_by"], body["ack_comment"]) == (
        "acknowledged", "admin", "on it")  # fmt: skip
    twice = client.post(f"/api/v1/alarms/{alarm.id}/acknowledge", json={})
    assert twice.status_code == 409 and "admin" in twice.json()["detail"]
    # Still raised while acknowledged: it stays acknowledged, then clears.
    again, raised = _raise(engine, "terminal", "TTU1", rule="terminal_sync_failed")
    assert not raised and again.state == "acknowledged"
    with engine.begin() as conn:
        alarms.clear(conn, device_kind="terminal", device_id=_ids(engine)["TTU1"],
                     rule="terminal_sync_failed")  # fmt: skip
    assert client.get(f"/api/v1/alarms/{alarm.id}").json()["state"] == "cleared"
    # A cleared alarm nobody saw can still be acknowledged; it stays cleared.
    gone, _ = _raise(engine, "meter", "M1", rule="under_voltage")
    with engine.begin() as conn:
        alarms.clear(conn, device_kind="meter", device_id=_ids(engine)["M1"], rule="under_voltage")
    late = client.post(f"/api/v1/alarms/{gone.id}/acknowledge").json()
    assert (late["state"], late["acknowledged_by"]) == ("cleared", "admin")
    assert client.get("/api/v1/alarms/999999").status_code == 404
    audit = client.get("/api/v1/audit", params={"action": "acknowledge_alarm"}).json()["items"]
    assert audit and audit[-1]["detail"]["request"] == {"comment": "on it"}


def test_list_filters_and_paging(client: TestClient) -> None:
    engine = engine_of(client)
    build_areas(engine)
    past = utc_now() - timedelta(days=3)
    _raise(engine, "transformer", "T1", rule="overload", severity="critical", at=past)
    _raise(engine, "transformer", "T3", rule="overload", severity="major")
    _raise(engine, "meter", "M1", rule="under_voltage", severity="minor")
    _raise(engine, "terminal", "TTU3", rule="terminal_sync_failed", severity="major")
    with engine.begin() as conn:
        alarms.clear(conn, device_kind="transformer", device_id=_ids(engine)["T1"],
                     rule="overload", at=past + timedelta(hours=1))  # fmt: skip

    def numbers(**params: Any) -> list[str]:
        body = client.get("/api/v1/alarms", params=params).json()
        return sorted(a["asset_number"] for a in body["items"])

    assert numbers() == ["M1", "T1", "T3", "TTU3"]
    assert numbers(state="active") == ["M1", "T3", "TTU3"]
    assert numbers(state="cleared,acknowledged") == ["T1"]
    assert numbers(severity="major,critical") == ["T1", "T3", "TTU3"]
    assert numbers(rule="overload") == ["T1", "T3"]
    assert numbers(org_unit="B") == ["T3", "TTU3"]
    assert numbers(org_unit="A") == ["M1", "T1"]
    assert numbers(since=(utc_now() - timedelta(days=1)).isoformat()) == ["M1", "T3", "TTU3"]
    assert numbers(until=(utc_now() - timedelta(days=1)).isoformat()) == ["T1"]
    page = client.get("/api/v1/alarms", params={"limit": 2, "offset": 1}).json()
    assert (page["total"], len(page["items"])) == (4, 2)
    newest = client.get("/api/v1/alarms").json()["items"]
    assert newest[-1]["asset_number"] == "T1" and newest[-1]["duration_s"] == 3600.0
    bad = client.get("/api/v1/alarms", params={"state": "open"})
    assert bad.status_code == 422 and bad.json()["field"] == "state"
    unknown_unit = client.get("/api/v1/alarms", params={"org_unit": "NOPE"})
    assert unknown_unit.status_code == 422 and unknown_unit.json()["field"] == "org_unit"


def test_the_devices_org_unit_decides_who_sees_an_alarm(client: TestClient) -> None:
    engine = engine_of(client)
    build_areas(engine)
    theirs, _ = _raise(engine, "meter", "M6", rule="under_voltage")
    mine, _ = _raise(engine, "transformer", "T1")
    make_user(engine, "crew_a", roles=("maintenance_crew",), org_units=("A",))
    headers = {"X-API-Key": api_key(engine, "crew_a")}
    listed = client.get("/api/v1/alarms", headers=headers).json()
    assert [a["asset_number"] for a in listed["items"]] == ["T1"]
    assert client.get(f"/api/v1/alarms/{theirs.id}", headers=headers).status_code == 404
    assert client.post(f"/api/v1/alarms/{theirs.id}/acknowledge",
                       headers=headers).status_code == 404  # fmt: skip
    assert client.get("/api/v1/alarms", headers=headers,
                      params={"org_unit": "B"}).status_code == 422  # fmt: skip
    assert client.post(f"/api/v1/alarms/{mine.id}/acknowledge", headers=headers).status_code == 200
    # The meter moves to region A's unit: its alarm follows it.
    moved = client.post("/api/v1/meters/M6/relations/org_unit", json={"parent": "A"})
    assert moved.status_code == 200, moved.text
    assert client.get(f"/api/v1/alarms/{theirs.id}", headers=headers).status_code == 200
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(text("alarms.alarm"))).scalar() == 2


def test_changes_are_announced_at_commit_and_bulk_acknowledge_reports_each_id(
    client: TestClient,
) -> None:
    """Open consoles learn of a raise, an acknowledgement and a clear through PostgreSQL
    NOTIFY — only once the transaction commits (a rolled-back raise is never announced)."""
    engine = engine_of(client)
    build_areas(engine)
    listener = engine.raw_connection()
    listener.driver_connection.autocommit = True  # type: ignore[union-attr]
    listener.driver_connection.execute(f"LISTEN {alarms.CHANNEL}")  # type: ignore[union-attr]

    def heard() -> list[dict[str, Any]]:
        pg = listener.driver_connection
        return [json.loads(n.payload) for n in pg.notifies(timeout=0.5, stop_after=20)]  # type: ignore[union-attr]

    with engine.connect() as conn:  # rolled back: nothing announced
        alarms.raise_or_update(conn, device_kind="transformer", device_id=_ids(engine)["T3"],
                               asset_number="T3", rule="overload", severity="major",
                               message="never committed")  # fmt: skip
        conn.rollback()
    assert heard() == []
    first, _ = _raise(engine, "transformer", "T1", value=120.0)
    second, _ = _raise(engine, "transformer", "T3", rule="over_voltage")
    _raise(engine, "transformer", "T1", value=125.0)  # an update is not news
    events = heard()
    assert [(e["event"], e["id"], e["asset_number"]) for e in events] == [
        ("raised", first.id, "T1"), ("raised", second.id, "T3")]  # fmt: skip

    counts = client.get("/api/v1/alarms/counts", params={"state": "active"}).json()
    assert counts["by_rule"] == {"overload": 1, "over_voltage": 1} and counts["total"] == 2
    bulk = {"ids": [first.id, second.id, 999_999], "comment": "crew sent"}
    answer = client.post("/api/v1/alarms/acknowledge", json=bulk)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"acknowledged": [first.id, second.id], "already": [],
                             "not_found": [999_999]}  # fmt: skip
    again = client.post("/api/v1/alarms/acknowledge", json={"ids": [first.id]}).json()
    assert again["already"] == [first.id]
    assert {(e["event"], e["id"]) for e in heard()} == {("acknowledged", first.id),
                                                         ("acknowledged", second.id)}  # fmt: skip
    counts = client.get("/api/v1/alarms/counts").json()
    assert counts["by_state"] == {"acknowledged": 2}
    with engine.begin() as conn:
        alarms.clear(conn, device_kind="transformer", device_id=_ids(engine)["T1"],
                     rule="overload")  # fmt: skip
    assert [(e["event"], e["state"]) for e in heard()] == [("cleared", "cleared")]
    listener.close()
