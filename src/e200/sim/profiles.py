"""Load and generation shapes.

Standard load profiles are a built-in rendering of the BDEW shapes (H0 household, G0 commercial,
L0 agricultural): hourly shapes for workday/Saturday/Sunday in winter and summer, interpolated
to the step, with the BDEW H0 dynamisation polynomial for the season. demandlib is not used:
it would pull pandas into the runtime and its calendar handling is tied to German holidays;
the shapes here have the same daily structure (morning, noon and evening peaks) and scale.

Each customer gets a deterministic time shift, a multiplicative AR(1) noise with mean one and
occasional appliance spikes. PV follows the solar elevation (clear sky) times a daily cloudiness
with intra-day fluctuation. All randomness is keyed by ``(seed, area, day)`` so any day can be
computed on its own and gives the same numbers in a backfill and in a live run.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from e200.sim.grid import Meter

F64 = npt.NDArray[np.float64]

# Hourly shapes (relative), index = local hour 0..23.
_H0_WINTER_WD = [
    70,
    55,
    48,
    45,
    45,
    52,
    80,
    115,
    125,
    120,
    118,
    128,
    145,
    135,
    118,
    110,
    118,
    145,
    180,
    195,
    185,
    165,
    135,
    100,
]
_H0_SUMMER_WD = [
    75,
    58,
    50,
    46,
    45,
    48,
    68,
    100,
    112,
    112,
    115,
    128,
    145,
    135,
    120,
    112,
    115,
    128,
    145,
    155,
    160,
    165,
    140,
    105,
]
_H0_SAT = [
    80,
    62,
    52,
    48,
    46,
    48,
    60,
    85,
    115,
    135,
    145,
    155,
    165,
    150,
    130,
    122,
    125,
    140,
    160,
    170,
    165,
    155,
    135,
    105,
]
_H0_SUN = [
    85,
    66,
    55,
    50,
    47,
    47,
    52,
    65,
    95,
    130,
    155,
    175,
    185,
    160,
    130,
    118,
    120,
    135,
    155,
    165,
    160,
    150,
    125,
    95,
]
_G0_WD = [
    45,
    42,
    40,
    40,
    42,
    50,
    75,
    120,
    165,
    180,
    185,
    180,
    170,
    175,
    180,
    175,
    165,
    140,
    110,
    85,
    70,
    60,
    52,
    48,
]
_G0_WE = [
    45,
    42,
    40,
    40,
    40,
    42,
    45,
    55,
    70,
    80,
    85,
    85,
    80,
    75,
    70,
    65,
    62,
    60,
    58,
    55,
    52,
    50,
    48,
    46,
]
_L0 = [
    60,
    55,
    52,
    52,
    60,
    95,
    140,
    150,
    130,
    115,
    110,
    115,
    120,
    112,
    108,
    110,
    125,
    150,
    160,
    140,
    115,
    95,
    78,
    66,
]


def _norm(values: list[int]) -> F64:
    arr = np.asarray(values + values[:1], dtype=np.float64)  # wrap for interpolation
    return arr / float(np.mean(values))


_SHAPES: dict[str, F64] = {
    "h0_w": _norm(_H0_WINTER_WD),
    "h0_s": _norm(_H0_SUMMER_WD),
    "h0_sat": _norm(_H0_SAT),
    "h0_sun": _norm(_H0_SUN),
    "g0_wd": _norm(_G0_WD),
    "g0_we": _norm(_G0_WE),
    "l0": _norm(_L0),
}


def dynamisation(doy: F64) -> F64:
    """BDEW H0 dynamisation factor for the day of the year (winter ≈ 1.24, summer ≈ 0.8)."""
    d = doy
    return -3.92e-10 * d**4 + 3.2e-7 * d**3 - 7.02e-5 * d**2 + 2.1e-3 * d + 1.24


def _interp(arr: F64, hour: F64) -> F64:
    i = np.floor(hour).astype(np.int64)
    frac = hour - i
    return arr[i] * (1 - frac) + arr[i + 1] * frac


def _shapes(profile: str, hours: F64) -> F64:
    """Relative load for local times given as hours since 2000-01-01 00:00 local (any shape)."""
    day = np.floor(hours / 24.0)
    hod = hours - day * 24.0
    wd = (day.astype(np.int64) + 5) % 7  # 2000-01-01 was a Saturday
    doy = np.mod(day - 0.0, 365.2425)  # close enough for a seasonal blend
    if profile == "g0":
        return np.where(
            wd < 5,
            _interp(_SHAPES["g0_wd"], hod),
            0.9 * _interp(_SHAPES["g0_we"], hod),
        )
    if profile == "l0":
        return _interp(_SHAPES["l0"], hod)
    summer = 0.5 - 0.5 * np.cos(2 * np.pi * (doy - 15) / 365.0)
    work = 0.98 * (
        (1 - summer) * _interp(_SHAPES["h0_w"], hod) + summer * _interp(_SHAPES["h0_s"], hod)
    )
    sat = 1.05 * _interp(_SHAPES["h0_sat"], hod)
    sun = 1.08 * _interp(_SHAPES["h0_sun"], hod)
    return np.where(wd == 5, sat, np.where(wd == 6, sun, work))


def step_times(day_start: datetime, steps: int, interval_min: int) -> list[datetime]:
    """Midpoints of the steps of one chunk (UTC)."""
    return [day_start + timedelta(minutes=interval_min * (k + 0.5)) for k in range(steps)]


def _rng(seed: int, purpose: int, area: int, day: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, purpose, area, day]))


def day_number(ts: datetime) -> int:
    return (ts.date() - datetime(2000, 1, 1).date()).days


def customer_load(
    meters: list[Meter], mids: list[datetime], tz: str, seed: int, area: int
) -> tuple[F64, F64]:
    """Active and reactive consumption (kW, kvar) per step and meter, before PV."""
    zone = ZoneInfo(tz)
    n, m = len(mids), len(meters)
    rng = _rng(seed, 1, area, day_number(mids[0]))
    shift_rng = _rng(seed, 2, area, 0)  # per-customer habits do not change from day to day
    shifts = shift_rng.normal(0.0, 0.6, m)  # hours
    annual = np.array([mt.annual_kwh for mt in meters])
    base = datetime(2000, 1, 1)
    local_h = np.array(
        [(t.astimezone(zone).replace(tzinfo=None) - base).total_seconds() / 3600 for t in mids]
    )
    hours = local_h[:, None] + shifts[None, :]
    p = np.empty((n, m))
    profiles = np.array([mt.profile for mt in meters])
    for prof in ("h0", "g0", "l0"):
        cols = np.flatnonzero(profiles == prof)
        if cols.size:
            p[:, cols] = _shapes(prof, hours[:, cols])
    doy = np.mod(np.floor(local_h / 24.0) + 1.0, 365.2425)  # ≈ day of the year
    dyn = dynamisation(doy)
    h0 = profiles == "h0"
    p[:, h0] *= dyn[:, None]
    p *= annual[None, :] / 8760.0
    # AR(1) multiplicative noise (mean one) and appliance spikes.
    sigma, phi = 0.35, 0.75
    eps = rng.normal(0.0, sigma * math.sqrt(1 - phi * phi), (n, m))
    x = np.empty((n, m))
    x[0] = rng.normal(0.0, sigma, m)
    for k in range(1, n):
        x[k] = phi * x[k - 1] + eps[k]
    p *= np.exp(x - sigma * sigma / 2)
    spikes = rng.random((n, m)) < 0.03
    p += spikes * rng.uniform(0.5, 2.5, (n, m)) * (annual[None, :] / 3000.0)
    tan = np.tan(np.arccos(np.array([mt.pf for mt in meters])))
    q = p * tan[None, :]
    return p, q


def weather(mids: list[datetime], seed: int, lat: float) -> tuple[F64, F64, F64]:
    """Ambient temperature (°C), humidity (%) and cloudiness factor (0–1) per step."""
    n = len(mids)
    rng = _rng(seed, 3, 0, day_number(mids[0]))
    doy = np.array([float(t.timetuple().tm_yday) for t in mids])
    hour_local = np.array([(t.hour + t.minute / 60.0 + 8.0) % 24 for t in mids])
    day_offset = rng.normal(0.0, 2.5)
    amb = (
        16.0
        - 11.0 * np.cos(2 * np.pi * (doy - 20) / 365.0)
        + day_offset
        + 4.5 * np.sin(2 * np.pi * (hour_local - 9.0) / 24.0)
        + rng.normal(0, 0.3, n)
    )
    humidity = np.clip(75 - 1.2 * (amb - 16) + rng.normal(0, 3, n), 20, 100)
    clear = rng.beta(2.2, 1.2)  # daily clearness: mostly sunny, sometimes overcast
    fluct = np.clip(1.0 - (1 - clear) * rng.random(n) * 1.4, 0.05, 1.0)
    clouds = np.clip(clear * 0.6 + 0.4 * fluct, 0.05, 1.0)
    return amb, humidity, clouds


def pv_output(
    meters: list[Meter], mids: list[datetime], lat: float, lon: float, clouds: F64
) -> F64:
    """PV output (kW) per step and meter from the solar elevation and the clouds."""
    kwp = np.array([mt.pv_kwp for mt in meters])
    if not kwp.any():
        return np.zeros((len(mids), len(meters)))
    doy = np.array([float(t.timetuple().tm_yday) for t in mids])
    solar_hour = np.array([t.hour + t.minute / 60.0 + lon / 15.0 for t in mids]) % 24
    decl = np.radians(23.44) * np.sin(2 * np.pi * (284 + doy) / 365.0)
    ha = np.radians(15.0 * (solar_hour - 12.0))
    phi = math.radians(lat)
    sin_el = math.sin(phi) * np.sin(decl) + math.cos(phi) * np.cos(decl) * np.cos(ha)
    irr = np.clip(sin_el, 0.0, None) ** 1.2 * clouds
    return irr[:, None] * kwp[None, :] * 0.8  # type: ignore[no-any-return]
