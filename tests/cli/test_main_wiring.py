"""The ``e200`` process wires the terminal slice's meter-list push into the archive, as the API
app does: relation changes made by any command (an import) sync the terminals."""

from __future__ import annotations

import importlib

import pytest

from e200 import terminal
from e200.archives import events

cli_main = importlib.import_module("e200.cli.main")  # the package re-exports main() by that name


def test_main_registers_the_meter_list_push(monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[bool] = []
    monkeypatch.setattr(events, "_listeners", [])
    monkeypatch.setattr(cli_main, "app", lambda: called.append(True))
    cli_main.main()
    assert called == [True]
    assert events._listeners == [terminal.push_on_relation_change]
