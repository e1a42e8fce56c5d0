"""The quality benchmark runs end to end on a tiny grid (so it does not rot). It asserts what
was computed, never how fast — timings belong in docs/performance.md."""

from __future__ import annotations

import pytest

from e200.bench.quality import run


def test_bench_quality_small_run(fresh_db_url: str) -> None:
    result = run(transformers=20, meters_per_transformer=3, runs=2, database_url=fresh_db_url)
    assert result["quality_meters"] == 60 and result["quality_terminals"] == 20
    assert result["meter_readings"] == pytest.approx(60 * 96 * 0.98, rel=0.05)
    assert result["completeness_rate_pct"] == pytest.approx(98.0, abs=2.0)
    assert result["units"] == 11 and len(result["quality_day_runs_s"]) == 2
