"""The acquisition-quality dashboard: a day's success, completeness, timeliness and online rates
for the user's scope with the counts behind them; every org unit as a tree-table and the station
areas on the map coloured by completeness; the trend of the last 30 days; the weak points (units
and terminals by what they cost, chronic missers, terminal-wide versus scattered failures); the
drill-down org unit → terminal → meter → its missing intervals; re-collection of a terminal's
missing points, followed until the terminal answers, then the day recomputed."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from nicegui import events, ui
from sqlalchemy import Connection

from e200 import archives, quality, terminal
from e200.console.charts import MapPoint, fleet_map_svg
from e200.console.i18n import t
from e200.console.layout import frame
from e200.console.session import Session
from e200.console.widgets import attempt, notify_error, when
from e200.kernel import Permission, Principal, Scope

RATES = (
    "success_rate_pct",
    "completeness_rate_pct",
    "timeliness_rate_pct",
    "online_rate_pct",
    "online_time_rate_pct",
)
TREND_DAYS = 30


def rate_colour(rate: float | None) -> str:
    """Green at ≥ 99 %, amber from 95 %, red below; grey when nothing was expected."""
    if rate is None:
        return "#9e9e9e"
    if rate >= 99.0:
        return "#2e7d32"
    if rate >= 95.0:
        return "#f9a825"
    return "#c62828"


def pct(rate: float | None) -> str:
    return t("empty_value") if rate is None else f"{rate:.2f} %"


class QualityView:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.tz = session.console.tz
        self.tz_name = session.console.settings.timezone
        self.day = quality.local_today(self.tz_name) - timedelta(days=1)
        self.unit: str | None = None
        self.terminal: str | None = None
        self.commands: list[dict[str, Any]] = []
        self.following = False  # a re-collection is waiting for its terminal

    async def build(self, day: str | None, org_unit: str | None) -> None:
        ui.page_title(f"{t('quality.title')} · {t('app.title')}")
        frame("quality", self.session)
        if day:
            with contextlib.suppress(ValueError):  # a mistyped day: show yesterday
                self.day = date.fromisoformat(day)
        self.unit = org_unit or None
        with ui.column().classes("w-full q-pa-md gap-3").style("max-width: 1600px"):
            with ui.row().classes("w-full items-center gap-3"):
                ui.label(t("quality.title")).classes("text-h5 text-weight-medium")
                ui.space()
                self.day_input = ui.input(
                    t("quality.day"), value=self.day.isoformat(), on_change=self._on_day
                ).props("outlined dense type=date stack-label")
                ui.button(t("quality.recompute"), icon="refresh", on_click=self.recompute).props(
                    "flat no-caps"
                )
            self.kpis = (
                ui.element("div")
                .classes("w-full")
                .style(
                    "display:grid;gap:12px;grid-template-columns:repeat(auto-fill,minmax(220px,1fr))"
                )
            )
            with ui.row().classes("w-full gap-3 no-wrap items-start"):
                with ui.card().classes("col-7 q-pa-none").props("flat bordered"):
                    self.units = (
                        ui.table(
                            columns=self._unit_columns(), rows=[], row_key="org_unit", pagination=0
                        )
                        .props(
                            f'flat dense hide-bottom role=region aria-label="{t("quality.units")}"'
                        )
                        .classes("w-full")
                    )
                    self.units.add_slot("body", _UNIT_BODY)
                    self.units.on("unit", self._on_unit)
                with ui.column().classes("col gap-3"):
                    with ui.card().classes("w-full q-pa-sm").props("flat bordered"):
                        ui.label(t("quality.map")).classes("text-subtitle2 text-grey-8")
                        self.map = ui.html("").classes("w-full")
                    with ui.card().classes("w-full q-pa-sm").props("flat bordered"):
                        self.trend_title = ui.label("").classes("text-subtitle2 text-grey-8")
                        self.trend = (
                            ui.echart(_trend_option([]))
                            .classes("w-full h-56")
                            .props("id=quality-trend")
                        )
            self.drill = ui.column().classes("w-full gap-2")
            self.weak = ui.column().classes("w-full gap-2")
        await self.load()
        # One timer for the page, made here: one made inside the drill-down would be deleted
        # (and its invocation cancelled) when the drill-down is re-drawn.
        ui.timer(1.0, self._follow)

    # -- reading -------------------------------------------------------------------------------

    def _read(self, conn: Connection, scope: Scope) -> tuple[Any, ...]:
        summary = quality.summary(conn, scope, day_from=self.day, day_to=self.day)
        trend = quality.trend(
            conn,
            scope,
            org_unit=self.unit,
            day_to=self.day,
            day_from=self.day - timedelta(days=TREND_DAYS - 1),
        )
        terminals = quality.devices(
            conn, scope, kind="terminal", day=self.day, org_unit=self.unit, limit=5000
        )
        sites = archives.transformer_sites(conn, scope, org_unit_code=self.unit)
        weak = quality.weak_points(conn, scope, day=self.day, org_unit=self.unit, limit=10)
        return summary, trend, terminals, sites, weak

    async def load(self) -> None:
        summary, trend, terminals, sites, weak = await self.session.reader.read(self._read)
        self._kpis(summary.total)
        self.units.rows = [_unit_row(u, self.unit) for u in summary.units]
        self.units.update()
        self._map(terminals.items, sites)
        self.trend_title.set_text(t("quality.trend", unit=self.unit or t("quality.all")))
        self.trend.options.clear()
        self.trend.options.update(_trend_option(trend.points))
        self.trend.update()
        self._weak_points(weak)
        await self._drill()

    def _kpis(self, total: Any) -> None:
        self.kpis.clear()
        with self.kpis:
            if total is None:
                ui.label(t("quality.not_computed", day=self.day.isoformat())).classes(
                    "text-grey-7"
                ).props("role=status")
                return
            facts = {
                "success_rate_pct": t("quality.counts_success", ok=total.daily_ok, n=total.meters),
                "completeness_rate_pct": t(
                    "quality.counts_points",
                    got=total.received,
                    n=total.expected,
                    missing=total.missing,
                ),
                "timeliness_rate_pct": t("quality.counts_late", ok=total.on_time, late=total.late),
                "online_rate_pct": t(
                    "quality.counts_online", ok=total.terminals_online, n=total.terminals
                ),
                "online_time_rate_pct": t(
                    "quality.counts_time",
                    h=round(total.online_s / 3600),
                    n=round(total.span_s / 3600),
                ),
            }
            for rate in RATES:
                value = getattr(total, rate)
                card = ui.card().props(f'flat bordered role=group aria-label="{t(f"rate.{rate}")}"')
                with card.classes("q-pa-sm gap-0"):
                    ui.label(t(f"rate.{rate}")).classes("text-subtitle2 text-grey-8")
                    ui.label(pct(value)).classes("text-h5 text-weight-bold").style(
                        f"color: {rate_colour(value)}"
                    )
                    ui.label(facts[rate]).classes("text-caption text-grey-7")

    @staticmethod
    def _unit_columns() -> list[dict[str, Any]]:
        names = ("org_unit", *RATES[:4], "missing")
        return [
            {
                "name": n,
                "field": n,
                "label": t(f"rate.{n}") if n in RATES else t(f"quality.col.{n}"),
                "align": "left" if n == "org_unit" else "right",
            }
            for n in names
        ]

    def _map(self, terminals: list[Any], sites: list[Any]) -> None:
        """Each station area (transformer) coloured by its meters' completeness of the day."""
        rate_by_terminal = {
            d.asset_number: (
                d.completeness_rate_pct
                if d.completeness_rate_pct is not None
                else d.dt_completeness_rate_pct
            )
            for d in terminals
        }
        fill = {
            s.asset_number: rate_colour(rate_by_terminal.get(s.terminal))
            for s in sites
            if s.terminal
        }
        points = [MapPoint(s.asset_number, s.lat, s.lon, "online", None, None, 0) for s in sites]
        svg, _ = fleet_map_svg(
            points,
            lambda a: self.session.console.url(f"/transformers/{quote(a, safe='')}"),
            fill_of=fill,
        )
        self.map.set_content(svg)

    # -- weak points -----------------------------------------------------------------------------

    def _weak_points(self, weak: Any) -> None:
        self.weak.clear()
        with (
            self.weak,
            ui.card()
            .classes("w-full gap-2")
            .props(f'flat bordered role=region aria-label="{t("quality.weak")}"'),
        ):
            ui.label(t("quality.weak")).classes("text-h6")
            with ui.row().classes("w-full gap-6 items-start"):
                with ui.column().classes("gap-1"):
                    ui.label(t("quality.weak_units")).classes("text-subtitle2")
                    for u in weak.units.get("completeness", [])[:8]:
                        ui.link(
                            f"{u.name} ({u.org_unit}) · −{u.rate_drop_pct:.2f} pp · "
                            f"{t('quality.lost', n=u.lost)}",
                            self._url(unit=u.org_unit),
                        ).classes("text-body2")
                with ui.column().classes("gap-1"):
                    ui.label(t("quality.weak_terminals")).classes("text-subtitle2")
                    for x in weak.terminals.get("completeness", [])[:8]:
                        ui.button(
                            f"{x.terminal} · {pct(x.rate_pct)} · {t('quality.lost', n=x.lost)}",
                            on_click=lambda _, n=x.terminal: self.open_terminal(n),
                        ).props("flat dense no-caps align=left")
                with ui.column().classes("gap-1"):
                    ui.label(t("quality.diagnoses")).classes("text-subtitle2")
                    for d in weak.diagnoses[:8]:
                        ui.label(
                            f"{d.terminal}: {t(f'quality.problem.{d.problem}')} — {d.reason}"
                        ).classes("text-body2")
                with ui.column().classes("gap-1"):
                    ui.label(t("quality.chronic", n=weak.n, m=weak.m)).classes("text-subtitle2")
                    for c in weak.chronic[:8]:
                        ui.label(
                            t(
                                "quality.chronic_item",
                                asset=c.asset_number,
                                days=c.days_missing,
                                m=c.days_computed,
                            )
                        ).classes("text-body2")
                    if weak.never_reported:
                        ui.label(t("quality.never", n=len(weak.never_reported))).classes(
                            "text-body2 text-negative"
                        )

    # -- drill-down ------------------------------------------------------------------------------

    def _url(self, *, unit: str | None) -> str:
        query = f"?day={self.day.isoformat()}" + (f"&org_unit={quote(unit)}" if unit else "")
        return "/quality" + query  # for ui.link, which adds the mount path

    async def _on_day(self, e: events.ValueChangeEventArguments[Any]) -> None:
        try:
            self.day = date.fromisoformat(str(e.value))
        except ValueError:
            return
        await self.load()

    async def _on_unit(self, e: events.GenericEventArguments) -> None:
        self.unit = str(e.args) or None
        self.terminal = None
        await self.load()

    async def open_terminal(self, number: str) -> None:
        self.terminal = number
        await self._drill()

    async def _drill(self) -> None:
        """The chosen unit's terminals (worst first); a chosen terminal's failing meters."""
        self.drill.clear()
        if self.unit is None and self.terminal is None:
            return
        unit, number, day = self.unit, self.terminal, self.day

        def read(conn: Connection, scope: Scope) -> tuple[Any, Any, Any]:
            terminals = quality.devices(
                conn, scope, kind="terminal", day=day, org_unit=unit, limit=500
            )
            # the terminals ranked by the meter points they lost (their own rows count their
            # transformer's curve)
            ranked = quality.weak_points(conn, scope, day=day, org_unit=unit, limit=500)
            meters = None
            if number is not None:
                meters = quality.devices(
                    conn,
                    scope,
                    kind="meter",
                    day=day,
                    terminal_number=number,
                    only_failing=True,
                    limit=500,
                )
            return terminals, ranked, meters

        terminals, ranked, meters = await self.session.reader.read(read)
        own = {d.asset_number: d for d in terminals.items}
        with self.drill:
            with (
                ui.card()
                .classes("w-full gap-1")
                .props(f'flat bordered role=region aria-label="{t("quality.terminals")}"')
            ):
                ui.label(t("quality.terminals_of", unit=unit or t("quality.all"))).classes(
                    "text-h6"
                )
                for r in ranked.terminals.get("completeness", [])[:30]:
                    d = own.get(r.terminal)
                    with ui.row().classes("w-full items-center gap-3 no-wrap"):
                        ui.button(
                            r.terminal, on_click=lambda _, n=r.terminal: self.open_terminal(n)
                        ).props("flat dense no-caps color=primary")
                        ui.label(
                            t(
                                "quality.terminal_line",
                                completeness=pct(r.rate_pct),
                                missing=r.lost,
                                online=pct(d.online_time_rate_pct if d else None),
                            )
                        ).classes("text-body2")
            if number is not None and meters is not None:
                self._meters(number, meters)

    def _meters(self, number: str, meters: Any) -> None:
        can_send = self.session.can(Permission.SEND_COMMANDS)
        with (
            ui.card()
            .classes("w-full gap-1")
            .props(
                f'flat bordered role=region aria-label="{t("quality.meters_of", terminal=number)}"'
            )
        ):
            with ui.row().classes("w-full items-center gap-3"):
                ui.label(t("quality.meters_of", terminal=number)).classes("text-h6")
                ui.space()
                if can_send:
                    ui.button(
                        t("quality.recollect"),
                        icon="replay",
                        on_click=lambda: self.recollect(number),
                    ).props("unelevated no-caps color=primary")
            self.command_line = (
                ui.label("").classes("text-body2").props('data-testid="recollect-status"')
            )
            if not meters.items:
                ui.label(t("quality.no_failing")).classes("text-grey-7")
            for m in meters.items[:100]:
                with ui.row().classes("w-full items-center gap-3 no-wrap"):
                    ui.button(
                        m.asset_number, on_click=lambda _, a=m.asset_number: self.show_missing(a)
                    ).props("flat dense no-caps color=primary")
                    ui.label(
                        t("quality.meter_line", missing=m.missing, late=m.late, n=m.expected)
                    ).classes("text-body2")

    async def show_missing(self, meter: str) -> None:
        day, tz = self.day, self.tz_name
        found = await self.session.reader.read(
            lambda conn, scope: quality.missing_intervals(conn, scope, meter, day, tz)
        )
        with ui.dialog() as dialog, ui.card().classes("q-pa-md gap-2").style("min-width: 560px"):
            ui.label(t("quality.missing_of", meter=meter, day=day.isoformat())).classes("text-h6")
            ui.label(
                t(
                    "quality.missing_counts",
                    got=found.received,
                    n=found.expected,
                    missing=len(found.missing),
                    late=len(found.late),
                )
            )
            ui.echart(_missing_option(found, self.tz)).classes("w-full h-24")
            with (
                ui.element("div")
                .props(f'role=list aria-label="{t("quality.missing_list")}"')
                .classes("row q-gutter-xs")
            ):
                for ts in found.missing[:200]:
                    ui.badge(when(ts, self.tz)[-5:]).props("role=listitem outline color=negative")
            ui.button(t("common.close"), on_click=dialog.close).props("flat no-caps")
        dialog.open()

    # -- re-collection -------------------------------------------------------------------------

    async def recollect(self, number: str) -> None:
        day = self.day

        def call(conn: Connection, p: Principal) -> Any:
            return quality.recollect(
                conn,
                quality.RecollectIn(day=day, terminals=[number]),
                p.scope,
                self.tz_name,
                p.username,
            )

        done, out = await attempt(
            self.session,
            lambda: self.session.change(
                "recollect",
                call,
                permission=Permission.SEND_COMMANDS,
                target=number,
                detail={"day": day.isoformat(), "terminals": [number]},
            ),
            notify_error,
        )
        if not done or out is None:
            return
        if not out.commands:
            self.command_line.set_text(t("quality.nothing_missing"))
            return
        self.commands = [{"id": c.command_id, "terminal": c.terminal} for c in out.commands]
        self._command_text(out.commands[0].status, out.commands[0].missing_points)
        self.following = True

    def _command_text(self, status: str, points: int | None = None) -> None:
        text = t("quality.recollect_status", status=t(f"command_status.{status}"))
        if points is not None:
            text += " · " + t("quality.points_asked", n=points)
        self.command_line.set_text(text)
        self.command_line.props(f'data-status="{status}"')

    async def _follow(self) -> None:
        """Follow the command until the terminal answers; then recompute the day."""
        if not self.following:
            return
        ids = [c["id"] for c in self.commands]
        rows = await self.session.reader.read(
            lambda conn, scope: [terminal.get_command(conn, i, scope) for i in ids]
        )
        status = rows[0]["status"]
        self._command_text(status)
        if status in ("acked", "failed", "expired"):
            self.following = False
            if status == "acked":
                self.command_line.set_text(
                    self.command_line.text + " · " + t("quality.recomputing")
                )
                if await self.recompute():  # the drill-down was re-drawn: a new status line
                    self._command_text("acked")
                    self.command_line.set_text(
                        self.command_line.text
                        + " · "
                        + t("quality.recomputed", day=self.day.isoformat())
                    )

    async def recompute(self) -> bool:
        day, tz = self.day, self.tz_name

        def call(conn: Connection, _: Principal) -> Any:
            return quality.compute_day(conn, day, tz)

        done, _ = await attempt(
            self.session,
            lambda: self.session.change(
                "compute", call, permission=Permission.VIEW_DATA, detail={"day": day.isoformat()}
            ),
            notify_error,
        )
        if done:
            ui.notify(t("quality.recomputed", day=day.isoformat()), type="positive")
            await self.load()
        return done


