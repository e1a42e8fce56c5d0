"""The console's pages, registered on NiceGUI's router (mounted under ``/console``)."""

from __future__ import annotations

from datetime import tzinfo

from nicegui import ui
from sqlalchemy import Engine

from e200 import archives
from e200.console.archive import ArchiveView
from e200.console.data import Reader
from e200.console.i18n import t
from e200.console.layout import frame
from e200.console.tree import ICONS

# Overview cards: plural of the kind (as ``archives.counts`` names it) and the kind.
OVERVIEW_KINDS: tuple[tuple[str, str], ...] = (
    ("substations", "substation"),
    ("feeders", "feeder"),
    ("transformers", "transformer"),
    ("terminals", "terminal"),
    ("meters", "meter"),
)
_CARD_GRID = (
    "display: grid; gap: 16px; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr))"
)


def register(engine: Engine, *, tz: tzinfo, mount_path: str = "/console") -> None:
    reader = Reader(engine)

    @ui.page("/")
    async def overview() -> None:
        ui.page_title(f"{t('overview.title')} · {t('app.title')}")
        frame("overview")
        counts = await reader.read(archives.counts)
        with ui.column().classes("w-full max-w-screen-lg q-pa-md gap-4"):
            ui.label(t("overview.title")).classes("text-h5 text-weight-medium")
            with ui.element("div").classes("w-full").style(_CARD_GRID):
                for plural, kind in OVERVIEW_KINDS:
                    _count_card(t(f"kinds.{plural}"), counts.get(plural, 0), ICONS[kind])
            ui.button(
                t("overview.open_archive"), icon=ICONS["org_unit"],
                on_click=lambda: ui.navigate.to("/archive"),
            ).props("unelevated color=primary no-caps")  # fmt: skip

    @ui.page("/archive")
    async def archive(select: str | None = None) -> None:
        await ArchiveView(reader, tz, mount_path).build(select)


def _count_card(label: str, count: int, icon: str) -> None:
    with (
        ui.card().props(f'flat bordered role=group aria-label="{label}"').classes("q-pa-md"),
        ui.row().classes("w-full items-center no-wrap gap-3"),
    ):
        ui.icon(icon, size="32px", color="primary")
        with ui.column().classes("gap-0"):
            ui.label(f"{count:,}").classes("text-h4 text-weight-bold text-grey-9")
            ui.label(label).classes("text-subtitle2 text-grey-8")
            ui.label(t("overview.in_service")).classes("text-caption text-grey-6")
