"""One transformer's monitoring page: every latest quantity with loading, unbalance, estimated loss
and status; curves of any quantity group over a chosen window with the window's alarms marked on
them; its alarms (acknowledge here); the effective thresholds and where they come from; its
terminal's reporting interval, sent as a downlink command and shown pending until acknowledged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from nicegui import events, ui
from sqlalchemy import Connection

from e200 import alarms, monitoring, telemetry, terminal
from e200.alarms import EffectiveThreshold
from e200.console.charts import (
    CURVE_GROUPS,
    GROUP_QUANTITIES,
    RULE_GROUP,
    SEVERITY_COLOUR,
    STATUS_COLOUR,
    curve_option,
    filled,
    marks_in_window,
    outlined,
    rule_label,
)
from e200.console.i18n import t
from e200.console.layout import frame
from e200.console.live import AlarmFeed
from e200.console.session import Session
from e200.console.widgets import alarm_line, attempt, error_label, notify_error, show_error, when
from e200.kernel import NotFoundError, Permission, Principal, Scope, utc_now

WINDOWS = {"1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
DEFAULT_WINDOW = "7d"
INTERVALS = (5, 15, 30, 60)
# Latest values shown, grouped as an operator reads them: (text key, quantities).
VALUE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("voltage", ("v_a_v", "v_b_v", "v_c_v")),
    ("current", ("i_a_a", "i_b_a", "i_c_a", "i_n_a")),
    ("power", ("p_kw", "q_kvar", "s_kva", "pf", "freq_hz")),
    ("energy", ("e_imp_kwh", "e_exp_kwh", "eq_kvarh")),
    ("quality", ("thd_v_pct", "thd_i_pct")),
    ("environment", ("oil_temp_c", "amb_temp_c", "humidity_pct")),
)
UNITS = {"v": "V", "a": "A", "kw": "kW", "kvar": "kvar", "kva": "kVA", "hz": "Hz", "kwh": "kWh",
         "kvarh": "kvarh", "pct": "%", "c": "°C"}  # fmt: skip


def unit_of(quantity: str) -> str:
    return UNITS.get(quantity.rsplit("_", 1)[-1], "") if "_" in quantity else ""


@dataclass
class _Data:
    status: monitoring.TransformerStatus
    curve: dict[str, Any]
    alarms: list[alarms.AlarmOut]
    thresholds: list[EffectiveThreshold]
    commands: list[dict[str, Any]]


class TransformerView:
    def __init__(self, session: Session, feed: AlarmFeed, asset_number: str) -> None:
        self.session = session
        self.feed = feed
        self.asset = asset_number
        self.tz = session.console.tz
        self.group = "voltage"
        self.window = DEFAULT_WINDOW
        self.end: datetime | None = None  # None: the window ends now
        self.seen = feed.seq
        self.data: _Data | None = None
        self.thresholds_open = False  # kept open across re-draws

    # -- reading -------------------------------------------------------------------------------

    def _bounds(self) -> tuple[datetime, datetime]:
        end = self.end or utc_now()
        return end - WINDOWS[self.window], end

    def _read(self, conn: Connection, scope: Scope) -> _Data:
        status = monitoring.transformer(conn, self.asset, scope)
        start, end = self._bounds()
        curve = telemetry.device_readings(conn, self.asset, scope, start, end,
                                          [q for _, qs, _ in CURVE_GROUPS for q in qs])  # fmt: skip
        found = alarms.list_alarms(conn, scope, device=self.asset, since=start, until=end,
                                   limit=500).items  # fmt: skip
        commands: list[dict[str, Any]] = []
        if status.terminal:
            found += alarms.list_alarms(conn, scope, device=status.terminal, since=start,
                                        until=end, limit=500).items  # fmt: skip
            commands = [c for c in terminal.list_for(conn, status.terminal, scope, limit=20)
                        if c["kind"] == "set_interval"]  # fmt: skip
        found.sort(key=lambda a: a.started_at, reverse=True)
        limits = alarms.effective_thresholds(conn, "transformer", self.asset, scope)
        return _Data(status, curve, found, limits, commands)

    # -- page ----------------------------------------------------------------------------------

    async def build(self, alarm_id: int | None) -> None:
        ui.page_title(f"{self.asset} · {t('app.title')}")
        frame("fleet", self.session)
        if alarm_id is not None:
            await self._focus(alarm_id)
        try:
            self.data = await self.session.reader.read(self._read)
        except NotFoundError:
            ui.context.client.status_code = 404
            with ui.column().classes("w-full items-center q-pa-xl text-grey-8").props("role=alert"):
                ui.icon("search_off", size="48px")
                ui.label(t("transformer.not_found", asset=self.asset)).classes("text-h6")
            return
        self.root = ui.column().classes("w-full q-pa-md gap-3")
        self._render()
        ui.timer(1.0, self._on_tick)
        ui.timer(60.0, self.reload)

    async def _focus(self, alarm_id: int) -> None:
        """Open at an alarm: its curve group, the window around it."""
        try:
            found = await self.session.reader.read(
                lambda conn, scope: alarms.get(conn, alarm_id, scope)
            )
        except NotFoundError:
            return
        self.group = RULE_GROUP.get(found.rule, "voltage")
        self.window = "1d"
        end = (found.cleared_at or found.last_seen_at) + timedelta(hours=6)
        self.end = None if end >= utc_now() else end

    async def reload(self, *, force: bool = False) -> None:
        try:
            data = await self.session.reader.read(self._read)
        except NotFoundError:  # moved out of scope or retired meanwhile
            ui.navigate.reload()
            return
        # Re-draw only the parts with news: a button the user is about to press elsewhere on
        # the page stays where it is.
        old, self.data = self.data, data
        if force or old is None:
            self._render()
            return
        before, after = _news(old), _news(data)
        changed = {part for part, (a, b) in zip(_PARTS, zip(before, after, strict=True),
                                                 strict=True) if a != b}  # fmt: skip
        if "status" in changed:
            self._draw_top()
        if changed & {"curve", "alarms"}:
            self._draw(self.curve_box, partial(self._curves, data))
        if "alarms" in changed:
            self._draw(self.alarm_box, partial(self._alarms, data.alarms))
        if changed & {"thresholds", "commands"}:
            self._draw_bottom()

    async def _on_tick(self) -> None:
        events_, _ = self.feed.after(self.seen)
        if not events_:
            return
        self.seen = events_[-1].seq
        ours = {self.asset, self.data.status.terminal if self.data else None}
        if any(e.asset_number in ours for e in events_):
            await self.reload()

    def _render(self) -> None:
        data = self.data
        assert data is not None
        self.root.clear()
        with self.root:
            self.top = ui.column().classes("w-full gap-3")
            self.curve_box = ui.column().classes("w-full")
            self.alarm_box = ui.column().classes("w-full")
            self.bottom = ui.row().classes("w-full gap-3 items-start no-wrap")
        self._draw_top()
        self._draw(self.curve_box, partial(self._curves, data))
        self._draw(self.alarm_box, partial(self._alarms, data.alarms))
        self._draw_bottom()

    def _draw_top(self) -> None:
        assert self.data is not None
        self.top.clear()
        with self.top:
            self._header(self.data.status)
            self._values(self.data.status)

    def _draw_bottom(self) -> None:
        assert self.data is not None
        self.bottom.clear()
        with self.bottom:
            self._interval(self.data)
            self._thresholds(self.data.thresholds)

    @staticmethod
    def _draw(box: ui.element, draw: Callable[[], None]) -> None:
        box.clear()
        with box:
            draw()

    def _header(self, s: monitoring.TransformerStatus) -> None:
        with ui.row().classes("w-full items-center gap-3"):
            ui.icon("electrical_services", size="36px", color="primary")
            with ui.column().classes("gap-0"):
                ui.label(t("kind.transformer")).classes("text-overline text-grey-7")
                ui.label(s.asset_number).classes("text-h5 text-weight-medium")
            colour = STATUS_COLOUR.get(s.status, "#9e9e9e")
            ui.badge(t(f"monitor_status.{s.status}")).props("rounded").classes(
                "text-body2 q-px-sm").style(filled(colour))  # fmt: skip
            ui.label(s.status_reason).classes("text-grey-8")
            ui.space()
            with ui.column().classes("gap-0 text-right text-grey-8 text-body2"):
                ui.label(t("transformer.where", org_unit=s.org_unit, feeder=s.feeder or "–",
                           terminal=s.terminal or "–"))  # fmt: skip
                ui.label(t("transformer.last_report", at=when(s.last_report_at, self.tz),
                           reading=when(s.reading_ts, self.tz)))  # fmt: skip

    def _values(self, s: monitoring.TransformerStatus) -> None:
        d = s.derived
        derived = (
            ("loading_pct", d.loading_pct), ("current_unbalance_pct", d.current_unbalance_pct),
            ("loss_kw", d.loss_kw), ("rated_kva", s.rated_kva),
        )  # fmt: skip
        with (
            ui.element("div")
            .classes("w-full")
            .style(
                "display:grid;gap:12px;grid-template-columns:repeat(auto-fill,minmax(210px,1fr))"
            )
        ):
            with ui.card().props("flat bordered").classes("q-pa-sm gap-1 bg-blue-1"):
                ui.label(t("transformer.derived")).classes("text-subtitle2 text-grey-8")
                for key, value in derived:
                    _value_row(t(f"derived.{key}"), value, unit_of(key))
            for group, quantities in VALUE_GROUPS:
                with ui.card().props("flat bordered").classes("q-pa-sm gap-1"):
                    ui.label(t(f"curve_group.{group}")).classes("text-subtitle2 text-grey-8")
                    for q in quantities:
                        _value_row(t(f"quantity.{q}"), s.values.get(q), unit_of(q))

    def _curves(self, data: _Data) -> None:
        start, end = self._bounds()
        marks = marks_in_window(data.alarms, start, end)
        with ui.card().classes("w-full gap-2").props("flat bordered"):
            with ui.row().classes("w-full items-center gap-3"):
                ui.label(t("transformer.curves")).classes("text-h6")
                ui.space()
                ui.toggle({key: t(f"curve_group.{key}") for key, _, _ in CURVE_GROUPS},
                          value=self.group, on_change=self._on_group
                          ).props("dense no-caps unelevated toggle-color=primary")  # fmt: skip
                ui.toggle(
                    {w: t(f"window.{w}") for w in WINDOWS}, value=self.window,
                    on_change=self._on_window,
                ).props("dense no-caps toggle-color=secondary")  # fmt: skip
                if self.end is not None:
                    ui.button(t("transformer.to_now"), on_click=self._to_now).props("flat no-caps")
            if not data.curve["ts"]:
                ui.label(t("details.no_readings")).classes("text-grey-7")
            else:
                ui.echart(curve_option(data.curve, self.group, marks)).classes(
                    "w-full h-80").props("id=transformer-curve")  # fmt: skip
            if marks:
                with ui.row().classes("gap-2 items-center").props(
                        f'role=list aria-label="{t("transformer.marked")}"'):  # fmt: skip
                    ui.label(t("transformer.marked")).classes("text-caption text-grey-8")
                    for m in marks:
                        until = when(m.end, self.tz) if m.end else t("transformer.open")
                        colour = SEVERITY_COLOUR.get(m.severity, "#9e9e9e")
                        text = f"{m.label} · {when(m.start, self.tz)} – {until}"
                        badge = ui.badge(text).props("role=listitem outline").classes("q-px-sm")
                        badge.style(outlined(colour))

    async def _on_group(self, e: events.ValueChangeEventArguments[Any]) -> None:
        if e.value in GROUP_QUANTITIES and e.value != self.group and self.data is not None:
            self.group = e.value
            self._draw(self.curve_box, partial(self._curves, self.data))  # only the chart

    async def _on_window(self, e: events.ValueChangeEventArguments[Any]) -> None:
        if e.value in WINDOWS and e.value != self.window:
            self.window = e.value
            await self.reload(force=True)

    async def _to_now(self) -> None:
        self.end = None
        await self.reload(force=True)

    def _alarms(self, found: list[alarms.AlarmOut]) -> None:
        can_ack = self.session.can(Permission.ACKNOWLEDGE_ALARMS)
        with ui.card().classes("w-full gap-1").props("flat bordered"):
            ui.label(t("transformer.alarms")).classes("text-h6")
            if not found:
                ui.label(t("transformer.no_alarms")).classes("text-grey-7")
            for a in found:
                with ui.row().classes("w-full items-center gap-3 no-wrap").props(
                        f'role=group aria-label="{rule_label(a.rule)}"'):  # fmt: skip
                    alarm_line(a, self.tz)
                    if can_ack and a.acknowledged_at is None:
                        ui.button(t("alarms.acknowledge"),
                                  on_click=lambda _, a=a: self._acknowledge(a.id)
                                  ).props("dense unelevated no-caps color=primary")  # fmt: skip
                    elif a.acknowledged_by:
                        ui.label(t("alarms.acked_by", user=a.acknowledged_by)).classes(
                            "text-caption text-grey-7")  # fmt: skip

    async def _acknowledge(self, alarm_id: int) -> None:
        def call(conn: Connection, p: Principal) -> alarms.AlarmOut:
            return alarms.acknowledge(conn, alarm_id, p.username, None, p.scope)

        done, _ = await attempt(self.session, lambda: self.session.change(
            "acknowledge_alarm", call, permission=Permission.ACKNOWLEDGE_ALARMS,
            target=str(alarm_id)), notify_error)  # fmt: skip
        if done:
            ui.notify(t("alarms.acknowledged", n=1), type="positive")
            await self.reload()

    def _interval(self, data: _Data) -> None:
        s = data.status
        with ui.card().classes("col-4 gap-2").props("flat bordered"):
            ui.label(t("transformer.interval")).classes("text-h6")
            ui.label(t("transformer.interval_now", minutes=s.reporting_interval_min or "–",
                       terminal=s.terminal or "–"))  # fmt: skip
            pending = [c for c in data.commands if c["status"] in ("pending", "sent")]
            for c in pending[:1]:
                ui.label(t("transformer.interval_pending",
                           minutes=c["params"].get("interval_min"),
                           status=t(f"command_status.{c['status']}"))
                         ).classes("text-warning text-weight-medium").props(
                    'data-testid="interval-pending"')  # fmt: skip
            if s.terminal and self.session.can(Permission.SEND_COMMANDS):
                with ui.row().classes("items-center gap-2"):
                    choice = ui.select({m: t("transformer.minutes", n=m) for m in INTERVALS},
                                       value=s.reporting_interval_min or 15,
                                       label=t("transformer.interval_new")
                                       ).props("outlined dense").classes("w-32")  # fmt: skip
                    ui.button(t("transformer.interval_send"),
                              on_click=lambda: self._send_interval(int(choice.value))
                              ).props("unelevated no-caps color=primary")  # fmt: skip

    async def _send_interval(self, minutes: int) -> None:
        assert self.data is not None and self.data.status.terminal is not None
        terminal_number = self.data.status.terminal

        def call(conn: Connection, p: Principal) -> monitoring.ReportingIntervalOut:
            data = monitoring.ReportingIntervalIn(terminal=terminal_number, interval_min=minutes)
            return monitoring.set_reporting_interval(conn, data, p.scope, p.username)

        done, _ = await attempt(self.session, lambda: self.session.change(
            "reporting_interval", call, permission=Permission.SEND_COMMANDS,
            target=terminal_number, detail={"interval_min": minutes}), notify_error)  # fmt: skip
        if done:
            ui.notify(t("transformer.interval_sent", minutes=minutes), type="positive")
            await self.reload()

    def _thresholds(self, limits: list[EffectiveThreshold]) -> None:
        """Each rule's threshold in force here and where it comes from; holders of
        manage_thresholds override it for this transformer or return to the inherited value."""
        can_edit = self.session.can(Permission.MANAGE_THRESHOLDS)
        grid = "display:grid;grid-template-columns:1fr auto auto auto;gap:2px 16px"
        with (
            ui.card().classes("col gap-1").props("flat bordered"),
            ui.expansion(
                t("transformer.thresholds"),
                icon="tune",
                value=self.thresholds_open,
                on_value_change=self._on_thresholds_toggle,
            ).classes("w-full"),
            ui.element("div").classes("w-full items-center").style(grid),
        ):
            for head in ("rule", "value", "origin"):
                ui.label(t(f"thresholds.{head}")).classes("text-caption text-grey-7")
            ui.label("")
            for x in limits:
                origin = t(f"origin.{x.origin}")
                if x.origin_key and x.origin != "transformer":
                    origin += f" {x.origin_key}"
                ui.label(x.label)
                value = ui.label(f"{x.value:g} {x.unit}".strip()).classes("text-right")
                value.props(f'data-rule="{x.rule}"')
                ui.label(origin).classes("text-grey-8")
                with ui.row().classes("gap-1 no-wrap"):
                    if can_edit:
                        edit = ui.button(icon="edit", on_click=partial(self._edit_threshold, x))
                        edit.props(
                            f'flat dense round aria-label="{t("thresholds.edit", rule=x.label)}"'
                        )
                    if can_edit and x.origin == "transformer":
                        undo = ui.button(icon="undo", on_click=partial(self._reset_threshold, x))
                        undo.props(
                            f'flat dense round aria-label="{t("thresholds.reset", rule=x.label)}"'
                        )

    def _on_thresholds_toggle(self, e: events.ValueChangeEventArguments[Any]) -> None:
        self.thresholds_open = bool(e.value)

    def _edit_threshold(self, x: EffectiveThreshold) -> None:
        with ui.dialog() as dialog, ui.card().classes("q-pa-md gap-2"):
            ui.label(t("thresholds.edit", rule=x.label)).classes("text-h6")
            ui.label(t("thresholds.default_is", value=f"{x.default:g} {x.unit}".strip()))
            value = ui.number(t("thresholds.value"), value=x.value, suffix=x.unit).props(
                "outlined dense autofocus")  # fmt: skip
            error = error_label()
            with ui.row().classes("w-full justify-end"):
                ui.button(t("common.cancel"), on_click=dialog.close).props("flat no-caps")
                save = ui.button(
                    t("common.save"),
                    on_click=lambda: self._save_threshold(x.rule, value.value, dialog, error),
                )
                save.props("unelevated no-caps color=primary")
        dialog.open()

    async def _save_threshold(self, rule: str, value: float | None, dialog: ui.dialog,
                              error: ui.label) -> None:  # fmt: skip
        if value is None:
            return

        def call(conn: Connection, p: Principal) -> list[EffectiveThreshold]:
            return alarms.set_threshold(conn, rule, "transformer", self.asset, float(value),
                                        p.username, p.scope)  # fmt: skip

        done, _ = await attempt(self.session, lambda: self.session.change(
            "set_threshold", call, permission=Permission.MANAGE_THRESHOLDS, target=self.asset,
            detail={"rule": rule, "level": "transformer", "key": self.asset, "value": value}),
            lambda exc: show_error(error, exc.detail))  # fmt: skip
        if done:
            dialog.close()
            ui.notify(t("thresholds.saved"), type="positive")
            await self.reload(force=True)

    async def _reset_threshold(self, x: EffectiveThreshold) -> None:
        def call(conn: Connection, p: Principal) -> list[EffectiveThreshold]:
            return alarms.clear_threshold(conn, x.rule, "transformer", self.asset, p.scope)

        done, _ = await attempt(self.session, lambda: self.session.change(
            "clear_threshold", call, permission=Permission.MANAGE_THRESHOLDS, target=self.asset,
            detail={"rule": x.rule, "level": "transformer", "key": self.asset}),
            notify_error)  # fmt: skip
        if done:
            ui.notify(t("thresholds.saved"), type="positive")
            await self.reload(force=True)


_PARTS = ("status", "curve", "alarms", "thresholds", "commands")


def _news(data: _Data) -> tuple[Any, ...]:
    """What each part of the page shows, in _PARTS order (an open alarm's running duration is
    not news)."""
    return (
        data.status, (data.curve["ts"][-1:], len(data.curve["ts"])),
        [a.model_dump(exclude={"duration_s"}) for a in data.alarms],
        data.thresholds, [(c["id"], c["status"]) for c in data.commands],
    )  # fmt: skip


def _value_row(label: str, value: float | None, unit: str) -> None:
    with ui.row().classes("w-full justify-between no-wrap"):
        ui.label(label).classes("text-grey-8")
        text = t("empty_value") if value is None else f"{value:,.2f}".rstrip("0").rstrip(".")
        ui.label(f"{text} {unit}".strip() if value is not None else text).classes(
            "text-weight-medium")  # fmt: skip
