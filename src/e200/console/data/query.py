"""The data-query page: curves of any transformers and meters (found by asset number) and
quantities over a window, native, downsampled or aggregated by the backend, every series on one
chart for comparison; the same data as a table on demand and as CSV / XLSX for holders of
export_data (exactly what is shown, audited); and a multi-dimensional analysis of the window
(a measure by org unit, feeder, transformer or customer type) as bars with their totals."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any, Literal

from nicegui import events, ui
from sqlalchemy import Connection

from e200 import archives, telemetry
from e200.console.data.query_charts import (
    STEPS,
    WINDOWS,
    analysis_option,
    analysis_totals,
    format_number,
    groups_for,
    quantity_label,
    query_option,
    series_notes,
    table_of,
)
from e200.console.i18n import t
from e200.console.layout import frame
from e200.console.session import Session
from e200.console.tree import ICONS, TreeModel, node_id, parse_node_id
from e200.console.widgets import attempt, error_label, notify_error, show_error
from e200.kernel import E200Error, NotFoundError, Permission, Principal, Scope, utc_now

SEARCH_LIMIT = 10
DEVICE_KINDS = ("transformer", "meter")
MAX_DEVICES = 20
ANALYSIS_GROUPS = ("org_unit", "feeder", "transformer", "customer_type")
MEDIA = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class QueryView:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.tz = session.console.tz
        self.zone = session.console.settings.timezone
        self.devices: dict[str, str] = {}  # asset number -> kind, in the order chosen
        self.group = "power"
        self.quantities: list[str] = ["p_kw"]
        self.window = "1d"
        today = utc_now().astimezone(self.tz).date()
        self.custom = (today - timedelta(days=7), today)
        self.step = "auto"
        self.show_table = False
        self.result: telemetry.CurveResult | None = None
        self._searched = 0
        self.model = TreeModel()
        self._asked = 0
        self._analysed = 0
        self.measure = "energy_kwh"
        self.analysis_kind = "transformer"
        self.group_by = "org_unit"

    # -- building ------------------------------------------------------------------------------

    async def build(self, devices: str | None) -> None:
        ui.page_title(f"{t('query.title')} · {t('app.title')}")
        frame("query", self.session)
        with ui.column().classes("w-full q-pa-md gap-3"):
            ui.label(t("query.title")).classes("text-h5 text-weight-medium")
            with ui.card().classes("w-full gap-2").props("flat bordered"):
                self._device_picker()
                self.controls = ui.column().classes("w-full gap-2")
            with ui.card().classes("w-full gap-2").props("flat bordered"):
                self.error = error_label()
                self.chart_area = ui.column().classes("w-full gap-2")
                self.table_area = ui.column().classes("w-full gap-2")
            with ui.card().classes("w-full gap-2").props("flat bordered"):
                self.analysis_area = ui.column().classes("w-full gap-2")
        for number in (devices or "").split(","):
            if number.strip():
                await self._add_named(number.strip())
        self._render_chips()
        self._render_controls()
        self._render_analysis_controls()
        await self._load_tree_roots()
        await self.run()
        await self.run_analysis()

    def _device_picker(self) -> None:
        ui.label(t("query.devices")).classes("text-h6")
        with ui.row().classes("w-full items-start gap-3 no-wrap"):
            with ui.column().classes("gap-0").style("min-width: 320px"):
                self.search = (
                    ui.input(label=t("query.search"), on_change=self._on_search)
                    .props(f'outlined dense clearable debounce=300 hint="{t("query.search_hint")}"')
                    .classes("w-full")
                )
                with self.search.add_slot("prepend"):
                    ui.icon("search")
                self.results = (
                    ui.column()
                    .classes("w-full gap-0")
                    .props(f'role=region aria-label="{t("query.search_results")}"')
                )
            self.chips = (
                ui.row()
                .classes("col items-center gap-1")
                .props(f'role=list aria-label="{t("query.chosen")}"')
            )
        with ui.expansion(t("query.tree"), icon=ICONS["org_unit"]).classes("w-full").props(
                "dense"):  # fmt: skip
            ui.label(t("query.tree_hint")).classes("text-caption text-grey-8")
            with ui.element("div").classes("w-full").style("max-height: 360px; overflow: auto"):
                self.tree = ui.tree([], on_select=self._on_tree_select,
                                    on_expand=self._on_tree_expand,
                                    ).props("no-transition selected-color=primary").classes(
                    "w-full text-body2")  # fmt: skip
        self._render_chips()

    # -- the grid tree (loaded a level at a time, as in the archive) -----------------------------

    async def _load_tree_roots(self) -> None:
        roots = await self.session.reader.read(
            lambda c, s: archives.tree_children(c, None, None, s)
        )
        self.model.set_roots(roots)
        self.tree.props["nodes"] = self.model.props()

    async def _load_children(self, nid: str) -> bool:
        parsed = parse_node_id(nid)
        if parsed is None or not self.model.needs_loading(nid):
            return False
        kind, key = parsed
        try:
            children = await self.session.reader.read(
                lambda c, s: archives.tree_children(c, kind, key, s)
            )
        except NotFoundError:
            children = []
        if self.model.needs_loading(nid):
            self.model.set_children(nid, children)
        return True

    async def _on_tree_expand(self, e: events.ValueChangeEventArguments[list[str]]) -> None:
        opened = set(e.value or []) - set(e.previous_value or [])
        loaded = [await self._load_children(nid) for nid in opened]
        if any(loaded):
            self.tree.props["nodes"] = self.model.props()
            self.tree.update()

    async def _on_tree_select(self, e: events.ValueChangeEventArguments[str | None]) -> None:
        parsed = parse_node_id(e.value) if isinstance(e.value, str) else None
        if parsed is None:
            return
        kind, key = parsed
        if kind in DEVICE_KINDS:
            await self._add(key, kind)
            self.tree.deselect()
            return
        nid = node_id(kind, key)
        if await self._load_children(nid):
            self.tree.props["nodes"] = self.model.props()
            self.tree.update()
        self.tree.expand([nid])
        self.tree.deselect()

    def _render_chips(self) -> None:
        self.chips.clear()
        with self.chips:
            if not self.devices:
                ui.label(t("query.no_devices")).classes("text-grey-7")
            for number, kind in self.devices.items():
                ui.chip(
                    number, icon=ICONS.get(kind, "circle"), removable=True,
                    on_value_change=partial(self._on_chip_removed, number),
                ).props(f'role=listitem outline color=primary data-device="{number}"')  # fmt: skip

    async def _on_chip_removed(self, number: str, e: events.ValueChangeEventArguments[Any]) -> None:
        if e.value is False and number in self.devices:
            del self.devices[number]
            await self._changed_devices()

    async def _on_search(self, e: events.ValueChangeEventArguments[str | None]) -> None:
        q = (e.value or "").strip()
        self._searched += 1
        ticket = self._searched
        if not q:
            self.results.clear()
            return

        def call(conn: Connection, scope: Scope) -> list[tuple[str, str]]:
            found: list[tuple[str, str]] = []
            for kind in DEVICE_KINDS:
                page = archives.list_assets(conn, archives.KINDS[kind], scope, q=q,
                                            limit=SEARCH_LIMIT)  # fmt: skip
                found += [(str(i["asset_number"]), kind) for i in page.items]
            return found[:SEARCH_LIMIT]

        found = await self.session.reader.read(call)
        if ticket != self._searched:
            return
        self.results.clear()
        with self.results:
            if not found:
                ui.label(t("query.no_results", q=q)).classes("text-grey-7 q-pa-sm")
                return
            with ui.list().props("dense bordered separator").classes("w-full rounded-borders"):
                for number, kind in found:
                    with ui.item(on_click=partial(self._add, number, kind)).props(
                            f'data-device="{number}"'):  # fmt: skip
                        with ui.item_section().props("avatar"):
                            ui.icon(ICONS.get(kind, "circle"), color="primary")
                        with ui.item_section():
                            ui.item_label(number)
                            ui.item_label(t(f"kind.{kind}")).props("caption")

    async def _add_named(self, number: str) -> None:
        def call(conn: Connection, scope: Scope) -> str | None:
            for kind in DEVICE_KINDS:
                page = archives.list_assets(conn, archives.KINDS[kind], scope, q=number, limit=5)
                if any(i["asset_number"] == number for i in page.items):
                    return kind
            return None

        kind = await self.session.reader.read(call)
        if kind is not None and len(self.devices) < MAX_DEVICES:
            self.devices[number] = kind

    async def _add(self, number: str, kind: str) -> None:
        if number in self.devices:
            return
        if len(self.devices) >= MAX_DEVICES:
            ui.notify(t("query.too_many", n=MAX_DEVICES), type="warning")
            return
        self.devices[number] = kind
        self.search.set_value("")
        self.results.clear()
        await self._changed_devices()

    async def _changed_devices(self) -> None:
        self._render_chips()
        groups = dict(groups_for(self.devices.values()))
        if self.group not in groups:
            self.group = next(iter(groups), "power")
        available = groups.get(self.group, [])
        self.quantities = [q for q in self.quantities if q in available] or available[:1]
        self._render_controls()
        await self.run()

    # -- controls ------------------------------------------------------------------------------

    def _render_controls(self) -> None:
        groups = dict(groups_for(self.devices.values() or DEVICE_KINDS))
        self.controls.clear()
        with self.controls:
            with ui.row().classes("w-full items-center gap-3"):
                ui.toggle({g: t(f"curve_group.{g}") for g in groups}, value=self.group,
                          on_change=self._on_group,
                          ).props("dense no-caps unelevated toggle-color=primary")  # fmt: skip
                ui.select(
                    {q: quantity_label(q) for q in groups.get(self.group, [])},
                    value=self.quantities,
                    multiple=True,
                    label=t("query.quantities"),
                    on_change=self._on_quantities,
                ).props("outlined dense use-chips").classes("col").style("min-width: 260px")
            with ui.row().classes("w-full items-center gap-3"):
                ui.label(t("query.window")).classes("text-grey-8")
                ui.toggle({**{w: t(f"window.{w}") for w in WINDOWS}, "custom": t("window.custom")},
                          value=self.window, on_change=self._on_window,
                          ).props("dense no-caps toggle-color=secondary")  # fmt: skip
                if self.window == "custom":
                    self.date_from = ui.input(t("query.from"), value=self.custom[0].isoformat()
                                              ).props("outlined dense type=date")  # fmt: skip
                    self.date_to = ui.input(t("query.to"), value=self.custom[1].isoformat()
                                            ).props("outlined dense type=date")  # fmt: skip
                    ui.button(t("query.apply"), on_click=self._on_custom).props(
                        "unelevated no-caps color=secondary")  # fmt: skip
                ui.label(t("query.step")).classes("text-grey-8 q-ml-md")
                ui.toggle({s: t(f"step.{s}") for s in STEPS}, value=self.step,
                          on_change=self._on_step,
                          ).props("dense no-caps toggle-color=secondary")  # fmt: skip
            with ui.row().classes("w-full items-center gap-3"):
                ui.switch(t("query.show_table"), value=self.show_table,
                          on_change=self._on_table)  # fmt: skip
                ui.space()
                if self.session.can(Permission.EXPORT_DATA):
                    for fmt in ("csv", "xlsx"):
                        ui.button(t(f"query.export_{fmt}"), icon="download",
                                  on_click=partial(self._export, fmt),
                                  ).props("outline no-caps color=primary")  # fmt: skip

    async def _on_group(self, e: events.ValueChangeEventArguments[Any]) -> None:
        groups = dict(groups_for(self.devices.values() or DEVICE_KINDS))
        if e.value in groups and e.value != self.group:
            self.group = e.value
            self.quantities = list(groups[e.value])
            self._render_controls()
            await self.run()

    async def _on_quantities(self, e: events.ValueChangeEventArguments[Any]) -> None:
        chosen = [str(q) for q in (e.value or [])]
        if chosen and chosen != self.quantities:
            self.quantities = chosen
            await self.run()

    async def _on_window(self, e: events.ValueChangeEventArguments[Any]) -> None:
        if e.value != self.window:
            self.window = str(e.value)
            self._render_controls()
            if self.window != "custom":
                await self.run()
                await self.run_analysis()

    async def _on_custom(self) -> None:
        try:
            start = date.fromisoformat(str(self.date_from.value))
            end = date.fromisoformat(str(self.date_to.value))
        except ValueError:
            show_error(self.error, t("query.bad_dates"))
            return
        if end < start:
            show_error(self.error, t("query.bad_dates"))
            return
        self.custom = (start, end)
        await self.run()
        await self.run_analysis()

    async def _on_step(self, e: events.ValueChangeEventArguments[Any]) -> None:
        if e.value in STEPS and e.value != self.step:
            self.step = str(e.value)
            await self.run()

    def _on_table(self, e: events.ValueChangeEventArguments[Any]) -> None:
        self.show_table = bool(e.value)
        self._render_table()

    # -- the query -----------------------------------------------------------------------------

    def bounds(self) -> tuple[datetime, datetime]:
        """The window [from, to): a preset ends now; a custom one covers whole local days."""
        if self.window == "custom":
            start = datetime.combine(self.custom[0], time(), tzinfo=self.tz)
            end = datetime.combine(self.custom[1] + timedelta(days=1), time(), tzinfo=self.tz)
            return start, end
        end = utc_now().replace(microsecond=0)
        return end - WINDOWS[self.window], end

    async def run(self) -> None:
        show_error(self.error, None)
        self._asked += 1
        ticket = self._asked
        if not self.devices:
            self.result = None
            self._render_result()
            return
        start, end = self.bounds()
        devices, quantities, step = list(self.devices), list(self.quantities), self.step

        def call(conn: Connection, scope: Scope) -> telemetry.CurveResult:
            return telemetry.curves(conn, devices, scope, start=start, end=end,
                                    quantities=quantities, step=step, tz=self.zone)  # fmt: skip

        try:
            result = await self.session.reader.read(call)
        except E200Error as exc:
            if ticket == self._asked:
                self.result = None
                self._render_result()
                show_error(self.error, exc.detail)
            return
        if ticket == self._asked:
            self.result = result
            self._render_result()

    def _render_result(self) -> None:
        self.chart_area.clear()
        with self.chart_area:
            result = self.result
            if result is None:
                ui.label(t("query.choose")).classes("text-grey-7")
                self._render_table()
                return
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(t("query.curves")).classes("text-h6")
                ui.space()
                ui.label(t("query.window_is", start=_local(result.start, self.tz),
                           end=_local(result.end, self.tz), zone=result.tz)
                         ).classes("text-grey-8").props(
                    f'data-testid=query-window data-from="{result.start.isoformat()}" '
                    f'data-to="{result.end.isoformat()}" data-step="{result.step}"')  # fmt: skip
            if not any(s.values for s in result.series):
                ui.label(t("details.no_readings")).classes("text-grey-7")
            else:
                ui.echart(query_option(result)).classes("w-full").style("height: 420px").props(
                    "id=query-chart")  # fmt: skip
            with ui.column().classes("gap-0").props(
                    f'role=list aria-label="{t("query.shown")}"'):  # fmt: skip
                for note in series_notes(result):
                    text = t(note.text_key, name=note.name, shown=note.shown,
                             points=note.points)  # fmt: skip
                    icon = "compress" if note.downsampled else "show_chart"
                    with ui.row().classes("items-center gap-1 text-body2").props(
                            "role=listitem data-series"):  # fmt: skip
                        ui.icon(icon, color="warning" if note.downsampled else "primary")
                        ui.label(text)
        self._render_table()

    def _render_table(self) -> None:
        self.table_area.clear()
        if not self.show_table or self.result is None:
            return
        columns, rows, total = table_of(self.result, self.tz)
        head = [{"name": "device", "field": "device", "label": t("query.col.device"),
                 "align": "left", "sortable": True},
                {"name": "ts", "field": "ts", "label": t("query.col.ts", zone=self.result.tz),
                 "align": "left", "sortable": True}]  # fmt: skip
        head += [{"name": c, "field": c, "label": c, "align": "right"} for c in columns]
        with self.table_area:
            if total > len(rows):
                ui.label(t("query.table_cut", n=len(rows), total=total)).classes("text-warning")
            ui.table(columns=head, rows=rows, pagination=100).props(
                "flat bordered dense id=query-table").classes("w-full")  # fmt: skip

    async def _export(self, fmt: str) -> None:
        """The shown answer as a file, through the backend's export (audited as the API's)."""
        result = self.result
        if result is None:
            ui.notify(t("query.choose"), type="warning")
            return
        kind: Literal["csv", "xlsx"] = "csv" if fmt == "csv" else "xlsx"

        def call(conn: Connection, p: Principal) -> bytes:
            return telemetry.export_curves(result, kind)

        detail = {"devices": ",".join(self.devices), "quantities": list(self.quantities),
                  "from": result.start.isoformat(), "to": result.end.isoformat(),
                  "step": result.step, "format": kind}  # fmt: skip
        done, data = await attempt(self.session, lambda: self.session.change(
            "curves_export", call, permission=Permission.EXPORT_DATA, detail=detail),
            notify_error)  # fmt: skip
        if done and data is not None:
            name = f"curves-{result.start:%Y%m%d}-{result.end:%Y%m%d}.{kind}"
            ui.download.content(data, name, MEDIA[kind])

    # -- analysis ------------------------------------------------------------------------------

    def _render_analysis_controls(self) -> None:
        self.analysis_area.clear()
        measures = [m for m in telemetry.MEASURES if self.analysis_kind in m.kinds]
        groups = [g for g in ANALYSIS_GROUPS if g in telemetry.ANALYSIS_GROUPS[self.analysis_kind]]
        with self.analysis_area:
            ui.label(t("analysis.title")).classes("text-h6")
            ui.label(t("analysis.hint")).classes("text-grey-8 text-body2")
            with ui.row().classes("w-full items-center gap-3"):
                ui.toggle({k: t(f"kind.{k}") for k in DEVICE_KINDS}, value=self.analysis_kind,
                          on_change=self._on_analysis_kind,
                          ).props("dense no-caps toggle-color=primary")  # fmt: skip
                ui.select({m.name: t(f"measure.{m.name}") for m in measures},
                          value=self.measure, label=t("analysis.measure"),
                          on_change=self._on_measure).props("outlined dense").style(
                    "min-width: 240px")  # fmt: skip
                ui.select({g: t(f"field.{g}") if g != "customer_type" else
                           t("analysis.customer_type") for g in groups},
                          value=self.group_by, label=t("analysis.group_by"),
                          on_change=self._on_group_by).props("outlined dense").style(
                    "min-width: 200px")  # fmt: skip
            self.analysis_out = ui.column().classes("w-full gap-2")

    async def _on_analysis_kind(self, e: events.ValueChangeEventArguments[Any]) -> None:
        if e.value in DEVICE_KINDS and e.value != self.analysis_kind:
            self.analysis_kind = str(e.value)
            kinds = {m.name for m in telemetry.MEASURES if self.analysis_kind in m.kinds}
            if self.measure not in kinds:
                self.measure = "energy_kwh"
            if self.group_by not in telemetry.ANALYSIS_GROUPS[self.analysis_kind]:
                self.group_by = "org_unit"
            self._render_analysis_controls()
            await self.run_analysis()

    async def _on_measure(self, e: events.ValueChangeEventArguments[Any]) -> None:
        if e.value and e.value != self.measure:
            self.measure = str(e.value)
            await self.run_analysis()

    async def _on_group_by(self, e: events.ValueChangeEventArguments[Any]) -> None:
        if e.value and e.value != self.group_by:
            self.group_by = str(e.value)
            await self.run_analysis()

    async def run_analysis(self) -> None:
        start, end = self.bounds()
        kind, measure, group_by = self.analysis_kind, self.measure, self.group_by

        def call(conn: Connection, scope: Scope) -> dict[str, Any]:
            return telemetry.analysis(conn, scope, measure=measure, group_by=group_by,
                                      device_kind=kind, start=start, end=end, step="none",
                                      tz=self.zone)  # fmt: skip

        self._analysed += 1
        ticket = self._analysed
        try:
            answer = await self.session.reader.read(call)
        except E200Error as exc:
            if ticket == self._analysed:
                self.analysis_out.clear()
                with self.analysis_out:
                    ui.label(exc.detail).classes("text-negative")
            return
        if ticket != self._analysed:  # a newer question is on its way
            return
        self.analysis_out.clear()
        with self.analysis_out:
            totals = analysis_totals(answer)
            unit = answer["unit"]
            with ui.row().classes("gap-4 items-baseline").props("data-testid=analysis-totals"):
                ui.label(t("analysis.window", start=_local(answer["from"], self.tz),
                           end=_local(answer["to"], self.tz))).classes("text-grey-8")  # fmt: skip
                ui.label(t("analysis.groups", n=totals["groups"], devices=totals["devices"]))
                if totals["total"] is not None:
                    ui.label(t("analysis.grand_total", value=format_number(totals["total"]),
                               unit=unit)).classes("text-weight-bold")  # fmt: skip
                elif totals["max"] is not None:
                    ui.label(t("analysis.grand_max", value=format_number(totals["max"]),
                               unit=unit)).classes("text-weight-bold")  # fmt: skip
            if not answer["rows"]:
                ui.label(t("analysis.none")).classes("text-grey-7")
                return
            ui.echart(analysis_option(answer)).classes("w-full").style("height: 320px").props(
                "id=analysis-chart")  # fmt: skip


def _local(ts: datetime, tz: Any) -> str:
    return ts.astimezone(tz).strftime("%Y-%m-%d %H:%M")
