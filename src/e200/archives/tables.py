"""Tables of the grid archive (PostgreSQL schema ``archives``).

Assets carry their own attributes; every relation between them (asset -> org unit, feeder ->
substation, transformer -> feeder, terminal -> transformer, meter -> transformer + phase) is a row
with ``valid_from``/``valid_to`` so that any question can be asked "as of" a time. The database
refuses two overlapping periods for the same child (exclusion constraint).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, ExcludeConstraint

SCHEMA = "archives"
metadata = MetaData(schema=SCHEMA)

ASSET_STATUSES = ("in_service", "out_of_service", "retired")
ORG_UNIT_KINDS = ("company", "region", "branch", "operating_unit", "district", "team")
TERMINAL_KINDS = ("ttu", "concentrator", "dcu")
REPORTING_INTERVALS_MIN = (5, 15, 30, 60)
PHASES = ("A", "B", "C")
WIRINGS = ("single_phase", "three_phase")


def _in(column: str, values: tuple[object, ...]) -> str:
    listed = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)
    return f"{column} IN ({listed})"


def _ts(name: str, *, nullable: bool = True, default_now: bool = False) -> Column[object]:
    return Column(
        name,
        DateTime(timezone=True),
        nullable=nullable,
        server_default=func.now() if default_now else None,
    )


org_unit = Table(
    "org_unit",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("parent_id", BigInteger, ForeignKey("org_unit.id"), nullable=True),
    # Materialised path of ids ("1.5.9."): a subtree is a prefix match on an indexed column.
    Column("path", String(1000), nullable=False, unique=True),
    _ts("created_at", nullable=False, default_now=True),
    CheckConstraint(_in("kind", ORG_UNIT_KINDS), name="org_unit_kind_allowed"),
    Index("ix_org_unit_path_prefix", "path", postgresql_ops={"path": "text_pattern_ops"}),
    Index("ix_org_unit_parent_id", "parent_id"),
)


def _asset_table(
    name: str, *columns: Column[object], checks: tuple[CheckConstraint, ...] = ()
) -> Table:
    return Table(
        name,
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("asset_number", String(64), nullable=False, unique=True),
        Column("name", String(200), nullable=True),
        *columns,
        Column("status", String(16), nullable=False, server_default="in_service"),
        _ts("retired_at"),
        _ts("created_at", nullable=False, default_now=True),
        _ts("updated_at", nullable=False, default_now=True),
        CheckConstraint(_in("status", ASSET_STATUSES), name=f"{name}_status_allowed"),
        CheckConstraint(
            "(status = 'retired') = (retired_at IS NOT NULL)", name=f"{name}_retired_at_set"
        ),
        *checks,
    )


substation = _asset_table(
    "substation",
    Column("voltage_kv", Float, nullable=True),
    Column("lat", Float),
    Column("lon", Float),
)

feeder = _asset_table(
    "feeder",
    Column("voltage_kv", Float, nullable=True),
)

transformer = _asset_table(
    "transformer",
    Column("rated_kva", Float, nullable=False),
    Column("primary_rated_kv", Float, nullable=False),
    Column("secondary_rated_v", Float, nullable=False),
    Column("phases", Integer, nullable=False, server_default="3"),
    Column("vector_group", String(16), nullable=True),
    Column("no_load_loss_kw", Float, nullable=True),
    Column("load_loss_kw", Float, nullable=True),
    Column("lat", Float),
    Column("lon", Float),
    checks=(
        CheckConstraint("rated_kva > 0", name="transformer_rated_kva_positive"),
        CheckConstraint("phases IN (1, 3)", name="transformer_phases_allowed"),
    ),
)

terminal = _asset_table(
    "terminal",
    Column("kind", String(16), nullable=False, server_default="ttu"),
    Column("protocol", String(32), nullable=True),
    Column("imei", String(32), nullable=True),
    Column("sim_iccid", String(32), nullable=True),
    Column("firmware", String(64), nullable=True),
    Column("reporting_interval_min", Integer, nullable=False, server_default="15"),
    Column("collection_enabled", Boolean, nullable=False, server_default=text("true")),
    checks=(
        CheckConstraint(_in("kind", TERMINAL_KINDS), name="terminal_kind_allowed"),
        CheckConstraint(
            _in("reporting_interval_min", REPORTING_INTERVALS_MIN),
            name="terminal_reporting_interval_allowed",
        ),
    ),
)

meter = _asset_table(
    "meter",
    Column("customer_account", String(64), nullable=True),
    Column("customer_name", String(200), nullable=True),
    Column("wiring", String(16), nullable=False, server_default="single_phase"),
    Column("ct_ratio", Float, nullable=False, server_default="1"),
    Column("pt_ratio", Float, nullable=False, server_default="1"),
    Column("multiplier", Float, Computed("ct_ratio * pt_ratio", persisted=True)),
    Column("tariff", String(64), nullable=True),
    Column("collection_enabled", Boolean, nullable=False, server_default=text("true")),
    Column("lat", Float),
    Column("lon", Float),
    checks=(
        CheckConstraint(_in("wiring", WIRINGS), name="meter_wiring_allowed"),
        CheckConstraint("ct_ratio > 0 AND pt_ratio > 0", name="meter_ratios_positive"),
    ),
)

ASSET_TABLES: dict[str, Table] = {
    "substation": substation,
    "feeder": feeder,
    "transformer": transformer,
    "terminal": terminal,
    "meter": meter,
}
ALL_TABLES: dict[str, Table] = {"org_unit": org_unit, **ASSET_TABLES}


@dataclass(frozen=True)
class RelationSpec:
    """One effective-dated relation: a child asset belongs to one parent at any instant."""

    name: str
    child: str
    parent: str
    with_phase: bool = False

    @property
    def child_col(self) -> str:
        return f"{self.child}_id"

    @property
    def parent_col(self) -> str:
        return f"{self.parent}_id"


RELATIONS: tuple[RelationSpec, ...] = (
    RelationSpec("substation_org_unit", "substation", "org_unit"),
    RelationSpec("feeder_org_unit", "feeder", "org_unit"),
    RelationSpec("transformer_org_unit", "transformer", "org_unit"),
    RelationSpec("terminal_org_unit", "terminal", "org_unit"),
    RelationSpec("meter_org_unit", "meter", "org_unit"),
    RelationSpec("feeder_substation", "feeder", "substation"),
    RelationSpec("transformer_feeder", "transformer", "feeder"),
    RelationSpec("terminal_transformer", "terminal", "transformer"),
    RelationSpec("meter_transformer", "meter", "transformer", with_phase=True),
)


def _relation_table(spec: RelationSpec) -> Table:
    columns: list[Column[object]] = [
        Column("id", BigInteger, Identity(), primary_key=True),
        Column(spec.child_col, BigInteger, ForeignKey(f"{spec.child}.id"), nullable=False),
        Column(spec.parent_col, BigInteger, ForeignKey(f"{spec.parent}.id"), nullable=False),
    ]
    if spec.with_phase:
        columns.append(Column("phase", String(3), nullable=True))
    return Table(
        spec.name,
        metadata,
        *columns,
        _ts("valid_from", nullable=False),
        _ts("valid_to"),
        CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name=f"{spec.name}_period_ordered"
        ),
        ExcludeConstraint(
            (spec.child_col, "="),
            (text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name=f"{spec.name}_no_overlap",
        ),
        Index(f"ix_{spec.name}_{spec.parent_col}", spec.parent_col, "valid_from"),
        Index(f"ix_{spec.name}_{spec.child_col}", spec.child_col, "valid_from"),
    )


RELATION_TABLES: dict[str, Table] = {spec.name: _relation_table(spec) for spec in RELATIONS}
RELATION_SPECS: dict[str, RelationSpec] = {spec.name: spec for spec in RELATIONS}


# -- import jobs -------------------------------------------------------------------------------

IMPORT_STATUSES = ("queued", "verifying", "writing", "done", "failed")
IMPORT_MODES = ("create", "upsert")
IMPORT_ON_ERROR = ("all_or_nothing", "valid_rows")
IMPORT_FORMATS = ("csv", "xlsx")

import_job = Table(
    "import_job",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("created_by", String(100), nullable=False),
    # The importer's scope when the job started (None: the whole grid); decides who sees the job.
    Column("scope_paths", ARRAY(String(1000)), nullable=True),
    _ts("created_at", nullable=False, default_now=True),
    _ts("started_at"),
    _ts("finished_at"),
    Column("file_name", String(500), nullable=False),
    Column("format", String(8), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("on_error", String(16), nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("template_version", Integer, nullable=False),
    Column("status", String(16), nullable=False, server_default="queued"),
    Column("rows_done", Integer, nullable=False, server_default="0"),
    Column("rows_total", Integer, nullable=False, server_default="0"),
    Column("counts", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("report", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("rejected_file", LargeBinary, nullable=True),
    Column("rejected_name", String(500), nullable=True),
    _ts("progress_at"),  # last sign of life of the worker running it (queued: None)
    CheckConstraint(_in("status", IMPORT_STATUSES), name="import_job_status_allowed"),
    CheckConstraint(_in("mode", IMPORT_MODES), name="import_job_mode_allowed"),
    CheckConstraint(_in("on_error", IMPORT_ON_ERROR), name="import_job_on_error_allowed"),
    CheckConstraint(_in("format", IMPORT_FORMATS), name="import_job_format_allowed"),
    Index("ix_import_job_created_at", "created_at"),
    Index("ix_import_job_created_by", "created_by"),
)


# The uploaded files of a job that runs in the background, in chunks, until it has finished:
# any worker can run it, also after the process that took the upload has gone.
import_upload = Table(
    "import_upload",
    metadata,
    Column(
        "job_id",
        BigInteger,
        ForeignKey("archives.import_job.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("file_no", SmallInteger, primary_key=True),
    Column("chunk_no", Integer, primary_key=True),
    Column("name", String(500), nullable=False),
    Column("sheet", String(100), nullable=True),
    Column("content", LargeBinary, nullable=False),
)
