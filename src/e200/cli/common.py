"""What every ``e200`` command module shares: the console, settings from flags, audit detail."""

from __future__ import annotations

import getpass

import typer
from rich.console import Console

from e200 import logs
from e200.config import Settings

console = Console(stderr=True)
CLI_ACTOR = "e200-cli"


def settings_from(**overrides: object) -> Settings:
    """Settings with the command's flags on top (flags left unset do not override)."""
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    logs.configure(settings.log_level, settings.log_json)
    return settings


def cli_detail(**detail: object) -> dict[str, object]:
    """Audit detail of a CLI action: who ran it on the server, besides what it did."""
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        os_user = "unknown"
    return {"via": "cli", "os_user": os_user, **detail}


def fail(message: str, code: int = 1) -> typer.Exit:
    console.print(message)
    return typer.Exit(code)
