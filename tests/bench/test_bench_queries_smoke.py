"""The query benchmark runs end to end on a tiny history (so it does not rot). It asserts what
was stored and answered, never how fast — timings belong in docs/performance.md."""

from __future__ import annotations

import pytest

from e200.bench.queries import run


def test_bench_queries_small_run(fresh_db_url: str) -> None:
    result = run(transformers=20, days=3, grown_days=5, year_transformers=2, repeats=5,
                 database_url=fresh_db_url, meters_per_transformer=3)  # fmt: skip
    # 20 transformers × 5 days + 2 of them back to a year
    assert result["stored_rows"] == (20 * 5 + 2 * (366 - 5)) * 96
    for size in ("at_3d", "at_5d"):
        figures = result[size]
        assert figures["curve_7d_points"] > 0, figures
        assert figures["curve_1y_readings"] == 366 * 96 or figures["curve_1y_readings"] > 0
        assert 0 < figures["curve_1y_points"] <= 1000
        assert figures["day_groups"] == 20  # every transformer on its own feeder
        for key in ("curve_7d_p95_ms", "curve_1y_p95_ms", "sql_7d_p95_ms", "sql_1y_p95_ms"):
            assert figures[key] > 0, key
        # seconds, to the millisecond: tiny here
        assert figures["day_aggregate_s"] >= 0 and figures["sql_day_s"] >= 0
    # yesterday's acquisition quality: every meter and terminal, 98 % of the points
    assert result["quality_meters"] == 60 and result["quality_terminals"] == 20
    assert result["meter_readings"] == pytest.approx(60 * 96 * 0.98, rel=0.05)
    assert result["quality_day_s"] >= 0
