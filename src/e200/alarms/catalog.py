"""The rule catalogue of the alarm engine, as data: one ``RuleSpec`` per rule.

A rule looks at one value per reading — a quantity of the wire contract or a value derived from
it (loading %, phase voltage as % of rated, current unbalance, estimated transformer loss) — and
compares it with a threshold:

* ``above`` / ``below``: the condition holds when the value is above / below the threshold;
  it must hold for ``duration`` consecutive intervals before the alarm is raised;
* ``frozen``: the value equals the previous interval's exactly; the threshold is the number of
  intervals it must stay frozen;
* ``silent``: no report for threshold × the terminal's reporting interval (evaluated by a timer,
  not by readings).

An alarm clears only after the value has stayed inside the clear band — the threshold moved by
``hysteresis`` towards normal — for ``clear_duration`` consecutive intervals, so a value
oscillating around the threshold does not flap. A value that cannot be computed (a missing
quantity, a guard not met) counts as inside the band.

Each rule also has a ``screen``: its value for all readings of a batch at once (numpy columns),
which the engine uses only to skip the readings that surely leave the rule's state as it is —
``value_fn`` stays the definition (see ``Columns``).

Thresholds are system defaults here; an administrator overrides them per org unit or per
transformer (``alarms.threshold``). Units: every threshold has the unit of its rule's value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

from e200.alarms.model import Advice, AlarmRule, DeviceKind, Severity

Condition = Literal["above", "below", "frozen", "silent"]


@dataclass(frozen=True, slots=True)
class Reading:
    """One interval reading of a transformer as the rules see it."""

    ts: datetime
    interval_min: int
    values: Mapping[str, float | None]
    # v_phase (V), s_rated (kVA), i_rated (A), no_load_loss_kw, load_loss_kw
    rating: Mapping[str, float | None]
    received_at: datetime | None = None  # when it arrived (None: now)

    def get(self, name: str) -> float | None:
        return self.values.get(name)

    @property
    def is_history(self) -> bool:
        """Arrived later than ``HISTORY_AFTER_INTERVALS`` × its interval after its interval's
        end: a backlog read after an ingest restart, what a terminal buffered through an
        uplink outage, a replay or backfill — not news about the present."""
        return self.received_at is not None and self.received_at - self.ts > timedelta(
            minutes=self.interval_min * HISTORY_AFTER_INTERVALS
        )


# A reading older than this many of its intervals when it arrives is history (``is_history``):
# the default k of ``terminal_offline`` — a terminal heard from this late would count as silent.
HISTORY_AFTER_INTERVALS = 3

ValueFn = Callable[[Reading], float | None]
Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Columns:
    """The readings of a batch column-wise, for the rules' screens: one float array per quantity
    and per rating field (``Reading.values`` / ``Reading.rating`` keys), NaN where None."""

    values: Mapping[str, Array]
    rating: Mapping[str, Array]

    def get(self, name: str) -> Array:
        return self.values[name]


# A rule's value for every reading of a batch, like ``value_fn`` but column-wise: NaN where
# ``value_fn`` returns None. For ``above``/``below`` rules equal to ``value_fn`` only up to float
# rounding (``** 0.5`` vs ``sqrt``), and its guards (a minimum loading, a live phase) are
# loosened by ``GUARD_SLACK``: NaN only where ``value_fn`` surely gives None — the engine uses
# it with a margin, as a screen, never as the value. For ``frozen`` rules exactly ``value_fn``
# (before rounding to 4 digits): the engine keeps it as the previous value.
ScreenFn = Callable[[Columns], Array]
GUARD_SLACK = 1e-6


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSpec:
    """One alarm rule, described as data."""

    key: str
    label: str
    value: str  # what the rule looks at: a quantity name or a derived value's name (with unit)
    value_fn: ValueFn
    screen: ScreenFn | None = None  # None: the engine evaluates value_fn on every reading
    condition: Condition
    threshold: float  # system default, in the unit of ``value``
    unit: str
    severity: Severity
    advice: Advice
    duration: int = 1  # intervals the condition must hold before raising
    hysteresis: float = 0.0  # clear band: threshold moved by this towards normal
    clear_duration: int = 1  # intervals inside the band before clearing
    threshold_min: float | None = None  # allowed range of overrides
    threshold_max: float | None = None
    device_kind: DeviceKind = "transformer"
    peak: Literal["max", "min"] = "max"
    curves: tuple[str, ...] = ()  # quantities whose curves the alarm links to
    description: str = ""
    # The alarm says something about the device *now* (its measurement is frozen): history
    # (``Reading.is_history``) is counted but never raises it — the first fresh reading that
    # still breaches does, so a backlog or a replay neither raises nor churns it.
    describes_present: bool = False

    @property
    def rule(self) -> AlarmRule:
        return AlarmRule(key=self.key, label=self.label, severity=self.severity,
                         device_kind=self.device_kind, advice=self.advice)  # fmt: skip

    def breached(self, value: float, threshold: float) -> bool:
        if self.condition == "above":
            return value > threshold
        if self.condition == "below":
            return value < threshold
        return False

    def inside_band(self, value: float | None, threshold: float) -> bool:
        """The value is back to normal, by the hysteresis margin (None counts as normal)."""
        if value is None:
            return True
        if self.condition == "above":
            return value <= threshold - self.hysteresis
        if self.condition == "below":
            return value >= threshold + self.hysteresis
        return True


# -- derived values --------------------------------------------------------------------------

PHASE_V = ("v_a_v", "v_b_v", "v_c_v")
PHASE_I = ("i_a_a", "i_b_a", "i_c_a")


def _phase_pct(r: Reading) -> list[float]:
    base = r.rating.get("v_phase")
    if not base:
        return []
    return [v / base * 100.0 for q in PHASE_V if (v := r.get(q)) is not None]


def v_min_pct(r: Reading) -> float | None:
    """Lowest phase voltage, % of rated phase voltage."""
    pct = _phase_pct(r)
    return min(pct) if pct else None


def v_max_pct(r: Reading) -> float | None:
    """Highest phase voltage, % of rated phase voltage."""
    pct = _phase_pct(r)
    return max(pct) if pct else None


def loading_pct(r: Reading) -> float | None:
    """Apparent power ÷ rated kVA × 100 (S from P and Q when S is missing)."""
    rated = r.rating.get("s_rated")
    s = r.get("s_kva")
    if s is None:
        p, q = r.get("p_kw"), r.get("q_kvar")
        s = None if p is None or q is None else (p * p + q * q) ** 0.5
    return None if s is None or not rated else s / rated * 100.0


def unbalance_pct(r: Reading) -> float | None:
    """(I_max − I_avg) ÷ I_avg × 100; only above 20 % of rated current (noise at light load)."""
    currents = [i for q in PHASE_I if (i := r.get(q)) is not None]
    rated = r.rating.get("i_rated")
    if len(currents) != 3 or not rated:
        return None
    avg = sum(currents) / 3
    if avg < 0.2 * rated:
        return None
    return (max(currents) - avg) / avg * 100.0


def loss_kw(r: Reading) -> float | None:
    """Estimated transformer loss: no-load loss + load loss × (loading)², kW (None without
    loading or nameplate losses)."""
    load = loading_pct(r)
    p0, pk = r.rating.get("no_load_loss_kw"), r.rating.get("load_loss_kw")
    if load is None or p0 is None or pk is None or p0 + pk <= 0:
        return None
    return p0 + pk * (load / 100.0) ** 2


def loss_pct(r: Reading) -> float | None:
    """Estimated transformer loss (``loss_kw``) as % of its loss at rated load."""
    loss = loss_kw(r)
    if loss is None:
        return None
    p0, pk = r.rating["no_load_loss_kw"], r.rating["load_loss_kw"]
    assert p0 is not None and pk is not None  # loss_kw checked them
    return loss / (p0 + pk) * 100.0


def rating_of(rated_kva: float, secondary_rated_v: float, phases: int | None,
              no_load_loss_kw: float | None, load_loss_kw: float | None
              ) -> dict[str, float | None]:  # fmt: skip
    """A transformer's nameplate as the rules read it (``Reading.rating``): rated kVA, rated
    phase voltage and current, no-load and load losses."""
    phases = phases or 3
    v_phase = secondary_rated_v if phases == 1 else secondary_rated_v / 3**0.5
    return {"s_rated": rated_kva, "v_phase": v_phase,
            "i_rated": rated_kva * 1000 / (v_phase * phases),
            "no_load_loss_kw": no_load_loss_kw, "load_loss_kw": load_loss_kw}  # fmt: skip


def reading_of(values: Mapping[str, float | None], rating: Mapping[str, float | None],
               ts: datetime, interval_min: int = 15,
               received_at: datetime | None = None) -> Reading:  # fmt: skip
    """A reading's quantities (a ``telemetry.dt_reading`` row as a mapping) as the rules see it."""
    return Reading(ts=ts, interval_min=interval_min, values=values, rating=rating,
                   received_at=received_at)  # fmt: skip


