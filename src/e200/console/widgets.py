"""Small pieces the pages share: confirmations, the shown-once secret, how a refused change is
told, times in the console's zone, an alarm's row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, tzinfo
from typing import TypeVar

from nicegui import ui

from e200 import alarms
from e200.console.charts import SEVERITY_COLOUR, filled, rule_label
from e200.console.i18n import t
from e200.console.session import Session
from e200.kernel import AuthenticationRequiredError, E200Error

T = TypeVar("T")


def parse_time(text: str | None, tz: tzinfo) -> datetime | None:
    """A ``datetime-local`` input's value in the console's zone (None when empty)."""
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=tz)


def when(value: datetime | None, tz: tzinfo, *, seconds: bool = False) -> str:
    if value is None:
        return t("empty_value")
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def go_to_login(session: Session) -> None:
    ui.notify(t("auth.session_ended"), type="warning")
    ui.navigate.to(session.console.login_url(session.console.url("/")))


async def attempt(
    session: Session, work: Callable[[], Awaitable[T]], show: Callable[[E200Error], None]
) -> tuple[bool, T | None]:
    """Run a change; a refusal goes to ``show`` (the API's own words), an ended session to the
    login. Returns (done, result)."""
    try:
        return True, await work()
    except AuthenticationRequiredError:
        go_to_login(session)
    except E200Error as exc:
        show(exc)
    return False, None


def notify_error(exc: E200Error) -> None:
    ui.notify(exc.detail, type="negative", multi_line=True)


def error_label() -> ui.label:
    label = ui.label().classes("text-negative text-body2").props("role=alert")
    label.set_visibility(False)
    return label


def show_error(label: ui.label, text: str | None) -> None:
    label.set_text(text or "")
    label.set_visibility(bool(text))


async def confirm(text: str, ok: str) -> bool:
    with ui.dialog() as dialog, ui.card().classes("q-pa-md gap-3"):
        ui.label(text).classes("text-body1")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button(t("common.cancel"), on_click=lambda: dialog.submit(False)).props(
                "flat no-caps"
            )
            ui.button(ok, on_click=lambda: dialog.submit(True)).props(
                "unelevated no-caps color=negative"
            )
    answer = await dialog
    dialog.delete()
    return bool(answer)


def show_secret(title: str, secret: str) -> None:
    """A new API key, shown this once with a copy button."""
    with ui.dialog().props("persistent") as dialog, ui.card().classes("q-pa-md gap-3"):
        dialog.props(f'aria-label="{title}"')
        ui.label(title).classes("text-h6")
        ui.label(t("keys.shown_once")).classes("text-body2 text-grey-8")
        with ui.row().classes("w-full items-center no-wrap gap-2"):
            ui.input(t("keys.key"), value=secret).props("outlined dense readonly").classes(
                "col"
            ).style("font-family: monospace; min-width: 420px")

            def copy() -> None:
                ui.clipboard.write(secret)
                ui.notify(t("keys.copied"), type="positive")

            ui.button(t("keys.copy"), icon="content_copy", on_click=copy).props(
                "unelevated no-caps color=primary"
            )
        with ui.row().classes("w-full justify-end"):
            ui.button(t("common.done"), on_click=dialog.close).props("flat no-caps")
    dialog.on("hide", dialog.delete)
    dialog.open()


def alarm_line(a: alarms.AlarmOut, tz: tzinfo) -> None:
    """One alarm in the caller's row: severity, rule, message, start and state (the state badge
    carries ``data-state`` for tests and assistive tools)."""
    ui.badge(t(f"severity.{a.severity}")).style(filled(SEVERITY_COLOUR.get(a.severity, "#9e9e9e")))
    ui.label(rule_label(a.rule)).classes("text-weight-medium")
    ui.label(a.message).classes("text-grey-8 ellipsis col")
    ui.label(when(a.started_at, tz)).classes("text-grey-7")
    state = ui.badge(t(f"alarm_state.{a.state}")).props("outline color=grey-8")
    state.props(f'data-state="{a.state}"')
