"""Mount the console pages into the FastAPI app."""

from __future__ import annotations

import secrets
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from e200.config import Settings
from e200.db.web import PUBLIC

MOUNT_PATH = "/console"


def _storage_secret(settings: Settings) -> str:
    path = settings.data_path / "console-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def mount(app: FastAPI, settings: Settings) -> None:
    from nicegui import ui

    from e200.console import pages

    queue = getattr(app.state, "job_queue", None)
    pages.register(
        app.state.engine,
        settings,
        tz=ZoneInfo(settings.timezone),
        mount_path=MOUNT_PATH,
        defer_job=queue.defer if queue is not None else None,
    )

    @app.get("/", include_in_schema=False, dependencies=[PUBLIC])
    def _root() -> RedirectResponse:
        return RedirectResponse(f"{MOUNT_PATH}/")

    ui.run_with(
        app,
        mount_path=MOUNT_PATH,
        title="E200",
        storage_secret=_storage_secret(settings),
        show_welcome_message=False,
        reconnect_timeout=10,
    )