def _outage_v(r: Reading) -> float | None:
    return v_max_pct(r)


def _phase_loss_v(r: Reading) -> float | None:
    # A lost phase while another phase is alive: the lowest phase (None when all are alive or
    # all are down — the outage rule owns the latter).
    lo, hi = v_min_pct(r), v_max_pct(r)
    if lo is None or hi is None or hi < 60.0:
        return None
    return lo


def _under_v(r: Reading) -> float | None:
    lo = v_min_pct(r)
    return None if lo is None or lo < 50.0 else lo  # below 50 %: outage or phase loss


def _reverse_kw(r: Reading) -> float | None:
    p = r.get("p_kw")
    return None if p is None else -p


def _low_pf(r: Reading) -> float | None:
    pf, load = r.get("pf"), loading_pct(r)
    if pf is None or load is None or load < 20.0:
        return None
    return abs(pf)


def _q(name: str) -> ValueFn:
    def value(r: Reading) -> float | None:
        return r.get(name)

    return value


FINGERPRINT = (*PHASE_V, *PHASE_I, "p_kw", "q_kvar")


def _stale(r: Reading) -> float | None:
    # A fingerprint of the analog quantities: unchanged to the last digit means frozen.
    present = [p for q in FINGERPRINT if (p := r.get(q)) is not None]
    if not present:
        return None
    # Added left to right (as sum() did up to Python 3.11; 3.12 compensates): the screen
    # repeats these operations exactly.
    total = 0.0
    for k, p in enumerate(present):
        total += (k + 1) * p
    return total


