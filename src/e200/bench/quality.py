"""`e200 bench quality`: one local day of acquisition quality for a province-sized grid.

One run, on one embedded PostgreSQL (or ``E200_DATABASE_URL``): the query benchmark's synthetic
archive (N transformers with one terminal each, 10 districts) with M meters under each, one UTC
day of every transformer's and meter's 15-min readings (meters: 2 % missing, 1 % two hours late)
and the frozen readings, by binary COPY; then ``quality.compute_day`` of that day (first and
again: a recomputation replaces the day), the org-unit summary and the weak points. Timings come
with the machine's load (other work shows in them).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from e200 import quality, telemetry
from e200.bench.queries import (
    Progress,
    _ids,
    load_days,
    load_meter_day,
    setup_archive,
    setup_meters,
)
from e200.db import EmbeddedPostgres, make_engine, upgrade
from e200.kernel import Scope


def run(transformers: int = 10_000, meters_per_transformer: int = 50, runs: int = 3,
        database_url: str | None = None, progress: Progress = lambda _: None
        ) -> dict[str, Any]:  # fmt: skip
    cluster = None
    scratch = Path(tempfile.mkdtemp(prefix="e200-bench-quality-"))
    if database_url is None:
        data = scratch / "pg"
        data.mkdir()
        scratch.chmod(0o711)
        data.chmod(0o711)
        cluster = EmbeddedPostgres(data)
        database_url = cluster.start()
    engine = make_engine(database_url, pool_size=2)
    day: date = datetime.now(UTC).date() - timedelta(days=2)
    result: dict[str, Any] = {"transformers": transformers, "cpus": os.cpu_count(),
                              "load_1m_at_start": round(os.getloadavg()[0], 2)}  # fmt: skip
    try:
        upgrade(engine)
        progress("archive")
        setup_archive(engine, transformers)
        meters = setup_meters(engine, meters_per_transformer)
        progress(f"a day of {transformers:,} transformers")
        with engine.begin() as conn:
            telemetry.create_partitions_ahead(conn, day, days_ahead=2)
        load_days(engine, _ids(engine), [day], 3, progress)
        progress(f"a day of {meters:,} meters")
        rows, secs = load_meter_day(engine, day, progress)
        with engine.begin() as conn:
            for table in ("meter_reading", "meter_daily", "dt_reading"):
                conn.execute(text(f"ANALYZE telemetry.{table}"))
        result.update(meters=meters, meter_readings=rows, meter_load_rows_per_s=round(rows / secs))
        seconds = []
        computed = None
        for i in range(runs):
            progress(f"acquisition quality of {day}, run {i + 1}/{runs}")
            started = time.perf_counter()
            with engine.begin() as conn:
                computed = quality.compute_day(conn, day, "UTC")
            seconds.append(time.perf_counter() - started)
        assert computed is not None
        everything = Scope.everything()
        with engine.connect() as conn:
            started = time.perf_counter()
            summary = quality.summary(conn, everything, day_from=day, day_to=day)
            summary_s = time.perf_counter() - started
            started = time.perf_counter()
            weak = quality.weak_points(conn, everything, day=day)
            weak_s = time.perf_counter() - started
        assert summary.total is not None
        result.update(
            quality_day_s=round(min(seconds), 3), quality_day_runs_s=[round(s, 3) for s in seconds],
            quality_meters=computed.meters, quality_terminals=computed.terminals,
            completeness_rate_pct=summary.total.completeness_rate_pct,
            timeliness_rate_pct=summary.total.timeliness_rate_pct,
            success_rate_pct=summary.total.success_rate_pct,
            summary_s=round(summary_s, 3), weak_points_s=round(weak_s, 3),
            units=len(summary.units), diagnoses=len(weak.diagnoses),
        )  # fmt: skip
    finally:
        engine.dispose()
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    result["load_1m_at_end"] = round(os.getloadavg()[0], 2)
    return result
