"""Terminal meter lists: the optional phases are stored with the list, checked against it, and
read back through the facade (the newest list wins; which terminals hold a meter)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from e200 import archives, telemetry
from e200.telemetry import Pipeline
from tests.telemetry.conftest import NOW, deliveries


def _list(meters: list[str], phases: Any = None, minutes_ago: int = 5) -> dict[str, Any]:
    message: dict[str, Any] = {"v": 1, "type": "terminal_meters", "terminal": "TTU1",
                               "ts": (NOW - timedelta(minutes=minutes_ago)).isoformat(),
                               "meters": meters}  # fmt: skip
    if phases is not None:
        message["phases"] = phases
    return message


def test_phases_are_stored_and_checked(pipeline: Pipeline, area: Engine) -> None:
    good = pipeline.process(deliveries(_list(["M1", "M2"], {"M1": "A", "M2": "ABC"})), "test")
    assert (good.stored, good.quarantined) == (1, 0)
    wrong = [_list(["M1"], {"M9": "A"}), _list(["M1"], {"M1": "D"}), _list(["M1"], ["A"])]
    bad = pipeline.process(deliveries(*wrong), "test")
    assert bad.quarantined == 3 and {r.reason for r in bad.rejected} == {"schema"}
    assert "M9" in bad.rejected[0].detail
    with area.connect() as conn:
        terminal_id = archives.lookup_devices(conn, "terminal", ["TTU1"])["TTU1"].id
        stored = telemetry.reported_meter_lists(conn, [terminal_id, 999])
        assert list(stored) == [terminal_id]
        assert stored[terminal_id].meters == ("M1", "M2")
        assert stored[terminal_id].phases == {"M1": "A", "M2": "ABC"}
        assert telemetry.terminals_reporting(conn, ["M2", "M3"]) == {"M2": [terminal_id]}


def test_an_older_list_does_not_replace_a_newer_one(pipeline: Pipeline, area: Engine) -> None:
    pipeline.process(deliveries(_list(["M1", "M2"], minutes_ago=5)), "test")
    pipeline.process(deliveries(_list(["M3"], minutes_ago=20)), "test")
    with area.connect() as conn:
        terminal_id = archives.lookup_devices(conn, "terminal", ["TTU1"])["TTU1"].id
        latest = telemetry.reported_meter_lists(conn, [terminal_id])[terminal_id]
    assert latest.meters == ("M1", "M2") and latest.phases is None
