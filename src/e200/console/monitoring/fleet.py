"""The fleet page: every transformer in the user's scope on a map and in a sortable table — status
colour, loading, voltage span, active alarms — filterable by org unit, refreshed live."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from nicegui import events, ui
from sqlalchemy import Connection

from e200 import alarms, archives, monitoring
from e200.console.charts import (
    SEVERITY_COLOUR,
    STATUS_COLOUR,
    MapPoint,
    filled,
    fleet_map_svg,
)
from e200.console.i18n import t
from e200.console.layout import frame
from e200.console.live import AlarmFeed
from e200.console.monitoring.transformer import INTERVALS
from e200.console.session import Session
from e200.console.widgets import attempt, notify_error, when
from e200.kernel import Permission, Principal, Scope

REFRESH_S = 15.0  # readings arrive every 5–60 min; alarms come through the feed at once
MAX_TRANSFORMERS = 5000


def transformer_url(session: Session, asset_number: str) -> str:
    return session.console.url(f"/transformers/{quote(asset_number, safe='')}")


class FleetView:
    def __init__(self, session: Session, feed: AlarmFeed) -> None:
        self.session = session
        self.feed = feed
        self.tz = session.console.tz
        self.org_unit: str | None = None
        self.seen = feed.seq
        self.reload_pending = False

    async def build(self, org_unit: str | None) -> None:
        ui.page_title(f"{t('fleet.title')} · {t('app.title')}")
        frame("fleet", self.session)
        units = await self.session.reader.read(
            lambda conn, scope: archives.list_org_units(conn, scope)
        )
        options = {"": t("fleet.all_units")} | {
            u.code: "  " * u.depth + f"{u.name} ({u.code})" for u in units}  # fmt: skip
        self.org_unit = org_unit if org_unit in options else None
        with ui.column().classes("w-full q-pa-md gap-3"):
            with ui.row().classes("w-full items-center gap-3"):
                ui.label(t("fleet.title")).classes("text-h5 text-weight-medium")
                ui.space()
                ui.link(t("voltage.title"), "/voltage").classes(
                    "text-primary")  # fmt: skip
                ui.select(
                    options, value=self.org_unit or "", label=t("fleet.org_unit"),
                    on_change=self._on_unit,
                ).props("outlined dense").classes("w-72")  # fmt: skip
            with ui.row().classes("w-full items-center gap-2"):
                self.summary = ui.row().classes("gap-2 items-center")
                ui.space()
                self.interval_form = ui.row().classes("items-center gap-2")
            with ui.row().classes("w-full gap-4 no-wrap items-start"):
                with ui.card().classes("col-7 q-pa-sm").props("flat bordered"):
                    self.map = ui.html("").classes("w-full")
                    self.unlocated = ui.label("").classes("text-caption text-grey-7")
                    self._legend()
                with ui.card().classes("col q-pa-none").props("flat bordered"):
                    self.table = ui.table(columns=self._columns(), rows=[], row_key="asset_number",
                                          pagination={"rowsPerPage": 15, "sortBy": "worst_rank",
                                                      "descending": True},
                                          ).props("flat dense").classes("w-full")  # fmt: skip
                    self.table.add_slot("body-cell-status", _STATUS_SLOT)
                    self.table.add_slot("body-cell-asset_number", _ASSET_SLOT)
                    self.table.add_slot("body-cell-worst_rank", _ALARM_SLOT)
        self._interval_form()
        await self.load()
        ui.timer(REFRESH_S, self.load)
        ui.timer(1.0, self._on_tick)

    def _legend(self) -> None:
        with ui.row().classes("gap-3 text-caption text-grey-8 items-center"):
            for status, colour in STATUS_COLOUR.items():
                with ui.row().classes("items-center gap-1"):
                    ui.html(f'<span style="display:inline-block;width:10px;height:10px;'
                            f'border-radius:50%;background:{colour}"></span>')  # fmt: skip
                    ui.label(t(f"monitor_status.{status}"))
            for severity, colour in SEVERITY_COLOUR.items():
                with ui.row().classes("items-center gap-1"):
                    ui.html(f'<span style="display:inline-block;width:10px;height:10px;'
                            f'border-radius:50%;border:3px solid {colour}"></span>')  # fmt: skip
                    ui.label(t(f"severity.{severity}"))
            ui.label(t("fleet.size_hint"))

    @staticmethod
    def _columns() -> list[dict[str, Any]]:
        def col(name: str, field: str | None = None, **kw: Any) -> dict[str, Any]:
            return {"name": name, "field": field or name, "label": t(f"fleet.col.{name}"),
                    "sortable": True, "align": "left"} | kw  # fmt: skip

        return [col("asset_number"), col("status"), col("loading_pct", align="right"),
                col("v_min_v", align="right"), col("v_max_v", align="right"),
                col("worst_rank"), col("org_unit"), col("last_report")]  # fmt: skip

    async def _on_unit(self, e: events.ValueChangeEventArguments[Any]) -> None:
        self.org_unit = e.value or None
        self._interval_form()
        await self.load()

    def _interval_form(self) -> None:
        """For a chosen org unit: one reporting interval for all its terminals (a downlink
        command each, pending until each terminal acknowledges)."""
        self.interval_form.clear()
        if self.org_unit is None or not self.session.can(Permission.SEND_COMMANDS):
            return
        with self.interval_form:
            choice = ui.select({m: t("transformer.minutes", n=m) for m in INTERVALS}, value=15,
                               label=t("fleet.interval_for_unit", unit=self.org_unit)
                               ).props("outlined dense").classes("w-56")  # fmt: skip
            ui.button(t("transformer.interval_send"),
                      on_click=lambda: self._send_interval(int(choice.value))
                      ).props("unelevated no-caps color=primary")  # fmt: skip

    async def _send_interval(self, minutes: int) -> None:
        unit = self.org_unit

        def call(conn: Connection, p: Principal) -> monitoring.ReportingIntervalOut:
            data = monitoring.ReportingIntervalIn(org_unit=unit, interval_min=minutes)
            return monitoring.set_reporting_interval(conn, data, p.scope, p.username)

        done, out = await attempt(self.session, lambda: self.session.change(
            "reporting_interval", call, permission=Permission.SEND_COMMANDS, target=unit,
            detail={"interval_min": minutes},
            detail_of=lambda o: {"commands": len(o.commands)}), notify_error)  # fmt: skip
        if done and out is not None:
            ui.notify(t("fleet.interval_sent", n=len(out.commands), minutes=minutes),
                      type="positive")  # fmt: skip

    async def _on_tick(self) -> None:
        # An alarm raised or cleared anywhere: reload (the page reads only what the user sees).
        if self.feed.seq != self.seen:
            self.seen = self.feed.seq
            await self.load()

    def _read(self, conn: Connection, scope: Scope) -> monitoring.FleetPage:
        return monitoring.fleet(conn, scope, org_unit=self.org_unit, sort="-worst_severity",
                                limit=MAX_TRANSFORMERS)  # fmt: skip

    async def load(self) -> None:
        page = await self.session.reader.read(self._read)
        points = [MapPoint(i.asset_number, i.lat, i.lon, i.status, i.loading_pct,
                           i.worst_severity, i.active_alarms) for i in page.items]  # fmt: skip
        svg, missing = fleet_map_svg(points, lambda a: transformer_url(self.session, a))
        self.map.set_content(svg)
        self.unlocated.set_text(t("fleet.unlocated", n=missing) if missing else "")
        self.table.rows = [
            _row(i, self.tz) | {"href": transformer_url(self.session, i.asset_number)}
            for i in page.items
        ]
        self.table.update()
        self.summary.clear()
        with self.summary:
            ui.label(t("fleet.total", n=page.total)).classes("text-subtitle1")
            for status in ("online", "offline", "out_of_supply"):
                n = page.by_status.get(status, 0)
                ui.badge(f"{t(f'monitor_status.{status}')}: {n}").props("rounded").classes(
                    "q-px-sm").style(filled(STATUS_COLOUR[status]))  # fmt: skip
            alarmed = sum(1 for i in page.items if i.active_alarms)
            ui.badge(t("fleet.with_alarms", n=alarmed)).props(
                'color="negative" outline rounded').classes("q-px-sm")  # fmt: skip


def _row(i: Any, tz: Any) -> dict[str, Any]:
    return {
        "asset_number": i.asset_number, "status": i.status,
        "status_text": t(f"monitor_status.{i.status}"),
        "status_colour": STATUS_COLOUR.get(i.status, "#9e9e9e"),
        "loading_pct": None if i.loading_pct is None else round(i.loading_pct, 1),
        "v_min_v": None if i.v_min_v is None else round(i.v_min_v, 1),
        "v_max_v": None if i.v_max_v is None else round(i.v_max_v, 1),
        "worst_rank": alarms.severity_rank(i.worst_severity) * 1000 + i.active_alarms,
        "alarms": i.active_alarms,
        "severity_text": t(f"severity.{i.worst_severity}") if i.worst_severity else "",
        "severity_colour": SEVERITY_COLOUR.get(i.worst_severity or "", "#9e9e9e"),
        "org_unit": i.org_unit, "last_report": when(i.last_report_at, tz),
    }  # fmt: skip


_STATUS_SLOT = r"""
<q-td :props="props">
  <q-badge rounded :style="{background: props.row.status_colour}">
    {{ props.row.status_text }}</q-badge>
</q-td>"""
_ASSET_SLOT = r"""
<q-td :props="props">
  <a :href="props.row.href" class="text-primary text-weight-medium">{{ props.value }}</a>
</q-td>"""
_ALARM_SLOT = r"""
<q-td :props="props">
  <q-badge v-if="props.row.alarms" rounded :style="{background: props.row.severity_colour}">
    {{ props.row.alarms }} · {{ props.row.severity_text }}</q-badge>
</q-td>"""
