"""The engine's evaluation state in ``alarms.rule_state``: one row per device (its newest
interval counted, the row a batch locks) and a rule's row only while its state is not the
default — so a normal reading writes two rows (the device's and the frozen-value fingerprint),
not one per rule. An overload walks its rule rows through breach, raise, clear band and back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from e200.bench.alarms import build, overload_start
from e200.bench.ingest import setup_archive
from e200.bus import Delivery
from e200.config import Settings
from e200.jobs import make_pipeline


def _rows(engine: Engine) -> dict[tuple[str, str], tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT t.asset_number, s.rule, s.breach_n, s.ok_n, s.last_ts FROM alarms.rule_state s "
            "JOIN archives.transformer t ON t.id = s.device_id "
            "WHERE s.device_kind = 'transformer'"))  # fmt: skip
        return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def _alarms(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT asset_number, rule, state FROM alarms.alarm"))
        return [(r[0], r[1], r[2]) for r in rows]


def test_state_rows_only_for_devices_and_rules_off_their_default(engine: Engine) -> None:
    setup_archive(engine, 100)
    stream = build(100, 8)
    start = overload_start(100)
    assert start == 2  # T100 overloaded in intervals 2, 3, 4; normal again from 5
    pipeline = make_pipeline(engine, Settings())
    seen: list[dict[tuple[str, str], tuple[Any, ...]]] = []
    for k, burst in enumerate(stream.messages):
        deliveries = [Delivery(payload=m, source="memory://t", ref=f"memory#{k}-{n}")
                      for n, m in enumerate(burst)]  # fmt: skip
        assert pipeline.process(deliveries, "memory://t").stored == 100
        seen.append(_rows(engine))
        # every device: its own row with the newest interval, and the fingerprint's row
        assert {rule for (asset, rule) in seen[-1] if asset == "BT1"} == {"*", "stale_quantity"}
        assert seen[-1][("BT1", "*")][2] == stream.stamps[k]
        assert sum(1 for (_, rule) in seen[-1] if rule == "*") == 100
    # BT100: first overloaded interval counted; raised at the second; still breaching at the
    # third; back in the clear band (≤ 95 %, ≤ 75 %) once, then twice: cleared, rows gone
    assert seen[2][("BT100", "overload")][:2] == (1, 0)
    assert seen[3][("BT100", "overload")][:2] == (2, 0)
    assert seen[4][("BT100", "heavy_load")][:2] == (3, 0)
    assert seen[5][("BT100", "overload")][:2] == (0, 1)
    assert ("BT100", "overload") not in seen[6] and ("BT100", "heavy_load") not in seen[6]
    assert sorted(_alarms(engine)) == [("BT100", "heavy_load", "cleared"),
                                       ("BT100", "overload", "cleared")]  # fmt: skip
    # a replay of an older interval changes nothing
    before = _rows(engine)
    replay = [Delivery(payload=m, source="memory://t", ref=f"replay-{n}")
              for n, m in enumerate(stream.messages[3])]  # fmt: skip
    pipeline.process(replay, "memory://t")
    assert _rows(engine) == before
