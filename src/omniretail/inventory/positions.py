"""Stock of many SKUs across the whole network in one query (for sourcing an order)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from omniretail.db import UnitOfWork
from omniretail.inventory.domain import available
from omniretail.inventory.models import StockPosition


async def available_by_location(uow: UnitOfWork, skus: Iterable[str]) -> dict[int, dict[str, int]]:
    """{location id: {sku: available}} for the SKUs, over every location holding any of them
    (positions with nothing available are left out)."""
    wanted = list(dict.fromkeys(skus))
    if not wanted:
        return {}
    rows = await uow.session.execute(
        sa.select(
            StockPosition.location_id,
            StockPosition.sku,
            StockPosition.on_hand,
            StockPosition.reserved,
            StockPosition.safety_stock,
        ).where(StockPosition.sku.in_(wanted))
    )
    out: dict[int, dict[str, int]] = {}
    for row in rows:
        qty = available(row.on_hand, row.reserved, row.safety_stock)
        if qty > 0:
            out.setdefault(row.location_id, {})[row.sku] = qty
    return out
