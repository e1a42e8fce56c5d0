"""The archive against the meter lists the terminals report: every mismatch kind, per terminal
and per org unit, scope, push, adopting a reviewed change (refused when the list changed since
the review), and the periodic check's alarms."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from e200 import terminal
from e200.bus import MemoryBus
from tests.terminal.conftest import answer_all, build_areas, dispatch, engine_of, report
from tests.users import api_key, make_user


def _field_reports(client: TestClient) -> None:
    """TTU1 (archive M1 A, M2 B, M3 C) collects M1, M2 (on C), M4 (the archive's TTU2's) and
    an unknown X9; TTU2 (archive M4, M5) collects M3 and M5; TTU3 (region B) also hears M3."""
    report(client, "TTU1", ["M1", "M2", "M4", "X9"], {"M1": "A", "M2": "C", "M4": "B"})
    report(client, "TTU2", ["M3", "M5"])
    report(client, "TTU3", ["M3", "M6"])


def _by_meter(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["meter"]: m for m in body["mismatches"]}


def test_every_mismatch_kind_is_found(client: TestClient) -> None:
    build_areas(engine_of(client))
    never = client.get("/api/v1/terminals/TTU1/consistency").json()
    assert never["status"] == "never_reported" and never["mismatches"] == []
    _field_reports(client)
    body = client.get("/api/v1/terminals/TTU1/consistency").json()
    assert body["status"] == "mismatch" and body["archive_meters"] == 3
    found = _by_meter(body)
    assert found["M3"]["kind"] == "on_another_terminal"
    assert found["M3"]["reported_by"] == ["TTU2", "TTU3"] and found["M3"]["adopt"] == "detach"
    assert found["M4"]["kind"] == "on_terminal_not_in_archive"
    assert (found["M4"]["archive_transformer"], found["M4"]["archive_terminals"]) == (
        "T2",
        ["TTU2"],
    )
    assert (found["M4"]["reported_phase"], found["M4"]["adopt"]) == ("B", "attach")
    assert found["X9"]["kind"] == "on_terminal_not_in_archive"
    assert (found["X9"]["in_archive"], found["X9"]["adopt"]) == (False, None)
    assert found["M2"]["kind"] == "phase_differs"
    assert (found["M2"]["archive_phase"], found["M2"]["reported_phase"]) == ("B", "C")
    assert "M1" not in found
    assert body["counts"] == {"on_another_terminal": 1, "on_terminal_not_in_archive": 2,
                              "phase_differs": 1}  # fmt: skip
    # TTU2 misses M4 (TTU1 has it) and hears M3 (the archive's TTU1's); no phases reported.
    ttu2 = _by_meter(client.get("/api/v1/terminals/TTU2/consistency").json())
    assert ttu2["M4"]["kind"] == "on_another_terminal" and ttu2["M4"]["reported_by"] == ["TTU1"]
    assert ttu2["M3"]["archive_terminals"] == ["TTU1"]
    # A meter no other terminal hears.
    report(client, "TTU2", ["M5"])
    ttu2 = _by_meter(client.get("/api/v1/terminals/TTU2/consistency").json())
    assert ttu2["M4"]["kind"] == "on_another_terminal"
    report(client, "TTU1", ["M1", "M2", "M3", "X9"])
    ttu2 = _by_meter(client.get("/api/v1/terminals/TTU2/consistency").json())
    assert ttu2["M4"]["kind"] == "in_archive_not_on_terminal" and ttu2["M4"]["reported_by"] == []


def test_many_terminals_by_org_unit(client: TestClient) -> None:
    build_areas(engine_of(client))
    _field_reports(client)
    everything = client.get("/api/v1/archives/consistency").json()
    assert (everything["checked"], everything["mismatch"], everything["consistent"]) == (3, 3, 0)
    assert [r["terminal"] for r in everything["items"]] == ["TTU1", "TTU2", "TTU3"]
    report(client, "TTU3", ["M6"])
    region_a = client.get("/api/v1/archives/consistency", params={"org_unit": "A"}).json()
    assert region_a["checked"] == 2 and region_a["total"] == 2
    consistent = client.get("/api/v1/archives/consistency",
                            params={"status": "consistent"}).json()  # fmt: skip
    assert [r["terminal"] for r in consistent["items"]] == ["TTU3"]
    paged = client.get("/api/v1/archives/consistency", params={"limit": 1, "offset": 1}).json()
    assert [r["terminal"] for r in paged["items"]] == ["TTU2"] and paged["total"] == 2
    unknown = client.get("/api/v1/archives/consistency", params={"org_unit": "NOPE"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "org_unit"


def test_the_check_keeps_to_the_callers_scope(client: TestClient) -> None:
    engine = engine_of(client)
    build_areas(engine)
    _field_reports(client)
    make_user(engine, "viewer_a", roles=("viewer",), org_units=("A",))
    headers = {"X-API-Key": api_key(engine, "viewer_a")}
    assert client.get("/api/v1/terminals/TTU3/consistency", headers=headers).status_code == 404
    mine = client.get("/api/v1/terminals/TTU1/consistency", headers=headers).json()
    assert _by_meter(mine)["M3"]["reported_by"] == ["TTU2"]  # TTU3 is region B's
    many = client.get("/api/v1/archives/consistency", headers=headers,
                      params={"status": "all"}).json()  # fmt: skip
    assert [r["terminal"] for r in many["items"]] == ["TTU1", "TTU2"]
    assert client.get("/api/v1/archives/consistency", headers=headers,
                      params={"org_unit": "B"}).status_code == 422  # fmt: skip


def test_adopt_applies_the_reviewed_change(client: TestClient) -> None:
    build_areas(engine_of(client))
    MemoryBus.remove("cc-adopt")
    _field_reports(client)
    review = client.get("/api/v1/terminals/TTU1/consistency").json()
    version = review["reported"]["version"]
    changes = [
        {"meter": "M4", "action": "attach"},  # the phase the terminal reports (B)
        {"meter": "M3", "action": "detach"},
        {"meter": "M2", "action": "set_phase", "phase": "C"},
    ]
    adopted = client.post("/api/v1/terminals/TTU1/consistency/adopt",
                          json={"version": version, "changes": changes})  # fmt: skip
    assert adopted.status_code == 200, adopted.text
    out = adopted.json()
    assert [m["meter"] for m in out["report"]["mismatches"]] == ["X9"]  # unknown to the archive
    area = client.get("/api/v1/terminals/TTU1/meters").json()
    assert {m["asset_number"]: m["phase"] for m in area["meters"]} == {
        "M1": "A", "M2": "C", "M4": "B"}  # fmt: skip
    history = client.get("/api/v1/meters/M4/relations/transformer").json()
    assert [h["parent"] for h in history] == ["T2", "T1"]
    assert client.get("/api/v1/meters/M3").json()["transformer"] is None
    # Both TTU1 and TTU2 (which lost M4) get their new lists.
    assert out["command"]["params"]["meters"] == ["M1", "M2", "M4"]
    dispatch(client, "cc-adopt")
    sent = {c["terminal"]: c["params"]["meters"] for c in answer_all(client, "cc-adopt")}
    assert sent == {"TTU1": ["M1", "M2", "M4"], "TTU2": ["M5"]}
    audit = client.get("/api/v1/audit", params={"action": "adopt_terminal_list"}).json()["items"]
    assert audit[0]["detail"]["request"]["changes"][0]["meter"] == "M4"


def test_adopt_refuses_a_stale_review_and_changes_that_are_no_mismatch(client: TestClient) -> None:
    build_areas(engine_of(client))
    _field_reports(client)
    version = client.get("/api/v1/terminals/TTU1/consistency").json()["reported"]["version"]

    def adopt(version: str, *changes: dict[str, Any]) -> Any:
        return client.post("/api/v1/terminals/TTU1/consistency/adopt",
                           json={"version": version, "changes": list(changes)})  # fmt: skip

    no_mismatch = adopt(version, {"meter": "M1", "action": "detach"})
    assert no_mismatch.status_code == 409 and no_mismatch.json()["field"] == "changes[0].action"
    wrong_action = adopt(version, {"meter": "M4", "action": "detach"})
    assert wrong_action.status_code == 409
    unknown = adopt(version, {"meter": "X9", "action": "attach", "phase": "A"})
    assert unknown.status_code == 409 and unknown.json()["field"] == "changes[0].meter"
    # One bad change refuses the whole adopt: nothing written.
    partly = adopt(version, {"meter": "M3", "action": "detach"},
                   {"meter": "M1", "action": "attach"})  # fmt: skip
    assert partly.status_code == 409
    assert client.get("/api/v1/meters/M3").json()["transformer"] == "T1"
    # The terminal reports another list: the review is stale.
    report(client, "TTU1", ["M1", "M2", "M4"])
    stale = adopt(version, {"meter": "M3", "action": "detach"})
    assert stale.status_code == 409 and stale.json()["field"] == "version"
    never = client.post("/api/v1/terminals/TTU3/consistency/adopt", json={
        "version": "x", "changes": [{"meter": "M6", "action": "detach"}]})  # fmt: skip
    assert never.status_code == 409  # TTU3's list (M3, M6) has another version


def test_push_sends_the_archive_list(client: TestClient) -> None:
    build_areas(engine_of(client))
    MemoryBus.remove("cc-push")
    _field_reports(client)
    pushed = client.post("/api/v1/terminals/TTU1/consistency/push", json={})
    assert pushed.status_code == 200, pushed.text
    body = pushed.json()
    assert body["command"]["params"]["meters"] == ["M1", "M2", "M3"]
    assert body["report"]["last_sync"]["id"] == body["command"]["id"]
    assert body["report"]["status"] == "mismatch"
    dispatch(client, "cc-push")
    assert [c["terminal"] for c in answer_all(client, "cc-push")] == ["TTU1"]
    # The terminal now collects the archive's list: consistent (phases match or are unknown).
    report(client, "TTU1", ["M1", "M2", "M3"], {"M1": "A", "M2": "B", "M3": "C"})
    assert client.get("/api/v1/terminals/TTU1/consistency").json()["status"] == "consistent"


def test_periodic_check_raises_and_clears_mismatch_alarms(client: TestClient) -> None:
    engine = engine_of(client)
    build_areas(engine)
    _field_reports(client)
    with engine.begin() as conn:
        first = terminal.check_meter_lists(conn)
    assert first == {"mismatch": 3, "raised": 3}
    with engine.begin() as conn:
        again = terminal.check_meter_lists(conn)
    assert again == {"mismatch": 3, "updated": 3}
    alarms = client.get("/api/v1/alarms", params={"rule": "terminal_meter_list_mismatch"}).json()
    assert alarms["total"] == 3
    ttu1 = next(a for a in alarms["items"] if a["asset_number"] == "TTU1")
    assert ttu1["severity"] == "minor" and ttu1["last_value"] == 4.0
    assert ttu1["details"]["counts"]["on_terminal_not_in_archive"] == 2
    # TTU2 agrees again; TTU1 has a sync under way (left alone until it is answered).
    report(client, "TTU2", ["M4", "M5"])
    client.post("/api/v1/terminals/TTU1/consistency/push", json={})
    with engine.begin() as conn:
        third = terminal.check_meter_lists(conn)
    assert third == {"mismatch": 2, "consistent": 1, "cleared": 1, "updated": 1}
    open_ = client.get("/api/v1/alarms", params={"rule": "terminal_meter_list_mismatch",
                                                 "state": "active"}).json()  # fmt: skip
    assert sorted(a["asset_number"] for a in open_["items"]) == ["TTU1", "TTU3"]
