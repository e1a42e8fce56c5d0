"""Bounded integer types for what reaches a PostgreSQL ``bigint``: ids and list offsets.

A number beyond ``bigint`` is not a missing record but malformed input; declaring the bound on
the type refuses it with 422 naming the field, and puts the bound into the OpenAPI document, so
clients and fuzzers know it (an unbounded ``int`` reached PostgreSQL and failed there as a 500).
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Le

BIGINT_MAX = 2**63 - 1  # PostgreSQL bigint (and bigserial ids)

BigIntId = Annotated[int, Ge(1), Le(BIGINT_MAX)]
"""A stored row's id (``bigserial``: 1 … 2⁶³−1)."""

Offset = Annotated[int, Ge(0), Le(BIGINT_MAX)]
"""How many rows of a list to skip (0 … 2⁶³−1)."""
