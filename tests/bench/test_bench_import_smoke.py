"""The import benchmark runs end to end on a small workload (so it does not rot). It asserts
that every row was written, never how fast — timings belong in docs/performance.md."""

from __future__ import annotations

import pytest

from e200.bench.imports import run


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_bench_import_small_run(fresh_db_url: str, fmt: str) -> None:
    result = run(meters=1200, fmt=fmt, database_url=fresh_db_url)
    assert result["rows"] == 1200
    assert result["rows_total"] == 1200 + 24 + 3 + 1 + 2  # meters, transformers, feeders, ...
    for key in ("seconds", "verify_seconds", "copy_seconds", "peak_rss_mb", "ratio_vs_copy"):
        assert result[key] > 0, key
