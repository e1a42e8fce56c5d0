"""Operator console (NiceGUI), mounted into the API's ASGI app under /console."""

from e200.console.app import mount

__all__ = ["mount"]
