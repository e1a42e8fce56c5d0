"""Timed faults showing in the data exactly as the truth says: clock drift, reversed wiring,
voltage sags, high harmonics and frequency excursions (small grid, one day, compared with the
same seed without the fault — the noise is identical, only the fault differs)."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np

from e200.sim.faults import SYSTEM_DEVICE, Fault, FaultConfig, FaultPlan, plan_faults
from e200.sim.grid import SimGrid, StationArea, build_grid
from e200.sim.messages import step_messages
from e200.sim.simulate import STEP_MIN, AreaDay, Simulator
from tests.sim.conftest import DAY, SMALL

STEP = timedelta(minutes=STEP_MIN)


def _one_fault(seed: int, **counts: int) -> tuple[SimGrid, FaultPlan, Fault]:
    grid = build_grid(SMALL, seed=seed)
    plan = plan_faults(grid, FaultConfig().only(**counts), seed, DAY, DAY + timedelta(days=1))
    (fault,) = plan.truth
    return grid, plan, fault


def _days(grid: SimGrid, plan: FaultPlan, area: StationArea, seed: int) -> tuple[AreaDay, AreaDay]:
    faulted = Simulator(grid, seed=seed, plan=plan).area_day(area, DAY)
    clean = Simulator(grid, seed=seed, plan=FaultPlan.empty()).area_day(area, DAY)
    return faulted, clean


def _meter(grid: SimGrid, asset: str) -> tuple[StationArea, int]:
    for area in grid.areas:
        for j, m in enumerate(area.meters):
            if m.asset_number == asset:
                return area, j
    raise KeyError(asset)


def _window(day: AreaDay, fault: Fault) -> tuple[np.ndarray, np.ndarray]:
    """Steps lying entirely inside the fault window, and steps not touching it."""
    assert fault.start is not None and fault.end is not None
    inside = np.array([fault.start <= e - STEP and e <= fault.end for e in day.ends])
    outside = np.array([e <= fault.start or e - STEP >= fault.end for e in day.ends])
    return inside, outside


def test_clock_drift_reports_readings_ahead_by_the_stated_lead() -> None:
    grid, plan, fault = _one_fault(31, clock_drifts=1)
    assert fault.kind == "meter_clock_drift" and fault.start is not None and fault.end is None
    area, j = _meter(grid, fault.device)
    drift, clean = _days(grid, plan, area, 31)
    lead = int(fault.params["lead_min"] // STEP_MIN)
    assert lead >= 1
    k0 = next(k for k, e in enumerate(drift.ends) if e > fault.start)  # first step after
    ks = np.arange(k0, len(drift.ends) - lead)
    assert len(ks) > 10
    # From the fault on, the meter reports at ts what it really holds at ts + lead.
    assert np.array_equal(drift.meter_imp[ks, j], clean.meter_imp[ks + lead, j])
    assert np.array_equal(drift.meter_v[ks, j], clean.meter_v[ks + lead, j])
    assert np.array_equal(drift.meter_imp[:k0, j], clean.meter_imp[:k0, j])
    # …and so do its wire messages; its neighbours are untouched.
    k = int(ks[len(ks) // 2])
    sent = {m["device"]: m for m in step_messages(drift, k) if m["type"] == "meter_interval"}
    assert sent[fault.device]["values"]["e_imp_kwh"] == round(clean.meter_imp[k + lead, j], 2)
    others = [i for i in range(len(area.meters)) if i != j]
    assert np.array_equal(drift.meter_imp[:, others], clean.meter_imp[:, others])
    events = [(ts, d, kind, detail) for ts, d, kind, detail in drift.events if d == fault.device]
    assert events == [(fault.start, fault.device, "clock_error", {"offset_s": lead * 900})]


def test_reversed_wiring_turns_consumption_into_export_from_the_fault_on() -> None:
    grid, plan, fault = _one_fault(32, reversed_wiring=1)
    assert fault.kind == "meter_reversed_wiring" and fault.start is not None
    area, j = _meter(grid, fault.device)
    assert area.meters[j].pv_kwp == 0  # a pure consumer: any export is the wiring
    rev, clean = _days(grid, plan, area, 32)
    on = np.array([e > fault.start for e in rev.ends])
    assert on.sum() > 10 and (~on).sum() > 1
    assert np.allclose(rev.meter_p[on, j], -clean.meter_p[on, j])
    assert np.array_equal(rev.meter_p[~on, j], clean.meter_p[~on, j])
    # The import register stands still, the export register counts the consumption.
    after = np.flatnonzero(on)
    imp_inc = np.diff(rev.meter_imp[after, j])
    exp_inc = np.diff(rev.meter_exp[after, j])
    assert np.allclose(imp_inc, 0.0)
    assert np.allclose(exp_inc, np.diff(clean.meter_imp[after, j]), atol=1e-9)
    assert exp_inc.sum() > 0
    # The physics does not see the wiring.
    assert np.array_equal(rev.true_p[:, j], clean.true_p[:, j])
    assert (fault.start, fault.device, "ct_reverse", None) in rev.events


def test_voltage_sag_lowers_the_feeder_voltages_to_the_stated_depth() -> None:
    grid, plan, fault = _one_fault(33, sags=1)
    assert fault.kind == "voltage_sag"
    depth = fault.params["u_pu"]
    assert 0.8 <= depth <= 0.9
    on_feeder = [a for a in grid.areas if a.transformer.feeder == fault.device]
    elsewhere = [a for a in grid.areas if a.transformer.feeder != fault.device]
    assert on_feeder and elsewhere
    for area in on_feeder:
        sag, clean = _days(grid, plan, area, 33)
        inside, outside = _window(sag, fault)
        assert inside.any()
        for q in ("v_a_v", "v_b_v", "v_c_v"):
            ratio = sag.dt_values[q][inside] / clean.dt_values[q][inside]
            assert np.all(np.abs(ratio - depth) < 0.02), (q, ratio, depth)
            assert np.allclose(sag.dt_values[q][outside], clean.dt_values[q][outside])
        # Every energized meter sees the sag as well.
        mv = sag.meter_v[inside] / clean.meter_v[inside]
        live = clean.meter_v[inside] > 0
        assert np.all(np.abs(mv[live] - depth) < 0.03)
    for area in elsewhere[:2]:
        sag, clean = _days(grid, plan, area, 33)
        assert np.array_equal(sag.dt_values["v_a_v"], clean.dt_values["v_a_v"])


def test_high_harmonics_add_the_stated_thd_in_the_window_only() -> None:
    grid, plan, fault = _one_fault(34, harmonics=1)
    assert fault.kind == "high_harmonics"
    area = grid.area_of(fault.device)
    harm, clean = _days(grid, plan, area, 34)
    inside, outside = _window(harm, fault)
    assert inside.sum() >= 11  # at least 3 h of 15-min steps
    added = harm.dt_values["thd_v_pct"] - clean.dt_values["thd_v_pct"]
    assert np.allclose(added[inside], fault.params["thd_v_added_pct"])
    assert np.allclose(added[outside], 0.0)
    assert np.all(harm.dt_values["thd_i_pct"][inside] > clean.dt_values["thd_i_pct"][inside])
    other = next(a for a in grid.areas if a.index != area.index)
    o_harm, o_clean = _days(grid, plan, other, 34)
    assert np.array_equal(o_harm.dt_values["thd_v_pct"], o_clean.dt_values["thd_v_pct"])


def test_frequency_excursion_is_seen_by_every_terminal_at_once() -> None:
    grid, plan, fault = _one_fault(35, frequency_excursions=1)
    assert fault.kind == "frequency_excursion" and fault.device == SYSTEM_DEVICE
    hz = fault.params["freq_hz"]
    assert abs(hz - 50.0) >= 0.35
    sim = Simulator(grid, seed=35, plan=plan)
    freqs = [sim.area_day(a, DAY).dt_values["freq_hz"] for a in grid.areas[:3]]
    assert all(np.array_equal(freqs[0], f) for f in freqs[1:])  # one system frequency
    day = sim.area_day(grid.areas[0], DAY)
    _, outside = _window(day, fault)
    touched = np.flatnonzero(~outside)  # a 15-min mean: any step the excursion touches shows it
    assert fault.start is not None and fault.end is not None
    assert len(touched) == math.ceil((fault.end - fault.start) / STEP) or len(touched) == (
        math.ceil((fault.end - fault.start) / STEP) + 1
    )
    assert np.all(freqs[0][touched] == hz)
    assert np.all(np.abs(freqs[0][outside] - 50.0) <= 0.15)
    dt = [m for m in step_messages(day, int(touched[0])) if m["type"] == "dt_interval"]
    assert dt[0]["values"]["freq_hz"] == hz
