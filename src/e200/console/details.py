"""What the details panel shows for a node, as plain rows (no NiceGUI here).

The archive returns attributes under their stored names; this module orders them, gives them
their translated labels and turns stored values (codes, booleans, floats, UTC times) into text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo

from e200.console.i18n import has_text, t

# Shown first and last; the kind's own attributes come in between in the archive's order.
_LEADING = ("asset_number", "name", "status", "org_unit", "substation", "feeder", "transformer",
            "phase")  # fmt: skip
_TRAILING = ("created_at", "updated_at", "retired_at")
_ORG_UNIT_FIELDS = ("code", "name", "kind", "parent")
# Fields that name another node of the tree: the panel links them.
_LINKED = {"org_unit": "org_unit", "parent": "org_unit", "substation": "substation",
           "feeder": "feeder", "transformer": "transformer"}  # fmt: skip
PHASES = ("A", "B", "C", "ABC")


@dataclass(frozen=True)
class Row:
    label: str
    value: str
    link: tuple[str, str] | None = None  # (kind, key) of the node the value names


def field_label(field: str) -> str:
    return t(f"field.{field}")


def _code_text(family: str, value: str) -> str:
    key = f"{family}.{value}"
    return t(key) if has_text(key) else value


def format_value(field: str, value: object, tz: tzinfo, *, kind: str | None = None) -> str:
    """Text of one stored value: codes translated, numbers without noise, times in ``tz``."""
    if value is None or value == "":
        return t("empty_value")
    if isinstance(value, bool):
        return t("yes") if value else t("no")
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.6f}".rstrip("0")
    text = str(value)
    if field == "status":
        return _code_text("status", text)
    if field == "wiring":
        return _code_text("wiring", text)
    if field == "kind" and kind == "org_unit":
        return _code_text("org_kind", text)
    if field == "kind" and kind == "terminal":
        return _code_text("terminal_kind", text)
    return text


def _row(field: str, value: object, tz: tzinfo, kind: str) -> Row:
    link_kind = _LINKED.get(field)
    link = (link_kind, str(value)) if link_kind and value not in (None, "") else None
    return Row(field_label(field), format_value(field, value, tz, kind=kind), link)


def asset_rows(kind: str, data: Mapping[str, object], tz: tzinfo) -> list[Row]:
    """Every attribute of an asset (as ``archives.get_asset`` returns it), labelled and ordered."""
    leading = [f for f in _LEADING if f in data]
    trailing = [f for f in _TRAILING if f in data]
    middle = [f for f in data if f not in leading and f not in trailing]
    return [_row(f, data[f], tz, kind) for f in (*leading, *middle, *trailing)]


def org_unit_rows(data: Mapping[str, object], tz: tzinfo) -> list[Row]:
    return [_row(f, data.get(f), tz, "org_unit") for f in _ORG_UNIT_FIELDS]


def phase_counts(phases: Iterable[str | None]) -> dict[str, int]:
    """Meters per phase (A, B, C, three-phase 'ABC'), every phase present even when zero."""
    counted = Counter(p for p in phases if p)
    out = {p: counted.get(p, 0) for p in PHASES}
    out.update({p: n for p, n in counted.items() if p not in out})
    return out
