"""The simulator: one station area over one UTC day at a time.

Load and PV profiles → timed faults on the physical side (outages, overload windows, sags) →
asymmetric power flow → measurement (meter faults, theft, accuracy class, voltage noise,
register integration, dropped readings) → what each device reports, plus the physical truth
(true powers and flows) that the tests and analytics compare with.

State carried from day to day per area: registers and oil temperature. A run starts its
registers at a deterministic expected value for its start day (initial register plus the
customer's mean consumption since the grid's start date); within a run they integrate the
simulated energy exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from e200.sim import physics, profiles
from e200.sim.faults import FaultPlan, Outage
from e200.sim.grid import SimGrid, StationArea

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
STEP_MIN = 15
STEPS_PER_DAY = 24 * 60 // STEP_MIN
DT_BIAS = 0.0005  # the terminal's metering (class 0.5S) – a small fixed error
V_NOISE = 0.001  # relative voltage measurement noise (1 σ)
OVER_TEMP_C = 95.0
Event = tuple[datetime, str, str, Any]  # (ts, device, event kind, detail or None)


@dataclass
class AreaState:
    e_imp: F64
    e_exp: F64
    dt_imp: float
    dt_exp: float
    dt_q: float
    oil: float | None = None


@dataclass
class AreaDay:
    """Everything one area reports (and is) over one day of steps ending at ``ends``."""

    area: StationArea
    ends: list[datetime]
    dt_send: B  # (n,)
    dt_values: dict[str, F64]  # quantity -> (n,)
    meter_send: B  # (n, m)
    meter_v: F64  # (n, m, 3)
    meter_i: F64  # (n, m, 3)
    meter_p: F64  # (n, m) reported average power (kW, meter units)
    meter_imp: F64  # (n, m) registers (kWh, meter units)
    meter_exp: F64  # (n, m)
    events: list[Event]
    # physical truth
    true_p: F64  # (n, m) net power at the connection point (kW, primary)
    flow: physics.AreaFlow
    energized: B = field(default_factory=lambda: np.zeros(0, dtype=bool))  # (n, m) at step end
    # when the terminal's delivery of each step reaches the master station (uplink outages
    # hold it back until the link returns)
    deliver_at: list[datetime] = field(default_factory=list)


def day_start(ts: datetime) -> datetime:
    ts = ts.astimezone(UTC)
    return datetime(ts.year, ts.month, ts.day, tzinfo=UTC)


class Simulator:
    def __init__(
        self, grid: SimGrid, *, seed: int, plan: FaultPlan | None = None, tz: str = "Asia/Shanghai"
    ) -> None:
        self.grid = grid
        self.seed = seed
        self.plan = plan or FaultPlan.empty()
        self.tz = tz
        self.states: dict[int, AreaState] = {}
        self._models: dict[int, Any] = {}
        self._freq: dict[int, F64] = {}

    # -- state ---------------------------------------------------------------------------------

    def _state(self, area: StationArea, start: datetime) -> AreaState:
        st = self.states.get(area.index)
        if st is None:
            days = max((start - self.grid.since).total_seconds() / 86400.0, 0.0)
            imp = np.array(
                [m.register0_kwh + m.annual_kwh / 365.0 * days / m.ct_ratio for m in area.meters]
            )
            exp = np.array([m.pv_kwp * 1.5 * days / m.ct_ratio for m in area.meters])
            total = sum(m.annual_kwh for m in area.meters) / 365.0 * days
            st = AreaState(imp, exp, 50_000.0 + total * 1.02, 0.0, 10_000.0 + total * 0.25)
            self.states[area.index] = st
        return st

    def frequency(self, start: datetime, n: int) -> F64:
        key = profiles.day_number(start)
        f = self._freq.get(key)
        if f is None:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, 4, 0, key]))
            x = np.empty(n)
            x[0] = rng.normal(0, 0.02)
            for k in range(1, n):
                x[k] = 0.8 * x[k - 1] + rng.normal(0, 0.012)
            f = 50.0 + np.clip(x, -0.15, 0.15)
            ends = [start + timedelta(minutes=STEP_MIN * (k + 1)) for k in range(n)]
            for t0, t1, hz in self.plan.frequency:
                for k, e in enumerate(ends):
                    if _overlap(t0, t1, e - timedelta(minutes=STEP_MIN), e) > 0:
                        f[k] = hz
            self._freq[key] = f
        return f

    # -- one area, one day ---------------------------------------------------------------------

    def area_day(self, area: StationArea, start: datetime) -> AreaDay:
        start = day_start(start)
        n, m, dt_h = STEPS_PER_DAY, len(area.meters), STEP_MIN / 60.0
        step = timedelta(minutes=STEP_MIN)
        ends = [start + step * (k + 1) for k in range(n)]
        mids = profiles.step_times(start, n, STEP_MIN)
        af = self.plan.for_area(area.index)
        day = profiles.day_number(start)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 5, area.index, day]))
        t = area.transformer

        p, q = profiles.customer_load(area.meters, mids, self.tz, self.seed, area.index)
        for t0, t1, factor in af.overloads:
            frac = np.array([_overlap(t0, t1, e - step, e) for e in ends]) / step.total_seconds()
            p *= (1 + (factor - 1) * frac)[:, None]
            q *= (1 + (factor - 1) * frac)[:, None]
        for t0, t1, factor, phase in af.phase_overloads:
            frac = np.array([_overlap(t0, t1, e - step, e) for e in ends]) / step.total_seconds()
            on_phase = np.array([mt.phase == phase for mt in area.meters])
            grow = np.where(on_phase[None, :], (1 + (factor - 1) * frac)[:, None], 1.0)
            p *= grow
            q *= grow
        amb, humidity, clouds = profiles.weather(mids, self.seed, t.lat)
        pv = profiles.pv_output(area.meters, mids, t.lat, t.lon, clouds)
        live, dead_end, area_dead = _outage_masks(area, af.outages, ends, step)
        p3 = physics.phase_split(area, p - pv) * live
        q3 = physics.phase_split(area, q) * live
        u_ref = (
            1.0
            + 0.012 * np.sin(2 * np.pi * (np.arange(n) / n - 0.3))
            + rng.normal(0, 0.002, n)
            + rng.normal(0, 0.005)
        )
        for t0, t1, depth in af.sags:
            frac = np.array([_overlap(t0, t1, e - step, e) for e in ends]) / step.total_seconds()
            u_ref = u_ref * (1 - (1 - depth) * frac)
        for t0, t1, factor, midday in af.voltage_shifts:
            frac = np.array([_overlap(t0, t1, e - step, e) for e in ends]) / step.total_seconds()
            if midday:  # 10:00-16:00 solar time at the transformer
                solar = np.array([(e.hour + e.minute / 60 + t.lon / 15) % 24 for e in ends])
                frac = frac * ((solar > 10) & (solar <= 16))
            u_ref = u_ref * (1 + (factor - 1) * frac)
        model = self._models.get(area.index)
        if model is None:
            model = self._models[area.index] = physics.build_model(area)
        flow = physics.solve(area, p3, q3, u_ref, model)
        true_p = p3.sum(axis=2)
        st = self._state(area, start)

        # -- meters ----------------------------------------------------------------------------
        ct = np.array([mt.ct_ratio for mt in area.meters])
        bias = 1.0 + np.array([mt.accuracy_bias for mt in area.meters])
        phase_alive = ~dead_end  # (n, m, 3) at step end
        v = flow.meter_v(area) * (1 + rng.normal(0, V_NOISE, (n, m, 3))) * phase_alive
        i = flow.meter_i_a * phase_alive
        meas_p = true_p.copy()
        steps_idx = np.arange(n)
        stopped = np.zeros((n, m), dtype=bool)
        lead = np.zeros(m, dtype=np.int64)
        lead_from = np.full(m, n, dtype=np.int64)
        events: list[Event] = []
        for j, faults in af.meter.items():
            mt = area.meters[j]
            for f in faults:
                k0 = _step_at(f.start, start, n)
                on = steps_idx >= k0
                if f.kind == "theft":
                    meas_p[:, j] = np.where(
                        on & (meas_p[:, j] > 0), meas_p[:, j] * (1 - f.value), meas_p[:, j]
                    )
                elif f.kind == "reversed":
                    meas_p[:, j] = np.where(on, -meas_p[:, j], meas_p[:, j])
                    if start <= f.start < ends[-1]:
                        events.append((f.start, mt.asset_number, "ct_reverse", None))
                elif f.kind == "stopped":
                    stopped[:, j] |= on
                elif f.kind == "clock_drift":
                    lead[j] = int(f.value // STEP_MIN)
                    lead_from[j] = max(k0, 0) if k0 < n else n
                    if start <= f.start < ends[-1]:
                        events.append(
                            (
                                f.start,
                                mt.asset_number,
                                "clock_error",
                                {"offset_s": int(f.value * 60)},
                            )
                        )
        meas_p = meas_p / ct[None, :] * bias[None, :]
        i = i / ct[None, :, None]
        meas_p[stopped] = 0.0
        i[stopped] = 0.0
        inc_imp = np.clip(meas_p, 0, None) * dt_h
        inc_exp = np.clip(-meas_p, 0, None) * dt_h
        imp = st.e_imp[None, :] + np.cumsum(inc_imp, axis=0)
        exp = st.e_exp[None, :] + np.cumsum(inc_exp, axis=0)
        st.e_imp, st.e_exp = imp[-1].copy(), exp[-1].copy()
        for j in (int(x) for x in np.flatnonzero(lead)):
            # A clock running ahead: at ``ts`` the meter reports what it holds at ts + lead.
            src = np.where(
                steps_idx >= lead_from[j], np.minimum(steps_idx + lead[j], n - 1), steps_idx
            )
            for arr in (imp, exp, meas_p):
                arr[:, j] = arr[src, j]
            v[:, j, :], i[:, j, :] = v[src, j, :], i[src, j, :]
        energized: B = np.asarray(phase_alive.any(axis=2), dtype=bool)
        success = np.full(m, self.plan.config.comm_success_rate)
        if af.chronic_success is not None:
            success[:] = af.chronic_success
        for j, rate in af.bad_meters.items():
            success[j] = rate
        meter_send = energized & (rng.random((n, m)) < success[None, :])
        dead = np.array([any(t0 < e <= t1 for t0, t1 in af.dead_windows) for e in ends])
        meter_send &= ~dead[:, None]

        # -- transformer terminal --------------------------------------------------------------
        p_tot = flow.dt_p_kw.sum(axis=1)
        q_tot = flow.dt_q_kvar.sum(axis=1)
        s_tot = np.hypot(p_tot, q_tot)
        loading = s_tot / t.rated_kva
        oil = physics.oil_temperature(
            loading, amb, STEP_MIN, t.load_loss_kw / t.no_load_loss_kw, st.oil
        )
        st.oil = float(oil[-1])
        dt_p_meas = p_tot * (1 + DT_BIAS)
        dt_imp = st.dt_imp + np.cumsum(np.clip(dt_p_meas, 0, None) * dt_h)
        dt_exp = st.dt_exp + np.cumsum(np.clip(-dt_p_meas, 0, None) * dt_h)
        dt_q = st.dt_q + np.cumsum(np.abs(q_tot) * dt_h)
        st.dt_imp, st.dt_exp, st.dt_q = float(dt_imp[-1]), float(dt_exp[-1]), float(dt_q[-1])
        pv_share = np.clip(pv.sum(axis=1) / np.maximum(p.sum(axis=1) + pv.sum(axis=1), 1e-6), 0, 1)
        thd_i = 7.0 + 12.0 * pv_share + rng.normal(0, 0.6, n)
        thd_v = 0.9 + thd_i * np.clip(loading, 0, 2) * t.uk_pct / 100 * 4 + rng.normal(0, 0.1, n)
        for t0, t1, extra in af.harmonics:
            frac = np.array([_overlap(t0, t1, e - step, e) for e in ends]) / step.total_seconds()
            thd_v = thd_v + extra * frac
            thd_i = thd_i * (1 + extra / 4 * frac)
        busbar_v = flow.node_v[:, 0, :] * (1 + rng.normal(0, V_NOISE / 2, (n, 3)))
        with np.errstate(invalid="ignore", divide="ignore"):
            pf = np.where(s_tot > 1e-6, p_tot / s_tot, 1.0)
        dt_values = {
            "v_a_v": busbar_v[:, 0],
            "v_b_v": busbar_v[:, 1],
            "v_c_v": busbar_v[:, 2],
            "i_a_a": flow.dt_i_a[:, 0],
            "i_b_a": flow.dt_i_a[:, 1],
            "i_c_a": flow.dt_i_a[:, 2],
            "i_n_a": flow.dt_i_n_a,
            "p_kw": dt_p_meas,
            "p_a_kw": flow.dt_p_kw[:, 0],
            "p_b_kw": flow.dt_p_kw[:, 1],
            "p_c_kw": flow.dt_p_kw[:, 2],
            "q_kvar": q_tot,
            "s_kva": s_tot,
            "pf": pf,
            "freq_hz": self.frequency(start, n),
            "e_imp_kwh": dt_imp,
            "e_exp_kwh": dt_exp,
            "eq_kvarh": dt_q,
            "thd_v_pct": np.clip(thd_v, 0.1, 99),
            "thd_i_pct": np.clip(thd_i, 0.5, 199),
            "oil_temp_c": oil,
            "amb_temp_c": amb,
            "humidity_pct": humidity,
        }
        dt_success = (
            af.chronic_success
            if af.chronic_success is not None
            else self.plan.config.comm_success_rate
        )
        dt_send = ~area_dead & (rng.random(n) < dt_success) & ~dead

        events += _outage_events(area, af.outages, start, ends[-1], rng)
        events += _dt_events(area, loading, oil, ends)
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        out = AreaDay(
            area,
            ends,
            dt_send,
            dt_values,
            meter_send,
            v,
            i,
            meas_p,
            imp,
            exp,
            events,
            true_p,
            flow,
            energized,
        )
        out.deliver_at = [_delivery(e, af.uplink_outages) for e in ends]
        return out


DELIVERY_LATENCY = timedelta(seconds=30)


def _delivery(end: datetime, outages: list[tuple[datetime, datetime]]) -> datetime:
    """A step's delivery reaches the master station shortly after the interval's end; during an
    uplink outage the terminal buffers it and sends it when the link returns."""
    for t0, t1 in outages:
        if t0 < end <= t1:
            return t1 + DELIVERY_LATENCY
    return end + DELIVERY_LATENCY


def _overlap(a: datetime, b: datetime, s: datetime, e: datetime) -> float:
    return max(0.0, (min(b, e) - max(a, s)).total_seconds())


def _step_at(ts: datetime, start: datetime, n: int) -> int:
    """Index of the first step whose end is after ``ts`` (n if after this day; <0 if before)."""
    k = int((ts - start).total_seconds() // (STEP_MIN * 60))
    return max(min(k, n), -1) if ts >= start else -1


def _outage_masks(
    area: StationArea, outages: list[Outage], ends: list[datetime], step: timedelta
) -> tuple[F64, B, B]:
    """Per step, meter and phase: energised share of the step, dead at the step's end; and the
    area (terminal) dead at the step's end."""
    n, m = len(ends), len(area.meters)
    live = np.ones((n, m, 3))
    dead = np.zeros((n, m, 3), dtype=bool)
    area_dead = np.zeros(n, dtype=bool)
    secs = step.total_seconds()
    for o in outages:
        for k, e in enumerate(ends):
            ov = _overlap(o.start, o.end, e - step, e) / secs
            at_end = o.start <= e < o.end
            if ov == 0 and not at_end:
                continue
            if o.scope == "area":
                live[k] *= 1 - ov
                dead[k] |= at_end
                area_dead[k] |= at_end
            elif o.scope == "phase":
                ph = physics.PHASE_INDEX[o.phase or "A"]
                live[k, :, ph] *= 1 - ov
                dead[k, :, ph] |= at_end
            elif o.meter is not None:
                live[k, o.meter, :] *= 1 - ov
                dead[k, o.meter, :] |= at_end
    # A single-phase meter only lives on its own phase.
    for j, mt in enumerate(area.meters):
        if mt.phase != "ABC":
            ph = physics.PHASE_INDEX[mt.phase]
            others = [x for x in range(3) if x != ph]
            dead[:, j, others] = dead[:, j, ph][:, None]
    return live, dead, area_dead


