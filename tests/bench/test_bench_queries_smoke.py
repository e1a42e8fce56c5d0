"""The query benchmark runs end to end on a tiny history (so it does not rot). It asserts what
was stored and answered, never how fast — timings belong in docs/performance.md."""

from __future__ import annotations

from e200.bench.queries import run


def test_bench_queries_small_run(fresh_db_url: str) -> None:
    result = run(transformers=20, days=3, grown_days=5, year_transformers=2, repeats=5,
                 database_url=fresh_db_url)  # fmt: skip
    # 20 transformers × 5 days + 2 of them back to a year
    assert result["stored_rows"] == (20 * 5 + 2 * (366 - 5)) * 96
    for size in ("at_3d", "at_5d"):
        figures = result[size]
        assert figures["curve_7d_points"] > 0, figures
        assert figures["curve_1y_readings"] == 366 * 96 or figures["curve_1y_readings"] > 0
        assert 0 < figures["curve_1y_points"] <= 1000
        assert figures["day_groups"] == 20  # every transformer on its own feeder
        for key in ("curve_7d_p95_ms", "curve_1y_p95_ms", "day_aggregate_s", "sql_day_s"):
            assert figures[key] > 0, key
    assert result["quality_day_s"] is None and result["quality_day_note"]
