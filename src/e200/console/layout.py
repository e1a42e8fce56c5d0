"""The frame every console page shares: colours, header with the navigation the user may use, the
signed-in user's menu (account, sign out)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from nicegui import ui

from e200.console.i18n import t
from e200.kernel import Permission, Principal

if TYPE_CHECKING:
    from e200.console.session import Session

PRIMARY = "#1d4f7c"  # a calm grid-operator blue
P = Permission

# (page key, path inside the console, text key, icon, permission needed to see and open it)
NAVIGATION: tuple[tuple[str, str, str, str, Permission], ...] = (
    ("overview", "/", "nav.overview", "dashboard", P.VIEW_DATA),
    ("archive", "/archive", "nav.archive", "account_tree", P.VIEW_DATA),
    ("fleet", "/fleet", "nav.fleet", "map", P.VIEW_DATA),
    ("alarms", "/alarms", "nav.alarms", "notifications_active", P.VIEW_DATA),
    ("quality", "/quality", "nav.quality", "fact_check", P.VIEW_DATA),
    ("query", "/query", "nav.query", "query_stats", P.VIEW_DATA),
    ("import", "/import", "nav.import", "upload_file", P.IMPORT_ARCHIVES),
    ("users", "/users", "nav.users", "manage_accounts", P.MANAGE_USERS),
    ("audit", "/audit", "nav.audit", "policy", P.MANAGE_USERS),
    ("jobs", "/jobs", "nav.jobs", "schedule", P.MANAGE_JOBS),
)
PERMISSION_OF: dict[str, Permission] = {key: perm for key, _, _, _, perm in NAVIGATION}


def navigation_for(principal: Principal) -> list[tuple[str, str, str, str]]:
    """The pages the header offers this user (none until the first password is changed)."""
    if principal.must_change_password:
        return []
    return [
        (k, path, text, icon) for k, path, text, icon, perm in NAVIGATION if principal.can(perm)
    ]


def style() -> None:
    ui.colors(primary=PRIMARY, secondary="#3a7ca5", accent="#e0a100")
    ui.query("body").classes("bg-grey-1")


def logout(session: Session) -> None:
    """End the session through the REST logout (the cookie is HTTP-only), then go to the login."""
    target = json.dumps(session.console.url("/login"))
    ui.run_javascript(
        "fetch('/api/v1/auth/logout', {method: 'POST', credentials: 'same-origin'})"
        f".finally(() => {{ window.location.href = {target}; }})"
    )


def frame(active: str | None, session: Session, *, drawer: Any | None = None) -> None:
    """Colours and header of a page. ``drawer``: a left drawer the header can show and hide."""
    style()
    with ui.header(elevated=True).classes("items-center gap-2 px-4 py-1 bg-primary text-white"):
        if drawer is not None:
            ui.button(icon="menu", on_click=drawer.toggle).props(
                f'flat round dense color=white aria-label="{t("nav.toggle_tree")}"'
            )
        with ui.row().classes("items-baseline gap-2 no-wrap"):
            ui.label(t("app.title")).classes("text-h6 text-weight-bold tracking-wide")
            ui.label(t("app.subtitle")).classes("text-caption opacity-80 gt-xs")
        ui.space()
        with ui.row().classes("gap-1 no-wrap").props("role=navigation"):
            for key, path, text_key, icon in navigation_for(session.principal):
                current = key == active
                link = ui.link(target=path).classes(
                    "row items-center gap-1 px-3 py-1 rounded-borders text-white no-underline"
                )
                if current:
                    link.props("aria-current=page").style("background: rgba(255,255,255,0.18)")
                with link:
                    ui.icon(icon, size="20px")
                    ui.label(t(text_key))
        _user_menu(session)


def _user_menu(session: Session) -> None:
    label = t("nav.user_menu", user=session.username)
    with (
        ui.button(session.username, icon="account_circle")
        .props(f'flat no-caps color=white aria-label="{label}"')
        .classes("q-ml-sm"),
        ui.menu().props("auto-close"),
    ):
        ui.menu_item(t("nav.account"), on_click=lambda: ui.navigate.to("/account")).props(
            "role=menuitem"
        )
        ui.separator()
        ui.menu_item(t("nav.logout"), on_click=lambda: logout(session)).props("role=menuitem")
