"""Local passwords: argon2id hashes and the policy new passwords must meet."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from e200.kernel import InvalidInputError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

# The passwords every guessing list starts with; a short list keeps the check understandable.
DENY_LIST = frozenset(
    [
        "password",
        "password1",
        "password123",
        "passw0rd",
        "123456",
        "12345678",
        "123456789",
        "1234567890",
        "qwerty",
        "qwerty123",
        "qwertyuiop",
        "abc123",
        "abcd1234",
        "letmein",
        "welcome",
        "welcome1",
        "admin",
        "admin123",
        "administrator",
        "root",
        "toor",
        "changeme",
        "iloveyou",
        "monkey",
        "dragon",
        "football",
        "baseball",
        "master",
        "sunshine",
        "princess",
        "trustno1",
        "111111",
        "000000",
        "1q2w3e4r",
        "1qaz2wsx",
        "zaq12wsx",
        "asdfghjkl",
        "p@ssw0rd",
        "p@ssword",
        "e200",
        "e200admin",
        "secret",
        "secret123",
        "default",
        "guest",
    ]
)
# A dummy hash so that an unknown user name costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def check_policy(password: str, *, username: str, min_length: int) -> None:
    """Raise ``InvalidInputError`` naming the first rule the password breaks."""
    if len(password) < min_length:
        raise InvalidInputError(f"password: at least {min_length} characters", field="password")
    if len(password) > 256:
        raise InvalidInputError("password: at most 256 characters", field="password")
    lowered = password.lower()
    if lowered in DENY_LIST or lowered.rstrip("!0123456789") in DENY_LIST:
        raise InvalidInputError("password: too common, choose another", field="password")
    if username and username.lower() in lowered:
        raise InvalidInputError("password: must not contain the user name", field="password")
    if len(set(password)) < 4:
        raise InvalidInputError("password: too few different characters", field="password")
