"""Rate limit of the sign-in endpoints (login and token), per source address and per user name.

A second line of defence beside the account lockout: the lockout protects one local account
after wrong passwords in a row; the rate limit also slows down guessing across many names from
one address, guessing at directory (LDAP) and unknown names, and hammering with valid logins.

Counts live in PostgreSQL (``auth.rate_limit``, one row per key and fixed window, incremented by
an upsert), so every process serving the API against one database shares them. Every attempt
counts, refused ones included; a window allows up to the limit, the next attempt gets 429 with
the seconds until the window ends. Fixed windows let a client make up to twice the limit across a
window boundary; that is the price of one row per key.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, literal_column
from sqlalchemy.dialects.postgresql import insert

from e200.auth.tables import rate_limit
from e200.config import Settings
from e200.kernel import TooManyRequestsError, utc_now

KEY_MAX = 300  # the column's length


def _window_start(now: datetime, window_s: int) -> datetime:
    epoch = now.timestamp()
    return datetime.fromtimestamp(epoch - epoch % window_s, tz=UTC)


def check_sign_in(
    engine: Engine, settings: Settings, *, username: str, source_ip: str | None
) -> None:
    """Count one sign-in attempt for its address and user name; raise ``TooManyRequestsError``
    when either is over its limit in the current window."""
    window_s = settings.login_rate_window_s
    now = utc_now()
    start = _window_start(now, window_s)
    user_key = f"username:{username.strip().lower()}"[:KEY_MAX]
    limits: dict[str, tuple[str | None, int]] = {
        user_key: ("username", settings.login_rate_per_username)
    }
    if source_ip:
        limits[f"address:{source_ip}"[:KEY_MAX]] = (None, settings.login_rate_per_address)
    rows = [{"key": key, "window_start": start, "hits": 1} for key in limits]
    upsert = insert(rate_limit).values(rows)
    statement = upsert.on_conflict_do_update(
        index_elements=[rate_limit.c.key, rate_limit.c.window_start],
        set_={"hits": rate_limit.c.hits + literal_column("1")},
    ).returning(rate_limit.c.key, rate_limit.c.hits)
    with engine.begin() as conn:
        hits = {row.key: int(row.hits) for row in conn.execute(statement)}
        if 1 in hits.values():  # a new window: forget the ended ones (keeps the table small)
            conn.execute(
                delete(rate_limit).where(
                    rate_limit.c.window_start < start - timedelta(seconds=window_s)
                )
            )
    over = [key for key, (_, limit) in limits.items() if hits.get(key, 0) > limit]
    if not over:
        return
    retry_after_s = max(1, math.ceil((start + timedelta(seconds=window_s) - now).total_seconds()))
    field, limit = limits[over[0]]
    what = "this user name" if field else "your address"
    raise TooManyRequestsError(
        f"too many sign-in attempts for {what} ({limit} per {window_s} s); "
        f"try again in {retry_after_s} s",
        retry_after_s=retry_after_s,
        field=field,
    )
