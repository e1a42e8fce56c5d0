"""Energy balance, determinism and faults showing in the data exactly as the truth says."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np

from e200.sim.export import export, simulate_messages
from e200.sim.faults import FaultConfig, FaultPlan, inject_grid_faults, plan_faults
from e200.sim.grid import build_grid
from e200.sim.simulate import STEP_MIN, Simulator
from tests.sim.conftest import DAY, SMALL

DT_H = STEP_MIN / 60


def test_energy_balance_per_area_and_day_without_faults() -> None:
    grid = build_grid(SMALL, seed=11)
    sim = Simulator(grid, seed=11, plan=FaultPlan.empty())
    for area in grid.areas:
        for d in range(2):
            day = sim.area_day(area, DAY + timedelta(days=d))
            ct = np.array([m.ct_ratio for m in area.meters])
            sold = float((day.meter_p * ct[None, :]).sum() * DT_H)  # net, PV export negative
            supplied = float(day.dt_values["p_kw"].sum() * DT_H)
            line_loss = float(day.flow.line_loss_kw.sum() * DT_H)
            trafo_loss = float(day.flow.trafo_loss_kw.sum() * DT_H)
            mv = float(day.flow.mv_p_kw.sum() * DT_H)
            # LV side: the terminal's energy = customers + cable losses (metering accuracy).
            assert abs(supplied - (sold + line_loss)) / supplied < 0.005, area.transformer
            # MV side: plus the transformer's no-load and load losses (physics, exact).
            assert abs(mv - (supplied / 1.0005 + trafo_loss)) / mv < 1e-6
            assert 0.0005 < line_loss / supplied < 0.03
            assert 0.005 < trafo_loss / mv < 0.06
            # Registers integrate the reported power exactly (to their 0.01 kWh resolution).
            inc = np.diff(day.meter_imp - day.meter_exp, axis=0)
            assert np.allclose(inc, day.meter_p[1:] * DT_H, atol=1e-9)


def _export(tmp: Path, seed: int) -> dict[str, bytes]:
    grid = build_grid(SMALL, seed=seed)
    truth = inject_grid_faults(grid, FaultConfig(), seed)
    plan = plan_faults(grid, FaultConfig(), seed, DAY, DAY + timedelta(days=1), truth)
    out = export(grid, simulate_messages(grid, seed, DAY, 1, plan), plan.truth, tmp)
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_same_seed_gives_a_byte_identical_export(tmp_path: Path) -> None:
    first = _export(tmp_path / "a", 5)
    second = _export(tmp_path / "b", 5)
    other = _export(tmp_path / "c", 6)
    assert first.keys() == second.keys() and "messages.jsonl.gz" in first
    assert first == second
    assert first["messages.jsonl.gz"] != other["messages.jsonl.gz"]
    assert len(first["messages.jsonl.gz"]) > 100_000


def test_sustained_outage_silences_the_area_and_loses_the_configured_last_gasps() -> None:
    grid = build_grid(SMALL, seed=3)
    config = FaultConfig().only(transformer_fuses=1, momentary_share=0.0, last_gasp_lost_share=0.3)
    plan = plan_faults(grid, config, 3, DAY, DAY + timedelta(days=1))
    (fault,) = plan.truth
    assert fault.kind == "outage_transformer" and fault.start and fault.end
    assert fault.end - fault.start > timedelta(minutes=5)
    area = grid.area_of(fault.device)
    day = Simulator(grid, seed=3, plan=plan).area_day(area, DAY)
    down = np.array([fault.start <= e < fault.end for e in day.ends])
    assert down.any()
    assert not day.meter_send[down].any() and not day.dt_send[down].any()
    assert day.meter_send[~down].all() and day.dt_send[~down].all()
    devices = {area.terminal.asset_number, *(m.asset_number for m in area.meters)}
    gasps = {d for _, d, kind, _ in day.events if kind == "power_down"}
    lost = set(fault.params["lost_last_gasps"])
    assert gasps == devices - lost
    assert 0.1 < len(lost) / len(devices) < 0.5
    assert {d for _, d, kind, _ in day.events if kind == "power_up"} == devices
    assert all(
        fault.start <= ts < fault.start + timedelta(seconds=3)
        for ts, _, kind, _ in day.events
        if kind == "power_down"
    )


def test_theft_lowers_the_register_increments_by_the_stated_fraction() -> None:
    grid = build_grid(SMALL, seed=4)
    plan = plan_faults(grid, FaultConfig().only(theft=1), 4, DAY, DAY + timedelta(days=1))
    (fault,) = plan.truth
    assert fault.kind == "theft" and fault.start is not None
    area = next(a for a in grid.areas if any(m.asset_number == fault.device for m in a.meters))
    j = next(i for i, m in enumerate(area.meters) if m.asset_number == fault.device)
    stolen = Simulator(grid, seed=4, plan=plan).area_day(area, DAY)
    clean = Simulator(grid, seed=4, plan=FaultPlan.empty()).area_day(area, DAY)
    after = np.array([e > fault.start for e in stolen.ends])
    before = ~after
    inc_s = np.diff(stolen.meter_imp[:, j], prepend=stolen.meter_imp[0, j])
    inc_c = np.diff(clean.meter_imp[:, j], prepend=clean.meter_imp[0, j])
    frac = fault.params["bypassed_fraction"]
    assert np.allclose(inc_s[after], inc_c[after] * (1 - frac))
    assert np.allclose(inc_s[before][1:], inc_c[before][1:])
    # The physics does not know about the bypass: the network carries the full load.
    assert np.allclose(stolen.true_p[:, j], clean.true_p[:, j])


def test_phase_outage_kills_only_that_phase() -> None:
    grid = build_grid(SMALL, seed=8)
    config = FaultConfig().only(phase_outages=1, momentary_share=0.0)
    plan = plan_faults(grid, config, 8, DAY, DAY + timedelta(days=1))
    (fault,) = plan.truth
    area = grid.area_of(fault.device)
    day = Simulator(grid, seed=8, plan=plan).area_day(area, DAY)
    down = np.array([fault.start <= e < fault.end for e in day.ends])  # type: ignore[operator]
    ph = "ABC".index(fault.params["phase"])
    for j, m in enumerate(area.meters):
        if m.phase == fault.params["phase"]:
            assert not day.meter_send[down, j].any()
        else:
            assert day.meter_send[down, j].all()
            if m.phase == "ABC":
                assert (day.meter_v[down, j, ph] == 0).all()
    assert set(fault.params["meters"]) == {
        m.asset_number for m in area.meters if m.phase == fault.params["phase"]
    }
