"""What every archive query shares: the relation period in force at an instant, the cut to
the caller's scope, and database constraint violations turned into typed domain errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import psycopg.errors
from sqlalchemy import ColumnElement, Table, and_, false, or_, true
from sqlalchemy.exc import IntegrityError

from e200.kernel import ConflictError, InvalidInputError, Scope


def active(rel: Table, at: datetime) -> ColumnElement[bool]:
    """The relation row in force at ``at`` (periods are half-open: [valid_from, valid_to))."""
    return and_(rel.c.valid_from <= at, or_(rel.c.valid_to.is_(None), rel.c.valid_to > at))


def scope_clause(path_column: ColumnElement[str], scope: Scope) -> ColumnElement[bool]:
    """The one place a query is cut down to the caller's org-unit subtrees."""
    if scope.org_paths is None:
        return true()
    if not scope.org_paths:
        return false()  # an empty scope sees nothing
    return or_(*(path_column.like(root + "%") for root in scope.org_paths))


@contextmanager
def translate_db_errors(kind_label: str) -> Iterator[None]:
    """Constraint violations that slip past the checks (races) become typed domain errors."""
    try:
        yield
    except IntegrityError as exc:
        orig = exc.orig
        if isinstance(orig, psycopg.errors.UniqueViolation):
            raise ConflictError(f"{kind_label}: a record with this key already exists",
                                field="asset_number") from exc  # fmt: skip
        if isinstance(orig, psycopg.errors.ExclusionViolation):
            raise ConflictError(
                "valid_from: the period overlaps another period of the same relation",
                field="valid_from",
            ) from exc
        if isinstance(orig, psycopg.errors.CheckViolation):
            raise InvalidInputError(f"{kind_label}: {orig.diag.message_primary}") from exc
        raise
