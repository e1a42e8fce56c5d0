"""Voltage insights: the transformers whose voltage left the limits in a month, worst first, with
their trend class (long-term, seasonal, episodic, recurring), the likely cause and the evidence —
the worst day's phase voltages against the limits; and the month's voltage qualification rate per
transformer, feeder or org unit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from nicegui import events, ui
from sqlalchemy import Connection

from e200 import archives, monitoring, telemetry
from e200.console.i18n import t
from e200.console.layout import frame
from e200.console.session import Session
from e200.kernel import Scope

TREND_COLOUR = {"long_term": "#b71c1c", "seasonal": "#e65100", "recurring": "#f9a825",
                "episodic": "#5c6bc0"}  # fmt: skip
PHASES = ("v_a_v", "v_b_v", "v_c_v")


def evidence_option(curve: dict[str, Any], over_v: float, under_v: float) -> dict[str, Any]:
    """The day's phase voltages with the limits drawn as lines and the breaches shaded."""
    stamps = [ts.isoformat() for ts in curve["ts"]]
    series: list[dict[str, Any]] = [
        {"name": t(f"quantity.{q}"), "type": "line", "showSymbol": False,
         "data": [[s, v] for s, v in zip(stamps, curve["values"][q], strict=True)]}
        for q in PHASES if q in curve["values"]
    ]  # fmt: skip
    if series:
        series[0]["markLine"] = {
            "silent": True, "symbol": "none", "lineStyle": {"type": "dashed", "color": "#c62828"},
            "data": [{"yAxis": round(over_v, 1), "name": t("voltage.upper")},
                     {"yAxis": round(under_v, 1), "name": t("voltage.lower")}],
            "label": {"formatter": "{b} {c} V"},
        }  # fmt: skip
    low = min([under_v, *(v for s in series for _, v in s["data"] if v is not None)])
    high = max([over_v, *(v for s in series for _, v in s["data"] if v is not None)])
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 56, "right": 90, "top": 36, "bottom": 32},
        "xAxis": {"type": "time"},
        "yAxis": {"type": "value", "name": "V", "min": int(low - 5), "max": int(high + 5)},
        "series": series,
    }