def _offline(r: Reading) -> float | None:  # evaluated by the timer, not by readings
    return None


# -- the same values column-wise (screens; see ``Columns``) ----------------------------------
# NaN propagates through arithmetic and compares False, so "None in, None out" mostly comes
# for free; ``np.where(guard, x, nan)`` writes the guards out. Callers silence numpy's
# floating-point warnings (a division by a zero rating gives inf/NaN, masked here anyway).

_NAN = np.nan


def _valid(rated: Array) -> npt.NDArray[np.bool_]:
    """``bool(rated)`` of a rating that may be None: present and not zero."""
    valid: npt.NDArray[np.bool_] = ~np.isnan(rated) & (rated != 0)
    return valid


def _phase_pcts(c: Columns) -> list[Array]:
    base = c.rating["v_phase"]
    ok = _valid(base)
    return [np.where(ok, c.get(q) / base * 100.0, _NAN) for q in PHASE_V]


def v_min_pct_cols(c: Columns) -> Array:
    a, b, d = _phase_pcts(c)
    return np.fmin(np.fmin(a, b), d)  # fmin skips NaN: the lowest of the phases present


def v_max_pct_cols(c: Columns) -> Array:
    a, b, d = _phase_pcts(c)
    return np.fmax(np.fmax(a, b), d)


