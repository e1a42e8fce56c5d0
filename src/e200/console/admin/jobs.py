"""Background jobs (permission ``manage_jobs``): every job with its schedule, last run (when,
how long, outcome, what it did or the error), next run and the last 24 hours' runs and failures;
the workers alive; a periodic job run now. Refreshed every few seconds, as the jobs run."""

from __future__ import annotations

from typing import Any

from nicegui import ui
from sqlalchemy import Connection

from e200 import jobs
from e200.console.i18n import t
from e200.console.layout import frame
from e200.console.session import Session
from e200.console.widgets import attempt, notify_error, when
from e200.kernel import E200Error, Permission, Principal

REFRESH_S = 5.0
_OUTCOME_COLOR = {"succeeded": "positive", "failed": "negative", "running": "info"}

_BODY_SLOT = r"""
<q-tr :props="props">
  <q-td v-for="col in props.cols" :key="col.name" :props="props">
    <q-badge v-if="col.name === 'outcome' && col.value" :color="props.row.outcome_color"
             :label="col.value" />
    <q-btn v-else-if="col.name === 'run' && props.row.periodic" dense flat no-caps
           color="primary" icon="play_arrow" :label="col.value"
           :aria-label="'%(run)s ' + props.row.name"
           @click="$parent.$emit('run', props.row.name)" />
    <span v-else :class="col.name === 'summary' ? 'text-caption' : ''">{{ col.value }}</span>
  </q-td>
</q-tr>
"""


class JobsView:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.tz = session.console.tz
        self.scheduled = jobs.registry(session.console.settings)

    def _read(self, conn: Connection, _principal: Principal) -> jobs.JobsOut:
        stalled_s = self.session.console.settings.worker_stalled_after_s
        return jobs.overview(conn, self.scheduled, stalled_s)

    def _rows(self, out: jobs.JobsOut) -> list[dict[str, Any]]:
        rows = []
        for job in out.jobs:
            last = job.last_run
            rows.append({
                "name": job.name, "title": job.title, "cron": job.cron or t("jobs.on_demand"),
                "periodic": job.cron is not None,
                "last": when(last.started_at, self.tz, seconds=True) if last else "",
                "duration": f"{last.duration_s:.2f} s" if last and last.duration_s is not None
                else "",
                "outcome": t(f"jobs.outcome.{last.outcome}") if last else "",
                "outcome_color": _OUTCOME_COLOR.get(last.outcome, "grey") if last else "grey",
                "summary": (last.summary or "") if last else "",
                "next": when(job.next_run, self.tz, seconds=True) if job.next_run else "",
                "runs": f"{job.runs_24h:,}", "failures": f"{job.failures_24h:,}",
                "run": t("jobs.run_now"),
            })  # fmt: skip
        return rows

    async def build(self) -> None:
        ui.page_title(f"{t('jobs.title')} · {t('app.title')}")
        frame("jobs", self.session)
        with ui.column().classes("w-full q-pa-md gap-3").style("max-width: 1500px"):
            ui.label(t("jobs.title")).classes("text-h5 text-weight-medium")
            ui.label(t("jobs.explain")).classes("text-body2 text-grey-8")
            self.workers = ui.label().classes("text-subtitle2").props("role=status")
            columns = [
                {"name": key, "label": t(f"jobs.col.{key}"), "field": key, "align": "left"}
                for key in ("name", "title", "cron", "last", "duration", "outcome", "summary",
                            "next", "runs", "failures", "run")
            ]  # fmt: skip
            self.table = ui.table(columns=columns, rows=[], row_key="name").props(
                f'flat bordered dense aria-label="{t("jobs.list")}"'
            ).classes("w-full")  # fmt: skip
            self.table.add_slot("body", _BODY_SLOT % {"run": t("jobs.run_now")})
            self.table.on("run", lambda e: self._run(str(e.args)))
        await self.refresh()
        ui.timer(REFRESH_S, self.refresh)

    async def refresh(self) -> None:
        try:
            out = await self.session.read(self._read)
        except E200Error as exc:
            notify_error(exc)
            return
        self.workers.set_text(t("jobs.workers", n=out.workers_alive))
        self.workers.classes(replace="text-subtitle2 " + ("text-positive" if out.workers_alive
                                                          else "text-negative"))  # fmt: skip
        self.table.rows = self._rows(out)
        self.table.update()

    async def _run(self, name: str) -> None:
        defer = self.session.console.defer_job

        def call(_conn: Connection, _principal: Principal) -> int:
            if defer is None:
                raise E200Error("background jobs: this server queues none")
            return defer(name, {})

        done, _ = await attempt(
            self.session,
            lambda: self.session.change("run_job_now", call, permission=Permission.MANAGE_JOBS,
                                        target=f"name={name}", detail={"job": name}),
            notify_error,
        )  # fmt: skip
        if done:
            ui.notify(t("jobs.queued", name=name), type="positive")
            await self.refresh()
