"""Acquisition quality against the simulator's truth, through the real ingest pipeline.

The ``demo`` grid (60 station areas, 2,996 meters, 5 org units) over three local days in
Asia/Shanghai, replayed in the order and at the time the master station receives each delivery
(``e200.sim.replay``) with injected communication failures: the 0.2 % baseline loss, a chronic
bad terminal (60 % success), two buffered uplink outages (late, not lost), two dead terminals
(8 h, everything lost) and six bad meters (30 % success). Three days, not seven: the replay
ingests ~290,000 readings a local day (≈ 8 s each on two shared cores), and three days already
make the defaults N = 3 of M = 7 meaningful (a chronic misser fails on all three).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from e200 import quality, terminal
from e200.api import create_app
from e200.bus import Delivery, MemoryBus, open_sink
from e200.config import Settings
from e200.db import EmbeddedPostgres, make_engine
from e200.sim import FaultConfig, FaultPlan, SimGrid, build_grid, load_grid, plan_faults
from e200.sim.replay import answer_read, encode, replay
from e200.sim.simulate import AreaDay, day_start
from e200.telemetry import Pipeline
from tests.users import api_key

TZ = "Asia/Shanghai"
DAYS = [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]
SEED = 7
K = 3  # offline after k reporting intervals
T = timedelta(minutes=15)  # one reporting interval (every demo terminal reports every 15 min)
FAULTS = FaultConfig().only(comm_success_rate=0.998, chronic_bad_terminals=1, uplink_outages=2,
                            terminal_failures=2, bad_meters=6)  # fmt: skip
COUNT_KEYS = ("meters", "daily_ok", "expected", "received", "on_time", "late", "missing",
              "terminals", "terminals_online", "dt_expected", "dt_received",
              "dt_on_time")  # fmt: skip


@dataclass
class Truth:
    """What the simulator sent and when it arrived, counted by the definitions."""

    grid: SimGrid
    units: dict[str, str | None]  # org unit -> parent
    # (local day, org unit) -> counts; terminal -> instants it was heard from
    counts: dict[tuple[date, str], dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    heard: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    keep: set[str] = field(default_factory=set)  # terminals whose area-days are kept
    held: dict[tuple[str, date], AreaDay] = field(default_factory=dict)  # for the re-read

    def add(self, unit: str, day: date, key: str, value: float = 1) -> None:
        u: str | None = unit
        while u is not None:
            self.counts[(day, u)][key] += value
            u = self.units[u]


def local_day(ts: datetime) -> date:
    """The local day an interval ending at ``ts`` belongs to (00:00 closes the previous one)."""
    return (ts - timedelta(microseconds=1)).astimezone(ZoneInfo(TZ)).date()


def observe(truth: Truth, ad: AreaDay, start: datetime, end: datetime) -> None:
    unit = ad.area.transformer.org_unit
    term = ad.area.terminal.asset_number
    if term in truth.keep:
        truth.held[(term, ad.ends[0].date())] = ad
    steps = [k for k, ts in enumerate(ad.ends) if start < ts <= end]
    by_day: dict[date, list[int]] = defaultdict(list)
    for k in steps:
        by_day[local_day(ad.ends[k])].append(k)
    on_time = np.array([ad.deliver_at[k] - ad.ends[k] <= T for k in range(len(ad.ends))])
    m = len(ad.area.meters)
    for day, ks in by_day.items():
        idx = np.array(ks)
        sent, dt_sent, timely = ad.meter_send[idx], ad.dt_send[idx], on_time[idx]
        truth.add(unit, day, "dt_expected", len(ks))
        truth.add(unit, day, "dt_received", int(dt_sent.sum()))
        truth.add(unit, day, "dt_on_time", int((dt_sent & timely).sum()))
        truth.add(unit, day, "expected", len(ks) * m)
        truth.add(unit, day, "received", int(sent.sum()))
        truth.add(unit, day, "on_time", int((sent & timely[:, None]).sum()))
        truth.add(unit, day, "late", int((sent & ~timely[:, None]).sum()))
        truth.add(unit, day, "missing", int((~sent).sum()))
    for k in steps:
        if ad.dt_send[k]:
            truth.heard[term].append(ad.deliver_at[k])
        ts = ad.ends[k]
        if ts.hour == 0 and ts.minute == 0 and ts.date() in DAYS:
            # the frozen reading dated ts.date() is local day ts.date()'s
            deadline = quality.day_bounds(ts.date(), TZ)[1]
            ok = int(ad.meter_send[k].sum()) if ad.deliver_at[k] <= deadline else 0
            truth.add(unit, ts.date(), "daily_ok", ok)


def liveness(truth: Truth) -> None:
    """Online at each day's end and seconds online in it, from the instants heard."""
    silent = K * T
    for area in truth.grid.areas:
        heard = sorted(set(truth.heard[area.terminal.asset_number]))
        unit = area.transformer.org_unit
        for day in DAYS:
            d0, d1 = quality.day_bounds(day, TZ)
            inside = [r for r in heard if d0 - silent <= r < d1]
            secs = 0.0
            for i, r in enumerate(inside):
                nxt = inside[i + 1] if i + 1 < len(inside) else d1
                secs += max((min(r + silent, nxt, d1) - max(r, d0)).total_seconds(), 0.0)
            truth.add(unit, day, "online_s", secs)
            truth.add(unit, day, "span_s", (d1 - d0).total_seconds())
            truth.add(unit, day, "terminals")
            truth.add(unit, day, "terminals_online",
                      float(bool(inside) and inside[-1] >= d1 - silent))  # fmt: skip
            for _ in area.meters:
                truth.add(unit, day, "meters")


