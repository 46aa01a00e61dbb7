"""Read models for people: a store's queue of fulfilments today, and the live figures of the
HQ dashboard (its sales come from the analytics facts). Plain queries over the orders
tables; no other context's tables are read."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field

import sqlalchemy as sa

from omniretail.db import UnitOfWork, utcnow
from omniretail.orders.domain import CLOSED, FulfilmentStatus, OrderStatus
from omniretail.orders.models import Fulfilment, Order

QUEUE_PAGE = 50
_LIVE = [s.value for s in FulfilmentStatus if s not in CLOSED]


@dataclass(frozen=True, slots=True)
class QueueItem:
    id: str
    order_id: str
    order_number: str
    customer_id: str | None
    mode: str
    status: str
    promised_at: dt.datetime | None
    late: bool
    lines: list[tuple[str, int]]


@dataclass(frozen=True, slots=True)
class QueuePage:
    items: list[QueueItem]
    page: int
    has_next: bool


async def store_queue(
    uow: UnitOfWork,
    *,
    location: str,
    page: int = 1,
    per_page: int = QUEUE_PAGE,
    now: dt.datetime | None = None,
) -> QueuePage:
    """One page of the location's fulfilments still to work on (pending to ready), soonest
    promise first; ``has_next`` when more follow (the queue has no cap, only pages)."""
    now = now or utcnow()
    page = max(1, page)
    rows = (
        await uow.session.execute(
            sa.select(Fulfilment, Order.public_id, Order.number, Order.customer_id)
            .join(Order, Order.id == Fulfilment.order_id)
            .where(Fulfilment.location_code == location, Fulfilment.status.in_(_LIVE))
            .order_by(Fulfilment.promised_at.is_(None), Fulfilment.promised_at, Fulfilment.id)
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        )
    ).all()
    items = [
        QueueItem(
            id=f.public_id,
            order_id=public_id,
            order_number=number,
            customer_id=customer_id,
            mode=f.mode,
            status=f.status,
            promised_at=f.promised_at,
            late=f.promised_at is not None and f.promised_at < now,
            lines=[(line.sku, line.qty) for line in f.lines],
        )
        for f, public_id, number, customer_id in rows[:per_page]
    ]
    return QueuePage(items=items, page=page, has_next=len(rows) > per_page)


async def fulfilment_location(uow: UnitOfWork, public_id: str) -> str | None:
    return await uow.session.scalar(
        sa.select(Fulfilment.location_code).where(Fulfilment.public_id == public_id)
    )


async def order_customer(uow: UnitOfWork, order_public_id: str) -> str | None:
    return await uow.session.scalar(
        sa.select(Order.customer_id).where(Order.public_id == order_public_id)
    )


@dataclass(slots=True)
class Operations:
    """The live side of the dashboard: today's orders by mode and the fulfilments still open."""

    orders_by_mode: dict[str, int] = field(default_factory=dict)
    open_fulfilments: int = 0
    late_fulfilments: int = 0


async def operations_today(
    uow: UnitOfWork, *, timezone: str, now: dt.datetime | None = None
) -> Operations:
    """Orders placed today (the tenant's day), cancelled ones excluded, counted by mode; and
    the open and late fulfilments. Three aggregate queries, no rows scanned in Python."""
    now = now or utcnow()
    zone = zoneinfo.ZoneInfo(timezone)
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    by_mode = await uow.session.execute(
        sa.select(Order.mode, sa.func.count())
        .where(
            Order.created_at >= today.astimezone(dt.UTC),
            Order.status != OrderStatus.CANCELLED.value,
        )
        .group_by(Order.mode)
        .order_by(Order.mode)
    )
    out = Operations(orders_by_mode={str(mode): int(n) for mode, n in by_mode})
    live = Fulfilment.status.in_(_LIVE)
    out.open_fulfilments = (
        await uow.session.scalar(sa.select(sa.func.count()).select_from(Fulfilment).where(live))
    ) or 0
    out.late_fulfilments = (
        await uow.session.scalar(
            sa.select(sa.func.count())
            .select_from(Fulfilment)
            .where(live, Fulfilment.promised_at < now)
        )
    ) or 0
    return out
