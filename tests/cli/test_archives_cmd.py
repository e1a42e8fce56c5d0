"""`e200 archives import` (dry run, commit, rejected rows) and `e200 archives templates` against
the test database named by E200_DATABASE_URL."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlalchemy import Engine, text
from typer.testing import CliRunner, Result

from e200.cli import app
from tests.archives.imports_helpers import csv_text
from tests.archives.test_import_errors import build_base


def run(url: str, *args: str) -> Result:
    env = {"E200_DATABASE_URL": url, "E200_LOG_JSON": "true"}
    return CliRunner().invoke(app, list(args), env=env)


def meters(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT asset_number FROM archives.meter")).scalars())


def test_dry_run_then_commit(engine: Engine, fresh_db_url: str, tmp_path: Path) -> None:
    build_base(engine)
    before = meters(engine)
    path = tmp_path / "meters.csv"
    path.write_text(
        csv_text(
            ["asset_number", "transformer", "phase"], ["M-CLI1", "T1", "A"], ["M-CLI2", "T1", "B"]
        )
    )
    dry = run(fresh_db_url, "archives", "import", str(path), "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    job = json.loads(dry.stdout.strip().splitlines()[-1])
    assert job["dry_run"] and job["counts"]["total"]["create"] == 2 and not job["written"]
    assert meters(engine) == before
    done = run(fresh_db_url, "archives", "import", str(path), "--json")
    assert done.exit_code == 0, done.output
    job = json.loads(done.stdout.strip().splitlines()[-1])
    assert job["written"] and job["created_by"] == "e200-cli"
    assert meters(engine) == before | {"M-CLI1", "M-CLI2"}
    with engine.connect() as conn:
        audited = conn.execute(
            text(
                "SELECT actor, detail FROM auth.audit_event WHERE action = 'archives_import' "
                "ORDER BY id"
            )
        ).all()
    assert [a.actor for a in audited] == ["e200-cli", "e200-cli"]
    assert audited[1].detail["counts"]["create"] == 2 and audited[1].detail["via"] == "cli"


def test_rejected_rows_are_written_next_to_the_file(
    engine: Engine, fresh_db_url: str, tmp_path: Path
) -> None:
    build_base(engine)
    path = tmp_path / "upload.csv"
    path.write_text(
        csv_text(
            ["asset_number", "transformer", "phase"], ["M-OK", "T1", "A"], ["M-BAD", "T-NONE", "A"]
        )
    )
    refused = run(fresh_db_url, "archives", "import", str(path), "--sheet", "meters")
    assert refused.exit_code == 1, refused.output
    assert "M-OK" not in meters(engine)
    assert "meters row 3, transformer" in refused.output
    result = run(fresh_db_url, "archives", "import", str(path), "--sheet", "meters", "--valid-rows")
    assert result.exit_code == 1
    assert "M-OK" in meters(engine)
    rejected = tmp_path / "upload-rejected.csv"
    rows = list(csv.reader(io.StringIO(rejected.read_text(encoding="utf-8-sig"))))
    assert rows[0][-1] == "error" and rows[1][0] == "M-BAD"
    assert "transformer 'T-NONE' does not exist" in rows[1][-1]
    unreadable = run(fresh_db_url, "archives", "import", str(path))
    assert unreadable.exit_code == 2 and "cannot tell the sheet" in unreadable.output


def test_templates_command_writes_workbook_and_csvs(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["archives", "templates", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "e200-import-v1.xlsx").stat().st_size > 5000
    assert (tmp_path / "meters.csv").read_text(encoding="utf-8-sig").startswith("asset_number,")
