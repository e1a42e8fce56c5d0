"""The alarm center: alarms in the user's scope filtered by type, severity, state, org unit and
time; counts by type and severity; details with advice and a link to the curves around the alarm;
acknowledge one (with a comment) or many at once; new alarms arrive without a reload."""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import quote

from nicegui import events, ui
from sqlalchemy import Connection

from e200 import alarms, archives
from e200.console.charts import SEVERITY_COLOUR, filled, rule_label
from e200.console.i18n import t
from e200.console.layout import frame
from e200.console.live import AlarmFeed
from e200.console.session import Session
from e200.console.widgets import attempt, error_label, notify_error, parse_time, show_error, when
from e200.kernel import E200Error, NotFoundError, Permission, Principal, Scope

PAGE_SIZE = 100
DEFAULT_STATES = ["active", "acknowledged"]


def duration_text(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return t("duration.minutes", m=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return t("duration.hours", h=hours, m=minutes)
    return t("duration.days", d=hours // 24, h=hours % 24)


class AlarmCenterView:
    def __init__(self, session: Session, feed: AlarmFeed) -> None:
        self.session = session
        self.feed = feed
        self.tz = session.console.tz
        self.seen = feed.seq
        self.offset = 0
        self.filters: dict[str, Any] = {"state": ",".join(DEFAULT_STATES)}
        self.shown: dict[int, alarms.AlarmOut] = {}

    async def build(self, rule: str | None, device: str | None) -> None:
        ui.page_title(f"{t('alarms.title')} · {t('app.title')}")
        frame("alarms", self.session)
        units = await self.session.reader.read(
            lambda conn, scope: archives.list_org_units(conn, scope)
        )
        if rule:
            self.filters["rule"] = rule
        if device:
            self.filters["device"] = device
        dense = "outlined dense"
        with ui.column().classes("w-full q-pa-md gap-3").style("max-width: 1500px"):
            with ui.row().classes("w-full items-center gap-3"):
                ui.label(t("alarms.title")).classes("text-h5 text-weight-medium")
                with ui.row().classes("items-center gap-1 text-caption text-positive"):
                    ui.icon("sensors", size="18px")
                    ui.label(t("alarms.live"))
                ui.space()
                self.totals = ui.row().classes("gap-2 items-center").props(
                    f'role=status aria-label="{t("alarms.counts")}"')  # fmt: skip
            self.by_rule = ui.row().classes("gap-2 items-center").props(
                f'aria-label="{t("alarms.by_rule")}"')  # fmt: skip
            with ui.row().classes("w-full items-start gap-2").props(
                    f'role=search aria-label="{t("alarms.filters")}"'):  # fmt: skip
                rules = {"": t("alarms.any_rule")} | {r.key: r.label for r in alarms.RULES}
                if rule and rule not in rules:
                    rules[rule] = rule_label(rule)
                self.rule = ui.select(rules, value=rule or "", label=t("alarms.rule")).props(
                    dense).classes("w-52")  # fmt: skip
                self.severity = ui.select({s: t(f"severity.{s}") for s in alarms.SEVERITIES},
                                          value=[], multiple=True, label=t("alarms.severity")
                                          ).props(dense + " use-chips").classes("w-56")  # fmt: skip
                self.state = ui.select({s: t(f"alarm_state.{s}") for s in alarms.STATES},
                                       value=list(DEFAULT_STATES), multiple=True,
                                       label=t("alarms.state")
                                       ).props(dense + " use-chips").classes("w-72")  # fmt: skip
                self.unit = ui.select({"": t("fleet.all_units")} | {
                    u.code: "  " * u.depth + f"{u.name} ({u.code})" for u in units},
                    value="", label=t("fleet.org_unit")).props(dense).classes("w-56")  # fmt: skip
                self.device = ui.input(t("alarms.device"), value=device or "").props(
                    dense + " clearable").classes("w-36")  # fmt: skip
                self.since = ui.input(t("audit.since")).props(dense + " stack-label "
                                                              "type=datetime-local")  # fmt: skip
                self.until = ui.input(t("audit.until")).props(dense + " stack-label "
                                                              "type=datetime-local")  # fmt: skip
                ui.button(t("audit.apply"), icon="filter_alt", on_click=self.apply).props(
                    "unelevated no-caps color=primary")  # fmt: skip
                ui.button(t("audit.reset"), on_click=self.reset).props("flat no-caps")
            self.error = error_label()
            can_ack = self.session.can(Permission.ACKNOWLEDGE_ALARMS)
            with ui.row().classes("w-full items-center gap-2"):
                self.comment = ui.input(t("alarms.comment")).props(dense).classes("w-96")
                self.bulk = ui.button(t("alarms.acknowledge_selected", n=0), icon="done_all",
                                      on_click=self.acknowledge_selected
                                      ).props("unelevated no-caps color=primary")  # fmt: skip
                self.bulk.set_enabled(False)
                self.comment.set_visibility(can_ack)
                self.bulk.set_visibility(can_ack)
            self.table = ui.table(
                columns=self._columns(), rows=[], row_key="id", pagination=0,
                selection="multiple" if can_ack else None,
                on_select=self._on_select,
            ).props(f'flat bordered dense hide-bottom role=region '
                    f'aria-label="{t("alarms.list")}"').classes("w-full")  # fmt: skip
            self.table.add_slot("body-cell-severity", _SEVERITY_SLOT)
            self.table.add_slot("body-cell-rule", _RULE_SLOT)
            self.table.on("details", self._on_details)
            with ui.row().classes("w-full items-center gap-2"):
                self.position = ui.label().classes("text-body2 text-grey-8")
                ui.space()
                self.previous = ui.button(
                    t("audit.newer"), icon="chevron_left", on_click=lambda: self.page(-1)
                ).props("flat no-caps")
                self.next = ui.button(t("audit.older"), on_click=lambda: self.page(1)).props(
                    "flat no-caps icon-right=chevron_right")  # fmt: skip
        await self.load()
        ui.timer(1.0, self._on_tick)

    @staticmethod
    def _columns() -> list[dict[str, Any]]:
        return [{"name": f, "field": f, "label": t(f"alarms.col.{f}"), "align": "left"}
                for f in ("severity", "rule", "asset_number", "message", "started", "duration",
                          "peak", "state", "acknowledged")]  # fmt: skip

    # -- filters, paging -----------------------------------------------------------------------

    async def apply(self) -> None:
        show_error(self.error, None)
        try:
            since = parse_time(self.since.value, self.tz)
            until = parse_time(self.until.value, self.tz)
        except ValueError:
            show_error(self.error, t("audit.bad_time"))
            return
        self.filters = {
            "rule": self.rule.value or None,
            "severity": ",".join(self.severity.value or []) or None,
            "state": ",".join(self.state.value or []) or None,
            "org_unit": self.unit.value or None,
            "device": (self.device.value or "").strip() or None,
            "since": since, "until": until,
        }  # fmt: skip
        self.offset = 0
        await self.load()

    async def reset(self) -> None:
        self.rule.value, self.severity.value, self.state.value = "", [], list(DEFAULT_STATES)
        self.unit.value, self.device.value, self.since.value, self.until.value = "", "", "", ""
        await self.apply()

    async def set_rule(self, rule: str) -> None:
        self.rule.value = rule
        await self.apply()

    async def page(self, step: int) -> None:
        self.offset = max(0, self.offset + step * PAGE_SIZE)
        await self.load()

    def _read(self, conn: Connection, scope: Scope) -> tuple[alarms.AlarmPage, alarms.AlarmCounts]:
        filters = {k: v for k, v in self.filters.items() if v is not None}
        found = alarms.list_alarms(conn, scope, **filters, limit=PAGE_SIZE, offset=self.offset)
        return found, alarms.counts(conn, scope, **filters)

    async def load(self) -> None:
        try:
            found, counts = await self.session.reader.read(self._read)
        except E200Error as exc:  # e.g. an org unit filter out of scope
            show_error(self.error, exc.detail)
            return
        self.shown = {a.id: a for a in found.items}
        self.table.rows = [self._row(a) for a in found.items]
        self.table.selected = [r for r in self.table.selected if r["id"] in self.shown]
        self.table.update()
        self._on_select(None)
        self._counts(counts)
        n = len(found.items)
        self.position.set_text(t("audit.position", first=self.offset + 1,
                                 last=self.offset + n, total=found.total)
                               if n else t("alarms.none"))  # fmt: skip
        self.previous.set_enabled(self.offset > 0)
        self.next.set_enabled(self.offset + n < found.total)

    def _counts(self, counts: alarms.AlarmCounts) -> None:
        self.totals.clear()
        with self.totals:
            ui.label(t("alarms.total", n=counts.total)).classes("text-subtitle1").props(
                'data-testid="alarm-total"')  # fmt: skip
            for severity in alarms.SEVERITIES:
                ui.badge(f"{t(f'severity.{severity}')}: {counts.by_severity.get(severity, 0)}"
                         ).props("rounded").classes("q-px-sm").style(
                    filled(SEVERITY_COLOUR[severity]))  # fmt: skip
        self.by_rule.clear()
        with self.by_rule:
            for rule, n in sorted(counts.by_rule.items(), key=lambda x: -x[1]):
                ui.chip(f"{rule_label(rule)} · {n}", icon="filter_alt",
                        on_click=lambda _, r=rule: self.set_rule(r)
                        ).props("outline dense clickable color=primary")  # fmt: skip

    def _row(self, a: alarms.AlarmOut) -> dict[str, Any]:
        return {
            "id": a.id, "severity": t(f"severity.{a.severity}"),
            "severity_colour": SEVERITY_COLOUR.get(a.severity, "#9e9e9e"),
            "rule": rule_label(a.rule), "asset_number": a.asset_number, "message": a.message,
            "started": when(a.started_at, self.tz), "duration": duration_text(a.duration_s),
            "peak": "" if a.peak_value is None else f"{a.peak_value:.1f}",
            "state": t(f"alarm_state.{a.state}"),
            "acknowledged": a.acknowledged_by or "",
        }  # fmt: skip

    def _on_select(self, _: events.TableSelectionEventArguments | None) -> None:
        n = len(self.table.selected)
        self.bulk.set_text(t("alarms.acknowledge_selected", n=n))
        self.bulk.set_enabled(n > 0)

    # -- live ----------------------------------------------------------------------------------

    async def _on_tick(self) -> None:
        news, _ = self.feed.after(self.seen)
        if not news:
            return
        self.seen = news[-1].seq
        await self.load()
        raised = [e for e in news if e.event == "raised"][-3:]
        for e in raised:  # only what this user may see
            try:
                await self.session.reader.read(partial(_get_alarm, e.alarm_id))
            except NotFoundError:
                continue
            ui.notify(t("alarms.arrived", rule=rule_label(e.rule), asset=e.asset_number),
                      type="warning", position="top-right")  # fmt: skip

    # -- acknowledge ---------------------------------------------------------------------------

    async def acknowledge_selected(self) -> None:
        ids = [int(r["id"]) for r in self.table.selected]
        comment = (self.comment.value or "").strip() or None
        if not ids:
            return

        def call(conn: Connection, p: Principal) -> Any:
            return alarms.acknowledge_many(conn, ids, p.username, comment, p.scope)

        done, out = await attempt(self.session, lambda: self.session.change(
            "acknowledge_alarms", call, permission=Permission.ACKNOWLEDGE_ALARMS,
            detail={"ids": ids, "comment": comment}), notify_error)  # fmt: skip
        if done and out is not None:
            ui.notify(t("alarms.acknowledged", n=len(out.acknowledged)), type="positive")
            if out.already:
                ui.notify(t("alarms.already", n=len(out.already)), type="info")
            self.table.selected = []
            self.comment.value = ""
            await self.load()

    async def _acknowledge_one(self, alarm_id: int, comment: str | None, dialog: ui.dialog
                               ) -> None:  # fmt: skip
        def call(conn: Connection, p: Principal) -> alarms.AlarmOut:
            return alarms.acknowledge(conn, alarm_id, p.username, comment, p.scope)

        done, _ = await attempt(self.session, lambda: self.session.change(
            "acknowledge_alarm", call, permission=Permission.ACKNOWLEDGE_ALARMS,
            target=str(alarm_id), detail={"comment": comment}), notify_error)  # fmt: skip
        if done:
            dialog.close()
            ui.notify(t("alarms.acknowledged", n=1), type="positive")
            await self.load()

    # -- details -------------------------------------------------------------------------------

    def _on_details(self, e: events.GenericEventArguments) -> None:
        found = self.shown.get(int(e.args))
        if found is not None:
            self.details(found)

    def details(self, a: alarms.AlarmOut) -> None:
        with ui.dialog() as dialog, ui.card().classes("q-pa-md gap-2").style(
                "min-width: 640px; max-width: 860px"):  # fmt: skip
            with ui.row().classes("w-full items-center gap-2"):
                ui.badge(t(f"severity.{a.severity}")).style(
                    filled(SEVERITY_COLOUR.get(a.severity, "#9e9e9e")))  # fmt: skip
                ui.label(f"{rule_label(a.rule)} · {a.asset_number}").classes("text-h6")
                ui.space()
                ui.badge(t(f"alarm_state.{a.state}")).props("outline color=grey-8")
            ui.label(a.message)
            facts = [
                (t("alarms.col.started"), when(a.started_at, self.tz)),
                (t("alarms.last_seen"), when(a.last_seen_at, self.tz)),
                (t("alarms.cleared"), when(a.cleared_at, self.tz)),
                (t("alarms.col.duration"), duration_text(a.duration_s)),
                (t("alarms.col.peak"), "" if a.peak_value is None else f"{a.peak_value:g}"),
                (t("alarms.last_value"), "" if a.last_value is None else f"{a.last_value:g}"),
            ]
            if a.acknowledged_by:
                facts.append((t("alarms.col.acknowledged"),
                              f"{a.acknowledged_by} · {when(a.acknowledged_at, self.tz)}"
                              + (f" · {a.ack_comment}" if a.ack_comment else "")))  # fmt: skip
            with ui.element("div").style(
                "display:grid;grid-template-columns:auto 1fr;gap:2px 16px"
            ):
                for label, value in facts:
                    ui.label(label).classes("text-grey-7")
                    ui.label(value or t("empty_value"))
            for key, icon in (("causes", "help_outline"), ("checks", "checklist")):
                items = a.advice.get(key) or []
                if items:
                    ui.label(t(f"alarms.advice_{key}")).classes("text-subtitle2 q-mt-sm")
                    with ui.column().classes("gap-1"):
                        for item in items:
                            with ui.row().classes("items-start gap-2 no-wrap"):
                                ui.icon(icon, size="18px", color="secondary")
                                ui.label(str(item))
            transformer = a.asset_number if a.device_kind == "transformer" else a.details.get(
                "transformer")  # fmt: skip
            with ui.row().classes("w-full items-center gap-2 q-mt-sm"):
                if transformer:
                    # ui.link adds the console's mount path itself
                    url = f"/transformers/{quote(str(transformer), safe='')}?alarm={a.id}"
                    ui.link(t("alarms.open_curves"), url).classes("text-primary")
                ui.space()
                if (self.session.can(Permission.ACKNOWLEDGE_ALARMS)
                        and a.acknowledged_at is None):  # fmt: skip
                    comment = ui.input(t("alarms.comment")).props("outlined dense").classes("w-64")
                    ui.button(t("alarms.acknowledge"), on_click=lambda: self._acknowledge_one(
                        a.id, (comment.value or "").strip() or None, dialog)
                              ).props("unelevated no-caps color=primary")  # fmt: skip
                ui.button(t("common.close"), on_click=dialog.close).props("flat no-caps")
        dialog.open()


def _get_alarm(alarm_id: int, conn: Connection, scope: Scope) -> alarms.AlarmOut:
    return alarms.get(conn, alarm_id, scope)


_SEVERITY_SLOT = r"""
<q-td :props="props">
  <q-badge :style="{background: props.row.severity_colour}">{{ props.value }}</q-badge>
</q-td>"""
_RULE_SLOT = r"""
<q-td :props="props">
  <a href="#" class="text-primary text-weight-medium"
     @click.prevent="$parent.$emit('details', props.row.id)">{{ props.value }}</a>
</q-td>"""
