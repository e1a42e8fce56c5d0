"""The sign-in page: user name and password, or the single sign-on provider when one is set up.

The form posts to the REST login from the browser itself (``fetch``), so that the browser receives
the HTTP-only session cookie; the page never sees the session. Refusals show the API's own words
(wrong password, locked until ..., directory unavailable).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from nicegui import ui

from e200.console.i18n import t
from e200.console.layout import style
from e200.console.session import Console

LOGIN_TIMEOUT_S = 30.0  # a directory bind may take a while; the API answers within its own limits

# Runs in the browser; returns {ok, must_change} or {ok: false, detail}.
_LOGIN_JS = """
(async () => {
  try {
    const response = await fetch('/api/v1/auth/login', {
      method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'Accept': 'application/json'},
      body: JSON.stringify(%(body)s),
    });
    let data = {};
    try { data = await response.json(); } catch (e) {}
    if (response.ok) return {ok: true, must_change: !!data.must_change_password};
    return {ok: false, status: response.status, detail: data.detail || response.statusText};
  } catch (e) {
    return {ok: false, status: 0, detail: String(e)};
  }
})()
"""


class LoginView:
    def __init__(self, console: Console, next_url: str) -> None:
        self.console = console
        self.next_url = next_url
        self.busy = False

    def build(self) -> None:
        ui.page_title(f"{t('login.title')} · {t('app.title')}")
        style()
        settings = self.console.settings
        with (
            ui.column().classes("w-full items-center q-pa-xl"),
            ui.card().classes("q-pa-lg gap-3").style("width: 380px; max-width: 100%"),
        ):
            with ui.row().classes("items-baseline gap-2 no-wrap"):
                ui.label(t("app.title")).classes("text-h5 text-weight-bold text-primary")
                ui.label(t("app.subtitle")).classes("text-caption text-grey-7")
            ui.label(t("login.title")).classes("text-h6")
            self.username = (
                ui.input(t("login.username"))
                .props("outlined autofocus autocomplete=username")
                .classes("w-full")
            )
            self.password = (
                ui.input(t("login.password"), password=True, password_toggle_button=True)
                .props("outlined autocomplete=current-password")
                .classes("w-full")
            )
            self.username.on("keydown.enter", self.submit)
            self.password.on("keydown.enter", self.submit)
            self.error = ui.label().classes("text-negative text-body2").props("role=alert")
            self.error.set_visibility(False)
            self.button = (
                ui.button(t("login.submit"), icon="login", on_click=self.submit)
                .props("unelevated color=primary no-caps")
                .classes("w-full")
            )
            if settings.oidc_issuer:
                ui.separator()
                sso = f"/auth/oidc/login?return_to={quote(self.next_url, safe='/')}"
                # A plain link: the SSO route lives outside the console's mount path.
                link = (
                    ui.element("a")
                    .classes(
                        "w-full row items-center justify-center gap-2 q-pa-sm rounded-borders "
                        "text-primary text-weight-medium no-underline"
                    )
                    .style("border: 1px solid currentColor")
                )
                link.props["href"] = sso
                with link:
                    ui.icon("key")
                    ui.label(t("login.sso", label=settings.oidc_display_name))

    def _fail(self, text: str) -> None:
        self.error.set_text(text)
        self.error.set_visibility(True)

    async def submit(self) -> None:
        if self.busy:
            return
        username = (self.username.value or "").strip()
        password = self.password.value or ""
        if not username or not password:
            self._fail(t("login.missing"))
            return
        self.busy = True
        self.button.props("loading")
        try:
            body = json.dumps({"username": username, "password": password})
            result: Any = await ui.run_javascript(
                _LOGIN_JS % {"body": body}, timeout=LOGIN_TIMEOUT_S
            )
        except TimeoutError:
            result = {"ok": False, "detail": t("login.no_answer")}
        finally:
            self.busy = False
            self.button.props(remove="loading")
        if not isinstance(result, dict):
            return  # the tab is gone
        if result.get("ok"):
            target = self.console.url("/account") if result.get("must_change") else self.next_url
            ui.run_javascript(f"window.location.href = {json.dumps(target)}")
            return
        self.password.value = ""
        self._fail(str(result.get("detail") or t("login.failed")))