class VoltageView:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.tz_name = session.console.settings.timezone
        self.month: str | None = None
        self.unit: str | None = None
        self.ranking = "month"
        self.level = "transformer"

    async def build(self, month: str | None) -> None:
        ui.page_title(f"{t('voltage.title')} · {t('app.title')}")
        frame("fleet", self.session)  # a view of the fleet: no header entry of its own
        self.month = month
        units = await self.session.reader.read(
            lambda conn, scope: archives.list_org_units(conn, scope)
        )
        with ui.column().classes("w-full q-pa-md gap-3").style("max-width: 1500px"):
            with ui.row().classes("w-full items-center gap-3"):
                ui.label(t("voltage.title")).classes("text-h5 text-weight-medium")
                ui.space()
                ui.input(t("voltage.month"), value=month or "", on_change=self._on_month).props(
                    "outlined dense type=month stack-label")  # fmt: skip
                ui.select({"": t("fleet.all_units")} | {
                    u.code: "  " * u.depth + f"{u.name} ({u.code})" for u in units},
                    value="", label=t("fleet.org_unit"), on_change=self._on_unit,
                ).props("outlined dense").classes("w-64")  # fmt: skip
                rankings = {"month": t("voltage.rank_month"), "history": t("voltage.rank_history")}
                ui.toggle(rankings, value="month", on_change=self._on_ranking).props(
                    "no-caps dense")  # fmt: skip
            with ui.row().classes("w-full items-center gap-3"):
                self.limits = ui.label("").classes("text-body2 text-grey-8")
                ui.space()
                find = ui.input(t("voltage.find")).props("outlined dense clearable").classes(
                    "w-64")  # fmt: skip
            with ui.card().classes("w-full q-pa-none").props("flat bordered"):
                self.table = ui.table(columns=self._columns(), rows=[], row_key="asset_number",
                                      pagination={"rowsPerPage": 15}).props(
                    f'flat dense role=region aria-label="{t("voltage.ranking")}"'
                ).classes("w-full")  # fmt: skip
                find.bind_value_to(self.table, "filter")
                self.table.add_slot("body-cell-trend", _TREND_SLOT)
                self.table.add_slot("body-cell-asset_number", _EVIDENCE_SLOT)
                self.table.on("evidence", self._on_evidence)
            self.evidence = ui.column().classes("w-full")
            with ui.card().classes("w-full gap-2").props("flat bordered"):
                with ui.row().classes("w-full items-center"):
                    ui.label(t("voltage.qualification")).classes("text-h6")
                    ui.space()
                    ui.toggle({lv: t(f"voltage.level.{lv}") for lv in
                               ("transformer", "feeder", "org_unit")}, value=self.level,
                              on_change=self._on_level).props("no-caps dense")  # fmt: skip
                self.qualification = ui.echart({}).classes("w-full h-64").props(
                    "id=voltage-qualification")  # fmt: skip
        await self.load()

    @staticmethod
    def _columns() -> list[dict[str, Any]]:
        names = ("asset_number", "trend", "cause", "month_out_pct", "history_out_pct",
                 "bad_weeks", "days", "v_min_v", "v_max_v", "worst_day", "org_unit")  # fmt: skip
        return [{"name": n, "field": n, "label": t(f"voltage.col.{n}"), "sortable": True,
                 "align": "left" if n in ("asset_number", "trend", "cause", "org_unit",
                                          "worst_day") else "right"} for n in names]  # fmt: skip

    def _read(self, conn: Connection, scope: Scope) -> tuple[Any, Any]:
        insights = monitoring.voltage_insights(conn, scope, org_unit=self.unit, month=self.month,
                                               tz=self.tz_name, limit=200,
                                               ranking=self.ranking)  # fmt: skip
        qualification = monitoring.voltage_qualification(
            conn, scope, level=self.level, month=self.month, tz=self.tz_name, org_unit=self.unit
        )
        return insights, qualification

    async def load(self) -> None:
        insights, qualification = await self.session.reader.read(self._read)
        limits = insights.limits
        self.limits.set_text(t("voltage.limits", month=insights.month,
                               over=round(limits.get("over_pct", 0), 1),
                               under=round(limits.get("under_pct", 0), 1)))  # fmt: skip
        self.table.rows = [{
            "asset_number": i.asset_number, "trend": t(f"voltage.trend.{i.trend}"),
            "trend_colour": TREND_COLOUR.get(i.trend, "#9e9e9e"),
            "cause": i.cause_text or "", "month_out_pct": round(i.month_out_pct, 2),
            "history_out_pct": round(i.history_out_pct, 2), "bad_weeks": i.bad_weeks,
            "days": i.days_with_breaches,
            "v_min_v": None if i.v_min_v is None else round(i.v_min_v, 1),
            "v_max_v": None if i.v_max_v is None else round(i.v_max_v, 1),
            "worst_day": i.worst_day or "", "org_unit": i.org_unit,
        } for i in insights.items]  # fmt: skip
        self.table.update()
        rows = qualification.items[:30]
        self.qualification.options.clear()
        self.qualification.options.update({
            "tooltip": {"trigger": "axis"},
            "grid": {"left": 140, "right": 24, "top": 16, "bottom": 24},
            "xAxis": {"type": "value", "name": "%", "max": 100},
            "yAxis": {"type": "category", "inverse": True, "data": [r.key for r in rows]},
            "series": [{"type": "bar", "name": t("voltage.qualification_rate"),
                        "data": [r.qualification_rate_pct for r in rows]}],
        })  # fmt: skip
        self.qualification.update()
        if insights.items and not self.evidence.default_slot.children:
            worst = insights.items[0]
            await self.show_evidence(worst.asset_number, worst.worst_day)

    async def _on_month(self, e: events.ValueChangeEventArguments[Any]) -> None:
        self.month = str(e.value) or None
        await self.load()

    async def _on_unit(self, e: events.ValueChangeEventArguments[Any]) -> None:
        self.unit = e.value or None
        await self.load()

    async def _on_ranking(self, e: events.ValueChangeEventArguments[Any]) -> None:
        self.ranking = str(e.value)
        await self.load()

    async def _on_level(self, e: events.ValueChangeEventArguments[Any]) -> None:
        self.level = str(e.value)
        await self.load()

    async def _on_evidence(self, e: events.GenericEventArguments) -> None:
        row = next((r for r in self.table.rows if r["asset_number"] == e.args), None)
        if row is not None:
            await self.show_evidence(row["asset_number"], row["worst_day"] or None)

    async def show_evidence(self, asset: str, worst_day: str | None) -> None:
        """The worst day's phase voltages against the limits."""
        zone = ZoneInfo(self.tz_name)
        day = date.fromisoformat(worst_day) if worst_day else datetime.now(zone).date()
        start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        end = start + timedelta(days=1, hours=1)  # 23/25-hour days: a little more is harmless

        def read(conn: Connection, scope: Scope) -> tuple[Any, Any]:
            status = monitoring.transformer(conn, asset, scope)
            curve = telemetry.device_readings(conn, asset, scope, start, end, [*PHASES, "p_kw"])
            return status, curve

        status, curve = await self.session.reader.read(read)
        nominal = status.v_phase_nominal_v
        over = nominal * (1 + monitoring.LIMITS.over)
        under = nominal * (1 - monitoring.LIMITS.under)
        self.evidence.clear()
        with self.evidence, ui.card().classes("w-full gap-1").props(
                f'flat bordered role=region aria-label="{t("voltage.evidence")}"'):  # fmt: skip
            with ui.row().classes("w-full items-center gap-3"):
                ui.label(t("voltage.evidence_of", asset=asset, day=day.isoformat())).classes(
                    "text-h6")  # fmt: skip
                ui.space()
                target = f"/transformers/{quote(asset, safe='')}"
                ui.link(t("voltage.open_transformer"), target)
            ui.echart(evidence_option(curve, over, under)).classes("w-full h-72").props(
                "id=voltage-evidence")  # fmt: skip


_TREND_SLOT = r"""
<q-td :props="props">
  <q-badge :style="{background: props.row.trend_colour}">{{ props.value }}</q-badge>
</q-td>"""
_EVIDENCE_SLOT = r"""
<q-td :props="props">
  <a href="#" class="text-primary text-weight-medium"
     @click.prevent="$parent.$emit('evidence', props.row.asset_number)">{{ props.value }}</a>
</q-td>"""