def loading_pct_cols(c: Columns) -> Array:
    rated = c.rating["s_rated"]
    p, q = c.get("p_kw"), c.get("q_kvar")
    s = np.where(np.isnan(c.get("s_kva")), np.sqrt(p * p + q * q), c.get("s_kva"))
    return np.where(_valid(rated), s / rated * 100.0, _NAN)


def unbalance_pct_cols(c: Columns) -> Array:
    a, b, d = (c.get(q) for q in PHASE_I)
    rated = c.rating["i_rated"]
    avg = (a + b + d) / 3  # NaN unless all three are present
    live = _valid(rated) & (avg >= 0.2 * rated - GUARD_SLACK)
    return np.where(live, (np.fmax(np.fmax(a, b), d) - avg) / avg * 100.0, _NAN)


def loss_pct_cols(c: Columns) -> Array:
    load = loading_pct_cols(c)
    p0, pk = c.rating["no_load_loss_kw"], c.rating["load_loss_kw"]
    return np.where(p0 + pk > 0, (p0 + pk * (load / 100.0) ** 2) / (p0 + pk) * 100.0, _NAN)


def _phase_loss_cols(c: Columns) -> Array:
    lo, hi = v_min_pct_cols(c), v_max_pct_cols(c)
    return np.where(hi >= 60.0 - GUARD_SLACK, lo, _NAN)


def _under_v_cols(c: Columns) -> Array:
    lo = v_min_pct_cols(c)
    return np.where(lo >= 50.0 - GUARD_SLACK, lo, _NAN)


def _reverse_kw_cols(c: Columns) -> Array:
    return -c.get("p_kw")


def _low_pf_cols(c: Columns) -> Array:
    load = loading_pct_cols(c)
    return np.where(load >= 20.0 - GUARD_SLACK, np.abs(c.get("pf")), _NAN)


def _stale_cols(c: Columns) -> Array:
    # Exactly _stale: the same products and additions in the same order (a missing quantity
    # adds nothing and does not count); the engine carries this value as the previous one.
    rank = np.zeros(len(c.get(FINGERPRINT[0])))
    total = np.zeros_like(rank)
    for q in FINGERPRINT:
        v = c.get(q)
        present = ~np.isnan(v)
        rank = rank + present
        total = np.where(present, total + rank * v, total)
    return np.where(rank > 0, total, _NAN)


def _q_cols(name: str) -> ScreenFn:
    def value(c: Columns) -> Array:
        return c.get(name)

    return value


# -- the catalogue ---------------------------------------------------------------------------

V_CURVES = ("v_a_v", "v_b_v", "v_c_v")
I_CURVES = ("i_a_a", "i_b_a", "i_c_a", "s_kva")
P_CURVES = ("p_kw", "q_kvar", "s_kva")