def _outage_events(
    area: StationArea,
    outages: list[Outage],
    start: datetime,
    end: datetime,
    rng: np.random.Generator,
) -> list[Event]:
    out: list[Event] = []
    for o in outages:
        if o.scope == "area":
            down = [area.terminal.asset_number, *(mt.asset_number for mt in area.meters)]
            phase_devices: list[str] = []
        elif o.scope == "phase":
            down = [mt.asset_number for mt in area.meters if mt.phase == o.phase]
            phase_devices = [mt.asset_number for mt in area.meters if mt.phase == "ABC"]
        else:
            assert o.meter is not None
            down, phase_devices = [area.meters[o.meter].asset_number], []
        for dev in down:
            jitter = timedelta(seconds=int(rng.integers(0, 3)))
            if start <= o.start < end and dev not in o.lost_gasps:
                out.append((o.start + jitter, dev, "power_down", None))
            if start <= o.end < end:
                out.append((o.end + jitter, dev, "power_up", None))
        for dev in phase_devices:
            if start <= o.start < end:
                out.append((o.start, dev, "phase_loss", {"phase": o.phase}))
            if start <= o.end < end:
                out.append((o.end, dev, "phase_restore", {"phase": o.phase}))
    return out


def _dt_events(area: StationArea, loading: F64, oil: F64, ends: list[datetime]) -> list[Event]:
    """The terminal's own alarms: overload after two intervals above rating, over-temperature."""
    out: list[Event] = []
    dev = area.transformer.asset_number
    for k in range(1, len(ends)):
        if loading[k] > 1.0 and loading[k - 1] > 1.0 and (k < 2 or loading[k - 2] <= 1.0):
            out.append(
                (ends[k], dev, "overload", {"loading_pct": round(float(loading[k]) * 100, 1)})
            )
        if oil[k] > OVER_TEMP_C >= oil[k - 1]:
            out.append((ends[k], dev, "over_temperature", {"oil_temp_c": round(float(oil[k]), 1)}))
    return out
