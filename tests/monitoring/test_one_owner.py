"""One owner per shared fact: the alarm engine, the monitoring view and acquisition quality
judge a terminal's liveness by the same k (the ``terminal_offline`` threshold in force, an org
unit's override included) and the same arrival time; the monitoring view's loading level is
the loading rules' verdict with the transformer's thresholds in force; severities sort in the
one order the alarm slice defines. Each test fails if one slice went back to a copy of its
own."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, get_args

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from e200 import alarms, monitoring, quality
from e200.bus import Delivery
from e200.kernel import Scope, utc_now
from e200.telemetry import Pipeline
from tests.monitoring.test_monitoring import KNOWN, build, reading

EVERYTHING = Scope.everything()
STEP = timedelta(minutes=15)


def _ingest(client: TestClient, at: datetime, *messages: dict[str, Any]) -> None:
    pipeline: Pipeline = client.app.state.pipeline  # type: ignore[attr-defined]
    saved = pipeline.clock
    pipeline.clock = lambda: at
    try:
        result = pipeline.process([Delivery(orjson.dumps(list(messages)), "t", "t#1")], "t")
    finally:
        pipeline.clock = saved
    assert result.quarantined == 0, result.rejected


def _verdicts(engine: Engine, tz: str = "UTC") -> tuple[str, int, bool]:
    """T1's status in the monitoring view, offline alarms the timer raises, and whether
    acquisition quality counts TTU-T1 online — all judged now."""
    now = utc_now()
    with engine.begin() as conn:
        status = monitoring.transformer(conn, "T1", EVERYTHING).status
        raised = alarms.AlarmEngine().check_offline(conn, now=now)
        quality.compute_day(conn, quality.local_today(tz, now), tz, now=now)
        online = conn.execute(text(
            "SELECT d.online FROM quality.terminal_day d JOIN archives.terminal t "
            "ON t.id = d.terminal_id WHERE t.asset_number = 'TTU-T1' ORDER BY d.day DESC "
            "LIMIT 1")).scalar_one()  # fmt: skip
    return status, raised, bool(online)


def test_liveness_is_judged_by_one_k_everywhere(client: TestClient) -> None:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    build(engine)
    heard = utc_now() - timedelta(minutes=40)  # 2.67 intervals of 15 min ago
    stamp = heard.replace(second=0, microsecond=0)
    stamp -= timedelta(minutes=stamp.minute % 15)  # the interval that ended before it arrived
    _ingest(client, heard, reading("T1", KNOWN, ts=stamp))
    assert _verdicts(engine) == ("online", 0, True)  # k = 3 (the rule's default)
    with engine.begin() as conn:  # k = 2 for region A
        alarms.set_threshold(conn, "terminal_offline", "org_unit", "A", 2.0, "test", EVERYTHING)
    assert _verdicts(engine) == ("offline", 1, False)
    with engine.begin() as conn:
        view = monitoring.transformer(conn, "T1", EVERYTHING)
        assert view.thresholds["terminal_offline"] == 2.0 and "2 × 15 min" in view.status_reason


def test_the_loading_level_shown_is_the_loading_rules_verdict(client: TestClient) -> None:
    """T1's overload threshold is raised to 120 %: at 110 % the view shows heavy load and the
    engine raises heavy_load, not overload; T2 (default 100 %) is overloaded in both."""
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    build(engine)
    with engine.begin() as conn:
        alarms.set_threshold(conn, "overload", "transformer", "T1", 120.0, "test", EVERYTHING)
    now = utc_now().replace(second=0, microsecond=0)
    end = now - timedelta(minutes=now.minute % 15)
    for k in (1, 0):  # two intervals (overload and heavy load need 2), newest last
        _ingest(client, end - STEP * k + timedelta(seconds=30),
                *(reading(t, {**KNOWN, "s_kva": 440.0, "v_a_v": 230.0 + k}, end - STEP * k)
                  for t in ("T1", "T2")))  # fmt: skip
    fleet = client.get("/api/v1/monitoring/fleet").json()["items"]
    level = {i["asset_number"]: i["loading_level"] for i in fleet}
    assert (level["T1"], level["T2"]) == ("heavy_load", "overload")
    t1 = client.get("/api/v1/monitoring/transformers/T1").json()
    assert t1["derived"]["loading_level"] == "heavy_load" and t1["thresholds"]["overload"] == 120
    active = client.get("/api/v1/alarms", params={"state": "active", "limit": "100"}).json()
    raised = {(a["asset_number"], a["rule"]) for a in active["items"]}
    assert ("T1", "heavy_load") in raised and ("T1", "overload") not in raised
    assert ("T2", "overload") in raised


def test_severities_have_one_order(client: TestClient) -> None:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    assert get_args(alarms.Severity) == alarms.SEVERITIES  # most severe first
    with engine.connect() as conn:
        check = conn.execute(text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conname = 'alarm_severity_allowed'")).scalar_one()  # fmt: skip
    assert [s for s in alarms.SEVERITIES if f"'{s}'" in check] == list(alarms.SEVERITIES)
    build(engine)
    _ingest(client, utc_now(), *(reading(t, KNOWN) for t in ("T1", "T2", "T3", "T4")))
    severities = dict(zip(("T4", "T2", "T1", "T3"), alarms.SEVERITIES, strict=True))
    with engine.begin() as conn:
        ids = {r.asset_number: r.id for r in conn.execute(text(
            "SELECT id, asset_number FROM archives.transformer"))}  # fmt: skip
        for trafo, severity in severities.items():
            alarms.raise_or_update(conn, device_kind="transformer", device_id=ids[trafo],
                                   asset_number=trafo, rule="test", severity=severity,
                                   message="test", at=utc_now())  # fmt: skip
            if severity != "critical":  # a second, milder one never hides the worst
                alarms.raise_or_update(conn, device_kind="transformer", device_id=ids[trafo],
                                       asset_number=trafo, rule="test2", severity="warning",
                                       message="test", at=utc_now())  # fmt: skip
    page = client.get("/api/v1/monitoring/fleet", params={"sort": "-worst_severity"}).json()
    assert [i["asset_number"] for i in page["items"]] == list(severities)
    assert [i["worst_severity"] for i in page["items"]] == list(alarms.SEVERITIES)
    assert alarms.worst_severity(["warning", "critical", "minor"]) == "critical"
