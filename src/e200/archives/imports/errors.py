"""Error codes of the import as data: one description per kind of problem, with the message a
user reads in the report and in the ``error`` column of the rejected file.

Messages are formatted from the code and the offending value (``{value}``, quoted as typed) and
one argument (``{arg}``): the allowed values, the limit, the first row of a duplicate, ...
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorKind:
    code: str
    message: str  # str.format with value (repr'd) and arg
    description: str


ERRORS: dict[str, ErrorKind] = {
    e.code: e
    for e in (
        ErrorKind(
            "required",
            "a value is required",
            "A required cell is empty (or the column is missing while the row creates a record).",
        ),
        ErrorKind(
            "wrong_type",
            "{value} is not {arg}",
            "The cell is not a number, whole number, true/false or date/time as the column needs.",
        ),
        ErrorKind(
            "wrong_unit",
            "{value} is not in {arg}",
            "The number carries a unit other "
            "than the column's (give the number in the column's unit).",
        ),
        ErrorKind(
            "out_of_range", "{value} must be {arg}", "The number is outside the column's limits."
        ),
        ErrorKind(
            "not_allowed",
            "{value} is not allowed (allowed: {arg})",
            "The value is not one of the column's allowed values.",
        ),
        ErrorKind("too_long", "{value} is longer than {arg} characters", "Text too long."),
        ErrorKind(
            "bad_format",
            "{value} is not valid: {arg}",
            "A key or code with characters that are not allowed.",
        ),
        ErrorKind(
            "unknown_column",
            "unknown column {value}",
            "The header names a column the "
            "template does not have (every row of the sheet is rejected).",
        ),
        ErrorKind(
            "duplicate_column",
            "column {value} appears twice",
            "The header repeats a column (every row of the sheet is rejected).",
        ),
        ErrorKind(
            "missing_column",
            "the sheet has no {value} column",
            "A key column is missing from the header (every row of the sheet is rejected).",
        ),
        ErrorKind(
            "header",
            "the sheet's header is wrong: {arg}",
            "Given to every row of a sheet whose header has an error.",
        ),
        ErrorKind(
            "duplicate_in_file",
            "{value} appears more than once in the file (first in row {arg})",
            "The business key repeats within the sheet.",
        ),
        ErrorKind(
            "already_exists",
            "{arg} {value} already exists (mode create adds new records "
            "only; use mode upsert to update)",
            "Mode create: the record is in the archive already.",
        ),
        ErrorKind(
            "unknown_reference",
            "{arg} {value} does not exist (neither in the file nor in the archive)",
            "A parent, child or org unit that is neither in the file nor "
            "in the part of the archive the importer may see.",
        ),
        ErrorKind(
            "parent_rejected",
            "{value} is rejected in this import ({arg})",
            "The row refers to a record of the same file that was rejected.",
        ),
        ErrorKind(
            "retired_parent",
            "{arg} {value} is retired",
            "A relation to a retired "
            "transformer, feeder or substation that would be in force after it retired.",
        ),
        ErrorKind(
            "retired_asset",
            "{value} is retired; its relations cannot change",
            "A relation change for a retired asset.",
        ),
        ErrorKind(
            "no_org_unit",
            "no org unit: give one, or a parent to inherit it from",
            "A new asset with neither an org unit nor a parent.",
        ),
        ErrorKind(
            "parent_required",
            "required: you may only add units inside your scope",
            "An importer with a limited scope adds a top-level org unit.",
        ),
        ErrorKind(
            "org_unit_move",
            "moving an org unit to another parent is not supported by "
            "the import (its parent is {arg})",
            "Upsert of an org unit with a different parent.",
        ),
        ErrorKind(
            "period_order",
            "valid_to {value} is not after valid_from",
            "A bounded period that ends before it starts.",
        ),
        ErrorKind(
            "relation_overlap",
            "the period from {value} overlaps {arg}",
            "A relation "
            "period that would overlap another period of the same child (archive or "
            "file).",
        ),
        ErrorKind(
            "later_period",
            "a later period of this relation already exists (from {arg}); "
            "give valid_to to record a bounded period",
            "A move that starts before a period already in the archive.",
        ),
        ErrorKind(
            "phase_needed",
            "a single-phase meter needs its phase (A, B or C), not {value}",
            "Phase missing or ABC for a single-phase meter.",
        ),
        ErrorKind(
            "phase_three",
            "a three-phase meter is on phases ABC, not {value}",
            "Phase A/B/C for a three-phase meter.",
        ),
    )
}


def message(code: str, value: str | None, arg: str | None) -> str:
    shown = repr(value) if value not in (None, "") else "(empty)"
    return ERRORS[code].message.format(value=shown, arg=arg or "")
