"""Kernel: types every slice shares. No I/O here."""

from e200.kernel.access import Permission, Principal
from e200.kernel.bounds import BIGINT_MAX, BigIntId, Offset
from e200.kernel.errors import (
    AuthenticationRequiredError,
    ConflictError,
    DuplicateKeyError,
    E200Error,
    InvalidInputError,
    NotFoundError,
    PasswordChangeRequiredError,
    PermissionDeniedError,
    RetiredAssetError,
    TooManyRequestsError,
    UnknownReferenceError,
)
from e200.kernel.scope import Scope
from e200.kernel.timeutil import as_utc, utc_now

__all__ = [
    "BIGINT_MAX",
    "AuthenticationRequiredError",
    "BigIntId",
    "ConflictError",
    "DuplicateKeyError",
    "E200Error",
    "InvalidInputError",
    "NotFoundError",
    "Offset",
    "PasswordChangeRequiredError",
    "Permission",
    "PermissionDeniedError",
    "Principal",
    "RetiredAssetError",
    "Scope",
    "TooManyRequestsError",
    "UnknownReferenceError",
    "as_utc",
    "utc_now",
]
