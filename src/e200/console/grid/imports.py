"""The import page: templates to download, an upload verified (dry run) and then imported as a
job of the archive's import (the same functions as ``POST /api/v1/archives/imports``), its
progress, its report (counts per sheet, every error by row and column), the rejected rows and
the history of import jobs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from nicegui import events, ui
from sqlalchemy import Connection

from e200 import archives
from e200.console.i18n import t
from e200.console.layout import frame
from e200.console.session import Session
from e200.console.widgets import attempt, notify_error, when
from e200.kernel import Permission, Principal

IMPORTS = archives.imports
TEMPLATES = "/api/v1/archives/templates"
POLL_S = 0.5
HISTORY_LIMIT = 20
ERRORS_SHOWN = 500
COUNT_FIELDS = ("rows", "create", "update", "unchanged", "reject")
ERROR_FIELDS = ("sheet", "row", "column", "code", "value", "message")


def download_link(text: str, href: str, icon: str = "download") -> None:
    """A plain anchor to a REST download (outside the console's mount path; the browser sends
    the session cookie)."""
    with (
        ui.element("a")
        .props(f'href="{href}" download')
        .classes("row items-center gap-1 text-primary no-underline q-pr-md")
    ):
        ui.icon(icon, size="18px")
        ui.label(text)


class ImportView:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.tz = session.console.tz
        self.upload_path: Path | None = None
        self.upload_name: str | None = None
        self.job_id: int | None = None
        self.timer: ui.timer | None = None

    async def build(self) -> None:
        self.client = ui.context.client
        ui.page_title(f"{t('import.title')} · {t('app.title')}")
        frame("import", self.session)
        self.client.on_disconnect(self._forget_upload)
        with ui.column().classes("w-full max-w-screen-xl q-pa-md gap-4"):
            ui.label(t("import.title")).classes("text-h5 text-weight-medium")
            self._templates()
            self._upload_card()
            self.report = (
                ui.column()
                .classes("w-full gap-3")
                .props(f'role=region aria-label="{t("import.report")}"')
            )
            with ui.card().classes("w-full gap-2").props("flat bordered"):
                ui.label(t("import.history")).classes("text-h6")
                self.history = ui.column().classes("w-full")
        await self._show_history()

    # -- templates -----------------------------------------------------------------------------

    def _templates(self) -> None:
        with ui.card().classes("w-full gap-2").props("flat bordered"):
            ui.label(t("import.templates")).classes("text-h6")
            ui.label(t("import.templates_hint")).classes("text-body2 text-grey-8")
            download_link(t("import.all_xlsx"), f"{TEMPLATES}/all.xlsx", "table_view")
            with (
                ui.element("div")
                .classes("w-full")
                .style(
                    "display: grid; gap: 4px 16px; grid-template-columns: repeat(auto-fill, "
                    "minmax(280px, 1fr))"
                )
            ):
                for name in IMPORTS.SHEETS:
                    with ui.row().classes("items-center gap-2 no-wrap"):
                        ui.label(name).classes("text-weight-medium").style("min-width: 150px")
                        download_link("xlsx", f"{TEMPLATES}/{name}.xlsx")
                        download_link("csv", f"{TEMPLATES}/{name}.csv")

    # -- upload and run ------------------------------------------------------------------------

    def _upload_card(self) -> None:
        with ui.card().classes("w-full gap-3").props("flat bordered"):
            ui.label(t("import.upload")).classes("text-h6")
            self.upload = (
                ui.upload(
                    label=t("import.choose_file"), auto_upload=True, on_upload=self._on_upload
                )
                .props('accept=".csv,.xlsx" flat bordered')
                .classes("w-full")
            )
            self.file_label = ui.label(t("import.no_file")).classes("text-body2 text-grey-8")
            with ui.row().classes("items-center gap-6"):
                self.mode = ui.radio(
                    {"create": t("import.mode_create"), "upsert": t("import.mode_upsert")},
                    value="create",
                ).props("inline")
                self.on_error = ui.radio(
                    {
                        "all_or_nothing": t("import.all_or_nothing"),
                        "valid_rows": t("import.valid_rows"),
                    },
                    value="all_or_nothing",
                ).props("inline")
            with ui.row().classes("items-center gap-2"):
                self.verify_button = ui.button(
                    t("import.verify"), icon="fact_check", on_click=lambda: self._run(True)
                ).props("unelevated no-caps color=primary")
                self.import_button = ui.button(
                    t("import.import"), icon="upload", on_click=lambda: self._run(False)
                ).props("unelevated no-caps color=positive")
            self._set_buttons(enabled=False)
            self.progress_row = ui.column().classes("w-full gap-1")
            with self.progress_row:
                self.progress_text = ui.label().classes("text-body2")
                self.progress = ui.linear_progress(value=0, show_value=False).props(
                    'size=12px aria-label="progress"'
                )
            self.progress_row.set_visibility(False)

    def _set_buttons(self, *, enabled: bool) -> None:
        for button in (self.verify_button, self.import_button):
            button.set_enabled(enabled)

    def _forget_upload(self) -> None:
        if self.upload_path is not None:
            self.upload_path.unlink(missing_ok=True)
            self.upload_path = None

    async def _on_upload(self, e: events.UploadEventArguments) -> None:
        self.upload.reset()
        if self.timer is not None:  # a job is reading the current file
            ui.notify(t("import.busy"), type="warning")
            return
        self._forget_upload()
        name = Path(e.file.name or "upload").name[:200] or "upload"
        fd, tmp = tempfile.mkstemp(prefix="e200-console-import-", suffix=Path(name).suffix)
        os.close(fd)
        await e.file.save(tmp)
        self.upload_path, self.upload_name = Path(tmp), name
        self.file_label.set_text(t("import.file", name=name))
        self.file_label.classes(replace="text-body2 text-weight-medium")
        self.report.clear()
        self._set_buttons(enabled=True)

    def _start(self, dry_run: bool) -> Any:
        """The job of the upload, created (audited like the REST upload) and started."""
        path, name = self.upload_path, self.upload_name
        assert path is not None and name is not None
        engine = self.session.console.engine
        defer_job = self.session.console.defer_job
        options_of = (self.mode.value, self.on_error.value)

        def call(conn: Connection, principal: Principal) -> int:
            options = IMPORTS.Options(
                mode=options_of[0], on_error=options_of[1], dry_run=dry_run,
                actor=principal.username,
            )  # fmt: skip
            files = [IMPORTS.InputFile(path, name, None)]
            IMPORTS.plan(files)  # an unreadable file is refused at once
            job_id = IMPORTS.create_job(
                engine, username=principal.username, scope=principal.scope, files=files,
                options=options,
            )  # fmt: skip
            if defer_job is None:
                raise IMPORTS.NoJobQueueError("background jobs: this server queues none")
            # Kept in the database and queued: the import survives this server's restart.
            IMPORTS.start_job(engine, job_id, files, defer=defer_job)
            return job_id

        return self.session.change(
            "upload_import", call, permission=Permission.IMPORT_ARCHIVES, target=name,
            detail={"file": name, "mode": options_of[0], "on_error": options_of[1],
                    "dry_run": dry_run},
            detail_of=lambda job_id: {"job": job_id},
        )  # fmt: skip

    async def _run(self, dry_run: bool) -> None:
        if self.upload_path is None:
            ui.notify(t("import.no_file"), type="warning")
            return
        self._set_buttons(enabled=False)
        self.report.clear()
        done, job_id = await attempt(self.session, lambda: self._start(dry_run), notify_error)
        if not done or job_id is None:
            self._set_buttons(enabled=True)
            return
        self.job_id = int(job_id)
        self.progress_row.set_visibility(True)
        self.progress.set_value(0)
        self.progress_text.set_text(t("import.status.queued"))
        self.timer = ui.timer(POLL_S, self._poll)

    async def _poll(self) -> None:
        job_id = self.job_id
        if job_id is None:
            return
        job = await self.session.read(lambda c, p: IMPORTS.get_job(c, job_id, p.username, p.scope))
        total = int(job.get("rows_total") or 0)
        done = int(job.get("rows_done") or 0)
        status = str(job["status"])
        self.progress.set_value(done / total if total else 0)
        self.progress_text.set_text(
            t("import.progress", status=t(f"import.status.{status}"), done=done, total=total)
        )
        if status not in ("done", "failed"):
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.progress.set_value(1)
        self._set_buttons(enabled=self.upload_path is not None)
        self._show_report(job)
        await self._show_history()

    # -- the report ----------------------------------------------------------------------------

    def _show_report(self, job: dict[str, Any]) -> None:
        report = job.get("report") or {}
        counts: dict[str, dict[str, int]] = job.get("counts") or {}
        errors: list[dict[str, Any]] = list(report.get("errors", []))
        error_total = int(report.get("error_total") or 0)
        self.report.clear()
        with self.report, ui.card().classes("w-full gap-3").props("flat bordered"):
            with ui.row().classes("w-full items-center gap-3"):
                ui.label(t("import.report")).classes("text-h6")
                ui.space()
                ui.label(t("import.job", id=job["id"])).classes("text-caption text-grey-7")
            if job["status"] == "failed":
                self._banner("error", "negative", report.get("message") or t("import.failed"))
                return
            total = counts.get("total", {})
            if error_total:
                text = t("import.rejected_rows", n=total.get("reject", 0), e=error_total)
                self._banner("error", "negative", text)
            elif job["dry_run"]:
                self._banner("check_circle", "positive", t("import.verified_ok"))
            if report.get("written"):
                self._banner("task_alt", "positive", t("import.written"))
            elif not job["dry_run"]:
                self._banner("info", "warning", t("import.not_written"))
            self._counts_table(counts)
            for warning in report.get("warnings", []):
                ui.label(str(warning)).classes("text-caption text-grey-8")
            if job.get("rejected_name"):
                download_link(
                    t("import.rejected_file"),
                    f"/api/v1/archives/imports/{job['id']}/rejected",
                    "file_download",
                )
            if errors:
                self._errors_table(errors[:ERRORS_SHOWN], error_total)

    def _banner(self, icon: str, color: str, text: str) -> None:
        with ui.row().classes("w-full items-center gap-2 no-wrap").props("role=status"):
            ui.icon(icon, color=color, size="24px")
            ui.label(text).classes(f"text-body1 text-{color} text-weight-medium")

    def _counts_table(self, counts: dict[str, dict[str, int]]) -> None:
        columns = [{"name": "sheet", "field": "sheet", "label": t("import.sheet"),
                    "align": "left"}] + [
            {"name": f, "field": f, "label": t(f"import.count.{f}"), "align": "right"}
            for f in COUNT_FIELDS
        ]  # fmt: skip
        rows = [{"sheet": t("import.total") if sheet == "total" else sheet,
                 **{f: c.get(f, 0) for f in COUNT_FIELDS}}
                for sheet, c in counts.items()]  # fmt: skip
        ui.table(columns=columns, rows=rows, row_key="sheet", pagination=0).props(
            'flat bordered dense hide-bottom aria-label="counts"'
        ).classes("w-full")

    def _errors_table(self, errors: list[dict[str, Any]], error_total: int) -> None:
        ui.label(t("import.errors", n=error_total)).classes("text-subtitle1 text-negative")
        columns = [{"name": f, "field": f, "label": t(f"import.error.{f}"), "align": "left"}
                   for f in ERROR_FIELDS]  # fmt: skip
        rows = [{"id": i, **{f: "" if e.get(f) is None else e.get(f) for f in ERROR_FIELDS}}
                for i, e in enumerate(errors)]  # fmt: skip
        table = ui.table(columns=columns, rows=rows, row_key="id", pagination=50)
        table.props('flat bordered dense aria-label="errors"').classes("w-full")
        table.add_slot(
            "body-cell-code",
            '<q-td :props="props"><q-badge color="negative" :label="props.value" /></q-td>',
        )

    # -- history -------------------------------------------------------------------------------

    async def _show_history(self) -> None:
        items, _total = await self.session.read(
            lambda c, p: IMPORTS.list_jobs(c, p.username, p.scope, limit=HISTORY_LIMIT)
        )
        fields = ("id", "created_by", "created_at", "file_name", "kind", "rows", "create",
                  "update", "unchanged", "reject", "status")  # fmt: skip
        columns = [{"name": f, "field": f, "label": t(f"import.hist.{f}"), "align": "left"}
                   for f in fields]  # fmt: skip
        rows = []
        for job in items:
            total = (job.get("counts") or {}).get("total", {})
            status = str(job["status"])
            if status == "done" and job.get("written"):
                status_text = t("import.hist.written")
            elif status == "done":
                status_text = t("import.hist.not_written")
            else:
                status_text = t(f"import.status.{status}")
            rows.append({
                "id": job["id"], "created_by": job["created_by"],
                "created_at": when(job["created_at"], self.tz, seconds=True),
                "file_name": job["file_name"],
                "kind": t("import.hist.dry_run") if job["dry_run"]
                else t(f"import.mode_{job['mode']}"),
                **{f: total.get(f, "") for f in COUNT_FIELDS}, "status": status_text,
            })  # fmt: skip
        self.history.clear()
        with self.history:
            if not rows:
                ui.label(t("import.no_history")).classes("text-grey-7")
                return
            ui.table(columns=columns, rows=rows, row_key="id", pagination=0).props(
                'flat bordered dense hide-bottom aria-label="history"'
            ).classes("w-full")
