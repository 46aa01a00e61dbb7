"""SQL expressions of the analytics context that read differently on the two databases."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from omniretail.analytics.domain import MONTHLY
from omniretail.db import UnitOfWork


def period_start(uow: UnitOfWork, grain: str, day: Any) -> Any:
    """The first day of a date's month (``MONTHLY``) or year, in SQL."""
    # Inline literals: PostgreSQL matches a GROUP BY expression to the select list's only
    # when both are the same text, and two bind parameters never are.
    unit = "month" if grain == MONTHLY else "year"
    if uow.dialect == "postgresql":
        return sa.cast(sa.func.date_trunc(sa.literal_column(f"'{unit}'"), day), sa.Date)
    return sa.func.date(day, sa.literal_column(f"'start of {unit}'"))


def text_literal(value: str) -> Any:
    return sa.literal_column(f"'{value}'", sa.String)


# The key space of the analytics context's transaction locks (PostgreSQL advisory locks in
# their two-integer form, which never meets the one-bigint form other contexts use).
_LOCKS = 15


def _lock_key(tenant_id: int, name: str) -> int:
    digest = hashlib.blake2b(f"{tenant_id}:{name}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_names(uow: UnitOfWork, names: Iterable[str]) -> None:
    """Hold a lock on each name until the transaction ends: what one projection reads of a
    customer's facts, another one adding to that customer waits for. In key order, so two
    transactions locking overlapping names never deadlock. SQLite needs none: its writers
    already take turns (``BEGIN IMMEDIATE``). Two names sharing a key only take turns."""
    if uow.dialect != "postgresql":
        return
    tenant_id = uow.require_tenant()
    keys = sorted({_lock_key(tenant_id, name) for name in names})
    if keys:
        await uow.session.execute(
            sa.text(
                "SELECT pg_advisory_xact_lock(:space, k)"
                " FROM (SELECT unnest(CAST(:keys AS integer[])) AS k ORDER BY 1) AS ordered"
            ),
            {"space": _LOCKS, "keys": keys},
        )


async def roomy_sorts(uow: UnitOfWork) -> None:
    """Let this transaction's grouping of a whole history hash in memory (PostgreSQL's
    default of a few megabytes spills it to disk in sorted runs); SQLite has no such limit."""
    if uow.dialect == "postgresql":
        await uow.session.execute(sa.text("SET LOCAL work_mem = '128MB'"))
