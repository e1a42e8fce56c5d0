"""The demo preset through the real ingest pipeline, and archive errors visible in the archive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import Engine

from e200 import archives
from e200.kernel import Scope
from e200.sim import FaultConfig, backfill, build_grid, inject_grid_faults, load_grid, plan_faults
from e200.sim.backfill import floor_interval
from e200.sim.grid import GridSizes, sample_grid
from e200.sim.simulate import Simulator, day_start
from tests.sim.conftest import SMALL


def test_demo_backfill_of_one_day_stores_everything(engine: Engine) -> None:
    grid = build_grid("demo", 200)
    grid_truth = inject_grid_faults(grid, FaultConfig(), 200)
    assert load_grid(engine, grid, bulk=False) == 3_200
    end = floor_interval(datetime.now(UTC))
    plan = plan_faults(grid, FaultConfig(), 200, end - timedelta(days=1), end, grid_truth)
    result = backfill(engine, grid, 1, 200, plan=plan, end=end)
    print(
        f"demo backfill: {result.readings} readings in {result.seconds:.1f} s "
        f"= {result.readings_per_s:,.0f}/s (simulation {result.sim_seconds:.1f} s)"
    )
    # Every injected fault shows as missing data, events or values — none is quarantined.
    assert result.quarantined == 0, result.reasons
    assert result.duplicates == 0
    assert result.stored == result.received
    assert result.readings > 0.97 * len(grid.meters) * 96


def test_bulk_load_writes_what_the_service_path_writes(engine: Engine) -> None:
    grid = build_grid(SMALL, seed=21)
    truth = inject_grid_faults(grid, FaultConfig().only(wrong_transformer=1, wrong_phase=1), 21)
    assert load_grid(engine, grid, bulk=True) > 0
    scope = Scope.everything()
    with engine.connect() as conn:
        assert archives.counts(conn, scope)["meters"] == len(grid.meters)
        for fault in truth:
            meter = archives.get_asset(conn, archives.KINDS["meter"], fault.device, scope)
            if fault.kind == "archive_wrong_transformer":
                assert meter["transformer"] == fault.params["archive"]
            else:
                assert meter["phase"] == fault.params["archive"]
        topo = archives.topology(conn, grid.areas[0].transformer.asset_number, None, scope)
        assert topo.feeder == grid.areas[0].transformer.feeder


def test_wrong_transformer_in_the_archive_contradicts_the_physics(engine: Engine) -> None:
    grid = build_grid(SMALL, seed=22)
    (fault,) = inject_grid_faults(grid, FaultConfig().only(wrong_transformer=1), 22)
    load_grid(engine, grid, bulk=False)
    with engine.connect() as conn:
        meter = archives.get_asset(conn, archives.KINDS["meter"], fault.device, Scope.everything())
    assert meter["transformer"] == fault.params["archive"] != fault.params["actual"]
    # The voltage the meter reports follows its real transformer, not the archived one.
    sim = Simulator(grid, seed=22)
    real, archived = grid.area_of(fault.params["actual"]), grid.area_of(fault.params["archive"])
    day = day_start(datetime(2026, 3, 2, tzinfo=UTC))
    d_real, d_arch = sim.area_day(real, day), sim.area_day(archived, day)
    j = next(i for i, m in enumerate(real.meters) if m.asset_number == fault.device)
    ph = "ABC".index(real.meters[j].phase) if real.meters[j].phase != "ABC" else 0
    v = d_real.meter_v[:, j, ph]
    key = ("v_a_v", "v_b_v", "v_c_v")[ph]
    # Correlation of the interval-to-interval changes, as voltage-based topology checks use.
    corr_real = np.corrcoef(np.diff(v), np.diff(d_real.dt_values[key]))[0, 1]
    corr_arch = np.corrcoef(np.diff(v), np.diff(d_arch.dt_values[key]))[0, 1]
    print(f"voltage correlation: own transformer {corr_real:.3f}, archived {corr_arch:.3f}")
    assert corr_real > 0.7 and corr_real > corr_arch + 0.2


def test_a_stratified_sample_keeps_whole_feeders_and_their_data(engine: Engine) -> None:
    full = build_grid(GridSizes(2, 1, 2, 3, 2, 5), seed=23)  # 12 feeders, 24 station areas
    truth = inject_grid_faults(full, FaultConfig().only(wrong_transformer=12), 23)
    sample = sample_grid(full, 0.25)
    assert [f.asset_number for f in sample.feeders] == [f.asset_number for f in full.feeders[::4]]
    assert {s.asset_number for s in sample.substations} == {f.substation for f in sample.feeders}
    kept = {f.asset_number for f in sample.feeders}
    assert sample.areas == [a for a in full.areas if a.transformer.feeder in kept]
    assert len(sample.areas) == 6 and sample.areas[-1].index > 6  # indices kept, not renumbered
    # Archive errors point at a sibling on the same feeder: the sample loads on its own.
    sampled = {m.asset_number for m in sample.meters}
    assert any(f.device in sampled for f in truth)
    assert load_grid(engine, sample, bulk=True) > 0
    area = sample.areas[-1]
    a = Simulator(full, seed=23).area_day(area, day_start(datetime(2026, 3, 2, tzinfo=UTC)))
    b = Simulator(sample, seed=23).area_day(area, day_start(datetime(2026, 3, 2, tzinfo=UTC)))
    assert np.array_equal(a.meter_imp, b.meter_imp)
    assert np.array_equal(a.dt_values["v_a_v"], b.dt_values["v_a_v"])
