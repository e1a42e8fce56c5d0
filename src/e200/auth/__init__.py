"""Users and authentication (foundation: local admin account with an argon2id hash)."""

from e200.auth.service import ADMIN_USERNAME, check_login, ensure_admin, hash_password
from e200.auth.tables import metadata

__all__ = ["ADMIN_USERNAME", "check_login", "ensure_admin", "hash_password", "metadata"]