@dataclass
class Scenario:
    engine: Engine
    client: TestClient
    truth: Truth
    plan: FaultPlan
    grid: SimGrid
    seconds: dict[date, float]


@pytest.fixture(scope="module")
def scenario(pg_cluster: EmbeddedPostgres, template_db: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:  # fmt: skip
    admin = pg_cluster.url.replace("+psycopg", "").rsplit("/", 1)[0] + "/postgres"
    name = f"e200_q_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    engine = make_engine(pg_cluster.url.rsplit("/", 1)[0] + f"/{name}", pool_size=2)
    grid = build_grid("demo", SEED)
    load_grid(engine, grid)
    start = quality.day_bounds(DAYS[0], TZ)[0]
    end = quality.day_bounds(DAYS[-1], TZ)[1]
    plan = plan_faults(grid, FAULTS, SEED, start, end)
    units = {u.code: u.parent for u in grid.org_units}
    truth = Truth(grid, units)
    truth.keep = {f.device for f in plan.truth if f.kind == "comm_terminal_down"}
    res = replay(engine, grid, start, end, seed=SEED, plan=plan,
                 on_area_day=lambda ad: observe(truth, ad, start, end))  # fmt: skip
    assert res.quarantined == 0, res.reasons
    liveness(truth)
    seconds = {}
    for day in DAYS:
        with engine.begin() as conn:
            seconds[day] = quality.compute_day(conn, day, TZ).seconds
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("q")), database_url="unused://",
                        timezone=TZ)  # fmt: skip
    with TestClient(create_app(settings, engine, console=False)) as client:
        client.headers["X-API-Key"] = api_key(engine)
        yield Scenario(engine, client, truth, plan, grid, seconds)
    engine.dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _units(client: TestClient, **params: Any) -> dict[str, dict[str, Any]]:
    r = client.get("/api/v1/quality/summary", params=params)
    assert r.status_code == 200, r.text
    return {u["org_unit"]: u for u in r.json()["units"]}


def _compare(got: dict[str, Any], want: dict[str, float], where: str) -> None:
    for key in COUNT_KEYS:
        assert got[key] == int(want.get(key, 0)), (where, key, got[key], want.get(key, 0))
    for key in ("online_s", "span_s"):
        assert got[key] == pytest.approx(want.get(key, 0.0), abs=1e-3), (where, key)


