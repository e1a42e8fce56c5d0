"""A terminal's meter list in the archive browser: the archive's meters of its station area with
their phases, whether the terminal's last reported list has them, the consistency mismatches and
the last sync command; for editors, remove a meter, change a phase, add a meter; push the
archive's list to the terminal or take the terminal's list into the archive (reviewed first).

Every change goes through the terminal slice's functions — the same as the REST routes — as the
signed-in user is now, audited under the routes' action names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import tzinfo
from typing import Any

from nicegui import events, ui
from sqlalchemy import Connection

from e200 import terminal
from e200.console.details import format_value
from e200.console.i18n import t
from e200.console.session import Session
from e200.console.widgets import attempt, confirm, notify_error, when
from e200.kernel import Permission, Principal

SYNC_COLOR = {"pending": "grey-7", "sent": "info", "acked": "positive", "failed": "negative",
              "expired": "warning"}  # fmt: skip
PHASE_CHOICES = ("A", "B", "C", "ABC")
DEFAULT_TTL_S = 900


def _status_text(status: str) -> str:
    return t(f"command_status.{status}")


class MeterListPanel:
    """The panel of one terminal; ``refresh`` shows the terminal again after a change."""

    def __init__(
        self,
        session: Session,
        tz: tzinfo,
        key: str,
        refresh: Callable[[], Awaitable[None]],
        open_meter: Callable[[str], Awaitable[None]],
    ) -> None:
        self.session = session
        self.tz = tz
        self.key = key
        self.refresh = refresh
        self.open_meter = open_meter
        self.editable = session.can(Permission.EDIT_ARCHIVES)

    # -- showing -------------------------------------------------------------------------------

    def render(
        self, listed: terminal.MeterListOut, report: terminal.ConsistencyReport | None
    ) -> None:
        self.report = report
        with (
            ui.card()
            .classes("w-full gap-3")
            .props(f'flat bordered role=region aria-label="{t("meters.title")}"')
        ):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(t("meters.title")).classes("text-h6")
                ui.space()
                if self.session.can(Permission.SEND_COMMANDS) and listed.transformer:
                    ui.button(t("meters.push"), icon="send", on_click=self._push).props(
                        "outline no-caps color=primary"
                    )
                if self.editable and report is not None and report.reported is not None:
                    ui.button(t("meters.adopt"), icon="move_down", on_click=self._adopt).props(
                        "outline no-caps color=primary"
                    )
            if listed.transformer is None:
                ui.label(t("meters.no_transformer")).classes("text-grey-7")
            else:
                ui.label(t("meters.transformer", transformer=listed.transformer)).classes(
                    "text-subtitle2 text-grey-8"
                )
            self._reported_and_sync(listed)
            if listed.transformer is not None:
                self._meters_table(listed)
                if self.editable:
                    self._add_form()
            if report is not None and report.reported is not None:
                self._mismatches(report)

    def _reported_and_sync(self, listed: terminal.MeterListOut) -> None:
        with ui.row().classes("w-full items-center gap-6"):
            if listed.reported is None:
                ui.label(t("meters.never_reported")).classes("text-grey-7")
            else:
                ui.label(
                    t("meters.reported", n=len(listed.reported.meters),
                      ts=when(listed.reported.ts, self.tz, seconds=True))
                ).classes("text-body2")  # fmt: skip
            with (
                ui.row()
                .classes("items-center gap-2")
                .props(f'role=status aria-label="{t("meters.last_sync")}"')
            ):
                ui.label(t("meters.last_sync") + ":").classes("text-body2 text-grey-8")
                sync = listed.last_sync
                if sync is None:
                    ui.label(t("meters.no_sync")).classes("text-grey-7")
                else:
                    ui.badge(_status_text(sync.status)).props(
                        f"color={SYNC_COLOR.get(sync.status, 'grey-7')} rounded"
                    ).classes("text-body2 q-px-sm")
                    ui.label(when(sync.created_at, self.tz, seconds=True)).classes(
                        "text-caption text-grey-7"
                    )
                    if sync.error:
                        ui.label(str(sync.error)).classes("text-caption text-negative")

    def _meters_table(self, listed: terminal.MeterListOut) -> None:
        fields = ("asset_number", "customer_account", "phase", "status", "valid_from")
        columns = [{"name": f, "field": f, "label": t(f"field.{f}"), "align": "left",
                    "sortable": True} for f in fields]  # fmt: skip
        columns.append({"name": "on_terminal", "field": "on_terminal",
                        "label": t("meters.on_terminal"), "align": "left"})  # fmt: skip
        if self.editable:
            columns.append({"name": "actions", "field": "actions", "label": t("meters.actions"),
                            "align": "left"})  # fmt: skip
        rows = []
        for m in listed.meters:
            row: dict[str, Any] = {f: format_value(f, getattr(m, f), self.tz) for f in fields}
            row["on_terminal"] = format_value("on_terminal", m.on_terminal, self.tz)
            row["phase_code"] = m.phase or ""
            rows.append(row)
        table = ui.table(columns=columns, rows=rows, row_key="asset_number", pagination=20)
        table.props(f'flat bordered dense aria-label="{t("meters.title")}"').classes("w-full")
        table.on("rowClick", self._on_row)
        if self.editable:
            table.add_slot("body-cell-actions", r"""
                <q-td :props="props" @click.stop>
                  <q-btn-group flat v-if="props.row.phase_code !== 'ABC'">
                    <q-btn v-for="p in ['A', 'B', 'C']" :key="p" dense no-caps size="sm"
                      :label="p" :aria-label="'phase ' + p + ' ' + props.row.asset_number"
                      :unelevated="p === props.row.phase_code"
                      :color="p === props.row.phase_code ? 'primary' : 'grey-7'"
                      :flat="p !== props.row.phase_code"
                      @click="() => $parent.$emit('phase', {meter: props.row.asset_number,
                                                            phase: p})" />
                  </q-btn-group>
                  <q-btn flat dense no-caps size="sm" color="negative" icon="link_off"
                    :aria-label="'remove ' + props.row.asset_number"
                    @click="() => $parent.$emit('remove', props.row.asset_number)" />
                </q-td>
            """)  # fmt: skip
            table.on("phase", self._on_phase)
            table.on("remove", self._on_remove)

    def _mismatches(self, report: terminal.ConsistencyReport) -> None:
        if not report.mismatches:
            with ui.row().classes("items-center gap-2"):
                ui.icon("check_circle", color="positive")
                ui.label(t("meters.consistent")).classes("text-positive")
            return
        ui.label(t("meters.mismatches", n=len(report.mismatches))).classes(
            "text-subtitle1 text-negative"
        )
        columns = [
            {"name": "kind", "field": "kind", "label": t("meters.mismatch_kind"), "align": "left"},
            {"name": "meter", "field": "meter", "label": t("field.asset_number"), "align": "left"},
            {"name": "archive_phase", "field": "archive_phase",
             "label": t("meters.archive_phase"), "align": "left"},
            {"name": "reported_phase", "field": "reported_phase",
             "label": t("meters.reported_phase"), "align": "left"},
            {"name": "where", "field": "where", "label": t("meters.where"), "align": "left"},
        ]  # fmt: skip
        rows = [{"meter": m.meter, "kind": t(f"mismatch.{m.kind}"),
                 "archive_phase": m.archive_phase or "", "reported_phase": m.reported_phase or "",
                 "where": ", ".join([*([m.archive_transformer] if m.archive_transformer else []),
                                     *m.reported_by, *m.archive_terminals])}
                for m in report.mismatches]  # fmt: skip
        ui.table(columns=columns, rows=rows, row_key="meter", pagination=20).props(
            'flat bordered dense aria-label="mismatches"'
        ).classes("w-full")

    def _add_form(self) -> None:
        with ui.row().classes("items-center gap-2"):
            asset = ui.input(t("meters.add_asset")).props("outlined dense").style("width: 220px")
            phase = ui.select(list(PHASE_CHOICES), label=t("meters.add_phase"), value="A").props(
                "outlined dense"
            ).style("width: 110px")  # fmt: skip

            async def add() -> None:
                meter = (asset.value or "").strip()
                if meter:
                    await self._add(meter, str(phase.value))

            ui.button(t("meters.add_button"), icon="add", on_click=add).props(
                "unelevated no-caps color=primary"
            )

    # -- changing ------------------------------------------------------------------------------

    async def _change(self, action: str, call: Callable[[Connection, Principal], Any],
                      permission: Permission, target: str, detail: dict[str, Any]
                      ) -> Any:  # fmt: skip
        done, result = await attempt(
            self.session,
            lambda: self.session.change(action, call, permission=permission, target=target,
                                        detail=detail),
            notify_error,
        )  # fmt: skip
        return result if done else None

    def _notify_command(self, result: Any) -> None:
        command = getattr(result, "command", None)
        status = _status_text(command.status) if command is not None else "—"
        ui.notify(t("meters.changed", status=status), type="positive")

    async def _on_row(self, e: events.GenericEventArguments) -> None:
        row = e.args[1] if isinstance(e.args, list) and len(e.args) > 1 else None
        if isinstance(row, dict) and row.get("asset_number"):
            await self.open_meter(str(row["asset_number"]))

    async def _on_phase(self, e: events.GenericEventArguments) -> None:
        args = e.args if isinstance(e.args, dict) else {}
        meter, phase = str(args.get("meter") or ""), str(args.get("phase") or "")
        if not meter or not phase:
            return
        key = self.key
        data = terminal.PhaseIn(phase=phase)
        result = await self._change(
            "change_terminal_meter_phase",
            lambda c, p: terminal.change_phase(c, key, meter, data, p.scope, p.username),
            Permission.EDIT_ARCHIVES, f"asset_number={key},meter={meter}",
            data.model_dump(mode="json"),
        )  # fmt: skip
        if result is not None:
            self._notify_command(result)
            await self.refresh()

    async def _on_remove(self, e: events.GenericEventArguments) -> None:
        meter = str(e.args or "")
        if not meter:
            return
        key = self.key
        if not await confirm(t("meters.remove_confirm", meter=meter, terminal=key),
                             t("meters.remove")):  # fmt: skip
            return
        result = await self._change(
            "remove_terminal_meter",
            lambda c, p: terminal.remove_meter(c, key, meter, None, DEFAULT_TTL_S, p.scope,
                                               p.username),
            Permission.EDIT_ARCHIVES, f"asset_number={key},meter={meter}",
            {"valid_from": None, "ttl_s": DEFAULT_TTL_S},
        )  # fmt: skip
        if result is not None:
            self._notify_command(result)
            await self.refresh()

    async def _add(self, meter: str, phase: str) -> None:
        key = self.key
        data = terminal.MetersAddIn(meters=[terminal.MeterAttach(meter=meter, phase=phase)])
        result = await self._change(
            "add_terminal_meters",
            lambda c, p: terminal.add_meters(c, key, data, p.scope, p.username),
            Permission.EDIT_ARCHIVES, f"asset_number={key}", data.model_dump(mode="json"),
        )  # fmt: skip
        if result is not None:
            self._notify_command(result)
            await self.refresh()

    async def _push(self) -> None:
        key = self.key
        result = await self._change(
            "push_archive_list",
            lambda c, p: terminal.push_list(c, key, DEFAULT_TTL_S, p.scope, p.username),
            Permission.SEND_COMMANDS, f"asset_number={key}", {"ttl_s": DEFAULT_TTL_S},
        )  # fmt: skip
        if result is not None:
            ui.notify(t("meters.pushed", status=_status_text(result.command.status)),
                      type="positive")  # fmt: skip
            await self.refresh()

    async def _adopt(self) -> None:
        report = self.report
        if report is None or report.reported is None:
            return
        changes = [terminal.AdoptChange(meter=m.meter, action=m.adopt)
                   for m in report.mismatches if m.adopt is not None]  # fmt: skip
        phase_of = {m.meter: m.reported_phase or "" for m in report.mismatches}
        with ui.dialog() as dialog, ui.card().classes("q-pa-md gap-3").style("min-width: 480px"):
            dialog.props(f'aria-label="{t("meters.adopt_title")}"')
            ui.label(t("meters.adopt_title")).classes("text-h6")
            if not changes:
                ui.label(t("meters.adopt_none")).classes("text-body1")
            else:
                ui.label(t("meters.adopt_hint")).classes("text-body2 text-grey-8")
                with ui.list().props("dense bordered separator").classes("w-full"):
                    for change in changes:
                        text = t(f"adopt.{change.action}", meter=change.meter,
                                 phase=phase_of.get(change.meter, ""))  # fmt: skip
                        ui.item(text)
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(t("common.cancel"), on_click=lambda: dialog.submit(False)).props(
                    "flat no-caps"
                )
                if changes:
                    ui.button(t("meters.adopt_confirm", n=len(changes)),
                              on_click=lambda: dialog.submit(True)
                              ).props("unelevated no-caps color=primary")  # fmt: skip
        answer = await dialog
        dialog.delete()
        if not answer or not changes:
            return
        key = self.key
        data = terminal.AdoptIn(version=report.reported.version, changes=changes)
        result = await self._change(
            "adopt_terminal_list",
            lambda c, p: terminal.adopt_list(c, key, data, p.scope, p.username),
            Permission.EDIT_ARCHIVES, f"asset_number={key}", data.model_dump(mode="json"),
        )  # fmt: skip
        if result is not None:
            ui.notify(t("meters.adopted", n=len(result.applied)), type="positive")
            await self.refresh()
