"""Typed domain errors. The API maps them to problem+json in one place; slices never raise HTTP."""

from __future__ import annotations


class E200Error(Exception):
    """Base of every error a user can cause. ``field`` names the input that is wrong, if any."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFoundError(E200Error):
    """The thing asked for does not exist (or is outside the caller's scope)."""

    status = 404
    title = "Not found"

    def __init__(self, kind: str, key: str, *, field: str | None = None) -> None:
        super().__init__(f"{kind} {key!r} does not exist", field=field)
        self.kind = kind
        self.key = key


class InvalidInputError(E200Error):
    """The input is well-formed but its values are not acceptable."""

    status = 422
    title = "Invalid input"


class UnknownReferenceError(InvalidInputError):
    """The input names another record that does not exist, e.g. an unknown org unit."""

    def __init__(self, kind: str, key: str, *, field: str) -> None:
        super().__init__(f"{field}: {kind} {key!r} does not exist", field=field)
        self.kind = kind
        self.key = key


class ConflictError(E200Error):
    """The input contradicts what is stored: a duplicate key, an overlapping relation, ..."""

    status = 409
    title = "Conflict"


class DuplicateKeyError(ConflictError):
    def __init__(self, kind: str, key: str, *, field: str) -> None:
        super().__init__(f"{field}: {kind} {key!r} already exists", field=field)
        self.kind = kind
        self.key = key


class RetiredAssetError(ConflictError):
    """Something was attached to an asset that is retired."""

    def __init__(self, kind: str, key: str, *, field: str) -> None:
        super().__init__(f"{field}: {kind} {key!r} is retired", field=field)
        self.kind = kind
        self.key = key


class AuthenticationRequiredError(E200Error):
    """No valid session, token or API key came with the request."""

    status = 401
    title = "Authentication required"

    def __init__(self, detail: str = "sign in, or send a bearer token or API key") -> None:
        super().__init__(detail)


class PermissionDeniedError(E200Error):
    """Signed in, but the user's roles do not grant the operation."""

    status = 403
    title = "Permission denied"


class PasswordChangeRequiredError(PermissionDeniedError):
    def __init__(self) -> None:
        super().__init__("change your initial password first (POST /api/v1/auth/password)")


class TooManyRequestsError(E200Error):
    """Too many attempts in a short time (e.g. sign-ins); try again after ``retry_after_s``."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: int, field: str | None = None) -> None:
        super().__init__(detail, field=field)
        self.retry_after_s = retry_after_s
