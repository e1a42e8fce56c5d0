"""HTTP layer: the app factory. Slices own their routers; this wires them together."""

from e200.api.app import create_app

__all__ = ["create_app"]
