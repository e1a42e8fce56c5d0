"""E200: an open-source master station for electricity distribution networks."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("e200")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
