"""Voltage trend insights: classify each transformer's voltage problems as long-term, seasonal
or episodic and name the likely cause (../shared/DOMAIN.md; the rules are in
docs/monitoring.md).

Pure functions over per-day counts (``telemetry.VoltageDay``): no I/O, so the rules are tested
on data directly and the service only fetches and ranks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal, Protocol

TrendClass = Literal["long_term", "seasonal", "episodic", "recurring", "none"]
Cause = Literal["pv", "load", "tap_or_upstream", "upstream_event"]

CAUSE_TEXT: dict[str, str] = {
    "pv": "over-voltage at midday (with reverse power): PV export — check the tap position "
          "and the PV inverters' volt-var settings",
    "load": "under-voltage in the evening peak: load — check loading, phase balance and the "
            "tap position",
    "tap_or_upstream": "the whole station area is affected at all hours: tap position or the "
                       "MV supply — check the tap and the feeder voltage",
    "upstream_event": "a short isolated run on the whole station area: an MV disturbance "
                      "(sag/swell) — check the feeder's events at that time",
}  # fmt: skip


class DayCounts(Protocol):
    """What the rules read of one transformer-day (``telemetry.VoltageDay`` has it)."""

    @property
    def day(self) -> date: ...
    @property
    def n(self) -> int: ...
    @property
    def n_out(self) -> int: ...
    @property
    def n_over(self) -> int: ...
    @property
    def n_under(self) -> int: ...
    @property
    def n_over_midday(self) -> int: ...
    @property
    def n_over_reverse(self) -> int: ...
    @property
    def n_under_evening(self) -> int: ...


@dataclass(frozen=True, kw_only=True)
class TrendRules:
    """Thresholds of the classification (defaults; see docs/monitoring.md)."""

    bad_week_pct: float = 3.0
    """A week is *bad* when more than this share (%) of its supplied intervals is out of limits."""
    long_term_min_weeks: int = 13
    """Long-term needs at least this much history (weeks with data, ≈ 3 months)."""
    long_term_bad_share: float = 0.75
    """… and bad weeks in at least this share of the weeks with data."""
    seasonal_months: int = 3
    """Seasonal: at least ``seasonal_concentration`` of the out-of-limit intervals fall in at
    most this many calendar months, the history spanning at least ``long_term_min_weeks``."""
    seasonal_concentration: float = 0.8
    episodic_max_day_share: float = 0.15
    """Episodic: out-of-limit intervals on at most this share of the days with data …"""
    episodic_max_run_days: int = 3
    """… in runs of at most this many consecutive days."""
    cause_share: float = 0.5
    """A time-of-day signature (midday / evening) names the cause when it holds this share."""


@dataclass(frozen=True)
class WeekScore:
    week: date  # the Monday
    n: int
    n_out: int

    @property
    def out_pct(self) -> float:
        return round(100.0 * self.n_out / self.n, 2) if self.n else 0.0


@dataclass(frozen=True)
class Insight:
    """One transformer's classification with the evidence behind it."""

    trend: TrendClass
    cause: Cause | None
    weeks: list[WeekScore]
    bad_weeks: int
    days_with_breaches: int
    days: int
    longest_run_days: int
    n: int
    n_out: int
    n_over: int
    n_under: int
    worst_day: date | None
    breach_months: dict[str, int] = field(default_factory=dict)

    @property
    def out_pct(self) -> float:
        return round(100.0 * self.n_out / self.n, 3) if self.n else 0.0


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _longest_run(days: Sequence[date]) -> int:
    best = run = 0
    previous: date | None = None
    for d in sorted(days):
        run = run + 1 if previous is not None and d - previous == timedelta(days=1) else 1
        best = max(best, run)
        previous = d
    return best


def classify(days: Sequence[DayCounts], rules: TrendRules = TrendRules()) -> Insight:
    """Classify one transformer from its per-day counts (any order)."""
    weekly: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    months: dict[str, int] = defaultdict(int)
    tot = dict.fromkeys(("n", "n_out", "n_over", "n_under", "midday", "reverse", "evening"), 0)
    breach_days: list[date] = []
    worst: tuple[float, date | None] = (0.0, None)
    for d in days:
        w = weekly[_monday(d.day)]
        w[0] += d.n
        w[1] += d.n_out
        tot["n"] += d.n
        tot["n_out"] += d.n_out
        tot["n_over"] += d.n_over
        tot["n_under"] += d.n_under
        tot["midday"] += d.n_over_midday
        tot["reverse"] += d.n_over_reverse
        tot["evening"] += d.n_under_evening
        if d.n_out:
            breach_days.append(d.day)
            months[d.day.strftime("%Y-%m")] += d.n_out
            share = d.n_out / d.n if d.n else 0.0
            if share > worst[0]:
                worst = (share, d.day)
    weeks = [WeekScore(k, v[0], v[1]) for k, v in sorted(weekly.items()) if v[0]]
    bad = sum(1 for w in weeks if w.out_pct > rules.bad_week_pct)
    n_days = sum(1 for d in days if d.n)
    run = _longest_run(breach_days)
    trend: TrendClass
    if tot["n_out"] == 0:
        trend = "none"
    elif (len(breach_days) <= max(1.0, rules.episodic_max_day_share * n_days)
          and run <= rules.episodic_max_run_days):  # fmt: skip
        trend = "episodic"
    elif len(weeks) >= rules.long_term_min_weeks and bad >= rules.long_term_bad_share * len(weeks):
        trend = "long_term"
    elif (len(weeks) >= rules.long_term_min_weeks and tot["n_out"] > 0
          and sum(sorted(months.values(), reverse=True)[: rules.seasonal_months])
          >= rules.seasonal_concentration * tot["n_out"]):  # fmt: skip
        trend = "seasonal"
    else:
        trend = "recurring"
    cause: Cause | None = None
    if trend != "none":
        if tot["n_over"] >= tot["n_under"]:
            pv = tot["midday"] >= rules.cause_share * tot["n_over"] or (
                tot["reverse"] >= rules.cause_share * tot["n_over"]
            )
            cause = "pv" if pv else None
        elif trend != "episodic":  # a short run of under-voltage is an event, not the load
            load = tot["evening"] >= rules.cause_share * tot["n_under"]
            cause = "load" if load else None
        if cause is None:
            cause = "upstream_event" if trend == "episodic" else "tap_or_upstream"
    return Insight(
        trend=trend, cause=cause, weeks=weeks, bad_weeks=bad, days_with_breaches=len(breach_days),
        days=n_days, longest_run_days=run, n=tot["n"], n_out=tot["n_out"], n_over=tot["n_over"],
        n_under=tot["n_under"], worst_day=worst[1], breach_months=dict(sorted(months.items())),
    )  # fmt: skip
