"""Deterministic grid builder: org tree, substations, feeders, station areas (a distribution
transformer, its terminal and a radial low-voltage network) and the customers' meters.

Everything is plain dataclasses and a pure function of ``(sizes, seed)``: the same seed gives the
same asset numbers, ratings, cable lengths and customers. The archive view of a meter (which
transformer/phase/CT ratio the archive *says*) is kept apart from the physical truth so that
archive errors can be injected (see :mod:`e200.sim.faults`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

GRID_SINCE = datetime(2026, 1, 1, tzinfo=UTC)
STANDARD_KVA = (25, 50, 100, 160, 200, 250, 315, 400, 500, 630)
STANDARD_CT = (20, 30, 40, 60, 80)  # 100/5 … 400/5 A
# 10/0.4 kV Dyn11 oil transformers (typical catalogue values): kVA -> (no-load kW, load kW, uk %)
TRANSFORMER_DATA: dict[int, tuple[float, float, float]] = {
    25: (0.09, 0.60, 4.0),
    50: (0.13, 0.91, 4.0),
    100: (0.20, 1.58, 4.0),
    160: (0.28, 2.31, 4.0),
    200: (0.34, 2.73, 4.0),
    250: (0.40, 3.20, 4.0),
    315: (0.48, 3.83, 4.0),
    400: (0.57, 4.52, 4.0),
    500: (0.68, 5.41, 4.0),
    630: (0.81, 6.20, 4.5),
}


@dataclass(frozen=True)
class CableType:
    name: str
    r1: float  # ohm/km
    x1: float
    r0: float
    x0: float
    i_n: float  # A


CABLES: dict[str, CableType] = {
    c.name: c
    for c in (
        CableType("NAYY 4x150", 0.206, 0.080, 0.824, 0.320, 270.0),
        CableType("NAYY 4x95", 0.320, 0.082, 1.280, 0.328, 215.0),
        CableType("NAYY 4x50", 0.641, 0.085, 2.564, 0.340, 142.0),
        CableType("NYY 4x16", 1.150, 0.090, 4.600, 0.360, 90.0),
    )
}


@dataclass(frozen=True)
class GridSizes:
    regions: int = 2
    units_per_region: int = 1
    substations_per_unit: int = 2
    feeders_per_substation: int = 3
    transformers_per_feeder: int = 5
    meters_per_transformer: int = 50  # mean; actual counts vary ±40 % by area

    @property
    def transformers(self) -> int:
        return (
            self.regions
            * self.units_per_region
            * self.substations_per_unit
            * self.feeders_per_substation
            * self.transformers_per_feeder
        )


PRESETS: dict[str, GridSizes] = {
    "tiny": GridSizes(1, 1, 1, 2, 2, 12),
    "demo": GridSizes(2, 1, 2, 3, 5, 50),  # 60 transformers, ≈3,000 meters
    "city": GridSizes(4, 2, 5, 5, 5, 50),  # 1,000 transformers, ≈50,000 meters
    "province": GridSizes(10, 5, 8, 5, 5, 50),  # 10,000 transformers, ≈500,000 meters
}

Phase = Literal["A", "B", "C", "ABC"]


@dataclass
class OrgUnit:
    code: str
    name: str
    kind: str
    parent: str | None


@dataclass
class Substation:
    asset_number: str
    name: str
    voltage_kv: float
    lat: float
    lon: float
    org_unit: str


@dataclass
class Feeder:
    asset_number: str
    name: str
    substation: str
    org_unit: str
    voltage_kv: float = 10.0


@dataclass
class Line:
    """One LV cable section between two nodes of a station area (node 0 is the LV busbar)."""

    from_node: int
    to_node: int
    cable: str
    length_km: float


@dataclass
class Meter:
    asset_number: str
    customer_account: str
    customer_name: str
    wiring: Literal["single_phase", "three_phase"]
    phase: Phase
    node: int  # LV node the service cable ends at
    profile: Literal["h0", "g0", "l0"]
    annual_kwh: float
    pv_kwp: float
    pf: float
    ct_ratio: float  # physical CT (1 = direct connected); registers count secondary energy
    register0_kwh: float  # import register on GRID_SINCE
    accuracy_bias: float  # relative error of the register (class 1: |bias| well below 1 %)
    lat: float
    lon: float
    # What the archive says (differs from the truth where an archive error was injected).
    archive_transformer: str = ""
    archive_phase: Phase = "A"
    archive_ct_ratio: float = 1.0


@dataclass
class Transformer:
    asset_number: str
    name: str
    rated_kva: int
    feeder: str
    org_unit: str
    no_load_loss_kw: float
    load_loss_kw: float
    uk_pct: float
    lat: float
    lon: float
    primary_kv: float = 10.0
    secondary_v: float = 400.0
    vector_group: str = "Dyn11"


@dataclass
class Terminal:
    asset_number: str
    transformer: str
    interval_min: int = 15


@dataclass
class StationArea:
    """One distribution transformer, its terminal and the radial LV network it feeds."""

    index: int
    transformer: Transformer
    terminal: Terminal
    nodes: int  # LV nodes including the busbar (node 0)
    lines: list[Line]
    meters: list[Meter]


@dataclass
class SimGrid:
    seed: int
    sizes: GridSizes
    since: datetime
    org_units: list[OrgUnit]
    substations: list[Substation]
    feeders: list[Feeder]
    areas: list[StationArea]
    company: str = "DEMO"
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def meters(self) -> list[Meter]:
        return [m for a in self.areas for m in a.meters]

    def area_of(self, transformer: str) -> StationArea:
        for a in self.areas:
            if a.transformer.asset_number == transformer:
                return a
        raise KeyError(transformer)


def sample_grid(grid: SimGrid, share: float) -> SimGrid:
    """A stratified sample: every ``1/share``-th feeder with all its station areas, in order
    across regions, units and substations (whole feeders, so archive errors that point at a
    sibling transformer stay inside the sample). Areas keep their ``index``: their simulated
    data is exactly what they get in the full grid. Inject faults into the full grid first."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    step = max(1, round(1 / share))
    feeders = grid.feeders[::step]
    kept = {f.asset_number for f in feeders}
    stations = {f.substation for f in feeders}
    return SimGrid(
        seed=grid.seed,
        sizes=grid.sizes,
        since=grid.since,
        org_units=list(grid.org_units),
        substations=[s for s in grid.substations if s.asset_number in stations],
        feeders=feeders,
        areas=[a for a in grid.areas if a.transformer.feeder in kept],
        company=grid.company,
        meta={**grid.meta, "sample_share": len(feeders) / max(len(grid.feeders), 1)},
    )


