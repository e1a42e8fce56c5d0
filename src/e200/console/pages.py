"""The console's pages, registered on NiceGUI's router (mounted under ``/console``).

Every page but the login needs a signed-in user: without a valid session cookie the browser is
sent to the login (and back afterwards); a user who must change the first password gets only the
account page; a page the user's roles do not grant says so and shows nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from nicegui import app, ui
from sqlalchemy import Engine

from e200 import archives, auth
from e200.config import Settings
from e200.console.admin.account import AccountView
from e200.console.admin.audit_log import AuditView
from e200.console.admin.jobs import JobsView
from e200.console.admin.login import LoginView
from e200.console.admin.users import UsersView
from e200.console.data.customer import CustomerView
from e200.console.data.quality import QualityView
from e200.console.data.query import QueryView
from e200.console.grid.archive import ArchiveView
from e200.console.grid.imports import ImportView
from e200.console.i18n import t
from e200.console.layout import P, frame
from e200.console.live import AlarmFeed
from e200.console.monitoring.alarm_center import AlarmCenterView
from e200.console.monitoring.fleet import FleetView
from e200.console.monitoring.transformer import TransformerView
from e200.console.monitoring.voltage import VoltageView
from e200.console.session import Console, Session, requested_path
from e200.console.tree import ICONS
from e200.kernel import Permission

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


async def enter(
    console: Console,
    request: Request,
    page: str,
    permission: Permission | None,
    *,
    during_password_change: bool = False,
) -> Session | Response | None:
    """The page's user, or a redirect (sign in first; change the password first), or None once
    the page said that the user's roles do not grant it."""
    token = request.cookies.get(auth.SESSION_COOKIE)
    principal = await console.principal(token)
    if principal is None or token is None:
        return RedirectResponse(console.login_url(requested_path(request)), status_code=303)
    if principal.must_change_password and not during_password_change:
        return RedirectResponse(console.url("/account"), status_code=303)
    session = Session(console, token, principal, auth.source_ip(request))
    if permission is not None and not principal.can(permission):
        not_permitted(session, page)
        return None
    return session


def not_permitted(session: Session, page: str) -> None:
    ui.context.client.status_code = 403
    ui.page_title(f"{t('auth.not_permitted')} · {t('app.title')}")
    frame(page, session)
    with ui.column().classes("w-full items-center q-pa-xl text-grey-8").props("role=alert"):
        ui.icon("block", size="48px", color="negative")
        ui.label(t("auth.not_permitted")).classes("text-h6")
        ui.label(t("auth.not_permitted_hint")).classes("text-body2")


