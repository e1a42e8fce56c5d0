"""Every error kind of the import, each reported with its row (header = row 1), column, code and
a message naming the value; the same file as CSV and as XLSX gives the same report; a failed
all-or-nothing import writes nothing.

The cases are data: sheets as CSV text, options, and the errors expected (sheet, row, column,
code, a part of the message)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from e200 import archives
from e200.archives import (
    KINDS,
    FeederIn,
    MeterIn,
    OrgUnitIn,
    SubstationIn,
    TerminalIn,
    TransformerIn,
)
from e200.kernel import Scope
from tests.archives.imports_helpers import scope_of, write, xlsx_from_csvs

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
RETIRED = datetime(2026, 3, 1, tzinfo=UTC)


def build_base(engine: Engine) -> None:
    """CO → EAST, WEST; SS1 → F1 → T1 (TTU1, meter M-OLD on phase A since 2026-01-01), T-RET
    (retired 2026-03-01); in WEST: SS2 → F2 → T2."""
    everything = Scope.everything()
    with engine.begin() as conn:
        archives.create_org_unit(conn, OrgUnitIn(code="CO", name="Co", kind="company"), everything)
        for code in ("EAST", "WEST"):
            archives.create_org_unit(
                conn, OrgUnitIn(code=code, name=code, kind="region", parent="CO"), everything
            )
        for n, region in (("1", "EAST"), ("2", "WEST")):
            archives.create_asset(
                conn,
                KINDS["substation"],
                SubstationIn(asset_number=f"SS{n}", org_unit=region, valid_from=SINCE),
                everything,
            )
            archives.create_asset(
                conn,
                KINDS["feeder"],
                FeederIn(asset_number=f"F{n}", substation=f"SS{n}", valid_from=SINCE),
                everything,
            )
            archives.create_asset(
                conn,
                KINDS["transformer"],
                TransformerIn(
                    asset_number=f"T{n}",
                    rated_kva=400,
                    primary_rated_kv=10,
                    secondary_rated_v=400,
                    feeder=f"F{n}",
                    valid_from=SINCE,
                ),
                everything,
            )
        archives.create_asset(
            conn,
            KINDS["transformer"],
            TransformerIn(
                asset_number="T-RET",
                rated_kva=100,
                primary_rated_kv=10,
                secondary_rated_v=400,
                feeder="F1",
                valid_from=SINCE,
            ),
            everything,
        )
        archives.create_asset(
            conn,
            KINDS["terminal"],
            TerminalIn(asset_number="TTU1", transformer="T1", valid_from=SINCE),
            everything,
        )
        archives.create_asset(
            conn,
            KINDS["meter"],
            MeterIn(asset_number="M-OLD", transformer="T1", phase="A", valid_from=SINCE),
            everything,
        )
        archives.create_asset(
            conn,
            KINDS["meter"],
            MeterIn(asset_number="M-GONE", transformer="T1", phase="B", valid_from=SINCE),
            everything,
        )
    with engine.begin() as conn:
        from e200.archives.assets import retire_asset

        retire_asset(conn, KINDS["transformer"], "T-RET", RETIRED, everything)
        retire_asset(conn, KINDS["meter"], "M-GONE", RETIRED, everything)


M = "asset_number,transformer,phase,wiring,ct_ratio,lat,org_unit\n"
T = "asset_number,rated_kva,primary_rated_kv,secondary_rated_v,feeder\n"
R = "meter,transformer,phase,valid_from,valid_to\n"


@dataclass(frozen=True)
class Case:
    sheets: dict[str, str]
    errors: list[tuple[str, int, str | None, str, str]]  # sheet, row, column, code, in message
    mode: str = "create"
    scope: tuple[str, ...] | None = None  # org unit codes of a scoped importer
    counts: dict[str, int] = field(default_factory=dict)  # expected total counts (some keys)


CASES: dict[str, Case] = {
    "required": Case(
        {"meters": M + ",T1,A,,,,\nM1,T1,A,,,,\n", "transformers": T + "T9,,10,400,F1\n"},
        [
            ("transformers", 2, "rated_kva", "required", "a value is required"),
            ("meters", 2, "asset_number", "required", "a value is required"),
        ],
        counts={"rows": 3, "create": 1, "reject": 2},
    ),
    "required_column_missing_on_create": Case(
        {"transformers": "asset_number,rated_kva,feeder\nT9,100,F1\n"},
        [
            ("transformers", 2, "primary_rated_kv", "required", "required"),
            ("transformers", 2, "secondary_rated_v", "required", "required"),
        ],
    ),
    "wrong_type": Case(
        {"meters": M + "M1,T1,A,,forty,,\n"},
        [("meters", 2, "ct_ratio", "wrong_type", "'forty' is not a number")],
    ),
    "wrong_unit_and_unit_accepted": Case(
        {"transformers": T + "T8,400 kVA,10 kV,400,F1\nT9,400,400 V,400,F1\n"},
        [("transformers", 3, "primary_rated_kv", "wrong_unit", "'400 V' is not in kV")],
        counts={"create": 1, "reject": 1},
    ),
    "out_of_range": Case(
        {"meters": M + "M1,T1,A,,0,95,\n"},
        [
            ("meters", 2, "ct_ratio", "out_of_range", "'0' must be > 0"),
            ("meters", 2, "lat", "out_of_range", "'95' must be ≥ -90 and ≤ 90"),
        ],
    ),
    "not_allowed": Case(
        {
            "meters": M + "M1,T1,D,two_phase,,,\n",
            "terminals": "asset_number,transformer,reporting_interval_min\nTTU9,T1,7\n",
        },
        [
            (
                "terminals",
                2,
                "reporting_interval_min",
                "not_allowed",
                "'7' is not allowed (allowed: 5, 15, 30, 60)",
            ),
            ("meters", 2, "wiring", "not_allowed", "'two_phase' is not allowed"),
            ("meters", 2, "phase", "not_allowed", "'D' is not allowed"),
        ],
    ),
    "bad_format_and_too_long": Case(
        {"meters": "asset_number,customer_name,org_unit\nM 1,,EAST\nM2," + "x" * 201 + ",EAST\n"},
        [
            ("meters", 2, "asset_number", "bad_format", "'M 1' is not valid"),
            ("meters", 3, "customer_name", "too_long", "longer than 200 characters"),
        ],
    ),
    "unknown_column": Case(
        {"meters": "asset_number,colour,org_unit\nM1,red,EAST\nM2,blue,EAST\n"},
        [
            ("meters", 1, "colour", "unknown_column", "unknown column 'colour'"),
            ("meters", 2, None, "header", "unknown column 'colour'"),
            ("meters", 3, None, "header", "unknown column 'colour'"),
        ],
        counts={"rows": 2, "reject": 2},
    ),
    "header_duplicate_and_missing_columns": Case(
        {"meters": "asset_number,tariff,tariff\nM1,a,b\n", "terminals": "name,transformer\nX,T1\n"},
        [
            ("terminals", 1, "asset_number", "missing_column", "no 'asset_number' column"),
            ("terminals", 2, None, "header", "the sheet has no 'asset_number' column"),
            ("meters", 1, "tariff", "duplicate_column", "column 'tariff' appears twice"),
            ("meters", 2, None, "header", "column 'tariff' appears twice"),
        ],
    ),
    "duplicate_in_file": Case(
        {"meters": M + "M1,T1,A,,,,\nM2,T1,B,,,,\nM1,T1,C,,,,\n"},
        [
            (
                "meters",
                4,
                "asset_number",
                "duplicate_in_file",
                "'M1' appears more than once in the file (first in row 2)",
            )
        ],
    ),
    "already_exists_in_create_mode": Case(
        {"meters": M + "M-OLD,T1,A,,,,\n"},
        [("meters", 2, "asset_number", "already_exists", "meter 'M-OLD' already exists")],
    ),
    "unknown_parent_and_org_unit": Case(
        {"meters": M + "M1,T-NONE,A,,,,\nM2,,,,,,NOWHERE\n"},
        [
            (
                "meters",
                2,
                "transformer",
                "unknown_reference",
                "transformer 'T-NONE' does not exist (neither in the file nor in the archive)",
            ),
            ("meters", 3, "org_unit", "unknown_reference", "org unit 'NOWHERE' does not exist"),
        ],
    ),
    "parent_rejected": Case(
        {"transformers": T + "T9,-5,10,400,F1\n", "meters": M + "M1,T9,A,,,,\n"},
        [
            ("transformers", 2, "rated_kva", "out_of_range", "'-5' must be > 0"),
            (
                "meters",
                2,
                "transformer",
                "parent_rejected",
                "'T9' is rejected in this import (transformers row 2)",
            ),
        ],
    ),
    "meter_on_retired_transformer": Case(
        {
            "meters": M + "M1,T-RET,A,,,,\n",
            "meter_transformer": R + "M-OLD,T-RET,A,2026-02-15T00:00:00Z,\n",
        },
        [
            ("meters", 2, "transformer", "retired_parent", "transformer 'T-RET' is retired"),
            ("meter_transformer", 2, "transformer", "retired_parent", "'T-RET' is retired"),
        ],
        counts={"reject": 2},
    ),
    "relation_overlaps_and_later_period": Case(
        {
            "meter_transformer": R + "M-OLD,T1,A,2025-12-01,2026-02-01\n"
            "M-OLD,T2,A,2025-06-01,\nM-NEW-X,T1,A,2026-01-01,\n"
        },
        [
            (
                "meter_transformer",
                2,
                "valid_from",
                "relation_overlap",
                "overlaps the period of transformer 'T1' from 2026-01-01T00:00:00Z in the archive",
            ),
            (
                "meter_transformer",
                3,
                "valid_from",
                "later_period",
                "a later period of this relation already exists",
            ),
            (
                "meter_transformer",
                4,
                "meter",
                "unknown_reference",
                "meter 'M-NEW-X' does not exist",
            ),
        ],
    ),
    "periods_within_the_file": Case(
        {
            "meters": M + "M1,T1,A,,,,\n",
            "meter_transformer": R + "M1,T1,B,2026-01-01,\nM1,T1,A,2026-01-01,2026-02-01\n"
            "M1,T1,A,2026-03-01,2026-02-15\nM1,T1,C,2026-01-15,2026-01-20\n",
        },
        [
            (
                "meter_transformer",
                3,
                "meter",
                "duplicate_in_file",
                "'M1 from 2026-01-01T00:00:00Z' appears more than once in the file "
                "(first in row 2)",
            ),
            ("meter_transformer", 4, "valid_to", "period_order", "is not after valid_from"),
            (
                "meter_transformer",
                5,
                "valid_from",
                "relation_overlap",
                "overlaps another period of meter 'M1' in the file",
            ),
        ],
    ),
    "same_start_across_sheets": Case(
        {
            "meters": "asset_number,transformer,phase,valid_from\nM1,T1,A,2026-01-01\n",
            "meter_transformer": R + "M1,T1,B,2026-01-01T00:00:00Z,\n",
        },
        [
            (
                "meter_transformer",
                2,
                "valid_from",
                "relation_overlap",
                "another period of meter 'M1' from the same time in the file",
            )
        ],
    ),
    "phases": Case(
        {
            "meters": M + "M1,T1,,,,,\nM2,T1,ABC,single_phase,,,\nM3,T1,A,three_phase,,,\n"
            "M4,T1,,three_phase,,,\n"
        },
        [
            ("meters", 2, "phase", "phase_needed", "needs its phase (A, B or C)"),
            ("meters", 3, "phase", "phase_needed", "not 'ABC'"),
            ("meters", 4, "phase", "phase_three", "on phases ABC, not 'A'"),
        ],
        counts={"create": 1, "reject": 3},
    ),
    "no_org_unit": Case(
        {"meters": M + "M1,,,,,,\n"},
        [("meters", 2, "org_unit", "no_org_unit", "give one, or a parent")],
    ),
    "out_of_scope_rows_look_unknown": Case(
        {
            "meters": M + "M1,T2,A,,,,\nM2,,,,,,WEST\nM3,T1,A,,,,\n",
            "org_units": "code,name,kind,parent\nW1,West 1,team,WEST\nTOP,Top,company,\n",
        },
        [
            ("org_units", 2, "parent", "unknown_reference", "org unit 'WEST' does not exist"),
            ("org_units", 3, "parent", "parent_required", "inside your scope"),
            ("meters", 2, "transformer", "unknown_reference", "transformer 'T2' does not exist"),
            ("meters", 3, "org_unit", "unknown_reference", "org unit 'WEST' does not exist"),
        ],
        scope=("EAST",),
        counts={"rows": 5, "create": 1, "reject": 4},
    ),
    "upsert_org_unit_move_and_retired_asset": Case(
        {
            "org_units": "code,name,kind,parent\nEAST,East,region,WEST\n",
            "meters": M + "M-GONE,T1,C,,,,\n",
        },
        [
            ("org_units", 2, "parent", "org_unit_move", "its parent is 'CO'"),
            ("meters", 2, "transformer", "retired_asset", "'M-GONE' is retired"),
        ],
        mode="upsert",
    ),
}


def run_case(engine: Engine, tmp: Path, case: Case, fmt: str) -> Any:
    if fmt == "xlsx":
        files = [write(tmp, "grid.xlsx", xlsx_from_csvs(case.sheets))]
    else:
        files = [write(tmp, f"{name}.csv", content) for name, content in case.sheets.items()]
    scope = scope_of(engine, *case.scope) if case.scope else Scope.everything()
    return archives.imports.run_import(
        engine,
        [archives.imports.input_file(f) for f in files],
        archives.imports.Options(mode=case.mode, dry_run=False),  # type: ignore[arg-type]
        scope,
    )


def _snapshot(engine: Engine) -> dict[str, int]:
    tables = (
        "org_unit",
        "substation",
        "feeder",
        "transformer",
        "terminal",
        "meter",
        "meter_transformer",
        "terminal_transformer",
        "meter_org_unit",
    )
    with engine.connect() as conn:
        return {
            t: conn.execute(text(f"SELECT count(*) FROM archives.{t}")).scalar_one() for t in tables
        }


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_kind(engine: Engine, tmp_path: Path, name: str) -> None:
    build_base(engine)
    case = CASES[name]
    before = _snapshot(engine)
    results = {}
    for fmt in ("csv", "xlsx"):
        folder = tmp_path / fmt
        folder.mkdir()
        outcome = run_case(engine, folder, case, fmt)
        found = [(e["sheet"], e["row"], e["column"], e["code"]) for e in outcome.errors]
        expected = [(s, r, c, code) for s, r, c, code, _ in case.errors]
        assert found == expected, f"{fmt}: {outcome.errors}"
        for error, (*_, part) in zip(outcome.errors, case.errors, strict=True):
            assert part in error["message"], (fmt, error)
        total = outcome.counts["total"]
        assert total["rows"] == sum(total[k] for k in ("create", "update", "unchanged", "reject"))
        for key, value in case.counts.items():
            assert total[key] == value, (fmt, key, outcome.counts)
        # All or nothing: a rejected row means nothing is written.
        assert not outcome.written
        assert _snapshot(engine) == before
        results[fmt] = (outcome.counts, [{k: v for k, v in e.items()} for e in outcome.errors])
    assert results["csv"] == results["xlsx"]


def test_every_error_code_is_covered() -> None:
    codes = {code for case in CASES.values() for *_, code, _ in case.errors}
    assert codes == set(archives.imports.ERRORS)
