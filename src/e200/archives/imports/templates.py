"""Import templates as data: one declaration per sheet, its columns derived from the archive's
pydantic models (``model.py``) and asset kinds (``kinds.py``), so a rule changed there changes
the template, the verification and the notes sheet at once.

Template version 1 (docs/import.md): sheet and column names are a public contract; columns may
be added, none renamed or removed.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from e200.archives import model
from e200.archives.kinds import KINDS, AssetKind
from e200.archives.tables import RELATION_SPECS, RelationSpec

TEMPLATE_VERSION = 1

ColumnType = Literal["text", "number", "integer", "boolean", "datetime"]
Role = Literal["key", "attribute", "parent", "org_unit", "phase", "valid_from", "valid_to", "child"]

# Units follow the column name's suffix (units in names, docs/api.md).
UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_kva", "kVA"),
    ("_kv", "kV"),
    ("_kw", "kW"),
    ("_v", "V"),
    ("_min", "min"),
    ("_pct", "%"),
)
UNIT_NAMES = {"lat": "degrees", "lon": "degrees"}

# Descriptions for fields whose model gives none (the model's own description wins).
DESCRIPTIONS: dict[str, str] = {
    "asset_number": "Business key, unique per asset type (letters, digits, . _ : / -).",
    "code": "Business key of the org unit (letters, digits, . _ -).",
    "name": "Display name.",
    "kind": "Type of the record.",
    "parent": "Code of the parent org unit (in this file or already in the archive).",
    "lat": "Latitude, WGS 84.",
    "lon": "Longitude, WGS 84.",
    "phases": "Number of phases.",
    "vector_group": "Vector group, e.g. Dyn11.",
    "no_load_loss_kw": "No-load loss.",
    "load_loss_kw": "Load (copper) loss at rated power.",
    "protocol": "Communication protocol, e.g. mqtt, dlt645.",
    "imei": "IMEI of the modem.",
    "sim_iccid": "ICCID of the SIM card.",
    "firmware": "Firmware version.",
    "reporting_interval_min": "Reporting interval.",
    "collection_enabled": "Whether data is collected (true/false).",
    "customer_account": "Customer account number.",
    "customer_name": "Customer name.",
    "wiring": "single_phase or three_phase.",
    "tariff": "Tariff name.",
    "substation": "Asset number of the substation feeding this feeder (file or archive).",
    "feeder": "Asset number of the feeder this transformer hangs on (file or archive).",
    "transformer": "Asset number of the distribution transformer (file or archive).",
    "meter": "Asset number of the meter (file or archive).",
    "terminal": "Asset number of the terminal (file or archive).",
    "phase": "Phase the meter is on: A, B or C; three-phase meters ABC (may be left empty).",
    "org_unit": "Code of the owning org unit; empty: the parent asset's org unit.",
    "valid_from": "Start of the relations this row creates or changes (ISO 8601, UTC without "
    "an offset); empty: the time of the import.",
    "valid_to": "End of a bounded (historical) period; empty: a move from valid_from on.",
}


@dataclass(frozen=True, kw_only=True)
class Column:
    """One column of a sheet: its type, unit, whether required, allowed values and limits."""

    name: str
    type: ColumnType
    role: Role = "attribute"
    unit: str | None = None
    required: bool = False
    allowed: tuple[str | int, ...] = ()
    default: Any = None
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    max_length: int | None = None
    pattern: str | None = None
    description: str = ""

    @property
    def sql_type(self) -> str:
        return {
            "text": "text",
            "number": "float8",
            "integer": "int4",
            "boolean": "bool",
            "datetime": "timestamptz",
        }[self.type]

    @property
    def range_text(self) -> str:
        parts = []
        if self.gt is not None:
            parts.append(f"> {_num(self.gt)}")
        if self.ge is not None:
            parts.append(f"≥ {_num(self.ge)}")
        if self.lt is not None:
            parts.append(f"< {_num(self.lt)}")
        if self.le is not None:
            parts.append(f"≤ {_num(self.le)}")
        return " and ".join(parts)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class Sheet:
    """One sheet of the import: an asset kind, the org units, or an effective-dated relation."""

    name: str
    label: str
    columns: tuple[Column, ...]
    kind: AssetKind | None = None  # asset sheets
    relation: RelationSpec | None = None  # relation sheets
    description: str = ""
    by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})

    @property
    def key(self) -> tuple[str, ...]:
        """Columns identifying a row (duplicates within a file are refused)."""
        if self.relation is not None:
            return (self.relation.child, "valid_from")
        return ("code",) if self.name == "org_units" else ("asset_number",)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


# -- derivation from the pydantic models -------------------------------------------------------


def _constraints(meta: list[Any], out: dict[str, Any]) -> None:
    for item in meta:
        if isinstance(item, FieldInfo):
            _constraints(list(item.metadata), out)
            if item.description and "description" not in out:
                out["description"] = item.description
            continue
        for attr in ("gt", "ge", "lt", "le", "max_length", "pattern"):
            value = getattr(item, attr, None)
            if value is not None:
                out[attr] = value


def _unpack(annotation: Any) -> tuple[Any, dict[str, Any]]:
    """The base type of an annotation (``X | None``, ``Annotated[X, ...]``) and its limits."""
    limits: dict[str, Any] = {}
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unpack(inner[0])
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        _constraints(meta, limits)
        inner_base, inner_limits = _unpack(base)
        return inner_base, {**inner_limits, **limits}
    return annotation, limits


def column_from(
    model_cls: type[BaseModel],
    field_name: str,
    *,
    name: str | None = None,
    role: Role = "attribute",
    required: bool | None = None,
    description: str | None = None,
) -> Column:
    """A template column from one field of a pydantic model (type, limits, default, allowed)."""
    info = model_cls.model_fields[field_name]
    base, limits = _unpack(info.annotation)
    _constraints(list(info.metadata), limits)
    allowed: tuple[str | int, ...] = ()
    if typing.get_origin(base) is Literal:
        allowed = typing.get_args(base)
        base = type(allowed[0])
    types_: dict[type, ColumnType] = {
        str: "text",
        float: "number",
        int: "integer",
        bool: "boolean",
        datetime: "datetime",
    }
    col_type = types_[base]
    column_name = name or field_name
    unit = UNIT_NAMES.get(column_name)
    for suffix, label in UNIT_SUFFIXES:
        if col_type == "number" and column_name.endswith(suffix):
            unit = label
            break
    if column_name == "reporting_interval_min":
        unit = "min"
    default = None if info.is_required() or info.default is None else info.default
    if col_type == "number" and default is not None:
        default = float(default)
    text = description or info.description or limits.pop("description", None)
    limits.pop("description", None)
    return Column(
        name=column_name,
        type=col_type,
        role=role,
        unit=unit,
        required=info.is_required() if required is None else required,
        allowed=allowed,
        default=default,
        description=text or DESCRIPTIONS.get(column_name, ""),
        **limits,
    )


def _org_units_sheet() -> Sheet:
    m = model.OrgUnitIn
    return Sheet(
        "org_units",
        "Org units",
        (
            column_from(m, "code", role="key"),
            column_from(m, "name"),
            column_from(m, "kind", description="Level of the unit in the organisation."),
            column_from(m, "parent", role="parent"),
        ),
        description="The organisation tree; a unit's parent may be earlier or later in the sheet.",
    )


def _asset_sheet(kind: AssetKind) -> Sheet:
    m = kind.create_model
    columns = [column_from(m, "asset_number", role="key")]
    columns += [column_from(m, c) for c in kind.attribute_columns]
    spec = kind.parent_relation
    if spec is not None:
        columns.append(
            column_from(m, spec.parent, role="parent", description=DESCRIPTIONS[spec.parent])
        )
        if spec.with_phase:
            columns.append(column_from(m, "phase", role="phase", description=DESCRIPTIONS["phase"]))
    columns.append(
        column_from(
            m,
            "org_unit",
            role="org_unit",
            description=DESCRIPTIONS["org_unit"] if spec else "Code of the owning org unit.",
        )
    )
    columns.append(
        column_from(m, "valid_from", role="valid_from", description=DESCRIPTIONS["valid_from"])
    )
    if spec is None:  # nothing to inherit the org unit from
        columns[-2] = replace(columns[-2], required=True)
    return Sheet(
        kind.plural,
        kind.label + "s",
        tuple(columns),
        kind=kind,
        description=f"{kind.label}s with their attributes and relations.",
    )


def _relation_sheet(spec: RelationSpec) -> Sheet:
    m = model.RelationIn
    key = model.MeterIn  # asset numbers: the same rule as every asset's business key
    columns = [
        column_from(
            key, "asset_number", name=spec.child, role="child", description=DESCRIPTIONS[spec.child]
        ),
        column_from(
            key,
            "asset_number",
            name=spec.parent,
            role="parent",
            description=DESCRIPTIONS[spec.parent],
        ),
    ]
    if spec.with_phase:
        columns.append(column_from(m, "phase", role="phase", description=DESCRIPTIONS["phase"]))
    columns.append(
        column_from(
            m,
            "valid_from",
            role="valid_from",
            required=True,
            description="Start of the period (ISO 8601; UTC without an offset).",
        )
    )
    columns.append(
        column_from(m, "valid_to", role="valid_to", description=DESCRIPTIONS["valid_to"])
    )
    return Sheet(
        spec.name,
        f"{spec.child.title()} → {spec.parent}",
        tuple(columns),
        relation=spec,
        description=f"Effective-dated {spec.child} → {spec.parent} periods: without valid_to a "
        f"move (the period in force at valid_from ends there), with valid_to a bounded period.",
    )


SHEETS: dict[str, Sheet] = {
    s.name: s
    for s in (
        _org_units_sheet(),
        *(_asset_sheet(k) for k in KINDS.values()),
        _relation_sheet(RELATION_SPECS["meter_transformer"]),
        _relation_sheet(RELATION_SPECS["terminal_transformer"]),
    )
}
SHEET_ORDER: dict[str, int] = {name: i for i, name in enumerate(SHEETS)}
NOTES_SHEET = "notes"
ERROR_COLUMN = "error"


def sheet_for_file_name(stem: str) -> Sheet | None:
    """The sheet a CSV file is for, from its name: ``meters.csv``, ``meters-2026.csv``,
    ``meter_transformer-rejected.csv`` (the longest sheet name the name starts with)."""
    stem = stem.lower()
    matches = [s for s in SHEETS.values() if stem == s.name or stem.startswith(s.name)]
    return max(matches, key=lambda s: len(s.name)) if matches else None


# -- cell conversion ---------------------------------------------------------------------------


class CellError(Exception):
    """A cell's value is not acceptable: an error code (``errors.ERRORS``) and its argument."""

    def __init__(self, code: str, arg: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.arg = arg


ISO_HINT = "a date/time (ISO 8601, e.g. 2026-01-01T00:00:00Z)"
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}
_NUMBER_WITH_UNIT = re.compile(
    r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z%°]+)\s*$"
)


