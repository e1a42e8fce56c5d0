"""The archive browser: the grid tree on the left (loaded a level at a time), the selected node's
details on the right, a search box that opens the tree down to the asset found."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from nicegui import events, ui
from sqlalchemy import Connection

from e200 import archives, telemetry, terminal
from e200.archives import TreeNode
from e200.console.details import Row, asset_rows, format_value, org_unit_rows, phase_counts
from e200.console.grid.meter_list import MeterListPanel
from e200.console.i18n import t
from e200.console.layout import frame
from e200.console.session import Session
from e200.console.tree import ICONS, TreeModel, node_id, parse_node_id
from e200.kernel import ConflictError, E200Error, NotFoundError, Scope

if TYPE_CHECKING:
    from e200.archives import Topology

SEARCH_LIMIT = 20
# Let modified clicks (new tab, new window) through to the browser; handle plain ones in place.
_PLAIN_CLICK = (
    "(e) => { if (e.button === 0 && !e.ctrlKey && !e.metaKey && !e.shiftKey && !e.altKey)"
    " { e.preventDefault(); emit(); } }"
)
_STATUS_COLOR = {"in_service": "positive", "out_of_service": "warning", "retired": "grey-6"}


CURVE_QUANTITIES: dict[str, tuple[str, ...]] = {
    "transformer": ("v_a_v", "v_b_v", "v_c_v", "p_kw"),
    "meter": ("v_v", "p_kw"),
}


@dataclass(frozen=True)
class _Details:
    """Everything the panel shows for one node, read in one go."""

    kind: str
    key: str
    title: str
    rows: list[Row]
    status: str | None = None
    station_area: Topology | None = None
    note: str | None = None
    curve: dict[str, Any] | None = None  # the last 7 days of a transformer or meter
    meter_list: terminal.MeterListOut | None = None  # a terminal's station area and list
    consistency: terminal.ConsistencyReport | None = None


class ArchiveView:
    """One browser tab's archive page (NiceGUI builds a page per visit)."""

    def __init__(self, session: Session, tz: tzinfo, mount_path: str) -> None:
        self.session = session
        self.reader = session.reader  # reads only what the signed-in user's scope holds
        self.tz = tz
        self.mount_path = mount_path.rstrip("/")
        self.model = TreeModel()
        self._shown = 0  # bumped per request to show a node; late answers to old ones are dropped
        self._searched = 0

    # -- building ------------------------------------------------------------------------------

    async def build(self, select: str | None) -> None:
        # Handlers may run after the element that fired them is gone (the details panel is
        # rebuilt on every selection); page-wide calls therefore go through the page's client.
        self.client = ui.context.client
        ui.page_title(f"{t('archive.title')} · {t('app.title')}")
        with (
            ui.left_drawer(bordered=True)
            .props("width=400")
            .classes("bg-white q-pa-none") as drawer,
            # The search stays on top; only the results and the tree scroll.
            ui.column().classes("w-full no-wrap gap-2").style("height: 100%"),
        ):
            self.search = (
                ui.input(label=t("archive.search"), on_change=self._on_search)
                .props(f'outlined dense clearable debounce=300 hint="{t("archive.search_hint")}"')
                .classes("w-full")
            )
            with self.search.add_slot("prepend"):
                ui.icon("search")
            self.results = (
                ui.column()
                .classes("w-full gap-0 q-mt-sm")
                .style("max-height: 35%; overflow-y: auto; flex: none")
                .props(f'role=region aria-label="{t("archive.search_results")}"')
            )
            ui.label(t("archive.tree")).classes("text-overline text-grey-7")
            with (
                ui.element("div").classes("w-full").style("flex: 1; min-height: 0; overflow: auto")
            ):
                self.tree = (
                    ui.tree([], on_select=self._on_select, on_expand=self._on_expand)
                    .props("no-selection-unset no-transition selected-color=primary")
                    .classes("w-full text-body2")
                )
        frame("archive", self.session, drawer=drawer)
        self.details = (
            ui.column()
            .classes("w-full max-w-screen-lg q-pa-md gap-4")
            .props(f'role=region aria-label="{t("details.title")}"')
        )

        roots = await self.reader.read(lambda c, s: archives.tree_children(c, None, None, s))
        self.model.set_roots(roots)
        self._push_nodes()
        if not roots:
            self._message("inventory_2", t("archive.empty"))
            return
        parsed = parse_node_id(select) if select else None
        if parsed is not None:
            await self.open(*parsed)
        else:
            self._message("touch_app", t("archive.nothing_selected"))

    def _message(self, icon: str, text: str) -> None:
        self.details.clear()
        with self.details, ui.column().classes("w-full items-center q-pa-xl text-grey-7"):
            ui.icon(icon, size="48px")
            ui.label(text).classes("text-body1")

    # -- the tree ------------------------------------------------------------------------------

    def _push_nodes(self) -> None:
        self.tree.props["nodes"] = self.model.props()

    async def _load_children(self, nid: str) -> None:
        parsed = parse_node_id(nid)
        if parsed is None or not self.model.needs_loading(nid):
            return
        kind, key = parsed
        try:
            children = await self.reader.read(lambda c, s: archives.tree_children(c, kind, key, s))
        except NotFoundError:
            children = []
        if self.model.needs_loading(nid):  # another event may have loaded it meanwhile
            self.model.set_children(nid, children)

    async def _on_expand(self, e: events.ValueChangeEventArguments[list[str]]) -> None:
        opened = set(e.value or []) - set(e.previous_value or [])
        loaded = False
        for nid in opened:
            if self.model.needs_loading(nid):
                await self._load_children(nid)
                loaded = True
        if loaded:
            self._push_nodes()

    async def _on_select(self, e: events.ValueChangeEventArguments[str | None]) -> None:
        parsed = parse_node_id(e.value) if isinstance(e.value, str) else None
        if parsed is None:
            return
        await self._expand(node_id(*parsed))
        await self._show(*parsed)

    async def _expand(self, nid: str) -> None:
        node = self.model.get(nid)
        if node is None or "children" not in node:
            return
        if self.model.needs_loading(nid):
            await self._load_children(nid)
            self._push_nodes()
        self.tree.expand([nid])

    async def open(self, kind: str, key: str) -> None:
        """Open the tree down to a node, select it and show its details."""
        try:
            path = await self.reader.read(lambda c, s: archives.tree_path(c, kind, key, s))
        except NotFoundError:
            self._not_found(kind, key)
            return
        opened: list[str] = []
        for step in path[:-1]:
            nid = node_id(*step)
            if nid not in self.model:
                break
            await self._load_children(nid)
            opened.append(nid)
        self._push_nodes()
        self.tree.expand(opened)
        nid = node_id(kind, key)
        if nid in self.model:
            self.tree.select(nid)
            await self._expand(nid)
            with self.client:
                ui.run_javascript(
                    "setTimeout(() => document.querySelector('.q-tree__node--selected')"
                    "?.scrollIntoView({block: 'nearest'}), 150)"
                )
        else:  # e.g. a meter without a transformer: the tree has no place for it
            self.tree.deselect()
        await self._show(kind, key, note=None if nid in self.model else t("archive.not_in_tree"))

    # -- search --------------------------------------------------------------------------------

    async def _on_search(self, e: events.ValueChangeEventArguments[str | None]) -> None:
        q = (e.value or "").strip()
        self._searched += 1
        ticket = self._searched
        if not q:
            self.results.clear()
            return
        found = await self.reader.read(
            lambda c, s: archives.search_assets(c, q, s, limit=SEARCH_LIMIT)
        )
        if ticket != self._searched:
            return
        self._show_results(q, found)

    def _show_results(self, q: str, found: list[TreeNode]) -> None:
        self.results.clear()
        with self.results:
            if not found:
                ui.label(t("archive.no_results", q=q)).classes("text-grey-7 q-pa-sm")
                return
            with ui.list().props("dense bordered separator").classes("w-full rounded-borders"):
                for item in found:
                    with ui.item(on_click=partial(self.open, item.kind, item.key)):
                        with ui.item_section().props("avatar"):
                            ui.icon(ICONS.get(item.kind, "circle"), color="primary")
                        with ui.item_section():
                            ui.item_label(item.label)
                            ui.item_label(t(f"kind.{item.kind}")).props("caption")

    # -- details -------------------------------------------------------------------------------

    def _not_found(self, kind: str, key: str) -> None:
        text = t("archive.not_found", kind=t(f"kind.{kind}"), key=key)
        with self.client:
            ui.notify(text, type="warning")
        self.tree.deselect()
        self._message("search_off", text)

    def _read_details(
        self, kind: str, key: str, note: str | None
    ) -> Callable[[Connection, Scope], _Details]:
        def call(conn: Connection, scope: Scope) -> _Details:
            if kind == "org_unit":
                unit = archives.get_org_unit(conn, key, scope).model_dump()
                rows = org_unit_rows(unit, self.tz)
                return _Details(kind, key, str(unit["name"]), rows, note=note)
            data = archives.get_asset(conn, archives.KINDS[kind], key, scope)
            title = f"{key} · {data['name']}" if data.get("name") else key
            area = archives.topology(conn, key, None, scope) if kind == "transformer" else None
            status = str(data.get("status") or "")
            rows = asset_rows(kind, data, self.tz)
            curve = None
            if kind in CURVE_QUANTITIES:
                wanted = CURVE_QUANTITIES[kind]
                if kind == "meter" and data.get("wiring") == "three_phase":
                    wanted = CURVE_QUANTITIES["transformer"]
                curve = telemetry.device_readings(conn, key, scope, None, None, list(wanted))
            listed, report = None, None
            if kind == "terminal":
                listed = terminal.meter_list(conn, key, scope)
                try:
                    report = terminal.terminal_consistency(conn, key, scope)
                except ConflictError:  # retired
                    report = None
            return _Details(kind, key, title, rows, status, area, note, curve, listed, report)

        return call

    async def _show(self, kind: str, key: str, note: str | None = None) -> None:
        self._shown += 1
        ticket = self._shown
        try:
            shown = await self.reader.read(self._read_details(kind, key, note))
        except NotFoundError:
            if ticket == self._shown:
                self._not_found(kind, key)
            return
        except E200Error as exc:
            with self.client:
                ui.notify(str(exc), type="negative")
            return
        if ticket != self._shown:
            return
        self._render(shown)
        url = f"{self.mount_path}/archive?select={quote(node_id(kind, key), safe=':')}"
        with self.client:
            ui.navigate.history.replace(url)

    def _render(self, shown: _Details) -> None:
        self.details.clear()
        with self.details:
            with ui.row().classes("w-full items-center gap-3 no-wrap"):
                ui.icon(ICONS.get(shown.kind, "circle"), size="36px", color="primary")
                with ui.column().classes("gap-0"):
                    ui.label(t(f"kind.{shown.kind}")).classes("text-overline text-grey-7")
                    ui.label(shown.title).classes("text-h5 text-weight-medium")
                ui.space()
                if shown.status:
                    ui.badge(format_value("status", shown.status, self.tz)).props(
                        f"color={_STATUS_COLOR.get(shown.status, 'grey-6')} rounded"
                    ).classes("text-body2 q-px-sm")
            if shown.note:
                with ui.row().classes("items-center gap-2 text-grey-8"):
                    ui.icon("info", color="secondary")
                    ui.label(shown.note)
            with ui.card().classes("w-full q-pa-none").props("flat bordered"):
                self._attribute_table(shown.rows)
            if shown.kind == "meter":
                ui.link(t("details.customer_page"), f"/meters/{quote(shown.key)}").classes(
                    "text-primary text-weight-medium")  # fmt: skip
            if shown.curve is not None:
                self._curve(shown.curve)
            if shown.station_area is not None:
                self._station_area(shown.station_area)
            if shown.meter_list is not None:
                MeterListPanel(
                    self.session, self.tz, shown.key,
                    refresh=partial(self._show, "terminal", shown.key),
                    open_meter=partial(self.open, "meter"),
                ).render(shown.meter_list, shown.consistency)  # fmt: skip

    def _curve(self, curve: dict[str, Any]) -> None:
        """Voltages and active power of the last 7 days: people read curves, not tables."""
        with ui.card().classes("w-full gap-2").props("flat bordered"):
            ui.label(t("details.curve_7d")).classes("text-h6")
            if not curve["ts"]:
                ui.label(t("details.no_readings")).classes("text-grey-7")
                return
            stamps = [ts.isoformat() for ts in curve["ts"]]
            series = [
                {"name": t(f"quantity.{q}"), "type": "line", "showSymbol": False,
                 "yAxisIndex": 1 if q == "p_kw" else 0,
                 "data": [[s, v] for s, v in zip(stamps, curve["values"][q], strict=True)]}
                for q in curve["quantities"]
            ]  # fmt: skip
            ui.echart({
                "tooltip": {"trigger": "axis"},
                "legend": {"top": 0},
                "grid": {"left": 56, "right": 56, "top": 36, "bottom": 56},
                "xAxis": {"type": "time"},
                "yAxis": [{"type": "value", "name": t("curve.voltage"), "scale": True},
                          {"type": "value", "name": t("curve.power"), "scale": True}],
                "dataZoom": [{"type": "inside"}, {"type": "slider", "height": 18}],
                "series": series,
            }).classes("w-full h-72").props("id=curve-7d")  # fmt: skip

    def _attribute_table(self, rows: list[Row]) -> None:
        with (
            ui.element("q-markup-table").props("flat dense separator=horizontal").classes("w-full"),
            ui.element("tbody"),
        ):
            for row in rows:
                with ui.element("tr"):
                    with (
                        ui.element("th")
                        .classes("text-left text-grey-8 text-weight-medium")
                        .style("width: 240px")
                    ):
                        ui.label(row.label)
                    with ui.element("td").classes("text-left"):
                        if row.link is not None:
                            self._node_link(row.value, *row.link)
                        else:
                            ui.label(row.value)

    def _node_link(self, text: str, kind: str, key: str) -> None:
        """A real link to the node's page; a plain click opens it in place instead of reloading."""
        ui.link(text, f"/archive?select={quote(node_id(kind, key), safe=':')}").classes(
            "text-primary text-weight-medium no-underline"
        ).on("click", partial(self.open, kind, key), js_handler=_PLAIN_CLICK)

    def _station_area(self, area: Topology) -> None:
        counts = phase_counts(m.phase for m in area.meters)
        with ui.card().classes("w-full gap-3").props("flat bordered"):
            ui.label(t("details.station_area")).classes("text-h6")
            ui.label(t("details.meters_per_phase")).classes("text-subtitle2 text-grey-8")
            with ui.row().classes("gap-3"):
                for phase, n in [*counts.items(), (t("details.phase_total"), len(area.meters))]:
                    with ui.card().props("flat bordered").classes("items-center q-px-lg q-py-sm"):
                        ui.label(str(n)).classes("text-h5 text-primary text-weight-bold")
                        ui.label(phase).classes("text-caption text-grey-8")
            ui.label(t("details.terminals")).classes("text-subtitle2 text-grey-8")
            if area.terminals:
                with ui.row().classes("gap-2"):
                    for terminal in area.terminals:
                        ui.button(
                            terminal, icon=ICONS["terminal"],
                            on_click=partial(self.open, "terminal", terminal),
                        ).props("outline dense no-caps color=primary")  # fmt: skip
            else:
                ui.label(t("details.no_terminals")).classes("text-grey-7")
            ui.label(t("details.meters")).classes("text-subtitle2 text-grey-8")
            if not area.meters:
                ui.label(t("details.no_meters")).classes("text-grey-7")
                return
            fields = ("asset_number", "customer_account", "phase", "status", "valid_from")
            columns = [{"name": f, "field": f, "label": t(f"field.{f}"), "align": "left",
                        "sortable": True} for f in fields]  # fmt: skip
            rows = [{f: format_value(f, getattr(m, f), self.tz) for f in fields}
                    for m in area.meters]  # fmt: skip
            table = ui.table(columns=columns, rows=rows, row_key="asset_number", pagination=0)
            table.props("flat bordered dense hide-bottom").classes("w-full cursor-pointer")
            table.on("rowClick", self._on_meter_row)

    async def _on_meter_row(self, e: events.GenericEventArguments) -> None:
        row = e.args[1] if isinstance(e.args, list) and len(e.args) > 1 else None
        if isinstance(row, dict) and row.get("asset_number"):
            await self.open("meter", str(row["asset_number"]))
