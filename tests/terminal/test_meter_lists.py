"""A terminal's station area: view, effective-dated edits, and the meter-list sync each change
sends — to the old and the new terminal, held until a later valid_from, joined while unsent;
a sync that fails or expires raises one alarm, a later acked one clears it."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import text

from e200 import archives, terminal
from e200.bus import MemoryBus
from e200.kernel import Scope, utc_now
from tests.terminal.conftest import (
    answer_all,
    build_areas,
    dispatch,
    engine_of,
    ingest,
    report,
)
from tests.users import api_key, make_user


def _meters(client: TestClient, term: str) -> dict[str, str | None]:
    body = client.get(f"/api/v1/terminals/{term}/meters").json()
    return {m["asset_number"]: m["phase"] for m in body["meters"]}


def test_view_shows_the_archive_area_and_the_reported_list(client: TestClient) -> None:
    build_areas(engine_of(client))
    empty = client.get("/api/v1/terminals/TTU1/meters").json()
    assert (empty["transformer"], empty["org_unit"], empty["reported"]) == ("T1", "A", None)
    assert [(m["asset_number"], m["phase"], m["on_terminal"]) for m in empty["meters"]] == [
        ("M1", "A", None), ("M2", "B", None), ("M3", "C", None)]  # fmt: skip
    assert empty["last_sync"] is None
    report(client, "TTU1", ["M1", "M2", "X9"])
    body = client.get("/api/v1/terminals/TTU1/meters").json()
    assert body["reported"]["meters"] == ["M1", "M2", "X9"] and body["reported"]["version"]
    assert {m["asset_number"]: m["on_terminal"] for m in body["meters"]} == {
        "M1": True, "M2": True, "M3": False}  # fmt: skip


def test_add_remove_and_rephase_are_effective_dated_and_synced(client: TestClient) -> None:
    build_areas(engine_of(client))
    MemoryBus.remove("ml-edit")
    added = client.post("/api/v1/terminals/TTU1/meters",
                        json={"meters": [{"meter": "MA-SPARE", "phase": "B"}]})  # fmt: skip
    assert added.status_code == 200, added.text
    out = added.json()
    assert out["changed"] == ["MA-SPARE"]
    assert out["command"]["kind"] == "sync_meters" and out["command"]["status"] == "pending"
    assert out["command"]["params"]["meters"] == ["M1", "M2", "M3", "MA-SPARE"]
    assert out["command"]["params"]["phases"]["MA-SPARE"] == "B"
    assert out["area"]["last_sync"]["id"] == out["command"]["id"]
    # Moving M4 from T2 (TTU2) into TTU1's area syncs both terminals; an unsent sync of TTU1
    # is joined, not duplicated.
    moved = client.post("/api/v1/terminals/TTU1/meters",
                        json={"meters": [{"meter": "M4", "phase": "C"}]}).json()  # fmt: skip
    assert moved["command"]["id"] == out["command"]["id"]
    assert "M4" in moved["command"]["params"]["meters"]
    assert "M4" not in _meters(client, "TTU2")
    sent = answer_all(client, "ml-edit") if dispatch(client, "ml-edit")["sent"] else []
    assert {c["terminal"]: c["params"]["meters"] for c in sent} == {
        "TTU1": ["M1", "M2", "M3", "M4", "MA-SPARE"], "TTU2": ["M5"]}  # fmt: skip
    synced = client.get("/api/v1/terminals/TTU1/meters").json()["last_sync"]
    assert synced["status"] == "acked"
    # Phase change and removal, each with its sync.
    rephased = client.patch("/api/v1/terminals/TTU1/meters/M1", json={"phase": "C"})
    assert rephased.status_code == 200, rephased.text
    assert rephased.json()["command"]["params"]["phases"]["M1"] == "C"
    history = client.get("/api/v1/meters/M1/relations/transformer").json()
    assert [(h["parent"], h["phase"]) for h in history] == [("T1", "A"), ("T1", "C")]
    assert history[0]["valid_to"] == history[1]["valid_from"]
    removed = client.delete("/api/v1/terminals/TTU1/meters/M2")
    assert removed.status_code == 200, removed.text
    assert "M2" not in removed.json()["command"]["params"]["meters"]
    assert "M2" not in _meters(client, "TTU1")
    assert client.get("/api/v1/meters/M2").json()["transformer"] is None
    # The audit log has each change with what was asked.
    audit = client.get("/api/v1/audit", params={"action": "terminal_meter"}).json()["items"]
    assert {(a["action"], a["target"]) for a in audit} == {
        ("add_terminal_meters", "asset_number=TTU1"),
        ("change_terminal_meter_phase", "asset_number=TTU1,meter=M1"),
        ("remove_terminal_meter", "asset_number=TTU1,meter=M2"),
    }
    added_rows = [a for a in audit if a["action"] == "add_terminal_meters"]
    assert {a["detail"]["request"]["meters"][0]["meter"] for a in added_rows} == {"M4", "MA-SPARE"}


def test_refusals(client: TestClient) -> None:
    build_areas(engine_of(client))
    again = client.post("/api/v1/terminals/TTU1/meters", json={"meters": [{"meter": "M1"}]})
    assert again.status_code == 409 and again.json()["field"] == "meters[0].meter"
    no_phase = client.post(
        "/api/v1/terminals/TTU1/meters", json={"meters": [{"meter": "MA-SPARE"}]}
    )
    assert no_phase.status_code == 422 and no_phase.json()["field"] == "meters[0].phase"
    twice = client.post("/api/v1/terminals/TTU1/meters", json={"meters": [
        {"meter": "MA-SPARE", "phase": "A"}, {"meter": "MA-SPARE", "phase": "B"}]})  # fmt: skip
    assert twice.status_code == 422
    assert client.delete("/api/v1/terminals/TTU1/meters/M4").status_code == 404  # TTU2's
    same = client.patch("/api/v1/terminals/TTU1/meters/M1", json={"phase": "A"})
    assert same.status_code == 409
    assert client.get("/api/v1/terminals/NOPE/meters").status_code == 404
    # Nothing was written by the refused requests: no sync queued.
    assert client.get("/api/v1/terminals/TTU1/meters").json()["last_sync"] is None


def test_a_later_change_is_held_until_it_takes_effect(client: TestClient) -> None:
    build_areas(engine_of(client))
    MemoryBus.remove("ml-later")
    later = utc_now() + timedelta(hours=2)
    out = client.post("/api/v1/terminals/TTU1/meters", json={
        "meters": [{"meter": "MA-SPARE", "phase": "A"}],
        "valid_from": later.isoformat()}).json()  # fmt: skip
    command = out["command"]
    assert command["next_attempt_at"] == later.isoformat().replace("+00:00", "Z")
    assert "MA-SPARE" in command["params"]["meters"]
    assert "MA-SPARE" not in _meters(client, "TTU1")  # not yet in force
    assert dispatch(client, "ml-later")["sent"] == 0
    # Meanwhile another change, effective now, is synced at once…
    client.delete("/api/v1/terminals/TTU1/meters/M3")
    now_sent = answer_all(client, "ml-later") if dispatch(client, "ml-later")["sent"] else []
    assert [c["params"]["meters"] for c in now_sent] == [["M1", "M2"]]
    # …and the held sync, when due, carries both (the list is read when first sent).
    assert dispatch(client, "ml-later", later + timedelta(seconds=1))["sent"] == 1
    held = answer_all(client, "ml-later")
    assert held[0]["params"]["meters"] == ["M1", "M2", "MA-SPARE"]


def test_generic_relation_routes_and_retirement_sync_the_terminals(client: TestClient) -> None:
    build_areas(engine_of(client))
    MemoryBus.remove("ml-generic")
    moved = client.post("/api/v1/meters/M5/relations/transformer",
                        json={"parent": "T1", "phase": "A"})  # fmt: skip
    assert moved.status_code == 200, moved.text
    dispatch(client, "ml-generic")
    sent = {c["terminal"]: c for c in answer_all(client, "ml-generic")}
    assert sent["TTU1"]["params"]["meters"] == ["M1", "M2", "M3", "M5"]
    assert sent["TTU2"]["params"]["meters"] == ["M4"]
    assert sent["TTU1"]["params"]["phases"]["M5"] == "A"
    # Retiring a meter takes it off its terminal's list.
    assert client.post("/api/v1/meters/M4/retire", json={}).status_code == 200
    dispatch(client, "ml-generic")
    assert [c["params"]["meters"] for c in answer_all(client, "ml-generic")] == [[]]
    # A terminal moved to another transformer gets that station area's list.
    assert client.post("/api/v1/terminals/TTU2/relations/transformer",
                       json={"parent": "T1"}).status_code == 200  # fmt: skip
    dispatch(client, "ml-generic")
    (cmd,) = answer_all(client, "ml-generic")
    assert (cmd["terminal"], cmd["params"]["meters"]) == ("TTU2", ["M1", "M2", "M3", "M5"])
    # A bounded period entirely in the past changes no terminal's list now: no sync.
    client.post("/api/v1/meters/MA-SPARE/relations/transformer", json={
        "parent": "T1", "phase": "A", "valid_from": "2025-01-01T00:00:00Z",
        "valid_to": "2025-06-01T00:00:00Z"})  # fmt: skip
    assert dispatch(client, "ml-generic")["sent"] == 0


def test_unanswered_sync_expires_raises_one_alarm_cleared_by_a_later_ack(
    client: TestClient,
) -> None:
    build_areas(engine_of(client))
    MemoryBus.remove("ml-lost")
    for _ in range(2):  # the terminal never answers, twice
        pushed = client.post("/api/v1/terminals/TTU1/consistency/push", json={"ttl_s": 30})
        assert pushed.status_code == 200, pushed.text
        command_id = pushed.json()["command"]["id"]
        at = utc_now()
        assert dispatch(client, "ml-lost", at)["sent"] == 1
        assert dispatch(client, "ml-lost", at + timedelta(seconds=31))["expired"] == 1
        assert client.get(f"/api/v1/commands/{command_id}").json()["status"] == "expired"
        MemoryBus.get("ml-lost").clear()
    alarms = client.get("/api/v1/alarms", params={"rule": "terminal_sync_failed"}).json()
    assert alarms["total"] == 1, alarms  # one alarm, updated by the second expiry
    alarm = alarms["items"][0]
    assert (alarm["asset_number"], alarm["severity"], alarm["state"]) == ("TTU1", "major", "active")
    assert alarm["details"]["command_id"] == command_id
    assert any("communication" in c for c in alarm["advice"]["checks"])
    assert alarm["last_seen_at"] > alarm["started_at"]
    # A later sync that the terminal acknowledges clears it.
    client.post("/api/v1/terminals/TTU1/consistency/push", json={})
    dispatch(client, "ml-lost")
    assert len(answer_all(client, "ml-lost")) == 1
    cleared = client.get(f"/api/v1/alarms/{alarm['id']}").json()
    assert cleared["state"] == "cleared" and cleared["cleared_at"] is not None
    assert (
        client.get("/api/v1/alarms", params={"state": "active,acknowledged"}).json()["total"] == 0
    )


def test_an_old_sync_closing_late_does_not_override_a_newer_outcome(client: TestClient) -> None:
    build_areas(engine_of(client))
    MemoryBus.remove("ml-order")
    client.post("/api/v1/terminals/TTU1/consistency/push", json={"ttl_s": 30})
    now = utc_now()
    dispatch(client, "ml-order", now)
    first = MemoryBus.get("ml-order").take(10, 0)
    client.post("/api/v1/terminals/TTU1/consistency/push", json={"ttl_s": 300})
    dispatch(client, "ml-order")
    assert len(first) == 1 and len(answer_all(client, "ml-order")) == 1  # the newer one is acked
    assert dispatch(client, "ml-order", now + timedelta(seconds=31))["expired"] == 1  # the older
    failed = client.get("/api/v1/alarms", params={"rule": "terminal_sync_failed"}).json()
    assert failed["total"] == 0


def test_error_answer_fails_the_sync(client: TestClient) -> None:
    build_areas(engine_of(client))
    MemoryBus.remove("ml-err")
    client.post("/api/v1/terminals/TTU3/consistency/push", json={})
    dispatch(client, "ml-err")
    answer_all(client, "ml-err", status="error")
    sync = client.get("/api/v1/terminals/TTU3/meters").json()["last_sync"]
    assert sync["status"] == "failed"
    (alarm,) = client.get("/api/v1/alarms").json()["items"]
    assert alarm["asset_number"] == "TTU3" and "answered with an error" in alarm["message"]
    ingest(client)  # an empty delivery changes nothing


def test_meter_lists_keep_to_the_callers_scope(client: TestClient) -> None:
    engine = engine_of(client)
    build_areas(engine)
    make_user(engine, "editor_a", roles=("administrator",), org_units=("A",))
    headers = {"X-API-Key": api_key(engine, "editor_a")}
    assert client.get("/api/v1/terminals/TTU3/meters", headers=headers).status_code == 404
    assert client.get("/api/v1/terminals/TTU1/meters", headers=headers).status_code == 200
    # A meter of region B cannot be pulled into region A's station area.
    pulled = client.post("/api/v1/terminals/TTU1/meters", headers=headers,
                         json={"meters": [{"meter": "M6", "phase": "A"}]})  # fmt: skip
    assert pulled.status_code == 404
    assert client.delete("/api/v1/terminals/TTU3/meters/M6", headers=headers).status_code == 404
    assert client.post("/api/v1/terminals/TTU3/consistency/push", headers=headers,
                       json={}).status_code == 404  # fmt: skip


def test_a_grouped_terminal_change_syncs_every_terminal_it_attached(client: TestClient) -> None:
    """A bulk writer (the import) may announce several terminals attached to one transformer as
    one change naming one of them: each terminal attached by it is synced, the others not."""
    engine = engine_of(client)
    build_areas(engine)
    everything = Scope.everything()
    valid_from = utc_now().replace(microsecond=0)
    with engine.begin() as conn:
        for number in ("TTU8", "TTU9"):
            archives.create_asset(conn, archives.KINDS["terminal"],
                                  archives.TerminalIn(asset_number=number, org_unit="A"),
                                  everything)  # fmt: skip
        ids = archives.lookup_devices(conn, "terminal", ["TTU8", "TTU9"])
        t2 = archives.lookup_devices(conn, "transformer", ["T2"])["T2"].id
        for number in ("TTU8", "TTU9"):  # written in bulk, announced once below
            conn.execute(
                text("INSERT INTO archives.terminal_transformer (terminal_id, transformer_id, "
                     "valid_from) VALUES (:t, :p, :vf)"),
                {"t": ids[number].id, "p": t2, "vf": valid_from},
            )  # fmt: skip
        terminal.push_on_relation_change(conn, archives.RelationChange(
            relation="terminal_transformer", child_kind="terminal", child="TTU8",
            old_parent=None, new_parent="T2", phase=None, valid_from=valid_from, valid_to=None,
            actor="importer",
        ))  # fmt: skip
    synced = {
        t: client.get(f"/api/v1/terminals/{t}/meters").json()["last_sync"]
        for t in ("TTU2", "TTU8", "TTU9")
    }
    assert synced["TTU2"] is None
    assert synced["TTU8"]["params"]["meters"] == synced["TTU9"]["params"]["meters"] == ["M4", "M5"]
    assert synced["TTU9"]["created_by"] == "importer"