RULES: tuple[RuleSpec, ...] = (
    RuleSpec(
        key="outage",
        label="Outage (no voltage)",
        value="v_max_pct",
        value_fn=_outage_v,
        screen=v_max_pct_cols,
        condition="below",
        threshold=60.0,
        threshold_min=50.0,
        threshold_max=80.0,
        unit="%",
        severity="critical",
        duration=1,
        hysteresis=10.0,
        clear_duration=1,
        peak="min",
        curves=(*V_CURVES, "i_a_a"),
        description="Every phase voltage below k × rated (k 50–80 %, default 60 %).",
        advice=Advice(
            causes=("MV feeder trip or transformer HV fuse blown", "LV main breaker open"),
            checks=(
                "check the feeder's protection and the DT's HV fuses",
                "look for neighbouring transformers on the same feeder that are also out",
                "confirm with an on-demand read of the terminal",
            ),
        ),
    ),
    RuleSpec(
        key="phase_loss",
        label="Phase loss",
        value="v_min_pct",
        value_fn=_phase_loss_v,
        screen=_phase_loss_cols,
        condition="below",
        threshold=60.0,
        threshold_min=30.0,
        threshold_max=80.0,
        unit="%",
        severity="critical",
        duration=1,
        hysteresis=10.0,
        clear_duration=1,
        peak="min",
        curves=V_CURVES,
        description="One or two phases below k × rated while another is alive.",
        advice=Advice(
            causes=("one HV fuse blown", "a broken LV phase conductor or loose terminal"),
            checks=(
                "check the HV fuses phase by phase",
                "check the LV busbar connections",
                "expect customers on that phase to call in",
            ),
        ),
    ),
    RuleSpec(
        key="under_voltage",
        label="Under-voltage",
        value="v_min_pct",
        value_fn=_under_v,
        screen=_under_v_cols,
        condition="below",
        threshold=90.0,
        threshold_min=80.0,
        threshold_max=99.0,
        unit="%",
        severity="major",
        duration=1,
        hysteresis=1.0,
        clear_duration=2,
        peak="min",
        curves=(*V_CURVES, "s_kva"),
        description="Lowest phase voltage below the lower deviation limit (default −10 %).",
        advice=Advice(
            causes=(
                "high load at the evening peak",
                "upstream (MV) voltage low",
                "tap position too low for the load",
            ),
            checks=(
                "compare with the loading at the same time",
                "check the MV voltage and other transformers on the feeder",
                "review the tap position",
            ),
        ),
    ),
    RuleSpec(
        key="over_voltage",
        label="Over-voltage",
        value="v_max_pct",
        value_fn=v_max_pct,
        screen=v_max_pct_cols,
        condition="above",
        threshold=107.0,
        threshold_min=101.0,
        threshold_max=120.0,
        unit="%",
        severity="major",
        duration=1,
        hysteresis=1.0,
        clear_duration=2,
        curves=(*V_CURVES, "p_kw"),
        description="Highest phase voltage above the upper deviation limit (default +7 %).",
        advice=Advice(
            causes=(
                "PV export at midday",
                "tap position too high",
                "MV voltage high at light load",
            ),
            checks=(
                "check whether active power is reversed at the same time",
                "review the tap position",
                "check PV inverters' volt-var settings",
            ),
        ),
    ),
    RuleSpec(
        key="severe_overload",
        label="Severe overload",
        value="loading_pct",
        value_fn=loading_pct,
        screen=loading_pct_cols,
        condition="above",
        threshold=130.0,
        threshold_min=110.0,
        threshold_max=200.0,
        unit="%",
        severity="critical",
        duration=1,
        hysteresis=5.0,
        clear_duration=2,
        curves=(*I_CURVES, "oil_temp_c"),
        description="Loading above 130 % of rated kVA.",
        advice=Advice(
            causes=("load far beyond the transformer's rating", "a fault downstream"),
            checks=(
                "shed or transfer load now",
                "watch the oil temperature",
                "plan a larger transformer or a new station area",
            ),
        ),
    ),
    RuleSpec(
        key="overload",
        label="Overload",
        value="loading_pct",
        value_fn=loading_pct,
        screen=loading_pct_cols,
        condition="above",
        threshold=100.0,
        threshold_min=80.0,
        threshold_max=150.0,
        unit="%",
        severity="major",
        duration=2,
        hysteresis=5.0,
        clear_duration=2,
        curves=(*I_CURVES, "oil_temp_c"),
        description="Loading above 100 % for at least 2 intervals.",
        advice=Advice(
            causes=(
                "peak load beyond the rating",
                "phases unbalanced (one phase carries more)",
                "new large loads (heat pumps, EV chargers)",
            ),
            checks=(
                "check the current unbalance at the same time",
                "check the oil temperature",
                "consider load transfer or a larger unit",
            ),
        ),
    ),
    RuleSpec(
        key="heavy_load",
        label="Heavy load",
        value="loading_pct",
        value_fn=loading_pct,
        screen=loading_pct_cols,
        condition="above",
        threshold=80.0,
        threshold_min=50.0,
        threshold_max=100.0,
        unit="%",
        severity="warning",
        duration=2,
        hysteresis=5.0,
        clear_duration=2,
        curves=I_CURVES,
        description="Loading above 80 % for at least 2 intervals.",
        advice=Advice(
            causes=("load growth", "seasonal peak"),
            checks=("watch the trend of the peak loading", "check the current unbalance"),
        ),
    ),
    RuleSpec(
        key="reverse_power",
        label="Reverse power",
        value="export_kw",
        value_fn=_reverse_kw,
        screen=_reverse_kw_cols,
        condition="above",
        threshold=0.0,
        threshold_min=0.0,
        unit="kW",
        severity="warning",
        duration=2,
        hysteresis=1.0,
        clear_duration=2,
        curves=(*P_CURVES, *V_CURVES),
        description="Active power flowing from LV to MV (export above the threshold, kW).",
        advice=Advice(
            causes=("PV generation above the area's load", "CT wired in reverse"),
            checks=(
                "compare with the time of day (midday: PV)",
                "check the voltage at the same time",
                "at night: check the CT wiring",
            ),
        ),
    ),
    RuleSpec(
        key="low_power_factor",
        label="Low power factor",
        value="pf",
        value_fn=_low_pf,
        screen=_low_pf_cols,
        condition="below",
        threshold=0.85,
        threshold_min=0.5,
        threshold_max=0.99,
        unit="1",
        severity="minor",
        duration=2,
        hysteresis=0.02,
        clear_duration=2,
        peak="min",
        curves=("pf", *P_CURVES),
        description="|power factor| below the threshold at loading ≥ 20 %.",
        advice=Advice(
            causes=("inductive loads without compensation", "capacitor bank out of service"),
            checks=("check the capacitor bank and its controller", "look for large motor loads"),
        ),
    ),
    RuleSpec(
        key="under_frequency",
        label="Under-frequency",
        value="freq_hz",
        value_fn=_q("freq_hz"),
        screen=_q_cols("freq_hz"),
        condition="below",
        threshold=49.8,
        threshold_min=49.0,
        threshold_max=49.95,
        unit="Hz",
        severity="major",
        duration=1,
        hysteresis=0.05,
        clear_duration=1,
        peak="min",
        curves=("freq_hz",),
        description="Frequency below nominal − 0.2 Hz (GB/T 15945).",
        advice=Advice(
            causes=("system generation deficit (a system event, not local)",),
            checks=(
                "compare with other transformers: all should see it",
                "inform the dispatch centre if sustained",
            ),
        ),
    ),
    RuleSpec(
        key="over_frequency",
        label="Over-frequency",
        value="freq_hz",
        value_fn=_q("freq_hz"),
        screen=_q_cols("freq_hz"),
        condition="above",
        threshold=50.2,
        threshold_min=50.05,
        threshold_max=51.0,
        unit="Hz",
        severity="major",
        duration=1,
        hysteresis=0.05,
        clear_duration=1,
        curves=("freq_hz",),
        description="Frequency above nominal + 0.2 Hz (GB/T 15945).",
        advice=Advice(
            causes=("system generation surplus (a system event, not local)",),
            checks=("compare with other transformers: all should see it",),
        ),
    ),
    RuleSpec(
        key="voltage_thd",
        label="Voltage THD high",
        value="thd_v_pct",
        value_fn=_q("thd_v_pct"),
        screen=_q_cols("thd_v_pct"),
        condition="above",
        threshold=5.0,
        threshold_min=2.0,
        threshold_max=12.0,
        unit="%",
        severity="minor",
        duration=1,
        hysteresis=0.5,
        clear_duration=2,
        curves=("thd_v_pct", "thd_i_pct", "s_kva"),
        description="Voltage total harmonic distortion above 5 % (GB/T 14549 at 0.38 kV).",
        advice=Advice(
            causes=(
                "non-linear loads (inverters, drives, rectifiers)",
                "resonance with a capacitor bank",
            ),
            checks=(
                "compare with the current THD and the loading",
                "check capacitor banks",
                "measure harmonics on site",
            ),
        ),
    ),
    RuleSpec(
        key="current_thd",
        label="Current THD high",
        value="thd_i_pct",
        value_fn=_q("thd_i_pct"),
        screen=_q_cols("thd_i_pct"),
        condition="above",
        threshold=25.0,
        threshold_min=5.0,
        threshold_max=100.0,
        unit="%",
        severity="warning",
        duration=2,
        hysteresis=2.0,
        clear_duration=2,
        curves=("thd_i_pct", "thd_v_pct", "p_kw"),
        description="Current total harmonic distortion above the threshold.",
        advice=Advice(
            causes=("PV inverters or other power electronics", "a customer's non-linear load"),
            checks=("compare with PV output (midday)", "look for the customer injecting it"),
        ),
    ),
    RuleSpec(
        key="current_unbalance",
        label="Current unbalance",
        value="unbalance_pct",
        value_fn=unbalance_pct,
        screen=unbalance_pct_cols,
        condition="above",
        # Sustained, not momentary: residential LV areas run at 25–35 % unbalance (median of
        # the 15-min values) in normal operation; 50 % for 2 h picks out the few areas whose
        # phases need rebalancing (docs/alarms.md, "Current unbalance").
        threshold=50.0,
        threshold_min=10.0,
        threshold_max=100.0,
        unit="%",
        severity="minor",
        duration=8,
        hysteresis=10.0,
        clear_duration=4,
        curves=(*I_CURVES, "i_n_a"),
        description="(I_max − I_avg) ÷ I_avg above the threshold for 8 intervals (2 h at "
        "15 min) at ≥ 20 % of rated current.",
        advice=Advice(
            causes=(
                "single-phase customers unevenly spread over the phases",
                "a phase outage downstream",
            ),
            checks=(
                "rebalance phases: move single-phase customers off the heaviest phase",
                "check the neutral current",
            ),
        ),
    ),
    RuleSpec(
        key="oil_over_temperature",
        label="Oil over-temperature",
        value="oil_temp_c",
        value_fn=_q("oil_temp_c"),
        screen=_q_cols("oil_temp_c"),
        condition="above",
        threshold=95.0,
        threshold_min=60.0,
        threshold_max=120.0,
        unit="°C",
        severity="major",
        duration=1,
        hysteresis=5.0,
        clear_duration=2,
        curves=("oil_temp_c", "amb_temp_c", "s_kva"),
        description="Top-oil temperature above the threshold.",
        advice=Advice(
            causes=("sustained overload", "high ambient temperature", "cooling impaired"),
            checks=(
                "compare with the loading and ambient temperature",
                "inspect radiators and oil level",
            ),
        ),
    ),
    RuleSpec(
        key="humidity",
        label="High humidity",
        value="humidity_pct",
        value_fn=_q("humidity_pct"),
        screen=_q_cols("humidity_pct"),
        condition="above",
        threshold=95.0,
        threshold_min=60.0,
        threshold_max=100.0,
        unit="%",
        severity="warning",
        duration=4,
        hysteresis=5.0,
        clear_duration=2,
        curves=("humidity_pct", "amb_temp_c"),
        description="Relative humidity in the enclosure above the threshold for 4 intervals.",
        advice=Advice(
            causes=("enclosure not sealed", "heater or dehumidifier failed"),
            checks=("inspect the enclosure seals and heater", "look for condensation"),
        ),
    ),
    RuleSpec(
        key="transformer_loss_high",
        label="High transformer loss",
        value="loss_pct",
        value_fn=loss_pct,
        screen=loss_pct_cols,
        condition="above",
        threshold=100.0,
        threshold_min=50.0,
        threshold_max=300.0,
        unit="%",
        severity="minor",
        duration=2,
        hysteresis=5.0,
        clear_duration=2,
        curves=I_CURVES,
        description="Estimated loss (no-load + load loss × loading²) above the threshold, "
        "% of the loss at rated load.",
        advice=Advice(
            causes=("loading above rated (loss grows with its square)",),
            checks=(
                "reduce the loading",
                "check the transformer's nameplate losses in the archive",
            ),
        ),
    ),
    RuleSpec(
        key="stale_quantity",
        label="Quantity frozen",
        value="analog_fingerprint",
        value_fn=_stale,
        screen=_stale_cols,
        condition="frozen",
        describes_present=True,
        threshold=4.0,
        threshold_min=2.0,
        threshold_max=96.0,
        unit="intervals",
        severity="minor",
        hysteresis=0.0,
        clear_duration=1,
        curves=(*V_CURVES, *I_CURVES),
        description="Voltages, currents and powers unchanged to the last digit for N intervals.",
        advice=Advice(
            causes=(
                "terminal repeating its last sample (measurement module hung)",
                "a meter reading substituted by the terminal",
            ),
            checks=("restart the terminal's measurement module", "compare with a manual read"),
        ),
    ),
    RuleSpec(
        key="terminal_offline",
        label="Terminal offline",
        value="silent_intervals",
        value_fn=_offline,
        condition="silent",
        threshold=3.0,
        threshold_min=1.0,
        threshold_max=96.0,
        unit="intervals",
        severity="major",
        device_kind="terminal",
        curves=("v_a_v", "s_kva"),
        description="No report for k × the terminal's reporting interval (default k = 3); "
        "evaluated by a timer.",
        advice=Advice(
            causes=(
                "power outage at the station area",
                "communication failure (SIM, signal)",
                "terminal hung",
            ),
            checks=(
                "check the feeder and transformer for an outage",
                "check the terminal's signal and SIM",
                "ask for an on-demand read",
            ),
        ),
    ),
)

