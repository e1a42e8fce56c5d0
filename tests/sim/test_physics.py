"""The simulator's physics against an independent engine (pandapower's three-phase power flow)."""

from __future__ import annotations

import math
import warnings
from datetime import UTC, datetime

import numpy as np
import pandapower as pp  # a dev dependency: installed by make test, never skipped

from e200.sim import physics, profiles
from e200.sim.grid import CABLES, GridSizes, build_grid


def _pandapower_net(area):  # type: ignore[no-untyped-def]
    net = pp.create_empty_network()
    hv = pp.create_bus(net, vn_kv=10.0)
    lv = [pp.create_bus(net, vn_kv=0.4) for _ in range(area.nodes)]
    pp.create_ext_grid(net, hv, vm_pu=1.0, s_sc_max_mva=1e4, rx_max=0.1, r0x0_max=0.1, x0x_max=1.0)
    t = area.transformer
    vkr = t.load_loss_kw / t.rated_kva * 100
    pp.create_transformer_from_parameters(
        net,
        hv,
        lv[0],
        sn_mva=t.rated_kva / 1e3,
        vn_hv_kv=10.0,
        vn_lv_kv=physics.U2_V / 1e3,
        vkr_percent=vkr,
        vk_percent=t.uk_pct,
        pfe_kw=t.no_load_loss_kw,
        i0_percent=1.2,
        shift_degree=330,
        vector_group="Dyn",
        vk0_percent=t.uk_pct,
        vkr0_percent=vkr,
        mag0_percent=100,
        mag0_rx=0,
        # Dyn: the delta traps the zero sequence, the LV winding carries all of z0.
        si0_hv_partial=0.01,
    )
    for ln in area.lines:
        c = CABLES[ln.cable]
        pp.create_line_from_parameters(
            net,
            lv[ln.from_node],
            lv[ln.to_node],
            length_km=ln.length_km,
            r_ohm_per_km=c.r1,
            x_ohm_per_km=c.x1,
            c_nf_per_km=0.0,
            max_i_ka=c.i_n / 1e3,
            r0_ohm_per_km=c.r0,
            x0_ohm_per_km=c.x0,
            c0_nf_per_km=0.0,
        )
    for m in area.meters:
        pp.create_asymmetric_load(net, lv[m.node])
    return net


def test_voltages_and_losses_agree_with_pandapower_over_a_day() -> None:
    grid = build_grid(GridSizes(1, 1, 1, 1, 1, 24), seed=7)
    area = grid.areas[0]
    day = datetime(2026, 1, 14, tzinfo=UTC)
    mids = profiles.step_times(day, 96, 15)
    p, q = profiles.customer_load(area.meters, mids, "Asia/Shanghai", 7, 0)
    p *= 2.0  # a heavily loaded winter day: losses worth measuring
    q *= 2.0
    u_ref = 1.0 + 0.01 * np.sin(np.arange(96) / 96 * 2 * math.pi)
    flow = physics.solve(area, p, q, u_ref)
    p3, q3 = physics.phase_split(area, p), physics.phase_split(area, q)

    net = _pandapower_net(area)
    base = 400 / math.sqrt(3)
    worst_v = 0.0
    loss_pp = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(96):
            net.ext_grid.loc[0, "vm_pu"] = u_ref[k]
            for col, ph in (("a", 0), ("b", 1), ("c", 2)):
                net.asymmetric_load[f"p_{col}_mw"] = p3[k, :, ph] / 1e3
                net.asymmetric_load[f"q_{col}_mvar"] = q3[k, :, ph] / 1e3
            pp.runpp_3ph(net)
            for col, ph in (("a", 0), ("b", 1), ("c", 2)):
                vm = net.res_bus_3ph[f"vm_{col}_pu"].to_numpy()[1:]
                ours = flow.node_v[k, :, ph] / base
                worst_v = max(worst_v, float(np.max(np.abs(ours - vm) / vm)))
            loss_pp += (
                (
                    net.res_line_3ph[["pl_a_mw", "pl_b_mw", "pl_c_mw"]].to_numpy().sum()
                    + net.res_trafo_3ph[["pl_a_mw", "pl_b_mw", "pl_c_mw"]].to_numpy().sum()
                )
                * 1e3
                / 4
            )
    loss_ours = float((flow.line_loss_kw + flow.trafo_loss_kw).sum() / 4)
    print(f"worst voltage deviation {worst_v:.5%}, losses {loss_ours:.3f} vs {loss_pp:.3f} kWh")
    assert worst_v < 0.005
    assert abs(loss_ours - loss_pp) / loss_pp < 0.02