def cell_text(value: Any) -> str:
    """A cell as the user typed it (spreadsheet numbers without a spurious ``.0``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return "" if value is None else str(value)


def make_converter(col: Column) -> typing.Callable[[Any], Any]:
    """A function turning a raw cell (str from CSV, typed from XLSX) into the column's value,
    or raising :class:`CellError`. Empty cells give the column's default (None if it has none);
    whether an empty cell is allowed is decided by the caller (required columns)."""
    checks = _bounds_check(col)
    if col.type == "text":
        regex = re.compile(col.pattern) if col.pattern else None
        allowed = set(col.allowed)
        max_len = col.max_length

        def text_(raw: Any) -> Any:
            s = (raw if isinstance(raw, str) else cell_text(raw)).strip()
            if not s:
                return col.default
            if allowed and s not in allowed:
                raise CellError("not_allowed", ", ".join(map(str, col.allowed)))
            if max_len is not None and len(s) > max_len:
                raise CellError("too_long", str(max_len))
            if regex is not None and not regex.match(s):
                raise CellError("bad_format", col.description or col.pattern or "")
            return s

        return text_
    if col.type in ("number", "integer"):
        want_int = col.type == "integer"
        allowed_nums = set(col.allowed)

        def number(raw: Any) -> Any:
            if isinstance(raw, bool):
                raise CellError("wrong_type", "a whole number" if want_int else "a number")
            if isinstance(raw, int | float):
                value = float(raw)
            else:
                s = str(raw).strip()
                if not s:
                    return col.default
                try:
                    value = float(s)
                except ValueError:
                    value = _with_unit(s, col.unit, want_int)
            if value != value or value in (float("inf"), float("-inf")):
                raise CellError("wrong_type", "a number")
            if want_int:
                if not value.is_integer():
                    raise CellError("wrong_type", "a whole number")
                as_int = int(value)
                if allowed_nums and as_int not in allowed_nums:
                    raise CellError("not_allowed", ", ".join(map(str, col.allowed)))
                checks(as_int)
                return as_int
            checks(value)
            return value

        return number
    if col.type == "boolean":

        def boolean(raw: Any) -> Any:
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, int | float) and raw in (0, 1):
                return bool(raw)
            s = str(raw).strip().lower()
            if not s:
                return col.default
            if s in _TRUE:
                return True
            if s in _FALSE:
                return False
            raise CellError("wrong_type", "true or false")

        return boolean

    def when(raw: Any) -> Any:
        if isinstance(raw, datetime):
            return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
        if isinstance(raw, date):
            return datetime(raw.year, raw.month, raw.day, tzinfo=UTC)
        s = cell_text(raw).strip()
        if not s:
            return col.default
        try:
            value = datetime.fromisoformat(s)
        except ValueError:
            raise CellError("wrong_type", ISO_HINT) from None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    return when


def _with_unit(s: str, unit: str | None, want_int: bool) -> float:
    """``"400 kVA"`` in a kVA column is 400; ``"0.4 kV"`` in a V column is a wrong unit."""
    match = _NUMBER_WITH_UNIT.match(s)
    if match is None:
        raise CellError("wrong_type", "a whole number" if want_int else "a number")
    if unit and match.group(2).lower() == unit.lower():
        return float(match.group(1))
    raise CellError("wrong_unit", unit or "no unit")


def _bounds_check(col: Column) -> typing.Callable[[float], None]:
    gt, ge, lt, le = col.gt, col.ge, col.lt, col.le
    if gt is None and ge is None and lt is None and le is None:
        return lambda _: None
    text = col.range_text

    def check(value: float) -> None:
        if (
            (gt is not None and not value > gt)
            or (ge is not None and not value >= ge)
            or (lt is not None and not value < lt)
            or (le is not None and not value <= le)
        ):
            raise CellError("out_of_range", text)

    return check
