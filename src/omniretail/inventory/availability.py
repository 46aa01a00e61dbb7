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
from omniretail.inventory.models import ChannelBuffer, StockPosition
from omniretail.inventory.schemas import (
    AvailabilityOut,
    BuffersOut,
    LocationAvailability,
    NetworkAvailability,
)
from omniretail.network import service as network

P = StockPosition
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
    include_network: bool = False,
) -> AvailabilityOut:
    """Given a point: the locations within ``radius_km`` that can serve ``mode`` and have
    ``available`` > 0, nearest first (for ``local_delivery`` the location's own delivery radius
    must also cover the point). Without a point, or with ``include_network``: the channel's
    network view (available-to-sell over locations that sell online, less its buffer). Three
    queries for the nearby list, four for the network view, whatever the number of locations."""
    if sku not in await catalog.variants_by_sku(uow, [sku]):
        raise NotFound("sku", sku)
    view = None
    if include_network or lat is None or lng is None:
        network_available = await _network_available(uow, sku)
        buffer = await _buffer(uow, channel, sku)
        view = NetworkAvailability(
            available=network_available,
            buffer=buffer,
            available_to_sell=max(0, network_available - buffer),
        )
    nearby: list[LocationAvailability] = []
    if lat is not None and lng is not None:
        nearby = await _nearby(
            uow, sku, lat=lat, lng=lng, radius_km=radius_km, mode=mode, limit=limit
        )
    return AvailabilityOut(sku=sku, channel=channel, mode=mode, network=view, locations=nearby)


_FREE = P.on_hand - P.reserved - P.safety_stock
_AVAILABLE = sa.case((_FREE > 0, _FREE), else_=0)


async def _network_available(uow: UnitOfWork, sku: str) -> int:
    """Summed in the database over the SKU's positions, leaving out the (usually few)
    locations that do not sell online or are inactive."""
    offline = await network.location_ids_without(uow, "sells_online")
    query = sa.select(sa.func.coalesce(sa.func.sum(_AVAILABLE), 0)).where(P.sku == sku)
    if offline:
        query = query.where(P.location_id.not_in(offline))
    return int(await uow.session.scalar(query) or 0)


async def _nearby(
    uow: UnitOfWork,
    sku: str,
    *,
    lat: float,
    lng: float,
    radius_km: float,
    mode: str | None,
    limit: int,
) -> list[LocationAvailability]:
    candidates = await network.locations_near(
        uow, lat=lat, lng=lng, radius_km=radius_km, capability=mode, limit=_ALL_NEARBY
    )
    if mode == "local_delivery":
        candidates = [c for c in candidates if c.distance_km <= (c.delivery_radius_km or 0.0)]
    if not candidates:
        return []
    rows = await uow.session.execute(
        # By code: the (tenant, sku, location_code) key is one index probe per candidate.
        sa.select(P.location_code, _AVAILABLE.label("available")).where(
            P.sku == sku, P.location_code.in_([c.code for c in candidates]), _FREE > 0
        )
    )
    stocked = {row.location_code: int(row.available) for row in rows}
    return [
        LocationAvailability(
            location=loc.code,
            name=loc.name,
            type=loc.type,
            distance_km=loc.distance_km,
            available=stocked[loc.code],
        )
        for loc in candidates
        if loc.code in stocked
    ][:limit]


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
