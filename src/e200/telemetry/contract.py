"""Wire contract v1: message types and the quantities they may carry, as data.

Every quantity has its unit in its name and a physical plausibility range. Ranges marked
``per_rated`` are multiples of the device's rating (phase voltage, current or apparent power from
the archive); the rest are absolute. Adding a quantity is adding one line here (and its column).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CONTRACT_VERSION = 1

Rated = Literal["v_phase", "i_rated", "s_rated"]


@dataclass(frozen=True, slots=True)
class Quantity:
    name: str
    unit: str
    description: str
    lo: float | None = None  # absolute bounds, or multiples of ``rated`` when it is set
    hi: float | None = None
    rated: Rated | None = None
    register: bool = False  # a cumulative register: never runs backwards

    def bounds(self, rating: dict[str, float]) -> tuple[float | None, float | None]:
        if self.rated is None:
            return self.lo, self.hi
        base = rating.get(self.rated)
        if base is None:
            return None, None
        return (None if self.lo is None else self.lo * base,
                None if self.hi is None else self.hi * base)  # fmt: skip


def _v(name: str, what: str) -> Quantity:
    return Quantity(name, "V", what, 0.0, 1.5, "v_phase")


def _i(name: str, what: str) -> Quantity:
    return Quantity(name, "A", what, 0.0, 5.0, "i_rated")


DT_QUANTITIES: tuple[Quantity, ...] = (
    _v("v_a_v", "Phase A voltage to neutral"),
    _v("v_b_v", "Phase B voltage to neutral"),
    _v("v_c_v", "Phase C voltage to neutral"),
    _i("i_a_a", "Phase A current"),
    _i("i_b_a", "Phase B current"),
    _i("i_c_a", "Phase C current"),
    _i("i_n_a", "Neutral current"),
    Quantity("p_kw", "kW", "Total active power (negative: reverse flow)", -3.0, 3.0, "s_rated"),
    Quantity("p_a_kw", "kW", "Phase A active power", -3.0, 3.0, "s_rated"),
    Quantity("p_b_kw", "kW", "Phase B active power", -3.0, 3.0, "s_rated"),
    Quantity("p_c_kw", "kW", "Phase C active power", -3.0, 3.0, "s_rated"),
    Quantity("q_kvar", "kvar", "Total reactive power", -3.0, 3.0, "s_rated"),
    Quantity("s_kva", "kVA", "Total apparent power", 0.0, 3.0, "s_rated"),
    Quantity("pf", "1", "Power factor", -1.0, 1.0),
    Quantity("freq_hz", "Hz", "Frequency", 40.0, 70.0),
    Quantity("e_imp_kwh", "kWh", "Active energy import register", 0.0, None, register=True),
    Quantity("e_exp_kwh", "kWh", "Active energy export register", 0.0, None, register=True),
    Quantity("eq_kvarh", "kvarh", "Reactive energy register", 0.0, None, register=True),
    Quantity("thd_v_pct", "%", "Voltage total harmonic distortion", 0.0, 100.0),
    Quantity("thd_i_pct", "%", "Current total harmonic distortion", 0.0, 200.0),
    Quantity("oil_temp_c", "°C", "Oil / tank temperature", -50.0, 150.0),
    Quantity("amb_temp_c", "°C", "Ambient temperature", -50.0, 150.0),
    Quantity("humidity_pct", "%", "Relative humidity", 0.0, 100.0),
)

METER_QUANTITIES: tuple[Quantity, ...] = (
    _v("v_v", "Voltage (single-phase meter)"),
    _v("v_a_v", "Phase A voltage"),
    _v("v_b_v", "Phase B voltage"),
    _v("v_c_v", "Phase C voltage"),
    Quantity("i_a", "A", "Current (single-phase meter)", 0.0, 1000.0),
    Quantity("i_a_a", "A", "Phase A current", 0.0, 1000.0),
    Quantity("i_b_a", "A", "Phase B current", 0.0, 1000.0),
    Quantity("i_c_a", "A", "Phase C current", 0.0, 1000.0),
    Quantity("p_kw", "kW", "Active power (negative: export)", -1000.0, 1000.0),
    Quantity("e_imp_kwh", "kWh", "Active energy import register", 0.0, None, register=True),
    Quantity("e_exp_kwh", "kWh", "Active energy export register", 0.0, None, register=True),
)

DAILY_QUANTITIES: tuple[Quantity, ...] = (
    Quantity("e_imp_kwh", "kWh", "Import register frozen at 00:00", 0.0, None, register=True),
    Quantity("e_exp_kwh", "kWh", "Export register frozen at 00:00", 0.0, None, register=True),
)

EVENT_KINDS: tuple[str, ...] = (
    "power_down", "power_up", "phase_loss", "phase_restore", "cover_open", "ct_reverse",
    "clock_error", "overload", "over_temperature", "door_open", "meter_reset",
)  # fmt: skip

INTERVALS_MIN: tuple[int, ...] = (1, 5, 15, 30, 60)

# Phases a terminal may report for a meter of its list (three-phase meters: ABC).
METER_PHASES: tuple[str, ...] = ("A", "B", "C", "ABC")

MessageType = Literal[
    "dt_interval", "meter_interval", "meter_daily", "event", "terminal_meters", "command_ack"
]
MESSAGE_TYPES: tuple[str, ...] = (
    "dt_interval", "meter_interval", "meter_daily", "event", "terminal_meters", "command_ack",
)  # fmt: skip

QUANTITIES_BY_TYPE: dict[str, tuple[Quantity, ...]] = {
    "dt_interval": DT_QUANTITIES,
    "meter_interval": METER_QUANTITIES,
    "meter_daily": DAILY_QUANTITIES,
}
