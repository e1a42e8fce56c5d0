"""Daily figures on a small grid: a 23-hour day, recomputing replaces (never adds), a partial
day, the command line."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from e200 import archives, quality
from e200.cli import app
from e200.config import Settings
from e200.db.jobspec import JobContext
from e200.kernel import InvalidInputError, Scope
from e200.sim import FaultConfig, build_grid, load_grid, plan_faults
from e200.sim.replay import replay

TZ = "Europe/Berlin"
DST_DAY = date(2026, 3, 29)  # clocks go forward: 23 hours, 92 quarter hours


@pytest.fixture()
def grid_db(engine: Engine) -> Engine:
    grid = build_grid("tiny", 3)
    load_grid(engine, grid)
    start, end = quality.day_bounds(DST_DAY, TZ)
    plan = plan_faults(grid, FaultConfig().only(comm_success_rate=0.97, bad_meters=1), 3, start,
                       end)  # fmt: skip
    res = replay(engine, grid, start, end, seed=3, plan=plan)
    assert res.quarantined == 0
    return engine


def _sums(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT count(*), sum(expected), sum(received), sum(on_time), sum(missing), "
            "count(*) FILTER (WHERE daily_ok) FROM quality.meter_day")).one()  # fmt: skip
    return tuple(int(x or 0) for x in row)


def test_a_dst_day_has_92_points_and_recomputing_replaces_it(grid_db: Engine) -> None:
    with grid_db.begin() as conn:
        done = quality.compute_day(conn, DST_DAY, TZ)
    assert not done.partial and done.meters > 0 and done.terminals > 0
    assert (done.end - done.start) == timedelta(hours=23)
    first = _sums(grid_db)
    assert first[1] == 92 * done.meters and 0 < first[4] < first[1]
    for _ in range(2):
        with grid_db.begin() as conn:
            quality.compute_day(conn, DST_DAY, TZ)
        assert _sums(grid_db) == first
    with grid_db.connect() as conn:
        days = conn.execute(text("SELECT count(*) FROM quality.computed_day")).scalar_one()
        span = conn.execute(text("SELECT min(span_s), max(span_s) FROM quality.terminal_day")).one()
    assert days == 1 and span == (23 * 3600.0, 23 * 3600.0)
    with grid_db.begin() as conn:
        assert quality.purge_before(conn, DST_DAY) == 0
        assert quality.purge_before(conn, DST_DAY + timedelta(days=1)) == 1
    assert _sums(grid_db)[0] == 0


def test_a_day_not_over_is_partial(grid_db: Engine) -> None:
    d0, _ = quality.day_bounds(DST_DAY, TZ)
    with grid_db.begin() as conn:
        done = quality.compute_day(conn, DST_DAY, TZ, now=d0 + timedelta(hours=6, minutes=7))
        expected = conn.execute(select(func.max(text("expected"))).select_from(
            text("quality.meter_day"))).scalar_one()  # fmt: skip
    assert done.partial and expected == 24  # 6 hours of quarter hours so far
    with grid_db.begin() as conn, pytest.raises(InvalidInputError):
        quality.compute_day(conn, DST_DAY + timedelta(days=3), TZ, now=d0)


def test_cli_computes_a_day(grid_db: Engine, fresh_db_url: str,
                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("E200_DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("E200_TIMEZONE", TZ)
    result = CliRunner().invoke(app, ["quality", "compute", "--day", DST_DAY.isoformat(),
                                      "--days", "2", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(x) for x in result.output.splitlines() if x.startswith("{")]
    assert [x["day"] for x in lines] == ["2026-03-28", "2026-03-29"]
    assert lines[0]["meters"] + lines[1]["meters"] == _sums(grid_db)[0] and not lines[1]["partial"]
    bad = CliRunner().invoke(app, ["quality", "compute", "--day", "29.03.2026"])
    assert bad.exit_code != 0
    future = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    assert CliRunner().invoke(app, ["quality", "compute", "--day", future]).exit_code == 2


def test_the_recompute_job_computes_yesterday_and_today(engine: Engine, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="unused://", timezone=TZ)
    (job,) = [j for j in quality.JOBS if j.name == "quality.recompute"]
    job.run(JobContext(engine=engine, settings=settings))
    with engine.connect() as conn:
        days = list(conn.execute(text("SELECT day FROM quality.computed_day ORDER BY day"))
                    .scalars())  # fmt: skip
    today = quality.local_today(TZ)
    assert days == [today - timedelta(days=1), today]


def test_routes_refuse_a_day_not_begun_and_answer_empty_days(client: TestClient) -> None:
    future = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    r = client.post("/api/v1/quality/compute", json={"day": future})
    assert r.status_code == 422 and r.json()["field"] == "day", r.text
    r = client.get("/api/v1/quality/summary", params={"day": "2026-03-01"})
    assert r.status_code == 200 and r.json()["units"] == [] and r.json()["total"] is None
    r = client.get("/api/v1/quality/weak-points", params={"n": 5, "m": 3})
    assert r.status_code == 422 and r.json()["field"] == "n", r.text
    r = client.get("/api/v1/quality/trend", params={"step": "week"})
    assert r.status_code == 422 and r.json()["field"] == "step", r.text


def test_a_meter_that_never_reported_is_a_weak_point(grid_db: Engine) -> None:
    grid = build_grid("tiny", 3)
    area = grid.areas[0]
    with grid_db.begin() as conn:
        archives.create_asset(conn, archives.KINDS["meter"], archives.MeterIn(
            asset_number="M-SILENT", transformer=area.transformer.asset_number, phase="B",
            valid_from=grid.since), Scope.everything())  # fmt: skip
        quality.compute_day(conn, DST_DAY, TZ)
        weak = quality.weak_points(conn, Scope.everything(), day=DST_DAY, n=1, m=1)
    silent = [(x.asset_number, x.kind, x.terminal) for x in weak.never_reported]
    assert silent == [("M-SILENT", "meter", area.terminal.asset_number)]
    # missing all day: a chronic misser at n = 1, and a meter problem of its terminal
    assert "M-SILENT" in {c.asset_number for c in weak.chronic}
    [diagnosis] = [d for d in weak.diagnoses if d.terminal == area.terminal.asset_number]
    assert diagnosis.problem == "meter" and "M-SILENT" in diagnosis.failing_meters
