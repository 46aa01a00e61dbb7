"""Stock across the network for people: every position, or only the low ones (little left to
promise) or the at-risk ones (on hand below what is already reserved), paged by id."""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa

from omniretail.db import UnitOfWork
from omniretail.inventory.models import StockPosition
from omniretail.inventory.schemas import PositionOut
from omniretail.inventory.service import position_out

LOW_AT = 2  # a position is low when this many or fewer units may still be promised


class Watch(StrEnum):
    ALL = "all"
    LOW = "low"
    AT_RISK = "at_risk"


async def network_positions(
    uow: UnitOfWork,
    *,
    limit: int,
    after: int | None = None,
    location: str | None = None,
    sku: str | None = None,
    watch: Watch = Watch.ALL,
    low_at: int = LOW_AT,
) -> list[tuple[int, PositionOut]]:
    """Positions in id order, ``limit + 1`` of them (the extra one says a next page exists).
    Low: on hand - reserved - safety stock <= ``low_at``, reservations still covered. At risk:
    on hand < reserved, so a promised order cannot be filled here as things stand."""
    query = sa.select(StockPosition).order_by(StockPosition.id).limit(limit + 1)
    if after is not None:
        query = query.where(StockPosition.id > after)
    if location:
        query = query.where(StockPosition.location_code == location)
    if sku:
        query = query.where(StockPosition.sku == sku)
    if watch is Watch.LOW:
        query = query.where(
            StockPosition.on_hand >= StockPosition.reserved,
            StockPosition.on_hand - StockPosition.reserved - StockPosition.safety_stock <= low_at,
        )
    elif watch is Watch.AT_RISK:
        query = query.where(StockPosition.on_hand < StockPosition.reserved)
    return [(row.id, position_out(row)) for row in await uow.session.scalars(query)]
