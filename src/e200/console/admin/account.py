"""My account: who I am here (roles, permissions, data scope), my password, my API keys.

A user who must change the first password lands here and can do nothing else until it is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nicegui import ui
from sqlalchemy import Connection

from e200 import archives, auth
from e200.console.admin.keys import ApiKeysPanel
from e200.console.i18n import t
from e200.console.layout import frame
from e200.console.session import Session
from e200.console.widgets import attempt, error_label, show_error
from e200.kernel import E200Error, NotFoundError, Permission, Principal


@dataclass(frozen=True)
class _Me:
    user: dict[str, Any]
    units: list[str]  # "Name (CODE)" of the org units of the scope


def _read_me(conn: Connection, principal: Principal) -> _Me:
    user = auth.user_by_id(conn, principal.user_id)
    units = []
    for code in user["org_units"]:
        try:
            units.append(f"{archives.get_org_unit(conn, code, principal.scope).name} ({code})")
        except NotFoundError:
            units.append(code)
    return _Me(user, units)


def scope_text(scope_all: bool, units: list[str]) -> str:
    if scope_all:
        return t("scope.whole_grid")
    return ", ".join(units) if units else t("scope.nothing")


class AccountView:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def build(self) -> None:
        principal = self.session.principal
        ui.page_title(f"{t('account.title')} · {t('app.title')}")
        frame("account", self.session)
        me = await self.session.read(_read_me)
        user = me.user
        with ui.column().classes("w-full max-w-screen-md q-pa-md gap-4"):
            ui.label(t("account.title")).classes("text-h5 text-weight-medium")
            if principal.must_change_password:
                with (
                    ui.row()
                    .classes("w-full items-center no-wrap gap-3 q-pa-md rounded-borders")
                    .style("background: #fff4d6")
                    .props("role=alert")
                ):
                    ui.icon("password", size="28px", color="accent")
                    ui.label(t("account.must_change")).classes("text-body1")
            with (
                ui.card().classes("w-full q-pa-none").props("flat bordered"),
                ui.element("table").classes("w-full").props(f'aria-label="{t("account.details")}"'),
            ):
                permissions = sorted(p.value for p in principal.permissions)
                rows = [
                    ("account.username", user["username"]),
                    ("account.display_name", user["display_name"] or t("empty_value")),
                    ("account.source", t(f"source.{user['source']}")),
                    ("account.roles", ", ".join(user["roles"]) or t("empty_value")),
                    ("account.scope", scope_text(user["scope_all"], me.units)),
                    (
                        "account.permissions",
                        ", ".join(t(f"permission.{p}") for p in permissions) or t("empty_value"),
                    ),
                ]
                for label, value in rows:
                    with ui.element("tr"):
                        with (
                            ui.element("th")
                            .classes("text-left text-grey-8 text-weight-regular q-pa-sm")
                            .style("width: 30%")
                        ):
                            ui.label(t(label))
                        with ui.element("td").classes("q-pa-sm"):
                            ui.label(value)
            if user["source"] == "local":
                self._password_card(principal.must_change_password)
            else:
                ui.label(t("account.password_elsewhere", source=t(f"source.{user['source']}")))
            if principal.can(Permission.MANAGE_INTEGRATIONS) and not principal.must_change_password:
                with ui.card().classes("w-full").props("flat bordered"):
                    keys = ApiKeysPanel(self.session)
                    keys.build()
                await keys.refresh()

    def _password_card(self, forced: bool) -> None:
        self.forced = forced
        with (
            ui.card()
            .classes("w-full gap-2")
            .props(f'flat bordered role=form aria-label="{t("account.change_password")}"')
        ):
            ui.label(t("account.change_password")).classes("text-subtitle1 text-weight-medium")
            ui.label(
                t("account.password_rules", n=self.session.console.settings.password_min_length)
            ).classes("text-caption text-grey-7")
            common = "outlined dense"
            self.current = (
                ui.input(t("account.current_password"), password=True)
                .props(f"{common} autocomplete=current-password")
                .classes("w-full")
            )
            self.new = (
                ui.input(t("account.new_password"), password=True)
                .props(f"{common} autocomplete=new-password")
                .classes("w-full")
            )
            self.repeat = (
                ui.input(t("account.repeat_password"), password=True)
                .props(f"{common} autocomplete=new-password")
                .classes("w-full")
            )
            self.repeat.on("keydown.enter", self.change_password)
            self.error = error_label()
            ui.button(
                t("account.change_password"), icon="lock_reset", on_click=self.change_password
            ).props("unelevated no-caps color=primary")

    async def change_password(self) -> None:
        for field in (self.current, self.new, self.repeat):
            field.error = None
        show_error(self.error, None)
        current = self.current.value or ""
        new = self.new.value or ""
        if not current:
            self.current.error = t("account.required")
            return
        if not new:
            self.new.error = t("account.required")
            return
        if new != (self.repeat.value or ""):
            self.repeat.error = t("account.mismatch")
            return
        settings = self.session.console.settings

        def call(conn: Connection, principal: Principal) -> None:
            auth.change_own_password(conn, settings, principal, current, new)

        def refused(exc: E200Error) -> None:
            if exc.field == "current_password":
                self.current.error = exc.detail
            elif exc.field in ("new_password", "password"):
                self.new.error = exc.detail
            else:
                show_error(self.error, exc.detail)

        ok, _ = await attempt(
            self.session,
            lambda: self.session.change("change_password", call, permission=None),
            refused,
        )
        if not ok:
            return
        for field in (self.current, self.new, self.repeat):
            field.value = ""
        ui.notify(t("account.password_changed"), type="positive")
        if self.forced:
            ui.navigate.to("/")
