"""Data scope: which org-unit subtrees a caller may see.

Org units carry a materialised path (``"1.5.9."``); a subtree is every unit whose path starts with
the root's path. Every slice filters its queries with the same ``Scope`` value.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scope:
    """``org_paths=None`` means the whole grid (administrators, internal jobs)."""

    org_paths: tuple[str, ...] | None = None

    @classmethod
    def everything(cls) -> Scope:
        return cls(None)

    @property
    def is_unrestricted(self) -> bool:
        return self.org_paths is None

    def allows(self, org_path: str) -> bool:
        if self.org_paths is None:
            return True
        return any(org_path.startswith(root) for root in self.org_paths)