def test_rates_equal_the_truth_for_every_org_unit_and_day(scenario: Scenario) -> None:
    truth = scenario.truth
    assert len(truth.units) == 5  # company, 2 regions, 2 operating units
    for day in DAYS:
        units = _units(scenario.client, day=day.isoformat())
        assert set(units) == set(truth.units)
        for code in truth.units:
            _compare(units[code], truth.counts[(day, code)], f"{day} {code}")
    # a range sums the days; the rates follow from the counts
    units = _units(scenario.client, **{"from": DAYS[0].isoformat(), "to": DAYS[-1].isoformat()})
    for code in truth.units:
        want: dict[str, float] = defaultdict(float)
        for day in DAYS:
            for k, v in truth.counts[(day, code)].items():
                want[k] += v
        _compare(units[code], want, f"range {code}")
    top = units["DEMO"]
    want = defaultdict(float)
    for day in DAYS:
        for k, v in truth.counts[(day, "DEMO")].items():
            want[k] += v
    assert top["completeness_rate_pct"] == pytest.approx(100 * want["received"] / want["expected"],
                                                         abs=1e-4)  # fmt: skip
    assert top["timeliness_rate_pct"] == pytest.approx(100 * want["on_time"] / want["expected"],
                                                       abs=1e-4)  # fmt: skip
    assert top["late"] > 0 and top["missing"] > 0 and top["online_time_rate_pct"] < 100
    print(f"\nDEMO over {len(DAYS)} days: success {top['success_rate_pct']:.3f} %, completeness "
          f"{top['completeness_rate_pct']:.3f} %, timeliness {top['timeliness_rate_pct']:.3f} %, "
          f"online {top['online_rate_pct']:.3f} % (time-weighted "
          f"{top['online_time_rate_pct']:.3f} %); compute s/day: "
          f"{', '.join(f'{s:.2f}' for s in scenario.seconds.values())}")  # fmt: skip


def _pr(found: set[str], wanted: set[str]) -> tuple[float, float]:
    hits = len(found & wanted)
    return (hits / len(found) if found else 1.0, hits / len(wanted) if wanted else 1.0)


