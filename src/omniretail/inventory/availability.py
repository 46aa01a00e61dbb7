"""What channels may offer: network available-to-sell and nearby availability.

Network ATP for a channel = the sum of available over active locations that sell online, less
the channel's buffer (HotWax: 220 ATP - 10 buffer = 210 offered online). Buffers are stored per
channel code: a default for every SKU and optional per-SKU overrides.

Nearby availability costs a constant number of queries whatever the number of locations: the
SKU's positions in one query, the candidate locations in one query, joined here.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from omniretail.catalog import service as catalog
from omniretail.channels import service as channels
from omniretail.db import UnitOfWork, dialect_insert
from omniretail.errors import NotFound, ValidationFailed
from omniretail.inventory.domain import available
from omniretail.inventory.models import ChannelBuffer, StockPosition
from omniretail.inventory.schemas import (
    AvailabilityOut,
    BuffersOut,
    LocationAvailability,
    NetworkAvailability,
)
from omniretail.network import service as network

MODES = ("ship", "pickup", "local_delivery")
_ALL_NEARBY = 100_000


async def _buffer(uow: UnitOfWork, channel: str | None, sku: str) -> int:
    if channel is None:
        return 0
    rows = await uow.session.execute(
        sa.select(ChannelBuffer.sku, ChannelBuffer.units).where(
            ChannelBuffer.channel_code == channel, ChannelBuffer.sku.in_([sku, ""])
        )
    )
    units: dict[str, int] = {row.sku: row.units for row in rows}
    return units.get(sku, units.get("", 0))


async def availability(
    uow: UnitOfWork,
    *,
    sku: str,
    channel: str | None = None,
    lat: float | None = None,
    lng: float | None = None,
    radius_km: float = 10.0,
    mode: str | None = None,
    limit: int = 50,
) -> AvailabilityOut:
    """The channel's network view of one SKU and, given a point, the locations within
    ``radius_km`` that can serve ``mode`` and have ``available`` > 0, nearest first. For
    ``local_delivery`` the location's own delivery radius must also cover the point."""
    if sku not in await catalog.variants_by_sku(uow, [sku]):
        raise NotFound("sku", sku)
    rows = await uow.session.execute(
        sa.select(
            StockPosition.location_id,
            StockPosition.on_hand,
            StockPosition.reserved,
            StockPosition.safety_stock,
        ).where(StockPosition.sku == sku)
    )
    by_location = {r.location_id: available(r.on_hand, r.reserved, r.safety_stock) for r in rows}
    online = await network.location_ids_with(uow, "sells_online")
    network_available = sum(qty for loc, qty in by_location.items() if loc in online)
    buffer = await _buffer(uow, channel, sku)
    nearby: list[LocationAvailability] = []
    if lat is not None and lng is not None:
        nearby = await _nearby(
            uow, by_location, lat=lat, lng=lng, radius_km=radius_km, mode=mode, limit=limit
        )
    return AvailabilityOut(
        sku=sku,
        channel=channel,
        mode=mode,
        network=NetworkAvailability(
            available=network_available,
            buffer=buffer,
            available_to_sell=max(0, network_available - buffer),
        ),
        locations=nearby,
    )


async def _nearby(
    uow: UnitOfWork,
    by_location: Mapping[int, int],
    *,
    lat: float,
    lng: float,
    radius_km: float,
    mode: str | None,
    limit: int,
) -> list[LocationAvailability]:
    found = []
    candidates = await network.locations_near(
        uow, lat=lat, lng=lng, radius_km=radius_km, capability=mode, limit=_ALL_NEARBY
    )
    for loc in candidates:
        qty = by_location.get(loc.id, 0)
        if qty <= 0:
            continue
        if mode == "local_delivery" and loc.distance_km > (loc.delivery_radius_km or 0.0):
            continue
        found.append(
            LocationAvailability(
                location=loc.code,
                name=loc.name,
                type=loc.type,
                distance_km=loc.distance_km,
                available=qty,
            )
        )
        if len(found) == limit:
            break
    return found


async def channel_buffers(uow: UnitOfWork, channel: str) -> BuffersOut:
    await channels.channel_ref(uow, channel)
    rows = await uow.session.execute(
        sa.select(ChannelBuffer.sku, ChannelBuffer.units).where(
            ChannelBuffer.channel_code == channel
        )
    )
    units = {row.sku: row.units for row in rows}
    default = units.pop("", 0)
    return BuffersOut(channel=channel, default=default, skus=dict(sorted(units.items())))


async def do_set_channel_buffers(
    uow: UnitOfWork, *, channel: str, default: int, skus: Mapping[str, int]
) -> BuffersOut:
    """Replace the channel's buffers: ``default`` for every SKU, ``skus`` overrides."""
    await channels.channel_ref(uow, channel)
    unknown = set(skus) - set(await catalog.variants_by_sku(uow, list(skus)))
    if unknown:
        raise ValidationFailed(
            "unknown skus",
            [{"field": f"skus.{sku}", "message": "unknown sku"} for sku in sorted(unknown)],
        )
    await uow.session.execute(sa.delete(ChannelBuffer).where(ChannelBuffer.channel_code == channel))
    rows = [{"sku": "", "units": default}] + [{"sku": s, "units": u} for s, u in skus.items()]
    tenant_id = uow.require_tenant()
    await uow.session.execute(
        dialect_insert(uow, ChannelBuffer.__table__),
        [{"tenant_id": tenant_id, "channel_code": channel, **row} for row in rows],
    )
    return await channel_buffers(uow, channel)