_SURNAMES = [
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Huang",
    "Zhao",
    "Wu",
    "Zhou",
    "Otieno",
    "Kamau",
    "Wanjiru",
    "Mwangi",
    "Achieng",
    "Njoroge",
]
_REGIONS = [
    ("NORTH", "North", "N", 31.30, 121.45),
    ("SOUTH", "South", "S", 31.10, 121.50),
    ("EAST", "East", "E", 31.20, 121.70),
    ("WEST", "West", "W", 31.20, 121.25),
    ("CENTRAL", "Central", "C", 31.22, 121.47),
]


def _region(i: int) -> tuple[str, str, str, float, float]:
    if i < len(_REGIONS):
        return _REGIONS[i]
    n = i + 1
    return (f"R{n:02d}", f"Region {n}", f"R{n:02d}", 30.0 + 0.3 * (n % 7), 120.0 + 0.3 * (n % 9))


def build_grid(preset: str | GridSizes = "demo", seed: int = 200) -> SimGrid:
    """Build a grid for a preset name (``tiny``, ``demo``, ``city``, ``province``) or sizes."""
    sizes = PRESETS[preset] if isinstance(preset, str) else preset
    rng = random.Random(f"e200-grid-{seed}")
    orgs = [OrgUnit("DEMO", "Demo Power Company", "company", None)]
    substations: list[Substation] = []
    feeders: list[Feeder] = []
    areas: list[StationArea] = []
    n_dt = sizes.transformers
    # Unique 12-digit meter numbers and 8-digit accounts, drawn once (stable for the seed).
    n_max = int(n_dt * sizes.meters_per_transformer * 1.45) + 16
    meter_numbers = iter(rng.sample(range(10**11, 10**12), n_max))
    accounts = iter(rng.sample(range(10**7, 10**8), n_max))
    for r in range(sizes.regions):
        code, label, short, lat0, lon0 = _region(r)
        orgs.append(OrgUnit(code, f"{label} Region", "region", "DEMO"))
        for u in range(1, sizes.units_per_region + 1):
            unit = f"{code}-OU{u}"
            orgs.append(
                OrgUnit(
                    unit,
                    f"{label} City Operations" if u == 1 else f"{label} Operations {u}",
                    "operating_unit",
                    code,
                )
            )
            for s in range(1, sizes.substations_per_unit + 1):
                s_no = (u - 1) * sizes.substations_per_unit + s
                sub = f"SS-{short}{s_no:02d}"
                s_lat, s_lon = lat0 + s_no * 0.02, lon0 + rng.uniform(-0.02, 0.02)
                substations.append(
                    Substation(
                        sub, f"{label} {s_no} 110 kV", 110.0, round(s_lat, 6), round(s_lon, 6), unit
                    )
                )
                for f in range(1, sizes.feeders_per_substation + 1):
                    fd = f"{sub}-F{f}"
                    feeders.append(Feeder(fd, f"Feeder {f}", sub, unit))
                    for t in range(1, sizes.transformers_per_feeder + 1):
                        areas.append(
                            _area(
                                rng,
                                len(areas),
                                f"{fd}-T{t}",
                                fd,
                                unit,
                                sizes,
                                s_lat + f * 0.004,
                                s_lon + t * 0.004,
                                meter_numbers,
                                accounts,
                            )
                        )
    return SimGrid(seed, sizes, GRID_SINCE, orgs, substations, feeders, areas)


