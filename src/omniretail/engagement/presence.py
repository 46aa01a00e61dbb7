"""Presence: a customer's app reports where they are; the nearest store within the radius and
its store-only offer come back, and the offer is messaged once a day per store, consent
permitting. Each customer may report once a minute (429 otherwise)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.customers import service as customers
from omniretail.db import UnitOfWork, dialect_insert, utcnow
from omniretail.engagement import messages
from omniretail.engagement.domain import PRESENCE_INTERVAL
from omniretail.engagement.models import PresenceCheck
from omniretail.engagement.schemas import NearbyStore, PresenceOut, StoreOffer
from omniretail.errors import RateLimited
from omniretail.network import service as network
from omniretail.pricing import service as pricing


async def _check_rate(uow: UnitOfWork, customer_id: str, now: dt.datetime) -> None:
    await uow.session.execute(
        dialect_insert(uow, PresenceCheck.__table__)
        .values(
            tenant_id=uow.require_tenant(), customer_id=customer_id, last_at=now - PRESENCE_INTERVAL
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "customer_id"])
    )
    taken = await uow.session.execute(
        sa.update(PresenceCheck)
        .where(
            PresenceCheck.customer_id == customer_id,
            PresenceCheck.last_at <= now - PRESENCE_INTERVAL,
        )
        .values(last_at=now)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise RateLimited(
            "one presence report a minute per customer",
            retry_after_seconds=int(PRESENCE_INTERVAL.total_seconds()),
        )


async def _store_offer(uow: UnitOfWork, store: str, now: dt.datetime) -> StoreOffer | None:
    """The highest-priority live promotion scoped to this store (an in-store-only offer)."""
    offers = [
        p
        for p in await pricing.active_promotions(uow, at=now)
        if (p.scope or {}).get("locations") and store in (p.scope or {})["locations"]
    ]
    if not offers:
        return None
    best = max(offers, key=lambda p: (p.priority, p.code))
    return StoreOffer(promotion=best.code, title=best.title)


async def do_report_presence(
    uow: UnitOfWork,
    *,
    customer_id: str,
    lat: float,
    lng: float,
    radius_km: float,
    now: dt.datetime | None = None,
) -> PresenceOut:
    """The nearest store within ``radius_km`` and its store-only offer; the offer is queued
    as a ``store_offer`` message on a consented medium, once per customer, store and local day."""
    when = now or utcnow()
    customer = await customers.customer_ref(uow, customer_id)
    await _check_rate(uow, customer.public_id, when)
    near = [
        loc
        for loc in await network.locations_near(
            uow, lat=lat, lng=lng, radius_km=radius_km, limit=10
        )
        if loc.type == "store"
    ]
    if not near:
        return PresenceOut(store=None, offer=None, message_id=None, reason="no store nearby")
    nearest = near[0]
    store = NearbyStore(code=nearest.code, name=nearest.name, distance_km=nearest.distance_km)
    offer = await _store_offer(uow, nearest.code, when)
    if offer is None:
        return PresenceOut(store=store, offer=None, message_id=None, reason="no store offer")
    medium = await messages.reachable_medium(uow, customer.public_id)
    if medium is None:
        return PresenceOut(store=store, offer=offer, message_id=None, reason="no consent")
    tenant = await auth.get_tenant(uow)
    day = when.astimezone(zoneinfo.ZoneInfo(tenant.timezone)).date().isoformat()
    message = await messages.do_queue_message(
        uow,
        customer_id=customer.public_id,
        medium=medium,
        template_code="store_offer",
        params={"store": nearest.name, "offer": offer.title},
        dedupe_key=f"presence:{customer.public_id}:{nearest.code}:{day}",
    )
    return PresenceOut(store=store, offer=offer, message_id=message.id, reason=None)
