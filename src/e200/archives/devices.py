"""What ingest asks of the archive: devices by asset number with the ratings their ranges scale
with, and the reporting interval a terminal confirmed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, func, select, update

from e200.archives.common import active
from e200.archives.tables import ASSET_TABLES, RELATION_TABLES
from e200.kernel import utc_now

SQRT3 = 3**0.5


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """What ingest needs to know of a device: its id and the ratings its ranges scale with."""

    id: int
    kind: str
    status: str
    rating: dict[str, float]
    reporting_interval_min: int | None = None


def _dt_rating(rated_kva: float, secondary_v: float, phases: int) -> dict[str, float]:
    if phases == 1:
        return {"v_phase": secondary_v, "i_rated": rated_kva * 1000 / secondary_v,
                "s_rated": rated_kva}  # fmt: skip
    return {"v_phase": secondary_v / SQRT3, "i_rated": rated_kva * 1000 / (SQRT3 * secondary_v),
            "s_rated": rated_kva}  # fmt: skip


def lookup_devices(
    conn: Connection, kind_name: str, asset_numbers: list[str], default_v_phase: float = 230.0
) -> dict[str, DeviceRef]:
    """Devices by asset number (unknown numbers are simply absent). Meters take their nominal
    voltage from the transformer they are attached to now."""
    if not asset_numbers:
        return {}
    if kind_name == "transformer":
        t = ASSET_TABLES["transformer"]
        rows = conn.execute(
            select(t.c.id, t.c.asset_number, t.c.status, t.c.rated_kva, t.c.secondary_rated_v,
                   t.c.phases).where(t.c.asset_number.in_(asset_numbers))
        )  # fmt: skip
        return {r.asset_number: DeviceRef(r.id, "transformer", r.status,
                                          _dt_rating(r.rated_kva, r.secondary_rated_v, r.phases))
                for r in rows}  # fmt: skip
    if kind_name == "terminal":
        term = ASSET_TABLES["terminal"]
        rows = conn.execute(
            select(term.c.id, term.c.asset_number, term.c.status,
                   term.c.reporting_interval_min).where(term.c.asset_number.in_(asset_numbers))
        )  # fmt: skip
        return {r.asset_number: DeviceRef(r.id, "terminal", r.status, {},
                                          r.reporting_interval_min) for r in rows}  # fmt: skip
    if kind_name == "meter":
        m = ASSET_TABLES["meter"]
        t = ASSET_TABLES["transformer"]
        rel = RELATION_TABLES["meter_transformer"]
        rows = conn.execute(
            select(m.c.id, m.c.asset_number, m.c.status, t.c.secondary_rated_v, t.c.phases)
            .select_from(
                m.outerjoin(rel, and_(rel.c.meter_id == m.c.id, active(rel, utc_now()))).outerjoin(
                    t, t.c.id == rel.c.transformer_id
                )
            )
            .where(m.c.asset_number.in_(asset_numbers))
        )
        out = {}
        for r in rows:
            v_phase = default_v_phase
            if r.secondary_rated_v is not None:
                v_phase = r.secondary_rated_v / (SQRT3 if r.phases == 3 else 1)
            out[r.asset_number] = DeviceRef(r.id, "meter", r.status, {"v_phase": v_phase})
        return out
    raise ValueError(f"no device lookup for {kind_name!r}")


def set_reporting_interval(conn: Connection, terminal_number: str, interval_min: int) -> None:
    """Record the interval a terminal confirmed (after a downlink command was acknowledged)."""
    t = ASSET_TABLES["terminal"]
    conn.execute(update(t).where(t.c.asset_number == terminal_number)
                 .values(reporting_interval_min=interval_min, updated_at=func.now()))  # fmt: skip
