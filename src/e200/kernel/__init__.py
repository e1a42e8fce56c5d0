"""Kernel: types every slice shares. No I/O here."""

from e200.kernel.errors import (
    ConflictError,
    DuplicateKeyError,
    E200Error,
    InvalidInputError,
    NotFoundError,
    RetiredAssetError,
    UnknownReferenceError,
)
from e200.kernel.scope import Scope
from e200.kernel.timeutil import as_utc, utc_now

__all__ = [
    "ConflictError",
    "DuplicateKeyError",
    "E200Error",
    "InvalidInputError",
    "NotFoundError",
    "RetiredAssetError",
    "Scope",
    "UnknownReferenceError",
    "as_utc",
    "utc_now",
]
