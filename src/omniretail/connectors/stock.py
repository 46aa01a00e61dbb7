"""Stock out: each connection's available-to-sell per SKU (only the locations that serve it,
less its channel's buffer), pushed in the platform's stock API shape when it changes.

There is no network here: a push is written to ``connection_stock_pushes``, the recorder
that stands in for the platform (and that ``omni channel-sim`` would read). Pushes run from
the outbox worker, so a rolled-back sale pushes nothing; an unchanged figure is not pushed
again, which coalesces bursts per SKU."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from omniretail.catalog import service as catalog
from omniretail.connectors.models import Connection, SkuMapping, StockPush
from omniretail.connectors.platforms.base import Platform
from omniretail.connectors.schemas import StockPushOut
from omniretail.db import UnitOfWork, utcnow
from omniretail.errors import NotFound
from omniretail.inventory import availability
from omniretail.inventory import service as inventory


async def connection_available(uow: UnitOfWork, connection: Connection, sku: str) -> int:
    stock = await inventory.stock_of_sku(uow, sku)
    served = set(connection.locations)
    free = sum(p.available for p in stock.positions if p.location in served)
    buffers = await availability.channel_buffers(uow, connection.channel_code)
    return max(0, free - buffers.skus.get(sku, buffers.default))


async def do_push_stock_changes(
    uow: UnitOfWork,
    *,
    changes: set[tuple[str, str]],
    platforms: dict[str, Platform],
    now: dt.datetime | None = None,
) -> int:
    """Coalesce stock changes, given as (SKU, location), into at most one push per
    (connection, SKU) for the active connections that those locations serve; a SKU whose
    figure did not move for a connection is not pushed. Returns how many were recorded."""
    now = now or utcnow()
    connections = (
        await uow.session.scalars(sa.select(Connection).where(Connection.active.is_(True)))
    ).all()
    pushed = 0
    for connection in connections:
        served = set(connection.locations)
        skus = sorted({sku for sku, location in changes if location in served})
        for sku in skus:
            pushed += await _push_one(uow, connection, sku, platforms[connection.platform], now)
    await uow.flush()
    return pushed


async def do_resync_connection(
    uow: UnitOfWork,
    *,
    connection: Connection,
    platforms: dict[str, Platform],
    now: dt.datetime | None = None,
) -> int:
    """Send every catalogue SKU's figure to the platform again, changed or not (after a
    platform-side reset, or when a connection is first made)."""
    now = now or utcnow()
    platform = platforms[connection.platform]
    skus = [v.sku for p in await catalog.all_products(uow) for v in p.variants]
    pushed = 0
    for sku in skus:
        pushed += await _push_one(uow, connection, sku, platform, now, force=True)
    await uow.flush()
    return pushed


async def _push_one(
    uow: UnitOfWork,
    connection: Connection,
    sku: str,
    platform: Platform,
    now: dt.datetime,
    *,
    force: bool = False,
) -> int:
    try:
        qty = await connection_available(uow, connection, sku)
    except NotFound:
        return 0  # a SKU no longer in the catalogue
    last = await uow.session.scalar(
        sa.select(StockPush.qty)
        .where(StockPush.connection_id == connection.id, StockPush.sku == sku)
        .order_by(StockPush.id.desc())
        .limit(1)
    )
    if last == qty and not force:
        return 0
    platform_sku = await _platform_sku(uow, connection.id, sku)
    request = platform.stock_request(shop_id=connection.shop_id, platform_sku=platform_sku, qty=qty)
    uow.session.add(
        StockPush(
            connection_id=connection.id,
            sku=sku,
            platform_sku=platform_sku,
            qty=qty,
            request=request,
            pushed_at=now,
        )
    )
    return 1


async def _platform_sku(uow: UnitOfWork, connection_id: int, sku: str) -> str:
    mapped = await uow.session.scalar(
        sa.select(SkuMapping.platform_sku)
        .where(SkuMapping.connection_id == connection_id, SkuMapping.sku == sku)
        .order_by(SkuMapping.platform_sku)
        .limit(1)
    )
    return mapped or sku  # unmapped: the platform knows it by our id (out_sku_id)


async def list_pushes(
    uow: UnitOfWork, *, connection: Connection, sku: str | None, limit: int, after: Any
) -> list[tuple[int, StockPushOut]]:
    query = (
        sa.select(StockPush)
        .where(StockPush.connection_id == connection.id)
        .order_by(StockPush.id)
        .limit(limit + 1)
    )
    if sku is not None:
        query = query.where(StockPush.sku == sku)
    if isinstance(after, int) and not isinstance(after, bool) and 0 <= after < 2**63:
        query = query.where(StockPush.id > after)
    return [
        (
            row.id,
            StockPushOut(
                sku=row.sku,
                platform_sku=row.platform_sku,
                qty=row.qty,
                request=row.request,
                pushed_at=row.pushed_at,
            ),
        )
        for row in await uow.session.scalars(query)
    ]