def _area(
    rng: random.Random,
    index: int,
    dt: str,
    feeder: str,
    unit: str,
    sizes: GridSizes,
    lat: float,
    lon: float,
    nums: Iterator[int],
    accs: Iterator[int],
) -> StationArea:
    mean = sizes.meters_per_transformer
    n_meters = max(3, round(mean * rng.uniform(0.6, 1.4)))
    # Diversified peak ≈ 1.6 kVA per household; sized with a random margin (some areas tight).
    need = n_meters * 1.6 * rng.uniform(0.75, 1.5)
    kva = next((k for k in STANDARD_KVA if k >= need), STANDARD_KVA[-1])
    p0, pk, uk = TRANSFORMER_DATA[kva]
    trafo = Transformer(
        dt,
        f"Station area {dt}",
        kva,
        feeder,
        unit,
        p0,
        pk,
        uk,
        round(lat + rng.uniform(-0.002, 0.002), 6),
        round(lon + rng.uniform(-0.002, 0.002), 6),
    )
    terminal = Terminal(f"TTU-{dt}", dt)
    # Radial LV network: 2–4 cable runs from the busbar, poles every 25–45 m.
    runs = 2 if n_meters < 30 else (3 if n_meters < 70 else 4)
    main = "NAYY 4x150" if kva >= 250 else ("NAYY 4x95" if kva >= 100 else "NAYY 4x50")
    lines: list[Line] = []
    poles: list[list[int]] = []
    node = 1
    per_run = math.ceil(n_meters / runs)
    for _ in range(runs):
        n_poles = max(2, math.ceil(per_run / rng.choice((3, 4, 5))))
        prev, run_nodes = 0, []
        for k in range(n_poles):
            cable = main if k < n_poles * 0.6 else "NAYY 4x50" if kva < 250 else "NAYY 4x95"
            lines.append(Line(prev, node, cable, round(rng.uniform(0.025, 0.045), 4)))
            run_nodes.append(node)
            prev, node = node, node + 1
        poles.append(run_nodes)
    meters: list[Meter] = []
    for m in range(n_meters):
        run = poles[m % runs]
        pole = run[min(len(run) - 1, (m // runs) * len(run) // per_run)]
        lines.append(Line(pole, node, "NYY 4x16", round(rng.uniform(0.010, 0.040), 4)))
        three = rng.random() < 0.05
        commercial = rng.random() < 0.08
        profile: Literal["h0", "g0", "l0"] = (
            "g0" if commercial else ("l0" if rng.random() < 0.03 else "h0")
        )
        annual = rng.lognormvariate(math.log(2600), 0.45) * (3.0 if three else 1.0)
        if commercial:
            annual *= 2.5
        ct = float(rng.choice(STANDARD_CT)) if three and rng.random() < 0.5 else 1.0
        phase: Phase = "ABC" if three else "ABC"[rng.randrange(3)]  # type: ignore[assignment]
        pv = round(rng.choice((3.0, 4.5, 6.0, 8.0)), 1) if rng.random() < 0.12 else 0.0
        meters.append(
            Meter(
                asset_number=f"M{next(nums)}",
                customer_account=f"CA{next(accs)}",
                customer_name=f"{rng.choice(_SURNAMES)} {'shop' if commercial else 'household'}",
                wiring="three_phase" if three else "single_phase",
                phase=phase,
                node=node,
                profile=profile,
                annual_kwh=round(annual, 1),
                pv_kwp=pv,
                pf=round(rng.uniform(0.93, 0.99), 3),
                ct_ratio=ct,
                register0_kwh=round(rng.uniform(100, 30000) / ct, 2),
                accuracy_bias=rng.gauss(0, 0.002),
                lat=round(lat + rng.uniform(-0.003, 0.003), 6),
                lon=round(lon + rng.uniform(-0.003, 0.003), 6),
                archive_transformer=dt,
                archive_phase=phase,
                archive_ct_ratio=ct,
            )
        )
        node += 1
    return StationArea(index, trafo, terminal, node, lines, meters)
