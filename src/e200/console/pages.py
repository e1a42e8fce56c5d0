"""Console pages (placeholder: overview)."""

from __future__ import annotations

from nicegui import ui
from sqlalchemy import Engine

from e200 import archives
from e200.kernel import Scope


def register(engine: Engine) -> None:
    @ui.page("/")
    def overview() -> None:
        with engine.connect() as conn:
            counts = archives.counts(conn, Scope.everything())
        ui.label("E200").classes("text-h4")
        for name, n in counts.items():
            ui.label(f"{name}: {n}")
