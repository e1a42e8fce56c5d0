"""The alarms the terminal slice raises, described as data (key, severity, advice)."""

from __future__ import annotations

from e200.alarms import Advice, AlarmRule

SYNC_FAILED = AlarmRule(
    key="terminal_sync_failed",
    label="Meter list sync failed",
    severity="major",
    device_kind="terminal",
    advice=Advice(
        causes=(
            "the terminal is offline or out of network coverage (no answer before expiry)",
            "the terminal refused the list (an error answer: see the alarm's details)",
        ),
        checks=(
            "check the terminal's communication: last report time, signal, SIM, power",
            "push the archive's meter list again "
            "(POST /api/v1/terminals/{asset_number}/consistency/push)",
        ),
    ),
)

LIST_MISMATCH = AlarmRule(
    key="terminal_meter_list_mismatch",
    label="Terminal meter list differs from the archive",
    severity="minor",
    device_kind="terminal",
    advice=Advice(
        causes=(
            "the archive is wrong: a meter was moved, added or removed in the field only",
            "the terminal missed a meter list sync, or was configured locally",
        ),
        checks=(
            "review the mismatches (GET /api/v1/terminals/{asset_number}/consistency)",
            "if the archive is right, push its list to the terminal; if the field is right, "
            "take the terminal's list into the archive as a reviewed change",
        ),
    ),
)

RULES = (SYNC_FAILED, LIST_MISMATCH)
