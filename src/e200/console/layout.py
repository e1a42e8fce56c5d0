"""The frame every console page shares: colours, header with the navigation."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from e200.console.i18n import t

PRIMARY = "#1d4f7c"  # a calm grid-operator blue

# (page key, path inside the console, text key, icon)
NAVIGATION: tuple[tuple[str, str, str, str], ...] = (
    ("overview", "/", "nav.overview", "dashboard"),
    ("archive", "/archive", "nav.archive", "account_tree"),
)


def frame(active: str, *, drawer: Any | None = None) -> None:
    """Colours and header of a page. ``drawer``: a left drawer the header can show and hide."""
    ui.colors(primary=PRIMARY, secondary="#3a7ca5", accent="#e0a100")
    ui.query("body").classes("bg-grey-1")
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
            for key, path, text_key, icon in NAVIGATION:
                current = key == active
                link = ui.link(target=path).classes(
                    "row items-center gap-1 px-3 py-1 rounded-borders text-white no-underline"
                )
                if current:
                    link.props("aria-current=page").style("background: rgba(255,255,255,0.18)")
                with link:
                    ui.icon(icon, size="20px")
                    ui.label(t(text_key))
