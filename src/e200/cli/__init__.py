"""The ``e200`` command."""

from e200.cli.main import app, main

__all__ = ["app", "main"]
