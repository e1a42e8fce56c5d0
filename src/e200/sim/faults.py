"""Fault injection with a labelled truth list.

Two kinds of faults:

* **grid faults** change the grid before anything is simulated or archived
  (:func:`inject_grid_faults`): archive errors (meter under the wrong transformer or phase, CT
  ratio wrong in the archive), a weak long cable at a feeder end (long-term low voltage) and an
  undersized transformer (seasonal overload);
* **timed faults** (:func:`plan_faults`) act during a simulated period: outages (feeder trip,
  transformer fuse, single phase, single customer; momentary ≤ 5 min or sustained; a share of
  last gasps lost), communication failures (baseline success rate, chronic bad terminals),
  meter faults (stopped register, clock drift, reversed wiring), theft, voltage sags, overload
  windows, frequency excursions and high harmonics.

Every fault is one :class:`Fault` in the truth list (``kind``, ``device`` — the asset number of
the faulted device, ``start``/``end`` in UTC or ``None`` for permanent, and ``params``). The
simulator applies exactly these, so the data shows what the truth says.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from e200.sim.grid import CABLES, STANDARD_CT, STANDARD_KVA, TRANSFORMER_DATA, SimGrid

SYSTEM_DEVICE = "GRID"  # device label of system-wide faults (frequency)
MOMENTARY_MAX = timedelta(minutes=5)


@dataclass(frozen=True)
class FaultConfig:
    """How many faults of each kind to inject (counts) and their parameters."""

    feeder_trips: int = 1
    transformer_fuses: int = 2
    phase_outages: int = 2
    customer_outages: int = 6
    momentary_share: float = 0.3
    last_gasp_lost_share: float = 0.2
    comm_success_rate: float = 0.998
    chronic_bad_terminals: int = 1
    chronic_success_rate: float = 0.6
    stopped_registers: int = 2
    clock_drifts: int = 1
    reversed_wiring: int = 1
    ct_ratio_wrong: int = 1
    theft: int = 3
    wrong_transformer: int = 3
    wrong_phase: int = 5
    low_voltage_ends: int = 1
    undersized_transformers: int = 1
    sags: int = 2
    high_taps: int = 0
    """Transformers whose off-load tap is set too high for the whole period (long-term
    over-voltage at the transformer; 0 in the default preset)."""
    seasonal_overvoltages: int = 0
    """Transformers with midday over-voltage for ``seasonal_days`` of the period (PV season;
    0 in the default preset)."""
    seasonal_days: float = 28.0
    overloads: int = 1
    frequency_excursions: int = 1
    harmonics: int = 1
    uplink_outages: int = 0
    """Terminals whose uplink is down for ``uplink_outage_hours``: they keep collecting and
    deliver the buffered readings when the link returns (late, not lost; 0 by default)."""
    uplink_outage_hours: float = 5.0
    terminal_failures: int = 0
    """Terminals (or their channel) dead for ``terminal_failure_hours``: neither the terminal
    nor any of its meters delivers anything then — the meters all fail together (0 by
    default). The meters keep their own readings, so an on-demand read afterwards gets them."""
    terminal_failure_hours: float = 8.0
    bad_meters: int = 0
    """Meters whose communication module fails most of the time (each reading delivered with
    ``bad_meter_success_rate``) for the whole period: scattered meter problems (0 by default)."""
    bad_meter_success_rate: float = 0.3

    @classmethod
    def none(cls) -> FaultConfig:
        """No fault at all (and every reading delivered): the clean reference."""
        zero = {f.name: 0 for f in fields(cls) if f.type in ("int", int)}
        return cls(**zero, comm_success_rate=1.0)

    def only(self, **counts: Any) -> FaultConfig:
        """No fault except the ones named (``FaultConfig().only(theft=2)``)."""
        base = {f.name: getattr(FaultConfig.none(), f.name) for f in fields(self)}
        base.update(counts)
        return FaultConfig(**base)


@dataclass(frozen=True)
class Fault:
    kind: str
    device: str
    start: datetime | None
    end: datetime | None
    params: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "device": self.device,
            "start": None if self.start is None else _iso(self.start),
            "end": None if self.end is None else _iso(self.end),
            "params": self.params,
        }


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- grid faults -------------------------------------------------------------------------------


def inject_grid_faults(grid: SimGrid, config: FaultConfig, seed: int) -> list[Fault]:
    """Apply archive errors and physical weak points to ``grid`` (in place); return the truth."""
    rng = random.Random(f"e200-gridfaults-{seed}")
    truth: list[Fault] = []
    by_feeder: dict[str, list[int]] = defaultdict(list)
    for a in grid.areas:
        by_feeder[a.transformer.feeder].append(a.index)
    taken: set[str] = set()

    def pick_meter(pred: Any = None) -> tuple[int, int] | None:
        for _ in range(200):
            a = rng.randrange(len(grid.areas))
            area = grid.areas[a]
            j = rng.randrange(len(area.meters))
            m = area.meters[j]
            if m.asset_number not in taken and (pred is None or pred(m)):
                taken.add(m.asset_number)
                return a, j
        return None

    for _ in range(config.wrong_transformer):
        got = pick_meter()
        if got is None:
            break
        area = grid.areas[got[0]]
        siblings = [i for i in by_feeder[area.transformer.feeder] if i != area.index]
        if not siblings:
            continue
        other = grid.areas[rng.choice(siblings)].transformer.asset_number
        m = area.meters[got[1]]
        m.archive_transformer = other
        truth.append(
            Fault(
                "archive_wrong_transformer",
                m.asset_number,
                None,
                None,
                {"actual": area.transformer.asset_number, "archive": other},
            )
        )
    for _ in range(config.wrong_phase):
        got = pick_meter(lambda m: m.phase != "ABC")
        if got is None:
            break
        m = grid.areas[got[0]].meters[got[1]]
        wrong = rng.choice([p for p in "ABC" if p != m.phase])
        m.archive_phase = wrong  # type: ignore[assignment]
        truth.append(
            Fault(
                "archive_wrong_phase",
                m.asset_number,
                None,
                None,
                {"actual": m.phase, "archive": wrong},
            )
        )
    for _ in range(config.ct_ratio_wrong):
        got = pick_meter(lambda m: m.ct_ratio > 1)
        if got is None:
            break
        m = grid.areas[got[0]].meters[got[1]]
        wrong_ct = float(rng.choice([c for c in STANDARD_CT if c != m.ct_ratio]))
        m.archive_ct_ratio = wrong_ct
        truth.append(
            Fault(
                "archive_ct_ratio_wrong",
                m.asset_number,
                None,
                None,
                {"actual": m.ct_ratio, "archive": wrong_ct},
            )
        )
    areas = list(range(len(grid.areas)))
    rng.shuffle(areas)
    for idx in areas[: config.low_voltage_ends]:
        area = grid.areas[idx]
        run_end = max(ln.to_node for ln in area.lines if ln.cable != "NYY 4x16")
        # The run ending at that node: lengthen it threefold on the thinnest cable.
        chain = []
        node = run_end
        parents = {ln.to_node: ln for ln in area.lines}
        while node in parents and node != 0:
            chain.append(parents[node])
            node = parents[node].from_node
        for ln in chain:
            ln.length_km = round(ln.length_km * 3.0, 4)
            ln.cable = "NAYY 4x50"
        nodes = {ln.to_node for ln in chain}
        ends = sorted(
            m.asset_number
            for m in area.meters
            if any(ln.to_node == m.node and ln.from_node in nodes for ln in area.lines)
        )
        truth.append(
            Fault(
                "low_voltage_feeder_end",
                area.transformer.asset_number,
                None,
                None,
                {"length_factor": 3.0, "cable": "NAYY 4x50", "meters": ends},
            )
        )
    for idx in areas[
        config.low_voltage_ends : config.low_voltage_ends + config.undersized_transformers
    ]:
        t = grid.areas[idx].transformer
        smaller = [k for k in STANDARD_KVA if k < t.rated_kva]
        if len(smaller) < 2:
            continue
        new = smaller[-2]
        truth.append(
            Fault(
                "undersized_transformer",
                t.asset_number,
                None,
                None,
                {"rated_kva": new, "was_kva": t.rated_kva},
            )
        )
        t.rated_kva = new
        t.no_load_loss_kw, t.load_loss_kw, t.uk_pct = TRANSFORMER_DATA[new]
    assert all(c in CABLES for a in grid.areas for c in (ln.cable for ln in a.lines))
    return truth


# -- timed faults ------------------------------------------------------------------------------


@dataclass
class Outage:
    start: datetime
    end: datetime
    scope: str  # "area" | "phase" | "meter"
    phase: str | None = None
    meter: int | None = None  # index in the area
    lost_gasps: frozenset[str] = frozenset()  # devices whose power_down is lost


@dataclass
class MeterFault:
    kind: str  # stopped | clock_drift | reversed | theft
    start: datetime
    end: datetime | None
    value: float = 0.0  # theft fraction, clock drift in minutes


@dataclass
class AreaFaults:
    outages: list[Outage] = field(default_factory=list)
    meter: dict[int, list[MeterFault]] = field(default_factory=lambda: defaultdict(list))
    chronic_success: float | None = None
    overloads: list[tuple[datetime, datetime, float]] = field(default_factory=list)
    # (start, end, load factor, phase): new load on one phase only (overload with unbalance);
    # not planned by default, a test adds it to a plan (truth kind ``overload``, ``phase``)
    phase_overloads: list[tuple[datetime, datetime, float, str]] = field(default_factory=list)
    sags: list[tuple[datetime, datetime, float]] = field(default_factory=list)
    harmonics: list[tuple[datetime, datetime, float]] = field(default_factory=list)
    # (start, end, voltage factor, midday only): tap too high, seasonal midday over-voltage
    voltage_shifts: list[tuple[datetime, datetime, float, bool]] = field(default_factory=list)
    # communication: (start, end) windows of a buffered uplink outage / a dead terminal, and
    # meter index -> the success rate of a bad meter
    uplink_outages: list[tuple[datetime, datetime]] = field(default_factory=list)
    dead_windows: list[tuple[datetime, datetime]] = field(default_factory=list)
    bad_meters: dict[int, float] = field(default_factory=dict)


@dataclass
class FaultPlan:
    config: FaultConfig
    truth: list[Fault]
    areas: dict[int, AreaFaults]
    frequency: list[tuple[datetime, datetime, float]]

    def for_area(self, index: int) -> AreaFaults:
        return self.areas.get(index) or AreaFaults()

    @classmethod
    def empty(cls) -> FaultPlan:
        return cls(FaultConfig.none(), [], {}, [])


def plan_faults(
    grid: SimGrid,
    config: FaultConfig,
    seed: int,
    start: datetime,
    end: datetime,
    grid_truth: list[Fault] | None = None,
) -> FaultPlan:
    """Timed faults for ``[start, end)``; the truth list includes ``grid_truth`` first."""
    rng = random.Random(f"e200-faults-{seed}-{int(start.timestamp())}")
    truth = list(grid_truth or [])
    areas: dict[int, AreaFaults] = defaultdict(AreaFaults)
    span = (end - start).total_seconds()
    lost = config.last_gasp_lost_share

    def when(max_dur_s: float, min_dur_s: float = 60.0) -> tuple[datetime, datetime]:
        dur = rng.uniform(min_dur_s, max_dur_s)
        t0 = start + timedelta(seconds=int(rng.uniform(0.05, 0.85) * max(span - dur, 1.0)))
        return t0, t0 + timedelta(seconds=int(dur))

    def outage_window() -> tuple[datetime, datetime, bool]:
        if rng.random() < config.momentary_share:
            t0, t1 = when(MOMENTARY_MAX.total_seconds() - 30, 20.0)
            return t0, t1, True
        t0, t1 = when(3 * 3600.0, 20 * 60.0)
        return t0, t1, False

    def lost_set(devices: list[str]) -> frozenset[str]:
        return frozenset(d for d in devices if rng.random() < lost)

    def area_devices(idx: int) -> list[str]:
        a = grid.areas[idx]
        return [a.terminal.asset_number, *(m.asset_number for m in a.meters)]

    feeders = sorted({a.transformer.feeder for a in grid.areas})
    for fd in rng.sample(feeders, min(config.feeder_trips, len(feeders))):
        t0, t1, momentary = outage_window()
        idxs = [a.index for a in grid.areas if a.transformer.feeder == fd]
        lost_all: list[str] = []
        for i in idxs:
            lg = lost_set(area_devices(i))
            lost_all += sorted(lg)
            areas[i].outages.append(Outage(t0, t1, "area", lost_gasps=lg))
        truth.append(
            Fault(
                "outage_feeder",
                fd,
                t0,
                t1,
                {
                    "momentary": momentary,
                    "transformers": [grid.areas[i].transformer.asset_number for i in idxs],
                    "lost_last_gasps": lost_all,
                },
            )
        )
    area_ids = list(range(len(grid.areas)))
    for i in rng.sample(area_ids, min(config.transformer_fuses, len(area_ids))):
        t0, t1, momentary = outage_window()
        lg = lost_set(area_devices(i))
        areas[i].outages.append(Outage(t0, t1, "area", lost_gasps=lg))
        truth.append(
            Fault(
                "outage_transformer",
                grid.areas[i].transformer.asset_number,
                t0,
                t1,
                {"momentary": momentary, "lost_last_gasps": sorted(lg)},
            )
        )
    for i in rng.sample(area_ids, min(config.phase_outages, len(area_ids))):
        a = grid.areas[i]
        ph = rng.choice("ABC")
        t0, t1, momentary = outage_window()
        down = [m.asset_number for m in a.meters if m.phase == ph]
        lg = lost_set(down)
        areas[i].outages.append(Outage(t0, t1, "phase", phase=ph, lost_gasps=lg))
        truth.append(
            Fault(
                "outage_phase",
                a.transformer.asset_number,
                t0,
                t1,
                {
                    "phase": ph,
                    "momentary": momentary,
                    "meters": down,
                    "lost_last_gasps": sorted(lg),
                },
            )
        )
    for _ in range(config.customer_outages):
        i = rng.randrange(len(grid.areas))
        a = grid.areas[i]
        j = rng.randrange(len(a.meters))
        t0, t1, momentary = outage_window()
        lg = lost_set([a.meters[j].asset_number])
        areas[i].outages.append(Outage(t0, t1, "meter", meter=j, lost_gasps=lg))
        truth.append(
            Fault(
                "outage_customer",
                a.meters[j].asset_number,
                t0,
                t1,
                {"momentary": momentary, "lost_last_gasps": sorted(lg)},
            )
        )
    for i in rng.sample(area_ids, min(config.chronic_bad_terminals, len(area_ids))):
        areas[i].chronic_success = config.chronic_success_rate
        truth.append(
            Fault(
                "comm_chronic",
                grid.areas[i].terminal.asset_number,
                start,
                None,
                {"success_rate": config.chronic_success_rate},
            )
        )

    used: set[tuple[int, int]] = set()

    def pick(pred: Any = None) -> tuple[int, int]:
        for _ in range(500):
            i = rng.randrange(len(grid.areas))
            j = rng.randrange(len(grid.areas[i].meters))
            if (i, j) not in used and (pred is None or pred(grid.areas[i].meters[j])):
                used.add((i, j))
                return i, j
        raise RuntimeError("no meter left to fault")

    def meter_fault(
        kind: str, truth_kind: str, value: float, params: dict[str, Any], pred: Any = None
    ) -> None:
        i, j = pick(pred)
        t0 = start + timedelta(minutes=15 * int(rng.uniform(0.1, 0.5) * span / 900))
        areas[i].meter[j].append(MeterFault(kind, t0, None, value))
        truth.append(Fault(truth_kind, grid.areas[i].meters[j].asset_number, t0, None, params))

    for _ in range(config.stopped_registers):
        meter_fault("stopped", "meter_stopped_register", 0.0, {})
    for _ in range(config.clock_drifts):
        minutes = float(15 * rng.randint(1, 3))  # the meter's clock runs ahead
        meter_fault("clock_drift", "meter_clock_drift", minutes, {"lead_min": minutes})
    for _ in range(config.reversed_wiring):
        meter_fault("reversed", "meter_reversed_wiring", 0.0, {}, lambda m: m.pv_kwp == 0)
    for _ in range(config.theft):
        frac = round(rng.uniform(0.3, 0.7), 2)
        meter_fault("theft", "theft", frac, {"bypassed_fraction": frac}, lambda m: m.pv_kwp == 0)

    for i in rng.sample(area_ids, min(config.overloads, len(area_ids))):
        t0, t1 = when(6 * 3600.0, 2 * 3600.0)
        factor = round(rng.uniform(1.8, 2.5), 2)
        areas[i].overloads.append((t0, t1, factor))
        truth.append(
            Fault(
                "overload", grid.areas[i].transformer.asset_number, t0, t1, {"load_factor": factor}
            )
        )
    for fd in rng.sample(feeders, min(config.sags, len(feeders))):
        t0, t1 = when(45 * 60.0, 15 * 60.0)
        depth = round(rng.uniform(0.80, 0.90), 3)
        for a in grid.areas:
            if a.transformer.feeder == fd:
                areas[a.index].sags.append((t0, t1, depth))
        truth.append(Fault("voltage_sag", fd, t0, t1, {"u_pu": depth}))
    for i in rng.sample(area_ids, min(config.harmonics, len(area_ids))):
        t0, t1 = when(8 * 3600.0, 3 * 3600.0)
        extra = round(rng.uniform(4.0, 7.0), 2)
        areas[i].harmonics.append((t0, t1, extra))
        truth.append(
            Fault(
                "high_harmonics",
                grid.areas[i].transformer.asset_number,
                t0,
                t1,
                {"thd_v_added_pct": extra},
            )
        )
    if config.high_taps or config.seasonal_overvoltages:
        sagged = {i for i, af in areas.items() if af.sags}
        free = [i for i in area_ids if i not in sagged]
        chosen = rng.sample(free, min(config.high_taps + config.seasonal_overvoltages, len(free)))
        for n, i in enumerate(chosen):
            trafo = grid.areas[i].transformer.asset_number
            if n < config.high_taps:
                areas[i].voltage_shifts.append((start, end, 1.075, False))
                truth.append(Fault("voltage_high_tap", trafo, None, None, {"u_factor": 1.075}))
                continue
            t0, t1 = when(config.seasonal_days * 86_400.0, config.seasonal_days * 86_400.0)
            areas[i].voltage_shifts.append((t0, t1, 1.075, True))
            truth.append(Fault("voltage_seasonal_high", trafo, t0, t1,
                               {"u_factor": 1.075, "hours": "10-16 solar time"}))  # fmt: skip
    _plan_comm_faults(grid, config, seed, start, end, areas, truth)
    freq: list[tuple[datetime, datetime, float]] = []
    for _ in range(config.frequency_excursions):
        t0, t1 = when(40 * 60.0, 15 * 60.0)
        hz = round(rng.choice((49.45, 49.6, 50.35)), 2)
        freq.append((t0, t1, hz))
        truth.append(Fault("frequency_excursion", SYSTEM_DEVICE, t0, t1, {"freq_hz": hz}))
    truth.sort(key=lambda f: (f.start.timestamp() if f.start else 0.0, f.kind, f.device))
    return FaultPlan(config, truth, dict(areas), freq)


def _plan_comm_faults(grid: SimGrid, config: FaultConfig, seed: int, start: datetime,
                      end: datetime, areas: dict[int, AreaFaults], truth: list[Fault]
                      ) -> None:  # fmt: skip
    """Uplink outages, dead terminals and bad meters — drawn from a random stream of their own,
    so that plans without them stay exactly as they were. Windows are whole 15-min steps."""
    if not (config.uplink_outages or config.terminal_failures or config.bad_meters):
        return
    rng = random.Random(f"e200-commfaults-{seed}-{int(start.timestamp())}")
    chronic = {i for i, af in areas.items() if af.chronic_success is not None}
    free = [a.index for a in grid.areas if a.index not in chronic]
    rng.shuffle(free)
    step = 15 * 60
    span_steps = int((end - start).total_seconds() // step)

    def window(hours: float) -> tuple[datetime, datetime]:
        n = max(1, int(hours * 3600 // step))
        k0 = rng.randrange(max(span_steps - n, 1))
        return start + timedelta(seconds=k0 * step), start + timedelta(seconds=(k0 + n) * step)

    picked = free[: config.uplink_outages + config.terminal_failures]
    for n, i in enumerate(picked):
        t0, t1 = window(config.uplink_outage_hours if n < config.uplink_outages
                        else config.terminal_failure_hours)  # fmt: skip
        terminal = grid.areas[i].terminal.asset_number
        if n < config.uplink_outages:
            areas[i].uplink_outages.append((t0, t1))
            truth.append(Fault("comm_uplink_outage", terminal, t0, t1, {"buffered": True}))
        else:
            areas[i].dead_windows.append((t0, t1))
            truth.append(Fault("comm_terminal_down", terminal, t0, t1, {}))
    others = [i for i in free if i not in picked] or free
    for _ in range(config.bad_meters):
        i = rng.choice(others)
        j = rng.randrange(len(grid.areas[i].meters))
        if j in areas[i].bad_meters:
            continue
        areas[i].bad_meters[j] = config.bad_meter_success_rate
        truth.append(Fault("comm_meter_bad", grid.areas[i].meters[j].asset_number, start, None,
                           {"success_rate": config.bad_meter_success_rate}))  # fmt: skip
