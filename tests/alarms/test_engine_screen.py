"""The engine screens a batch column-wise and walks only the (device, rule) pairs whose state
may change through ``_run``; the reference walks every pair. On readings that wander across
every rule's threshold and clear band, repeat themselves (frozen values), lose quantities and
come twice, both must leave the same alarms and the same state rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, text

from e200 import alarms
from e200.bench.ingest import QUANTITIES, setup_archive
from e200.bus import Delivery
from e200.config import Settings
from e200.jobs import make_pipeline

DEVICES = 40
INTERVALS = 24
T0 = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
# Factors on the bench's normal reading (≈ 16 % loading, 230 V): each crosses some threshold
# or clear band — voltages down to outage and phase loss and up to over-voltage, loading to
# heavy, overload and severe overload, reverse power, frequency, THD, oil, humidity.
_FACTORS = {
    "v_a_v": (1.0, 0.3, 0.55, 0.89, 0.905, 1.065, 1.08),
    "v_b_v": (1.0, 0.3, 0.89, 1.08),
    "v_c_v": (1.0, 0.3, 1.0),
    "i_a_a": (1.0, 3.0, 8.0, 12.0),
    "s_kva": (1.0, 5.1, 6.2, 8.5),
    "p_kw": (1.0, -0.5, 5.0, 6.0),
    "pf": (1.0, 0.85, 0.86, 0.9),
    "freq_hz": (1.0, 0.995, 1.005),
    "thd_v_pct": (1.0, 2.5, 2.3),
    "thd_i_pct": (1.0, 3.0, 2.8),
    "oil_temp_c": (1.0, 2.4, 2.2),
    "humidity_pct": (1.0, 1.6, 1.5),
}


def _stream(seed: int) -> list[list[bytes]]:
    rng = random.Random(seed)
    out: list[list[bytes]] = []
    previous: dict[int, dict[str, float]] = {}
    for k in range(INTERVALS):
        ts = (T0 + timedelta(minutes=15 * k)).isoformat()
        burst = []
        for t in range(1, DEVICES + 1):
            if t in previous and rng.random() < 0.3:
                values = dict(previous[t])  # the same values again: frozen
            else:
                values = {q: round(v * (rng.choice(_FACTORS[q]) if q in _FACTORS and
                                        rng.random() < 0.4 else 1.0), 2)
                          for q, v in QUANTITIES.items()}  # fmt: skip
                for q in rng.sample(sorted(values), rng.choice((0, 0, 0, 1, 3))):
                    del values[q]
            previous[t] = values
            message = orjson.dumps({"v": 1, "type": "dt_interval", "terminal": f"BT-{t}",
                                    "device": f"BT{t}", "ts": ts, "interval_min": 15,
                                    "values": values})  # fmt: skip
            burst.append(message)
            if rng.random() < 0.05:
                burst.append(message)  # a duplicate in the same batch
        out.append(burst)
    return out


class _Unscreened(alarms.AlarmEngine):
    """The reference: every rule through ``_run`` on every device."""

    def _screen(self, fresh: dict[int, Any], *args: Any) -> Any:
        return {spec.key: set(fresh) for spec in self.rules}, {}


def _run(engine: Engine, stream: list[list[bytes]], screened: bool) -> tuple[Any, Any]:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE telemetry.dt_reading, telemetry.terminal_liveness, "
                          "alarms.alarm, alarms.rule_state"))  # fmt: skip
    pipeline = make_pipeline(engine, Settings())
    if not screened:
        pipeline.hooks = [_Unscreened() if isinstance(h, alarms.AlarmEngine) else h
                          for h in pipeline.hooks]  # fmt: skip
    for k, burst in enumerate(stream):
        # two batches per interval, the second replaying part of the first
        half = len(burst) // 2
        for part in (burst[:half], burst[half - 5 :]):
            deliveries = [Delivery(payload=m, source="memory://t", ref=f"{k}-{n}")
                          for n, m in enumerate(part)]  # fmt: skip
            pipeline.process(deliveries, "memory://t")
    with engine.connect() as conn:
        found = conn.execute(text(
            "SELECT device_kind, device_id, rule, state, severity, started_at, last_seen_at, "
            "cleared_at, peak_value, last_value, message FROM alarms.alarm ORDER BY 1, 2, 3, 6"
        )).all()  # fmt: skip
        states = conn.execute(text(
            "SELECT device_kind, device_id, rule, last_ts, breach_n, ok_n, prev_value "
            "FROM alarms.rule_state ORDER BY 1, 2, 3")).all()  # fmt: skip
    return found, states


def test_screened_engine_equals_every_rule_on_every_reading(engine: Engine) -> None:
    setup_archive(engine, DEVICES)
    for seed in (1, 2):
        stream = _stream(seed)
        want_alarms, want_states = _run(engine, stream, screened=False)
        got_alarms, got_states = _run(engine, stream, screened=True)
        assert len({a.rule for a in want_alarms}) >= 12  # most rules raised at least once
        assert any(s.rule == "stale_quantity" and s.breach_n > 0 for s in want_states) or any(
            a.rule == "stale_quantity" for a in want_alarms)  # fmt: skip
        assert got_alarms == want_alarms
        assert got_states == want_states
