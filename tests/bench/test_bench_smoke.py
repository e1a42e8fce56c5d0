"""The ingest benchmark runs end to end on a small workload (so it does not rot). It asserts
that every path stored every reading, never how fast — timings belong in docs/performance.md."""

from __future__ import annotations

from e200.bench.ingest import run
from tests.bus.brokers import KafkaBroker


def test_bench_ingest_small_run(kafka_broker: KafkaBroker, fresh_db_url: str) -> None:
    result = run(
        readings=2000,
        transformers=100,
        workers=1,
        batch_size=500,
        kafka=kafka_broker.bootstrap,
        database_url=fresh_db_url,
        naive_sample=200,
    )
    assert result["rows"] == 2000
    keys = ("copy_rows_per_s", "memory_rows_per_s", "kafka_rows_per_s", "naive_rows_per_s")
    for key in (*keys, "peak_rss_mb"):
        assert result[key] > 0, key
