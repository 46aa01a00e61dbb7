"""Builds the sourcing engine's candidates from the network, the stock and today's load."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from omniretail.db import UnitOfWork
from omniretail.inventory import positions
from omniretail.network import service as network
from omniretail.network.domain import is_open
from omniretail.orders.domain import MODE_CAPABILITY, FulfilmentStatus, Mode
from omniretail.orders.models import Fulfilment
from omniretail.orders.sourcing import Candidate


@dataclass(frozen=True, slots=True)
class Network:
    candidates: list[Candidate]
    locations: dict[str, network.NearbyLocation]


def local_day_start(now: dt.datetime, timezone: str) -> dt.datetime:
    local = now.astimezone(zoneinfo.ZoneInfo(timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


async def orders_today(
    uow: UnitOfWork, location_ids: Iterable[int], *, now: dt.datetime, timezone: str
) -> dict[int, int]:
    """Fulfilments each location took today (its capacity counts these), in one query."""
    ids = list(location_ids)
    if not ids:
        return {}
    rows = await uow.session.execute(
        sa.select(Fulfilment.location_id, sa.func.count())
        .where(
            Fulfilment.location_id.in_(ids),
            Fulfilment.created_at >= local_day_start(now, timezone),
            Fulfilment.status.not_in(
                [FulfilmentStatus.REJECTED.value, FulfilmentStatus.CANCELLED.value]
            ),
        )
        .group_by(Fulfilment.location_id)
    )
    return {int(loc): int(n) for loc, n in rows}


async def candidates_for(
    uow: UnitOfWork,
    *,
    mode: Mode,
    lat: float,
    lng: float,
    skus: Iterable[str],
    now: dt.datetime,
    timezone: str,
    exclude: dict[str, str] | None = None,
    only: Collection[int] | None = None,
) -> Network:
    """The locations able to serve ``mode`` that hold any of the SKUs, nearest first, with
    their distance to the point, what they have and, if they cannot serve now, why not.

    The holders are found first (one query over positions on the SKU index), then only those
    locations are loaded by primary key and ranked by distance, so the cost follows the stock,
    not the size of the network. ``only`` restricts to these location ids and keeps them even
    without stock (the pickup store itself). Four queries at most."""
    exclude = exclude or {}
    wanted = list(dict.fromkeys(skus))
    stock = await positions.available_by_location(
        uow, wanted, location_ids=list(only) if only is not None else None
    )
    ids = set(stock) if only is None else set(only)
    locations = await network.locations_among(
        uow, ids, lat=lat, lng=lng, capability=MODE_CAPABILITY[mode]
    )
    capped = [loc.id for loc in locations if loc.daily_capacity is not None]
    load = await orders_today(uow, capped, now=now, timezone=timezone)
    local_now = now.astimezone(zoneinfo.ZoneInfo(timezone)).replace(tzinfo=None)
    candidates = [
        Candidate(
            code=loc.code,
            distance_km=loc.distance_km,
            stock=stock.get(loc.id, {}),
            excluded=exclude.get(loc.code) or _why_excluded(loc, mode, load, local_now),
        )
        for loc in locations
    ]
    return Network(candidates, {loc.code: loc for loc in locations})


def _why_excluded(
    loc: network.NearbyLocation, mode: Mode, load: dict[int, int], local_now: dt.datetime
) -> str | None:
    if mode in (Mode.SHIP, Mode.LOCAL_DELIVERY) and not loc.sells_online:
        return "does not sell online"
    if mode is Mode.LOCAL_DELIVERY:
        radius = loc.delivery_radius_km or 0.0
        if loc.distance_km > radius:
            return f"outside its {radius:g} km delivery radius"
        if not is_open(loc.opening_hours, local_now):
            return "closed now"
    if loc.daily_capacity is not None and load.get(loc.id, 0) >= loc.daily_capacity:
        return f"at its daily capacity of {loc.daily_capacity} orders"
    return None