def _unit_row(u: Any, chosen: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "org_unit": u.org_unit,
        "name": u.name,
        "depth": u.depth,
        "missing": u.missing,
        "chosen": u.org_unit == chosen,
    }
    for rate in RATES[:4]:
        value = getattr(u, rate)
        row[rate] = pct(value)
        row[rate + "_colour"] = rate_colour(value)
    return row


def _trend_option(points: list[Any]) -> dict[str, Any]:
    days = [p.period for p in points]
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 48, "right": 16, "top": 32, "bottom": 28},
        "xAxis": {"type": "category", "data": days},
        "yAxis": {"type": "value", "name": "%", "scale": True, "max": 100},
        "series": [
            {
                "name": t(f"rate.{rate}"),
                "type": "line",
                "showSymbol": False,
                "data": [getattr(p, rate) for p in points],
            }
            for rate in RATES[:4]
        ],
    }


def _missing_option(found: Any, tz: Any) -> dict[str, Any]:
    """The day as a strip: missing intervals red, late ones amber."""
    data = [[ts.isoformat(), 1, "missing"] for ts in found.missing] + [
        [ts.isoformat(), 1, "late"] for ts in found.late
    ]
    return {
        "grid": {"left": 8, "right": 8, "top": 8, "bottom": 24},
        "xAxis": {"type": "time"},
        "yAxis": {"show": False, "max": 1},
        "series": [
            {
                "type": "bar",
                "barWidth": 3,
                "data": [d[:2] for d in data if d[2] == k],
                "itemStyle": {"color": c},
                "name": t(f"quality.strip_{k}"),
            }
            for k, c in (("missing", "#c62828"), ("late", "#f9a825"))
        ],
    }


_UNIT_BODY = r"""
<q-tr :props="props" :class="props.row.chosen ? 'bg-blue-1' : ''">
  <q-td key="org_unit" :props="props">
    <a href="#" class="text-primary" :style="{paddingLeft: (props.row.depth * 14) + 'px'}"
       @click.prevent="$parent.$emit('unit', props.row.org_unit)">
      {{ props.row.name }} ({{ props.row.org_unit }})</a>
  </q-td>
  <q-td v-for="rate in ['success_rate_pct', 'completeness_rate_pct', 'timeliness_rate_pct',
                        'online_rate_pct']" :key="rate" :props="props"
        :style="{color: props.row[rate + '_colour'], fontWeight: 600}">{{ props.row[rate] }}</q-td>
  <q-td key="missing" :props="props">{{ props.row.missing }}</q-td>
</q-tr>"""
