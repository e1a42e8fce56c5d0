"""The terminal's side of a re-collection: an on-demand read with a window answers with every
reading the meters hold in it (sent the first time or not), and the live runner only with the
intervals that have ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from e200.sim import FaultConfig, Simulator, build_grid, plan_faults
from e200.sim.live import _reread
from e200.sim.replay import answer_read, reread_messages

DAY = datetime(2026, 3, 2, tzinfo=UTC)


def test_reread_gives_what_the_meters_hold() -> None:
    grid = build_grid("tiny", 5)
    plan = plan_faults(grid, FaultConfig().only(comm_success_rate=0.9, bad_meters=1), 5, DAY,
                       DAY + timedelta(days=1))  # fmt: skip
    area = grid.areas[0]
    ad = Simulator(grid, seed=5, plan=plan).area_day(area, DAY)
    assert not ad.meter_send.all()  # some readings were lost the first time
    start, end = DAY + timedelta(hours=2), DAY + timedelta(hours=5)
    wanted = [m.asset_number for m in area.meters[:3]]
    msgs = reread_messages(ad, start, end, wanted)
    assert {m["type"] for m in msgs} == {"meter_interval"} and {m["device"] for m in msgs} == set(
        wanted)  # fmt: skip
    assert len(msgs) == int(ad.energized[8:20, :3].sum()) == 36
    cmd = {"type": "command", "terminal": area.terminal.asset_number, "command_id": "c1",
           "kind": "read_now", "params": {"meters": wanted, "from": start.isoformat(),
                                          "to": end.isoformat()}}  # fmt: skip
    ack, *readings = answer_read(cmd, lambda _t, _s: [ad])
    assert ack["status"] == "ok" and ack["result"] == {"points": 36} and readings == msgs
    bad = answer_read({**cmd, "params": {"from": "yesterday"}}, lambda _t, _s: [ad])
    assert bad[0]["status"] == "error"
    # the live runner answers only for intervals that have ended (sim time 03:07)
    now = DAY + timedelta(hours=3, minutes=7)
    ack, *readings = _reread(cmd, area, {DAY: {area.index: ad}}, now)
    assert ack["result"] == {"points": 12}
    assert max(m["ts"] for m in readings) == "2026-03-02T03:00:00Z"