RULES_BY_KEY: dict[str, RuleSpec] = {r.key: r for r in RULES}
LOADING_RULES = ("severe_overload", "overload", "heavy_load")  # most severe first
READING_RULES: tuple[RuleSpec, ...] = tuple(r for r in RULES if r.condition != "silent")
OFFLINE = RULES_BY_KEY["terminal_offline"]


def breaching(r: Reading, thresholds: Mapping[str, float] | None = None) -> list[str]:
    """The reading rules whose value at this one reading is beyond their threshold —
    ``thresholds`` the ones in force for the device (overrides; the catalogue default for the
    rest). Instantaneous: an alarm also needs the rule's ``duration`` (and ``frozen`` rules need
    history), so this is what a live view shows, not whether an alarm is raised."""
    thresholds = thresholds or {}
    out = []
    for spec in READING_RULES:
        if spec.condition == "frozen":
            continue
        value = spec.value_fn(r)
        threshold = thresholds.get(spec.key, spec.threshold)
        if value is not None and spec.breached(round(value, 4), threshold):
            out.append(spec.key)
    return out


def loading_level(r: Reading, thresholds: Mapping[str, float] | None = None) -> str:
    """``severe_overload`` / ``overload`` / ``heavy_load`` — the most severe loading rule this
    reading is beyond (with the device's thresholds) — or ``normal``."""
    beyond = set(breaching(r, thresholds))
    return next((key for key in LOADING_RULES if key in beyond), "normal")
