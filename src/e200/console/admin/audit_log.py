"""The audit log viewer (permission ``manage_users``): filters, newest first, a page at a time,
each row's detail opened in place.

Managers who do not see the whole grid see the events of the users they manage, as in the REST
route; the console reads through the auth slice's ``audit.search``.
"""

from __future__ import annotations

import json
from typing import Any

from nicegui import ui
from sqlalchemy import Connection

from e200 import auth
from e200.console.i18n import t
from e200.console.layout import frame
from e200.console.session import Session
from e200.console.widgets import error_label, parse_time, show_error, when
from e200.kernel import Principal

PAGE_SIZE = 50
OUTCOMES = ("success", "failure", "denied")
FIELDS = ("at", "actor", "action", "target", "outcome", "source_ip")
_OUTCOME_COLOR = {"success": "positive", "failure": "negative", "denied": "warning"}

# A toggle in the first cell opens the row's detail (JSON) in a row beneath it.
_HEADER_SLOT = r"""
<q-tr :props="props">
  <q-th auto-width />
  <q-th v-for="col in props.cols" :key="col.name" :props="props">{{ col.label }}</q-th>
</q-tr>
"""
_BODY_SLOT = r"""
<q-tr :props="props">
  <q-td auto-width>
    <q-btn size="sm" flat round dense :icon="props.expand ? 'expand_less' : 'expand_more'"
           :aria-label="'%(toggle)s ' + props.row.id"
           :aria-expanded="props.expand ? 'true' : 'false'"
           @click="props.expand = !props.expand" />
  </q-td>
  <q-td v-for="col in props.cols" :key="col.name" :props="props">
    <q-badge v-if="col.name === 'outcome'" :color="props.row.outcome_color" :label="col.value" />
    <span v-else>{{ col.value }}</span>
  </q-td>
</q-tr>
<q-tr v-show="props.expand" :props="props">
  <q-td colspan="100%%" class="bg-grey-2">
    <pre class="q-ma-none text-caption" style="white-space: pre-wrap">{{ props.row.detail }}</pre>
  </q-td>
</q-tr>
"""


class AuditView:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.tz = session.console.tz
        self.offset = 0
        self.total = 0
        self.filters: dict[str, Any] = {}

    async def build(self) -> None:
        ui.page_title(f"{t('audit.title')} · {t('app.title')}")
        frame("audit", self.session)
        with ui.column().classes("w-full q-pa-md gap-3").style("max-width: 1400px"):
            ui.label(t("audit.title")).classes("text-h5 text-weight-medium")
            with (
                ui.row()
                .classes("w-full items-start gap-2")
                .props(f'role=search aria-label="{t("audit.filters")}"')
            ):
                dense = "outlined dense clearable"
                self.actor = ui.input(t("audit.actor")).props(dense).classes("w-40")
                self.action = ui.input(t("audit.action")).props(dense).classes("w-40")
                self.target = ui.input(t("audit.target")).props(dense).classes("w-48")
                outcomes = {"": t("audit.any_outcome")} | {o: t(f"outcome.{o}") for o in OUTCOMES}
                self.outcome = (
                    ui.select(outcomes, value="", label=t("audit.outcome"))
                    .props("outlined dense")
                    .classes("w-36")
                )
                self.since = ui.input(t("audit.since")).props(
                    "outlined dense stack-label type=datetime-local"
                )
                self.until = ui.input(t("audit.until")).props(
                    "outlined dense stack-label type=datetime-local"
                )
                for field in (self.actor, self.action, self.target):
                    field.on("keydown.enter", self.apply)
                ui.button(t("audit.apply"), icon="filter_alt", on_click=self.apply).props(
                    "unelevated no-caps color=primary"
                )
                ui.button(t("audit.reset"), on_click=self.reset).props("flat no-caps")
            self.error = error_label()
            columns = [
                {"name": f, "field": f, "label": t(f"audit.col.{f}"), "align": "left"}
                for f in FIELDS
            ]
            self.table = (
                ui.table(columns=columns, rows=[], row_key="id", pagination=0)
                .props(
                    f'flat bordered dense hide-bottom role=region aria-label="{t("audit.events")}"'
                )
                .classes("w-full")
            )
            self.table.add_slot("header", _HEADER_SLOT)
            self.table.add_slot("body", _BODY_SLOT % {"toggle": t("audit.toggle_detail")})
            with ui.row().classes("w-full items-center gap-2"):
                self.position = ui.label().classes("text-body2 text-grey-8")
                ui.space()
                self.previous = ui.button(
                    t("audit.newer"), icon="chevron_left", on_click=lambda: self.page(-1)
                ).props("flat no-caps")
                self.next = ui.button(t("audit.older"), on_click=lambda: self.page(1)).props(
                    "flat no-caps icon-right=chevron_right"
                )
        await self.load()

    async def apply(self) -> None:
        show_error(self.error, None)
        try:
            since = parse_time(self.since.value, self.tz)
            until = parse_time(self.until.value, self.tz)
        except ValueError:
            show_error(self.error, t("audit.bad_time"))
            return
        self.filters = {
            "actor": (self.actor.value or "").strip() or None,
            "action": (self.action.value or "").strip() or None,
            "target": (self.target.value or "").strip() or None,
            "outcome": self.outcome.value or None,
            "since": since,
            "until": until,
        }
        self.offset = 0
        await self.load()

    async def reset(self) -> None:
        for field in (self.actor, self.action, self.target, self.since, self.until):
            field.value = ""
        self.outcome.value = ""
        await self.apply()

    async def page(self, step: int) -> None:
        self.offset = max(0, self.offset + step * PAGE_SIZE)
        await self.load()

    async def load(self) -> None:
        filters = dict(self.filters)
        offset = self.offset

        def search(conn: Connection, principal: Principal) -> dict[str, Any]:
            # Managers who do not see the whole grid see what the users they manage did.
            actor_ids = (
                None if principal.scope.is_unrestricted else auth.manageable_user_ids(principal)
            )
            return auth.audit.search(
                conn, **filters, actor_ids=actor_ids, limit=PAGE_SIZE, offset=offset
            )

        found = await self.session.read(search)
        self.total = int(found["total"])
        self.table.rows = [self._row(item) for item in found["items"]]
        self.table.update()
        shown = len(found["items"])
        if shown:
            self.position.set_text(
                t("audit.position", first=offset + 1, last=offset + shown, total=self.total)
            )
        else:
            self.position.set_text(t("audit.none"))
        self.previous.set_enabled(offset > 0)
        self.next.set_enabled(offset + shown < self.total)

    def _row(self, item: dict[str, Any]) -> dict[str, Any]:
        outcome = str(item["outcome"])
        return {
            "id": item["id"],
            "at": when(item["at"], self.tz, seconds=True),
            "actor": item["actor"] or t("empty_value"),
            "action": item["action"],
            "target": item["target"] or "",
            "outcome": t(f"outcome.{outcome}"),
            "outcome_color": _OUTCOME_COLOR.get(outcome, "grey-6"),
            "source_ip": item["source_ip"] or "",
            "detail": json.dumps(item["detail"], indent=2, ensure_ascii=False, default=str)
            if item["detail"] is not None
            else t("audit.no_detail"),
        }
