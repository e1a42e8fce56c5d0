"""Users and roles administration (permission ``manage_users``).

A manager sees and changes only the users whose whole scope lies inside their own, grants only
org units of their own scope and only roles whose permissions they hold: the auth slice enforces
all of it, the page only offers what would be accepted. Every change goes through the slice's
functions and leaves an audit row under the REST routes' action names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nicegui import events, ui
from sqlalchemy import Connection

from e200 import archives, auth
from e200.archives import OrgUnitOut
from e200.console.admin.keys import ApiKeysPanel
from e200.console.i18n import t
from e200.console.layout import frame
from e200.console.session import Session
from e200.console.widgets import (
    attempt,
    confirm,
    error_label,
    show_error,
    when,
)
from e200.kernel import E200Error, Permission, Principal

P = Permission
INDENT = "\u2003"  # an em space: HTML does not fold it away
PERMISSIONS: tuple[str, ...] = tuple(p.value for p in Permission)
USER_FIELDS = ("username", "display_name", "source", "status", "locked", "roles", "scope",
               "last_login_at")  # fmt: skip


@dataclass(frozen=True)
class _Directory:
    users: list[dict[str, Any]]
    roles: list[dict[str, Any]]
    units: list[OrgUnitOut]


def _read_directory(conn: Connection, principal: Principal) -> _Directory:
    return _Directory(
        auth.list_users(conn, principal),
        auth.list_roles(conn),
        archives.list_org_units(conn, principal.scope),
    )


def unit_options(units: list[OrgUnitOut]) -> dict[str, str]:
    """Org units for a multi-select, indented as the tree (the list comes in tree order)."""
    top = min((u.depth for u in units), default=0)
    return {u.code: f"{INDENT * (u.depth - top)}{u.name} ({u.code})" for u in units}


def grantable_roles(roles: list[dict[str, Any]], principal: Principal) -> list[str]:
    """The roles this manager may hand out: those granting nothing the manager lacks."""
    held = {p.value for p in principal.permissions}
    return [r["name"] for r in roles if set(r["permissions"]) <= held]


class UsersView:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.tz = session.console.tz
        self.directory = _Directory([], [], [])

    @property
    def manager(self) -> Principal:
        return self.session.principal

    async def build(self) -> None:
        ui.page_title(f"{t('users.title')} · {t('app.title')}")
        frame("users", self.session)
        with ui.column().classes("w-full q-pa-md gap-3").style("max-width: 1400px"):
            ui.label(t("users.title")).classes("text-h5 text-weight-medium")
            with ui.tabs().classes("text-primary").props("align=left no-caps") as tabs:
                users_tab = ui.tab("users", label=t("users.tab_users"), icon="people")
                roles_tab = ui.tab("roles", label=t("users.tab_roles"), icon="badge")
            with ui.tab_panels(tabs, value=users_tab).classes("w-full bg-transparent"):
                with ui.tab_panel(users_tab).classes("q-px-none gap-3"):
                    self._users_panel()
                with ui.tab_panel(roles_tab).classes("q-px-none gap-3"):
                    with ui.row().classes("w-full items-center"):
                        ui.label(t("roles.hint")).classes("text-body2 text-grey-8")
                        ui.space()
                        ui.button(
                            t("roles.new"), icon="add", on_click=lambda: self.edit_role(None)
                        ).props("unelevated no-caps color=primary")
                    self.roles_box = ui.column().classes("w-full")
        await self.refresh()

    async def refresh(self) -> None:
        self.directory = await self.session.read(_read_directory)
        self.table.rows = [self._user_row(u) for u in self.directory.users]
        self.table.update()
        self._render_roles()

    # -- users -----------------------------------------------------------------------------------

    def _users_panel(self) -> None:
        with ui.row().classes("w-full items-center gap-2"):
            search = ui.input(t("users.filter")).props("outlined dense clearable").classes("w-72")
            with search.add_slot("prepend"):
                ui.icon("search")
            ui.label(t("users.click_hint")).classes("text-caption text-grey-7")
            ui.space()
            ui.button(t("users.new"), icon="person_add", on_click=self.create_user).props(
                "unelevated no-caps color=primary"
            )
        columns = [
            {"name": f, "field": f, "label": t(f"users.col.{f}"), "align": "left", "sortable": True}
            for f in USER_FIELDS
        ]
        self.table = (
            ui.table(columns=columns, rows=[], row_key="username", pagination=25)
            .props(f'flat bordered dense role=region aria-label="{t("users.tab_users")}"')
            .classes("w-full cursor-pointer")
        )
        self.table.bind_filter_from(search, "value")
        self.table.on("rowClick", self._on_row)

    def _user_row(self, user: dict[str, Any]) -> dict[str, Any]:
        locked = t("empty_value")
        if user["locked"]:
            locked = t("users.locked_until", until=when(user["locked_until"], self.tz))
        return {
            "username": user["username"],
            "display_name": user["display_name"] or "",
            "source": t(f"source.{user['source']}"),
            "status": t(f"user_status.{user['status']}"),
            "locked": locked,
            "roles": ", ".join(user["roles"]),
            "scope": t("scope.whole_grid") if user["scope_all"] else ", ".join(user["org_units"]),
            "last_login_at": when(user["last_login_at"], self.tz),
        }

    async def _on_row(self, e: events.GenericEventArguments) -> None:
        row = e.args[1] if isinstance(e.args, list) and len(e.args) > 1 else None
        if isinstance(row, dict) and row.get("username"):
            await self.edit_user(str(row["username"]))

    def _grant_inputs(
        self, *, roles: list[str], units: list[str], scope_all: bool, own: bool
    ) -> tuple[Any, Any, Any]:
        role_names = grantable_roles(self.directory.roles, self.manager)
        options = {name: name for name in dict.fromkeys([*role_names, *roles])}
        role_select = (
            ui.select(options, multiple=True, value=list(roles), label=t("users.roles"))
            .props("outlined dense use-chips")
            .classes("w-full")
        )
        if own:
            role_select.disable()  # nobody changes their own roles
        unit_opts = unit_options(self.directory.units)
        for code in units:
            unit_opts.setdefault(code, code)
        unit_select = (
            ui.select(unit_opts, multiple=True, value=list(units), label=t("users.org_units"))
            .props("outlined dense use-chips")
            .classes("w-full")
        )
        whole = ui.checkbox(t("users.whole_grid"), value=scope_all)
        if not self.manager.scope.is_unrestricted:
            whole.disable()  # only who sees the whole grid may grant it
        unit_select.bind_enabled_from(whole, "value", backward=lambda v: not v)
        return role_select, unit_select, whole

    async def create_user(self) -> None:
        with (
            ui.dialog() as dialog,
            ui.card()
            .classes("q-pa-md gap-2")
            .style("width: 560px; max-width: 95vw")
            .props(f'role=dialog aria-label="{t("users.new")}"'),
        ):
            ui.label(t("users.new")).classes("text-h6")
            username = ui.input(t("users.username")).props("outlined dense").classes("w-full")
            display = ui.input(t("users.display_name")).props("outlined dense").classes("w-full")
            password = (
                ui.input(t("users.temporary_password"), password=True, password_toggle_button=True)
                .props("outlined dense autocomplete=new-password")
                .classes("w-full")
            )
            ui.label(t("users.temporary_hint")).classes("text-caption text-grey-7")
            roles, units, whole = self._grant_inputs(roles=[], units=[], scope_all=False, own=False)
            error = error_label()
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(t("common.cancel"), on_click=dialog.close).props("flat no-caps")
                create = ui.button(t("users.create"), icon="person_add").props(
                    "unelevated no-caps color=primary"
                )

        async def submit() -> None:
            show_error(error, None)
            data = {
                "username": (username.value or "").strip(),
                "password": password.value or "",
                "display_name": (display.value or "").strip() or None,
                "roles": list(roles.value or []),
                "org_units": [] if whole.value else list(units.value or []),
                "scope_all": bool(whole.value),
            }
            if not data["username"] or not data["password"]:
                show_error(error, t("users.name_and_password"))
                return
            settings = self.session.console.settings

            def call(conn: Connection, principal: Principal) -> dict[str, Any]:
                return auth.create_user(conn, settings, principal, data)

            ok, _ = await attempt(
                self.session,
                lambda: self.session.change(
                    "create_user",
                    call,
                    permission=P.MANAGE_USERS,
                    target=f"username={data['username']}",
                    detail={"request": {k: v for k, v in data.items() if k != "password"}},
                ),
                lambda exc: show_error(error, exc.detail),
            )
            if ok:
                dialog.close()
                ui.notify(t("users.created", user=data["username"]), type="positive")
                await self.refresh()

        create.on_click(submit)
        dialog.on("hide", dialog.delete)
        dialog.open()

    async def edit_user(self, username: str) -> None:
        user = next((u for u in self.directory.users if u["username"] == username), None)
        if user is None:
            return
        own = user["id"] == self.manager.user_id
        with (
            ui.dialog() as dialog,
            ui.card()
            .classes("q-pa-md gap-2")
            .style("width: 760px; max-width: 95vw")
            .props(f'role=dialog aria-label="{t("users.edit", user=username)}"'),
        ):
            with ui.row().classes("w-full items-center gap-2"):
                ui.icon("person", size="28px", color="primary")
                ui.label(username).classes("text-h6")
                ui.badge(t(f"source.{user['source']}")).props("outline color=primary")
                ui.badge(t(f"user_status.{user['status']}")).props(
                    f"color={'positive' if user['status'] == 'active' else 'grey-6'}"
                )
                if user["locked"]:
                    ui.badge(
                        t("users.locked_until", until=when(user["locked_until"], self.tz))
                    ).props("color=negative")
                ui.space()
                ui.button(icon="close", on_click=dialog.close).props(
                    f'flat round dense aria-label="{t("common.close")}"'
                )
            ui.label(t("users.last_login", at=when(user["last_login_at"], self.tz))).classes(
                "text-caption text-grey-7"
            )
            with ui.tabs().props("align=left no-caps dense").classes("text-primary") as tabs:
                access_tab = ui.tab("access", label=t("users.access"))
                password_tab = ui.tab("password", label=t("users.password_tab"))
                keys_tab = ui.tab("keys", label=t("keys.title"))
            with ui.tab_panels(tabs, value=access_tab).classes("w-full"):
                with ui.tab_panel(access_tab).classes("q-px-none gap-2"):
                    display = (
                        ui.input(t("users.display_name"), value=user["display_name"] or "")
                        .props("outlined dense")
                        .classes("w-full")
                    )
                    roles, units, whole = self._grant_inputs(
                        roles=user["roles"],
                        units=user["org_units"],
                        scope_all=user["scope_all"],
                        own=own,
                    )
                    statuses = {s: t(f"user_status.{s}") for s in auth.STATUSES}
                    status = (
                        ui.select(statuses, value=user["status"], label=t("users.status"))
                        .props("outlined dense")
                        .classes("w-full")
                    )
                    if own or user["status"] == "retired":
                        status.disable()
                    access_error = error_label()
                    save = ui.button(t("common.save"), icon="save").props(
                        "unelevated no-caps color=primary"
                    )
                with ui.tab_panel(password_tab).classes("q-px-none gap-2"):
                    password_error = error_label()
                    if user["source"] == "local":
                        ui.label(t("users.reset_hint")).classes("text-body2 text-grey-8")
                        temporary = (
                            ui.input(
                                t("users.temporary_password"),
                                password=True,
                                password_toggle_button=True,
                            )
                            .props("outlined dense autocomplete=new-password")
                            .classes("w-full")
                        )
                        reset = ui.button(t("users.reset_password"), icon="lock_reset").props(
                            "unelevated no-caps color=primary"
                        )
                    else:
                        ui.label(
                            t("users.password_elsewhere", source=t(f"source.{user['source']}"))
                        ).classes("text-body2 text-grey-8")
                    ui.separator()
                    ui.label(t("users.unlock_hint")).classes("text-body2 text-grey-8")
                    unlock = ui.button(t("users.unlock"), icon="lock_open").props(
                        "outline no-caps color=primary"
                    )
                    if not user["locked"]:
                        unlock.disable()
                with ui.tab_panel(keys_tab).classes("q-px-none"):
                    keys = ApiKeysPanel(self.session, owner=username)
                    keys.build()

        async def save_access() -> None:
            show_error(access_error, None)
            changes: dict[str, Any] = {}
            if (display.value or "") != (user["display_name"] or ""):
                changes["display_name"] = display.value or ""
            if not own and set(roles.value or []) != set(user["roles"]):
                changes["roles"] = list(roles.value or [])
            if bool(whole.value) != bool(user["scope_all"]):
                changes["scope_all"] = bool(whole.value)
            wanted_units = [] if whole.value else list(units.value or [])
            if set(wanted_units) != set(user["org_units"]):
                changes["org_units"] = wanted_units
            if not own and status.value != user["status"]:
                changes["status"] = status.value
            if not changes:
                show_error(access_error, t("users.nothing_changed"))
                return
            if changes.get("status") == "retired" and not await confirm(
                t("users.retire_confirm", user=username), t("user_status.retired")
            ):
                return
            await self._user_change(
                "update_user",
                username,
                lambda conn, p: auth.update_user(conn, p, username, changes),
                {"request": changes},
                access_error,
                dialog,
            )

        async def reset_password() -> None:
            show_error(password_error, None)
            value = temporary.value or ""
            if not value:
                show_error(password_error, t("users.password_missing"))
                return
            settings = self.session.console.settings
            await self._user_change(
                "reset_password",
                username,
                lambda conn, p: auth.reset_password(conn, settings, p, username, value),
                {},
                password_error,
                dialog,
            )

        async def unlock_now() -> None:
            show_error(password_error, None)
            await self._user_change(
                "unlock_user",
                username,
                lambda conn, p: auth.unlock_user(conn, p, username),
                {},
                password_error,
                dialog,
            )

        save.on_click(save_access)
        if user["source"] == "local":
            reset.on_click(reset_password)
        unlock.on_click(unlock_now)
        dialog.on("hide", dialog.delete)
        dialog.open()
        await keys.refresh()

    async def _user_change(
        self,
        action: str,
        username: str,
        call: Any,
        detail: dict[str, Any],
        error: Any,
        dialog: Any,
    ) -> None:
        ok, _ = await attempt(
            self.session,
            lambda: self.session.change(
                action,
                call,
                permission=P.MANAGE_USERS,
                target=f"username={username}",
                detail=detail,
            ),
            lambda exc: show_error(error, exc.detail),
        )
        if ok:
            dialog.close()
            ui.notify(t(f"users.done.{action}", user=username), type="positive")
            await self.refresh()

    # -- roles -----------------------------------------------------------------------------------

    def _render_roles(self) -> None:
        self.roles_box.clear()
        columns = [
            {"name": "name", "field": "name", "label": t("roles.role"), "align": "left"},
            *(
                {"name": p, "field": p, "label": t(f"permission.{p}"), "align": "center"}
                for p in PERMISSIONS
            ),
            {"name": "users", "field": "users", "label": t("roles.users"), "align": "right"},
            {"name": "kind", "field": "kind", "label": t("roles.kind"), "align": "left"},
        ]
        rows = []
        for r in self.directory.roles:
            granted = set(r["permissions"])
            row = {p: "✓" if p in granted else "" for p in PERMISSIONS}
            row.update(
                name=r["name"],
                users=r["users"],
                kind=t("roles.predefined") if r["builtin"] else t("roles.custom"),
            )
            rows.append(row)
        with self.roles_box:
            table = (
                ui.table(columns=columns, rows=rows, row_key="name", pagination=0)
                .props(
                    f'flat bordered dense hide-bottom role=region aria-label="{t("roles.matrix")}"'
                )
                .classes("w-full cursor-pointer")
            )
            table.on("rowClick", self._on_role_row)

    async def _on_role_row(self, e: events.GenericEventArguments) -> None:
        row = e.args[1] if isinstance(e.args, list) and len(e.args) > 1 else None
        if isinstance(row, dict) and row.get("name"):
            await self.edit_role(str(row["name"]))

    async def edit_role(self, name: str | None) -> None:
        existing = next((r for r in self.directory.roles if r["name"] == name), None)
        if name is not None and existing is None:
            return
        read_only = bool(existing and existing["builtin"])
        held = {p.value for p in self.manager.permissions}
        title = t("roles.new") if existing is None else t("roles.edit", role=name)
        with (
            ui.dialog() as dialog,
            ui.card()
            .classes("q-pa-md gap-2")
            .style("width: 560px; max-width: 95vw")
            .props(f'role=dialog aria-label="{title}"'),
        ):
            ui.label(title).classes("text-h6")
            if read_only:
                ui.label(t("roles.read_only")).classes("text-body2 text-grey-8")
            role_name = (
                ui.input(t("roles.name"), value=name or "")
                .props("outlined dense")
                .classes("w-full")
            )
            if existing is not None:
                role_name.disable()
            else:
                ui.label(t("roles.name_hint")).classes("text-caption text-grey-7")
            description = (
                ui.input(t("roles.description"), value=(existing or {}).get("description") or "")
                .props("outlined dense")
                .classes("w-full")
            )
            if read_only:
                description.disable()
            ui.label(t("roles.permissions")).classes("text-subtitle2 q-mt-sm")
            granted = set((existing or {}).get("permissions") or [])
            boxes: dict[str, Any] = {}
            with ui.column().classes("gap-0"):
                for perm in PERMISSIONS:
                    box = ui.checkbox(t(f"permission.{perm}"), value=perm in granted)
                    if read_only or perm not in held:
                        box.disable()
                    boxes[perm] = box
            error = error_label()
            with ui.row().classes("w-full items-center gap-2"):
                delete = None
                if existing is not None and not read_only:
                    delete = ui.button(t("roles.delete"), icon="delete").props(
                        "flat no-caps color=negative"
                    )
                ui.space()
                ui.button(t("common.close"), on_click=dialog.close).props("flat no-caps")
                save = None
                if not read_only:
                    save = ui.button(t("common.save"), icon="save").props(
                        "unelevated no-caps color=primary"
                    )

        def fail(exc: E200Error) -> None:
            show_error(error, exc.detail)

        async def submit() -> None:
            show_error(error, None)
            permissions = [p for p, box in boxes.items() if box.value]
            data: dict[str, Any] = {
                "description": (description.value or "").strip() or None,
                "permissions": permissions,
            }
            if existing is None:
                data["name"] = (role_name.value or "").strip()
                action = "create_role"

                def call(conn: Connection, principal: Principal) -> dict[str, Any]:
                    return auth.create_role(conn, principal, data)
            else:
                action = "update_role"

                def call(conn: Connection, principal: Principal) -> dict[str, Any]:
                    return auth.update_role(conn, principal, str(name), data)

            target = f"name={data.get('name', name)}"
            if not data.get("name", name):
                show_error(error, t("roles.name_missing"))
                return
            ok, _ = await attempt(
                self.session,
                lambda: self.session.change(
                    action, call, permission=P.MANAGE_USERS, target=target, detail={"request": data}
                ),
                fail,
            )
            if ok:
                dialog.close()
                ui.notify(t(f"roles.done.{action}", role=data.get("name", name)), type="positive")
                await self.refresh()

        async def remove() -> None:
            show_error(error, None)
            if not await confirm(t("roles.delete_confirm", role=name), t("roles.delete")):
                return
            ok, _ = await attempt(
                self.session,
                lambda: self.session.change(
                    "delete_role",
                    lambda conn, p: auth.delete_role(conn, str(name)),
                    permission=P.MANAGE_USERS,
                    target=f"name={name}",
                ),
                fail,
            )
            if ok:
                dialog.close()
                ui.notify(t("roles.done.delete_role", role=name), type="positive")
                await self.refresh()

        if save is not None:
            save.on_click(submit)
        if delete is not None:
            delete.on_click(remove)
        dialog.on("hide", dialog.delete)
        dialog.open()
