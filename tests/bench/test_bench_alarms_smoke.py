"""The alarm latency benchmark runs end to end on a small workload (so it does not rot). It
asserts that alarms were raised, cleared and heard by the listener, never how fast — timings
belong in docs/performance.md. 1,000 transformers in one batch: more (transformer, rule) states
than PostgreSQL's 65,535 bind parameters would allow as a VALUES list."""

from __future__ import annotations

from e200.bench.alarms import run


def test_bench_alarms_small_run(fresh_db_url: str) -> None:
    result = run(transformers=1000, intervals=6, batch_size=5000, database_url=fresh_db_url)
    assert result["readings"] == 6000
    assert result["overloaded_transformers"] == 10
    # overload and heavy load on each overloaded transformer, raised and (within 6 intervals)
    # cleared; every one heard by the listener and traced to the reading that completed it
    assert result["alarms_by_rule"] == {"heavy_load": 10, "overload": 10}
    assert result["alarms_raised"] == 20
    assert 0 < result["alarms_cleared"] <= 20
    assert result["notifications"] == result["alarms_raised"] + result["alarms_cleared"]
    assert result["unmatched_notifications"] == 0
    for prefix in ("latency", "clear_latency"):
        p50, p99 = result[f"{prefix}_p50_ms"], result[f"{prefix}_p99_ms"]
        assert 0 < p50 <= p99 <= result[f"{prefix}_max_ms"]
    for key in ("readings_per_s", "baseline_readings_per_s", "ratio_vs_baseline"):
        assert result[key] > 0, key
