"""Power flow of one station area over a batch of time steps (power-grid-model, asymmetric).

The model: an ideal 10 kV source (its voltage ``u_ref`` varies with the MV network), the
10/0.41 kV Dyn11 transformer (no-load and load losses from its rating), the radial LV cables
(positive and zero sequence, neutral return included in the zero sequence) and one
constant-power asymmetric load per customer: single-phase customers on their phase, three-phase
customers balanced over A/B/C. PV is netted into the customer's load (negative when exporting).

``symmetric=False`` is used for every preset: an asymmetric batch of a 50-customer area costs
about 10 ms per simulated day (measured, see tests/sim and the slice report), so even the
province preset is computed per phase rather than approximated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from power_grid_model import (
    ComponentType,
    DatasetType,
    LoadGenType,
    PowerGridModel,
    WindingType,
    initialize_array,
)

from e200.sim.grid import CABLES, StationArea

F64 = npt.NDArray[np.float64]
U1_V = 10_000.0
U2_V = 410.0  # no-load secondary voltage (0.4 kV network, +2.5 % off-load tap)
LV_V = 400.0
PHASE_INDEX = {"A": 0, "B": 1, "C": 2}


@dataclass
class AreaFlow:
    """Power-flow results of one area for ``n`` steps (SI units converted to V, A, kW, kvar)."""

    node_v: F64  # (n, nodes, 3) phase-to-neutral voltage magnitude, V
    node_angle: F64  # (n, nodes, 3) rad
    dt_p_kw: F64  # (n, 3) delivered into the LV network per phase
    dt_q_kvar: F64  # (n, 3)
    dt_i_a: F64  # (n, 3)
    dt_i_n_a: F64  # (n,)
    mv_p_kw: F64  # (n,) drawn from the MV side
    line_loss_kw: F64  # (n,)
    trafo_loss_kw: F64  # (n,)
    meter_i_a: F64  # (n, meters, 3) current per phase of each customer load

    def meter_v(self, area: StationArea) -> F64:
        """(n, meters, 3) voltage at each customer's connection point, per phase."""
        nodes = np.array([m.node for m in area.meters])
        return self.node_v[:, nodes, :]


def _ids(area: StationArea) -> tuple[int, int, int, int]:
    """ids: LV node k is 1 + k; MV node 0; then transformer, source, lines, loads."""
    trafo = area.nodes + 1
    source = trafo + 1
    line0 = source + 1
    load0 = line0 + len(area.lines)
    return trafo, source, line0, load0


def build_model(area: StationArea) -> PowerGridModel:
    trafo_id, source_id, line0, load0 = _ids(area)
    node = initialize_array(DatasetType.input, ComponentType.node, area.nodes + 1)
    node["id"] = np.arange(area.nodes + 1)
    node["u_rated"] = [U1_V] + [LV_V] * area.nodes
    t = area.transformer
    tr = initialize_array(DatasetType.input, ComponentType.transformer, 1)
    tr["id"], tr["from_node"], tr["to_node"] = trafo_id, 0, 1
    tr["from_status"], tr["to_status"] = 1, 1
    tr["u1"], tr["u2"], tr["sn"] = U1_V, U2_V, t.rated_kva * 1e3
    tr["uk"], tr["pk"] = t.uk_pct / 100.0, t.load_loss_kw * 1e3
    tr["p0"], tr["i0"] = t.no_load_loss_kw * 1e3, 0.012
    tr["winding_from"], tr["winding_to"], tr["clock"] = WindingType.delta, WindingType.wye_n, 11
    tr["tap_side"], tr["tap_pos"], tr["tap_min"], tr["tap_max"], tr["tap_nom"] = 0, 0, 0, 0, 0
    tr["tap_size"] = 0.0
    src = initialize_array(DatasetType.input, ComponentType.source, 1)
    src["id"], src["node"], src["status"], src["u_ref"] = source_id, 0, 1, 1.0
    line = initialize_array(DatasetType.input, ComponentType.line, len(area.lines))
    line["id"] = np.arange(line0, line0 + len(area.lines))
    line["from_node"] = [ln.from_node + 1 for ln in area.lines]
    line["to_node"] = [ln.to_node + 1 for ln in area.lines]
    line["from_status"], line["to_status"] = 1, 1
    for key in ("r1", "x1", "r0", "x0"):
        line[key] = [getattr(CABLES[ln.cable], key) * ln.length_km for ln in area.lines]
    line["c1"], line["c0"], line["tan1"], line["tan0"] = 0.0, 0.0, 0.0, 0.0
    line["i_n"] = [CABLES[ln.cable].i_n for ln in area.lines]
    load = initialize_array(DatasetType.input, ComponentType.asym_load, len(area.meters))
    load["id"] = np.arange(load0, load0 + len(area.meters))
    load["node"] = [m.node + 1 for m in area.meters]
    load["status"], load["type"] = 1, LoadGenType.const_power
    load["p_specified"], load["q_specified"] = 0.0, 0.0
    return PowerGridModel(
        {
            ComponentType.node: node,
            ComponentType.transformer: tr,
            ComponentType.source: src,
            ComponentType.line: line,
            ComponentType.asym_load: load,
        }
    )


