"""SQL expressions of the analytics context that read differently on the two databases."""

from __future__ import annotations

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
