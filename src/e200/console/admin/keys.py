"""API keys of one user: listed, created (the key is shown once), revoked.

On the account page a user with ``manage_integrations`` manages their own keys; on the users page
a user manager manages the keys of the users they manage. Both go through the auth slice's
functions and are audited under the REST routes' action names.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from nicegui import ui
from sqlalchemy import Connection

from e200 import auth
from e200.console.i18n import t
from e200.console.session import Session
from e200.console.widgets import attempt, confirm, error_label, show_error, show_secret, when
from e200.kernel import E200Error, Permission, Principal


class ApiKeysPanel:
    """``owner``: a user name (managed by the signed-in user), or None for one's own keys."""

    def __init__(self, session: Session, owner: str | None = None) -> None:
        self.session = session
        self.owner = owner
        self.permission = Permission.MANAGE_USERS if owner else Permission.MANAGE_INTEGRATIONS
        self.prefix = "user_" if owner else "my_"

    def _target(self, key_id: int | None = None) -> str | None:
        parts = [f"username={self.owner}"] if self.owner else []
        if key_id is not None:
            parts.append(f"key_id={key_id}")
        return ",".join(parts) or None

    def _owner_id(self, conn: Connection, principal: Principal) -> int:
        if self.owner is None:
            return principal.user_id
        return int(auth.get_user(conn, principal, self.owner)["id"])  # also checks the reach

    def build(self) -> None:
        with (
            ui.column().classes("w-full gap-2").props(f'role=region aria-label="{t("keys.title")}"')
        ):
            ui.label(t("keys.title")).classes("text-subtitle1 text-weight-medium")
            ui.label(t("keys.hint")).classes("text-caption text-grey-7")
            self.list = ui.column().classes("w-full gap-0")
            with ui.row().classes("w-full items-start no-wrap gap-2"):
                self.name = (
                    ui.input(t("keys.name")).props("outlined dense maxlength=100").classes("col")
                )
                self.name.on("keydown.enter", self.create)
                ui.button(t("keys.create"), icon="add", on_click=self.create).props(
                    "unelevated no-caps color=primary"
                )
            self.error = error_label()

    async def refresh(self) -> None:
        def load(conn: Connection, principal: Principal) -> list[dict[str, Any]]:
            return auth.list_api_keys(conn, self._owner_id(conn, principal))

        ok, keys = await attempt(self.session, lambda: self.session.read(load), self._show_error)
        if ok and keys is not None:
            self._render(keys)

    def _show_error(self, exc: E200Error) -> None:
        show_error(self.error, exc.detail)

    def _render(self, keys: list[dict[str, Any]]) -> None:
        tz = self.session.console.tz
        self.list.clear()
        with self.list:
            if not keys:
                ui.label(t("keys.none")).classes("text-grey-7 q-py-sm")
                return
            with ui.list().props("bordered separator dense").classes("w-full rounded-borders"):
                for key in keys:
                    revoked = key["revoked_at"] is not None
                    with ui.item().props(f'aria-label="{key["name"]}"'):
                        with ui.item_section():
                            ui.item_label(key["name"]).classes("text-weight-medium")
                            ui.item_label(
                                t(
                                    "keys.line",
                                    prefix=key["prefix"],
                                    created=when(key["created_at"], tz),
                                    used=when(key["last_used_at"], tz),
                                )
                            ).props("caption")
                        with ui.item_section().props("side"):
                            if revoked:
                                ui.badge(t("keys.revoked")).props("color=grey-6")
                            else:
                                ui.button(
                                    t("keys.revoke"),
                                    icon="block",
                                    on_click=partial(self.revoke, key["id"], key["name"]),
                                ).props("flat dense no-caps color=negative")

    async def create(self) -> None:
        name = (self.name.value or "").strip()
        show_error(self.error, None)
        if not name:
            show_error(self.error, t("keys.name_missing"))
            return

        def call(conn: Connection, principal: Principal) -> tuple[str, dict[str, Any]]:
            return auth.create_api_key(
                conn, self._owner_id(conn, principal), name, created_by=principal.user_id
            )

        ok, created = await attempt(
            self.session,
            lambda: self.session.change(
                f"create_{self.prefix}api_key",
                call,
                permission=self.permission,
                target=self._target(),
                detail={"request": {"name": name}},
                detail_of=lambda made: {"prefix": made[1]["prefix"]},
            ),
            self._show_error,
        )
        if not ok or created is None:
            return
        self.name.value = ""
        show_secret(t("keys.created", name=name), created[0])
        await self.refresh()

    async def revoke(self, key_id: int, name: str) -> None:
        if not await confirm(t("keys.revoke_confirm", name=name), t("keys.revoke")):
            return

        def call(conn: Connection, principal: Principal) -> dict[str, Any]:
            if self.owner is None:
                owners = [principal.user_id]
            else:
                owners = [self._owner_id(conn, principal)]
            return auth.revoke_api_key(conn, key_id, owner_ids=owners)

        ok, _ = await attempt(
            self.session,
            lambda: self.session.change(
                f"revoke_{self.prefix}api_key",
                call,
                permission=self.permission,
                target=self._target(key_id),
                detail={"name": name},
            ),
            self._show_error,
        )
        if ok:
            ui.notify(t("keys.revoked_note", name=name), type="positive")
            await self.refresh()