def register(
    engine: Engine,
    settings: Settings,
    *,
    tz: tzinfo,
    mount_path: str = "/console",
    defer_job: Callable[[str, dict[str, Any]], int] | None = None,
) -> None:
    console = Console(engine, settings, tz, mount_path.rstrip("/") or "/console", defer_job)
    feed = AlarmFeed(engine)
    app.on_startup(feed.start)
    app.on_shutdown(feed.stop)

    @ui.page("/login")
    async def login(request: Request, next: str | None = None) -> Response | None:
        target = console.safe_next(next)
        principal = await console.principal(request.cookies.get(auth.SESSION_COOKIE))
        if principal is not None:
            where = console.url("/account") if principal.must_change_password else target
            return RedirectResponse(where, status_code=303)
        LoginView(console, target).build()
        return None

    @ui.page("/")
    async def overview(request: Request) -> Response | None:
        session = await enter(console, request, "overview", P.VIEW_DATA)
        if not isinstance(session, Session):
            return session
        ui.page_title(f"{t('overview.title')} · {t('app.title')}")
        frame("overview", session)
        counts = await session.reader.read(archives.counts)
        with ui.column().classes("w-full max-w-screen-lg q-pa-md gap-4"):
            ui.label(t("overview.title")).classes("text-h5 text-weight-medium")
            with ui.element("div").classes("w-full").style(_CARD_GRID):
                for plural, kind in OVERVIEW_KINDS:
                    _count_card(t(f"kinds.{plural}"), counts.get(plural, 0), ICONS[kind])
            ui.button(
                t("overview.open_archive"), icon=ICONS["org_unit"],
                on_click=lambda: ui.navigate.to("/archive"),
            ).props("unelevated color=primary no-caps")  # fmt: skip
        return None

    @ui.page("/archive")
    async def archive(request: Request, select: str | None = None) -> Response | None:
        session = await enter(console, request, "archive", P.VIEW_DATA)
        if not isinstance(session, Session):
            return session
        await ArchiveView(session, tz, console.mount_path).build(select)
        return None

    @ui.page("/fleet")
    async def fleet(request: Request, org_unit: str | None = None) -> Response | None:
        session = await enter(console, request, "fleet", P.VIEW_DATA)
        if not isinstance(session, Session):
            return session
        await FleetView(session, feed).build(org_unit)
        return None

    @ui.page("/transformers/{asset_number}")
    async def transformer(request: Request, asset_number: str,
                          alarm: int | None = None) -> Response | None:  # fmt: skip
        session = await enter(console, request, "fleet", P.VIEW_DATA)
        if not isinstance(session, Session):
            return session
        await TransformerView(session, feed, asset_number).build(alarm)
        return None

    @ui.page("/alarms")
    async def alarm_center(request: Request, rule: str | None = None,
                           device: str | None = None) -> Response | None:  # fmt: skip
        session = await enter(console, request, "alarms", P.VIEW_DATA)
        if not isinstance(session, Session):
            return session
        await AlarmCenterView(session, feed).build(rule, device)
        return None

    @ui.page("/quality")
    async def quality_page(request: Request, day: str | None = None,
                           org_unit: str | None = None) -> Response | None:  # fmt: skip
        session = await enter(console, request, "quality", P.VIEW_DATA)
        if not isinstance(session, Session):
            return session
        await QualityView(session).build(day, org_unit)
        return None

    @ui.page("/query")
    async def query_page(request: Request, devices: str | None = None) -> Response | None:
        session = await enter(console, request, "query", P.VIEW_DATA)
        if not isinstance(session, Session):
            return session
        await QueryView(session).build(devices)
        return None

    @ui.page("/meters/{asset_number}")
    async def customer(request: Request, asset_number: str) -> Response | None:
        session = await enter(console, request, "query", P.VIEW_DATA)
        if not isinstance(session, Session):
            return session
        await CustomerView(session, asset_number).build()
        return None

    @ui.page("/voltage")
    async def voltage(request: Request, month: str | None = None) -> Response | None:
        session = await enter(console, request, "fleet", P.VIEW_DATA)
        if not isinstance(session, Session):
            return session
        await VoltageView(session).build(month)
        return None

    @ui.page("/import")
    async def import_page(request: Request) -> Response | None:
        session = await enter(console, request, "import", P.IMPORT_ARCHIVES)
        if not isinstance(session, Session):
            return session
        await ImportView(session).build()
        return None

    @ui.page("/account")
    async def account(request: Request) -> Response | None:
        session = await enter(console, request, "account", None, during_password_change=True)
        if not isinstance(session, Session):
            return session
        await AccountView(session).build()
        return None

    @ui.page("/users")
    async def users(request: Request) -> Response | None:
        session = await enter(console, request, "users", P.MANAGE_USERS)
        if not isinstance(session, Session):
            return session
        await UsersView(session).build()
        return None

    @ui.page("/audit")
    async def audit(request: Request) -> Response | None:
        session = await enter(console, request, "audit", P.MANAGE_USERS)
        if not isinstance(session, Session):
            return session
        await AuditView(session).build()
        return None

    @ui.page("/jobs")
    async def jobs_page(request: Request) -> Response | None:
        session = await enter(console, request, "jobs", P.MANAGE_JOBS)
        if not isinstance(session, Session):
            return session
        await JobsView(session).build()
        return None


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