def phase_split(area: StationArea, p_kw: F64) -> F64:
    """(n, meters) per-customer power → (n, meters, 3) per phase."""
    out = np.zeros((*p_kw.shape, 3))
    for j, m in enumerate(area.meters):
        if m.phase == "ABC":
            out[:, j, :] = p_kw[:, j, None] / 3.0
        else:
            out[:, j, PHASE_INDEX[m.phase]] = p_kw[:, j]
    return out


def solve(
    area: StationArea, p_kw: F64, q_kvar: F64, u_ref: F64, model: PowerGridModel | None = None
) -> AreaFlow:
    """Asymmetric power flow for every step: ``p_kw``/``q_kvar`` net customer load (negative =
    export), (n, meters) or already per phase (n, meters, 3); ``u_ref`` (n,) per-unit MV
    voltage."""
    if p_kw.ndim == 2:
        p_kw, q_kvar = phase_split(area, p_kw), phase_split(area, q_kvar)
    n = p_kw.shape[0]
    _, source_id, _, load0 = _ids(area)
    model = model or build_model(area)
    upd_load = initialize_array(DatasetType.update, ComponentType.asym_load, (n, len(area.meters)))
    upd_load["id"] = np.arange(load0, load0 + len(area.meters))[None, :]
    upd_load["status"] = 1
    upd_load["p_specified"] = p_kw * 1e3
    upd_load["q_specified"] = q_kvar * 1e3
    upd_src = initialize_array(DatasetType.update, ComponentType.source, (n, 1))
    upd_src["id"], upd_src["status"] = source_id, 1
    upd_src["u_ref"] = u_ref[:, None]
    upd_src["u_ref_angle"] = 0.0
    out = model.calculate_power_flow(
        symmetric=False,
        update_data={ComponentType.asym_load: upd_load, ComponentType.source: upd_src},
        output_component_types={
            ComponentType.node: ["u", "u_angle"],
            ComponentType.transformer: ["p_from", "p_to", "q_to", "i_to"],
            ComponentType.line: ["p_from", "p_to"],
            ComponentType.asym_load: ["i"],
        },
    )
    node_out = out[ComponentType.node]
    u = node_out["u"][:, 1:, :]
    ang = node_out["u_angle"][:, 1:, :]
    tro = out[ComponentType.transformer]
    p_to = tro["p_to"][:, 0, :]
    q_to = tro["q_to"][:, 0, :]
    # Neutral current at the busbar: phasor sum of the three phase currents delivered.
    v_ph = u[:, 0, :] * np.exp(1j * ang[:, 0, :])
    s_out = -(p_to + 1j * q_to)
    with np.errstate(invalid="ignore", divide="ignore"):
        i_ph = np.where(np.abs(v_ph) > 1.0, np.conj(s_out / np.where(v_ph == 0, 1, v_ph)), 0.0)
    lo = out[ComponentType.line]
    return AreaFlow(
        node_v=u,
        node_angle=ang,
        dt_p_kw=-p_to / 1e3,
        dt_q_kvar=-q_to / 1e3,
        dt_i_a=tro["i_to"][:, 0, :],
        dt_i_n_a=np.abs(i_ph.sum(axis=1)),
        mv_p_kw=tro["p_from"][:, 0, :].sum(axis=1) / 1e3,
        line_loss_kw=(lo["p_from"] + lo["p_to"]).sum(axis=(1, 2)) / 1e3,
        trafo_loss_kw=(tro["p_from"] + tro["p_to"])[:, 0, :].sum(axis=1) / 1e3,
        meter_i_a=out[ComponentType.asym_load]["i"],
    )


def oil_temperature(
    loading: F64, ambient: F64, step_min: float, r_losses: float, theta0: float | None = None
) -> F64:
    """Top-oil temperature (°C) by the IEC 60076-7 first-order model (ONAN): rated top-oil rise
    55 K, oil exponent 0.8, time constant 180 min. ``loading`` is S/S_rated per step."""
    rise_r, n_exp, tau = 55.0, 0.8, 180.0
    ss = rise_r * ((loading**2 * r_losses + 1.0) / (r_losses + 1.0)) ** n_exp
    alpha = 1.0 - np.exp(-step_min / tau)
    out = np.empty_like(loading)
    rise = float(ss[0]) if theta0 is None else theta0 - float(ambient[0])
    for k in range(loading.shape[0]):
        rise += (float(ss[k]) - rise) * alpha
        out[k] = ambient[k] + rise
    return out