def test_weak_points_identify_the_injected_failures(scenario: Scenario) -> None:
    r = scenario.client.get("/api/v1/quality/weak-points", params={"day": DAYS[-1].isoformat()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["n"] == 3 and body["m"] == 7 and len(body["days"]) == 3
    truth = scenario.plan.truth
    chronic_terminal = {f.device for f in truth if f.kind == "comm_chronic"}
    dead = {f.device for f in truth if f.kind == "comm_terminal_down"}
    bad = {f.device for f in truth if f.kind == "comm_meter_bad"}
    meters_of = {a.terminal.asset_number: {m.asset_number for m in a.meters}
                 for a in scenario.grid.areas}  # fmt: skip
    want_chronic = bad | {m for t in chronic_terminal for m in meters_of[t]}
    got_chronic = {c["asset_number"] for c in body["chronic"] if c["kind"] == "meter"}
    wide = {d["terminal"] for d in body["diagnoses"] if d["problem"] == "terminal"}
    meter_problems = {m for d in body["diagnoses"] if d["problem"] == "meter"
                      for m in d["failing_meters"]}  # fmt: skip
    results = {
        "chronic missers": _pr(got_chronic, want_chronic),
        "terminal-wide failures": _pr(wide, chronic_terminal | dead),
        "meter problems": _pr(meter_problems, bad),
    }
    print()
    for what, (p, rc) in results.items():
        print(f"{what}: precision {p:.3f}, recall {rc:.3f}")
    assert all(p == 1.0 and rc == 1.0 for p, rc in results.values()), results
    # ranking: the chronic terminal costs completeness most on its own
    top_terminal = body["terminals"]["completeness"][0]
    assert top_terminal["terminal"] in chronic_terminal | dead
    assert body["units"]["completeness"][0]["lost"] >= top_terminal["lost"]
    assert body["never_reported"] == []


def test_trend_by_day_and_month(scenario: Scenario) -> None:
    r = scenario.client.get("/api/v1/quality/trend", params={
        "org_unit": "DEMO", "from": DAYS[0].isoformat(), "to": DAYS[-1].isoformat()})  # fmt: skip
    assert r.status_code == 200, r.text
    points = r.json()["points"]
    assert [p["period"] for p in points] == [d.isoformat() for d in DAYS]
    for p, day in zip(points, DAYS, strict=True):
        _compare(p, scenario.truth.counts[(day, "DEMO")], f"trend {day}")
    r = scenario.client.get("/api/v1/quality/trend", params={
        "org_unit": "DEMO", "from": DAYS[0].isoformat(), "to": DAYS[-1].isoformat(),
        "step": "month"})  # fmt: skip
    (month,) = r.json()["points"]
    assert month["period"] == "2026-03"
    assert month["expected"] == sum(scenario.truth.counts[(d, "DEMO")]["expected"] for d in DAYS)


def test_recollection_raises_the_rates_without_double_counting(scenario: Scenario) -> None:
    """The dead terminals' meters miss hours of points; an on-demand read gets them back, the
    recompute counts them once (late), and a second recompute changes nothing."""
    client = scenario.client
    dead = sorted({f.device for f in scenario.plan.truth if f.kind == "comm_terminal_down"})

    def meters_of(day: date) -> dict[str, dict[str, Any]]:
        r = client.get("/api/v1/quality/meters", params={"day": day.isoformat(), "limit": 5000})
        return {m["asset_number"]: m for m in r.json()["items"]}

    # the day the dead terminals lost most
    day = max(DAYS, key=lambda d: sum(m["missing"] for m in meters_of(d).values()
                                      if m["terminal"] in dead))  # fmt: skip
    before = meters_of(day)
    drill = next(m for m in before.values() if m["terminal"] == dead[0] and m["missing"])
    r = client.get(f"/api/v1/quality/meters/{drill['asset_number']}/missing",
                   params={"day": day.isoformat()})  # fmt: skip
    assert r.status_code == 200 and len(r.json()["missing"]) == drill["missing"], r.text
    r = client.post("/api/v1/quality/recollect", json={"day": day.isoformat(), "terminals": dead})
    assert r.status_code == 202, r.text
    out = r.json()
    assert {c["terminal"] for c in out["commands"]} == {
        t
        for t in dead
        if any(m["terminal"] == t and (m["missing"] or not m["daily_ok"]) for m in before.values())
    }
    # the dispatcher sends them; the simulated terminals answer with what their meters hold
    bus = f"q-{uuid.uuid4().hex[:6]}"
    with scenario.engine.begin() as conn:
        sent = terminal.dispatch_due(conn, open_sink(f"memory://{bus}"), "memory",
                                     terminal.DownlinkPolicy())  # fmt: skip
    # (meter-list syncs may be queued too: loading the grid announced its relations)
    commands = [orjson.loads(p) for _, p, _ in MemoryBus.get(bus).take(1000, 0.0)]
    reads = [c for c in commands if c["kind"] == "read_now"]
    assert sent["sent"] == len(commands) and len(reads) == len(out["commands"])

    def held(term: str, start: datetime) -> list[AreaDay]:
        first = day_start(start)
        return [
            ad
            for (t, d), ad in scenario.truth.held.items()
            if t == term and first.date() <= d <= (first + timedelta(days=1)).date()
        ]

    answers = [Delivery(encode(answer_read(c, held)), "sim", "reply") for c in reads]
    pipe = Pipeline(scenario.engine)
    pipe.hooks.append(terminal.ack_hook)
    res = pipe.process(answers, "sim")
    assert res.quarantined == 0 and res.duplicates > 0  # what was stored already stays once
    units_before = _units(client, day=day.isoformat())
    for _ in range(2):
        r = client.post("/api/v1/quality/compute", json={"day": day.isoformat()})
        assert r.status_code == 200, r.text
        after = meters_of(day)
        assert len(after) == len(before)
        for number, m in after.items():
            b = before[number]
            if m["terminal"] in dead:
                assert m["missing"] == 0 and m["received"] == m["expected"], m
                assert m["late"] == b["late"] + b["missing"] and m["on_time"] == b["on_time"]
            else:
                assert {k: m[k] for k in COUNT_KEYS} == {k: b[k] for k in COUNT_KEYS}
        units = _units(client, day=day.isoformat())
        top, was = units["DEMO"], units_before["DEMO"]
        gained = sum(b["missing"] for b in before.values() if b["terminal"] in dead)
        assert top["received"] == was["received"] + gained
        assert top["completeness_rate_pct"] > was["completeness_rate_pct"]
        assert top["timeliness_rate_pct"] == was["timeliness_rate_pct"]
    for c in out["commands"]:
        assert client.get(f"/api/v1/commands/{c['command_id']}").json()["status"] == "acked"
    print(
        f"\nre-collection of {day}: {gained} points back, completeness "
        f"{was['completeness_rate_pct']:.3f} % → {top['completeness_rate_pct']:.3f} %"
    )


def test_day_bounds_follow_daylight_saving() -> None:
    assert quality.day_bounds(date(2026, 3, 29), "Europe/Berlin") == (
        datetime(2026, 3, 28, 23, tzinfo=UTC),
        datetime(2026, 3, 29, 22, tzinfo=UTC),
    )
    start, end = quality.day_bounds(date(2026, 10, 25), "Europe/Berlin")
    assert (end - start) == timedelta(hours=25)
