"""Templated bulk import of the archive (issue 6): templates as data, streamed reading,
set-based verification and writes, jobs with history. The archive facade re-exports the
public part."""

from e200.archives.imports.engine import ERRORS_LISTED, Options, Outcome, ScopeViolationError
from e200.archives.imports.errors import ERRORS, ErrorKind
from e200.archives.imports.jobs import (
    create_job,
    execute_job,
    get_job,
    input_file,
    list_jobs,
    rejected_file,
    run_import,
)
from e200.archives.imports.queue import IMPORT_JOB, NoJobQueueError, start_job
from e200.archives.imports.read import ImportFileError, InputFile, plan
from e200.archives.imports.templates import SHEETS, TEMPLATE_VERSION, Column, Sheet
from e200.archives.imports.workbook import csv_bytes, template_workbook

__all__ = [
    "ERRORS",
    "ERRORS_LISTED",
    "IMPORT_JOB",
    "SHEETS",
    "TEMPLATE_VERSION",
    "Column",
    "ErrorKind",
    "ImportFileError",
    "InputFile",
    "NoJobQueueError",
    "Options",
    "Outcome",
    "ScopeViolationError",
    "Sheet",
    "create_job",
    "csv_bytes",
    "execute_job",
    "get_job",
    "input_file",
    "list_jobs",
    "plan",
    "rejected_file",
    "run_import",
    "start_job",
    "template_workbook",
]
