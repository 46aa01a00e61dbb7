"""Experience-store attribution: a sample a customer scanned in an experience store credits
their later orders of that SKU, on any channel, within the tenant's window
(``experience_attribution_days``, default 14; 0 turns it off), to that store and the guide who
showed it. The order keeps the explanation (``GET /v1/orders/{id}`` → ``attribution``) and its
``attributed_location`` / ``attributed_staff``, which the data hub's attribution report counts.

An order is credited once: only an order nobody is credited for yet takes a credit (a store or
guide named at checkout wins), by a conditional update, so a redelivered ``order.placed``
changes nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.db import UnitOfWork, dialect_insert, utcnow
from omniretail.engagement.domain import (
    DEFAULT_ATTRIBUTION_DAYS,
    attribution_reason,
    scan_credits,
)
from omniretail.engagement.models import ExperienceScan
from omniretail.errors import NotFound
from omniretail.network import service as network
from omniretail.network.domain import LocationType
from omniretail.orders import attribution as order_credit
from omniretail.orders import queries as orders
from omniretail.orders.schemas import AttributionOut


@dataclass(frozen=True, slots=True)
class ScanLine:
    """One ``scan`` line of a ``customer.looked_at`` event."""

    sku: str
    location: str
    staff: str | None
    at: dt.datetime


async def do_note_scans(uow: UnitOfWork, *, customer_id: str, scans: list[ScanLine]) -> int:
    """Keep the scans made in experience stores (scans elsewhere credit nothing); returns how
    many were new (a redelivery adds none)."""
    if not scans:
        return 0
    places = await network.locations_by_code(uow, [s.location for s in scans])
    new = 0
    for scan in scans:
        place = places.get(scan.location)
        if place is None or place.type != LocationType.EXPERIENCE_STORE.value:
            continue
        inserted = await uow.session.execute(
            dialect_insert(uow, ExperienceScan.__table__)
            .values(
                tenant_id=uow.require_tenant(),
                customer_id=customer_id,
                sku=scan.sku,
                location=scan.location,
                staff=scan.staff,
                scanned_at=scan.at,
            )
            .on_conflict_do_nothing(
                index_elements=["tenant_id", "customer_id", "sku", "location", "scanned_at"]
            )
        )
        new += inserted.rowcount  # type: ignore[attr-defined]
    return new


async def attribution_days(uow: UnitOfWork) -> int:
    settings = await auth.tenant_settings(uow)
    return int(settings.get("experience_attribution_days", DEFAULT_ATTRIBUTION_DAYS))


async def do_credit_order(
    uow: UnitOfWork, *, order_id: str, customer_id: str | None, now: dt.datetime | None = None
) -> AttributionOut | None:
    """Credit a newly placed order to the experience store (and guide) of the customer's
    latest scan of one of its SKUs within the window; returns the credit given, or None (no
    customer, already credited, no such scan, attribution off). Most orders' customers never
    scanned anything: one indexed read says so before the order is loaded."""
    if customer_id is None or not await uow.session.scalar(
        sa.select(ExperienceScan.id).where(ExperienceScan.customer_id == customer_id).limit(1)
    ):
        return None
    try:
        order = await orders.get_order(uow, order_id)
    except NotFound:
        return None
    if order.customer_id is None or order.attribution is not None:
        return None
    days = await attribution_days(uow)
    if days <= 0:
        return None
    placed = order.created_at
    scan = await uow.session.scalar(
        sa.select(ExperienceScan)
        .where(
            ExperienceScan.customer_id == order.customer_id,
            ExperienceScan.sku.in_({line.sku for line in order.lines}),
            ExperienceScan.scanned_at <= placed,
            ExperienceScan.scanned_at >= placed - dt.timedelta(days=days),
        )
        .order_by(ExperienceScan.scanned_at.desc(), ExperienceScan.id.desc())
        .limit(1)
    )
    if scan is None or not scan_credits(scan.scanned_at, placed, days):
        return None
    why = AttributionOut(
        rule="experience_scan",
        reason=attribution_reason(
            sku=scan.sku,
            location=scan.location,
            staff=scan.staff,
            scanned_at=scan.scanned_at,
            window_days=days,
        ),
        location=scan.location,
        staff=scan.staff,
        sku=scan.sku,
        scanned_at=scan.scanned_at,
        window_days=days,
        credited_at=now or utcnow(),
    )
    credited = await order_credit.do_credit_order(
        uow, order_id=order.id, location=scan.location, staff=scan.staff, why=why
    )
    return why if credited else None
