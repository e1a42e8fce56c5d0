"""What a directory or identity provider says about a user, before E200 maps it to roles."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    """A user as LDAP/AD or an OIDC provider describes them.

    ``groups`` holds every name the mappings may use: for LDAP both the group DN and its cn, for
    OIDC the values of the groups claim.
    """

    source: str  # "ldap" or "oidc"
    username: str
    display_name: str | None = None
    email: str | None = None
    groups: tuple[str, ...] = field(default_factory=tuple)
    external_id: str | None = None  # LDAP DN or OIDC "sub"


class DirectoryUnavailableError(Exception):
    """The directory or identity provider cannot be reached; local accounts still work."""
