"""One meter's customer page: who and where (customer, account, tariff, transformer, phase), its
voltage, current and power curves over a chosen window (7 days by default), its energy per local
day over the last 30 days from register differences, its events of the window (power down, cover
open, …; listed and marked on the curve) and its alarms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from nicegui import events, ui
from sqlalchemy import Connection

from e200 import alarms, archives, telemetry
from e200.console.charts import rule_label
from e200.console.data.query_charts import (
    daily_energy_option,
    event_rows,
    meter_groups,
    query_option,
    series_notes,
    with_event_marks,
)
from e200.console.details import format_value
from e200.console.i18n import t
from e200.console.layout import frame
from e200.console.session import Session
from e200.console.widgets import alarm_line
from e200.kernel import NotFoundError, Scope, utc_now

WINDOWS = {"1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
ENERGY_DAYS = 30
EVENT_LIMIT = 200  # newest events of the window listed (and marked)
ATTRIBUTES = ("customer_name", "customer_account", "tariff", "org_unit", "transformer", "phase",
              "wiring", "multiplier", "status")  # fmt: skip


@dataclass
class _Data:
    meter: dict[str, Any]
    curves: telemetry.CurveResult
    energy: telemetry.CurveSeries | None
    alarms: list[alarms.AlarmOut]
    events: dict[str, Any]  # telemetry.device_events of the window


class CustomerView:
    def __init__(self, session: Session, asset_number: str) -> None:
        self.session = session
        self.asset = asset_number
        self.tz = session.console.tz
        self.zone = session.console.settings.timezone
        self.group = "voltage"
        self.window = "7d"

    def _read(self, conn: Connection, scope: Scope) -> _Data:
        meter = archives.get_asset(conn, archives.KINDS["meter"], self.asset, scope)
        end = utc_now()
        groups = meter_groups(meter.get("wiring"))
        curves = telemetry.curves(conn, [self.asset], scope, start=end - WINDOWS[self.window],
                                  end=end, quantities=list(groups[self.group]), step="auto",
                                  tz=self.zone)  # fmt: skip
        today = end.astimezone(self.tz).date()
        first = datetime.combine(today - timedelta(days=ENERGY_DAYS - 1), time(), tzinfo=self.tz)
        last = datetime.combine(today + timedelta(days=1), time(), tzinfo=self.tz)
        daily = telemetry.curves(conn, [self.asset], scope, start=first, end=last,
                                 quantities=["e_imp_kwh"], step="day", tz=self.zone)  # fmt: skip
        energy = next((s for s in daily.series if s.stat == "sum"), None)
        found = alarms.list_alarms(conn, scope, device=self.asset, limit=50).items
        events = telemetry.device_events(conn, self.asset, scope, end - WINDOWS[self.window], end,
                                         limit=EVENT_LIMIT)  # fmt: skip
        return _Data(meter, curves, energy, found, events)

    async def build(self) -> None:
        ui.page_title(f"{self.asset} · {t('app.title')}")
        frame("query", self.session)
        try:
            data = await self.session.reader.read(self._read)
        except NotFoundError:
            ui.context.client.status_code = 404
            with ui.column().classes("w-full items-center q-pa-xl text-grey-8").props("role=alert"):
                ui.icon("search_off", size="48px")
                ui.label(t("customer.not_found", asset=self.asset)).classes("text-h6")
            return
        self.root = ui.column().classes("w-full q-pa-md gap-3")
        self._render(data)

    async def reload(self) -> None:
        try:
            data = await self.session.reader.read(self._read)
        except NotFoundError:
            ui.navigate.reload()
            return
        self._render(data)

    def _render(self, data: _Data) -> None:
        self.root.clear()
        with self.root:
            self._header(data.meter)
            self._attributes(data.meter)
            self._curves(data)
            self._energy(data)
            self._events(data.events)
            self._alarms(data.alarms)

    def _header(self, meter: dict[str, Any]) -> None:
        with ui.row().classes("w-full items-center gap-3"):
            ui.icon("electric_meter", size="36px", color="primary")
            with ui.column().classes("gap-0"):
                ui.label(t("customer.title")).classes("text-overline text-grey-7")
                name = meter.get("customer_name")
                ui.label(f"{self.asset} · {name}" if name else self.asset).classes(
                    "text-h5 text-weight-medium")  # fmt: skip
            ui.space()
            query = f"/query?devices={quote(self.asset)}"
            ui.link(t("customer.open_query"), query).classes("text-primary")
            archive = f"/archive?select={quote('meter:' + self.asset, safe=':')}"
            ui.link(t("customer.open_archive"), archive).classes("text-primary")

    def _attributes(self, meter: dict[str, Any]) -> None:
        with (
            ui.card().classes("w-full q-pa-none").props("flat bordered"),
            ui.element("q-markup-table").props("flat dense separator=horizontal").classes("w-full"),
            ui.element("tbody").props('data-testid="customer-attributes"'),
        ):
            for field in ATTRIBUTES:
                if field not in meter:
                    continue
                with ui.element("tr").props(f'data-field="{field}"'):
                    with ui.element("th").classes("text-left text-grey-8").style("width: 240px"):
                        ui.label(t(f"field.{field}"))
                    with ui.element("td").classes("text-left"):
                        value = format_value(field, meter[field], self.tz, kind="meter")
                        if field == "transformer" and meter[field]:
                            ui.link(value, f"/transformers/{quote(str(meter[field]))}").classes(
                                "text-primary text-weight-medium no-underline")  # fmt: skip
                        else:
                            ui.label(value)

    def _curves(self, data: _Data) -> None:
        groups = meter_groups(data.meter.get("wiring"))
        with ui.card().classes("w-full gap-2").props("flat bordered"):
            with ui.row().classes("w-full items-center gap-3"):
                ui.label(t("customer.curves")).classes("text-h6")
                ui.space()
                ui.toggle({g: t(f"curve_group.{g}") for g in groups}, value=self.group,
                          on_change=self._on_group,
                          ).props("dense no-caps unelevated toggle-color=primary")  # fmt: skip
                ui.toggle({w: t(f"window.{w}") for w in WINDOWS}, value=self.window,
                          on_change=self._on_window,
                          ).props("dense no-caps toggle-color=secondary")  # fmt: skip
            if not any(s.values for s in data.curves.series):
                ui.label(t("details.no_readings")).classes("text-grey-7")
                return
            option = with_event_marks(query_option(data.curves), data.events["events"])
            ui.echart(option).classes("w-full h-80").props("id=customer-curve")
            for note in series_notes(data.curves):
                if note.downsampled:
                    ui.label(t("query.note_downsampled", name=note.name, shown=note.shown,
                               points=note.points)).classes("text-caption text-grey-8")  # fmt: skip

    async def _on_group(self, e: events.ValueChangeEventArguments[Any]) -> None:
        if e.value and e.value != self.group:
            self.group = str(e.value)
            await self.reload()

    async def _on_window(self, e: events.ValueChangeEventArguments[Any]) -> None:
        if e.value in WINDOWS and e.value != self.window:
            self.window = str(e.value)
            await self.reload()

    def _energy(self, data: _Data) -> None:
        with ui.card().classes("w-full gap-2").props("flat bordered"):
            ui.label(t("customer.daily_energy", days=ENERGY_DAYS)).classes("text-h6")
            multiplier = data.meter.get("multiplier")
            factor = format_value("multiplier", multiplier, self.tz)
            ui.label(t("customer.energy_hint", multiplier=factor)).classes(
                "text-caption text-grey-8")  # fmt: skip
            series = data.energy
            if series is None or not any(v is not None for v in series.values):
                ui.label(t("customer.no_energy")).classes("text-grey-7")
                return
            total = sum(v for v in series.values if v is not None)
            ui.label(t("customer.energy_total", value=f"{total:.3f}", unit=series.unit)).props(
                "data-testid=energy-total")  # fmt: skip
            ui.echart(daily_energy_option(series, self.tz)).classes("w-full h-64").props(
                "id=meter-daily-energy")  # fmt: skip

    def _events(self, answer: dict[str, Any]) -> None:
        rows = event_rows(answer["events"], self.tz)
        with ui.card().classes("w-full gap-1").props("flat bordered"):
            ui.label(t("customer.events")).classes("text-h6")
            ui.label(t("customer.events_window", window=t(f"window.{self.window}"))).classes(
                "text-caption text-grey-8")  # fmt: skip
            if not rows:
                ui.label(t("customer.no_events")).classes("text-grey-7")
                return
            with ui.element("q-markup-table").props("flat dense separator=horizontal").classes(
                    "w-full"):  # fmt: skip
                with ui.element("thead"), ui.element("tr"):
                    for key in ("event_time", "event_kind", "event_detail"):
                        with ui.element("th").classes("text-left"):
                            ui.label(t(f"customer.{key}"))
                with ui.element("tbody").props('data-testid="customer-events"'):
                    for row in rows:
                        with ui.element("tr").props(f'data-event="{row.kind}"'):
                            for text in (row.time, row.label, row.detail):
                                with ui.element("td").classes("text-left"):
                                    ui.label(text)
            if answer["truncated"]:
                ui.label(t("customer.events_more", n=len(rows))).classes(
                    "text-caption text-grey-8")  # fmt: skip

    def _alarms(self, found: list[alarms.AlarmOut]) -> None:
        with ui.card().classes("w-full gap-1").props("flat bordered"):
            ui.label(t("customer.alarms")).classes("text-h6")
            if not found:
                ui.label(t("customer.no_alarms")).classes("text-grey-7")
            for a in found:
                with ui.row().classes("w-full items-center gap-3 no-wrap").props(
                        f'role=group aria-label="{rule_label(a.rule)}"'):  # fmt: skip
                    alarm_line(a, self.tz)
