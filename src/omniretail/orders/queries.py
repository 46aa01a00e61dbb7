"""Reading orders and fulfilments, and shaping them for the API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any, Protocol, cast

import sqlalchemy as sa

from omniretail.db import UnitOfWork
from omniretail.errors import NotFound
from omniretail.orders.domain import FulfilmentStatus, Mode, OrderStatus
from omniretail.orders.models import Fulfilment, Order, OrderLine
from omniretail.orders.schemas import (
    AttributionOut,
    FulfilmentLineOut,
    FulfilmentOut,
    OrderLineOut,
    OrderOut,
    PaymentOut,
    TotalsOut,
)
from omniretail.scoped import TENANT, per_dialect


def fulfilment_out(
    f: Fulfilment, order_public_id: str, pickup_code: str | None = None
) -> FulfilmentOut:
    return FulfilmentOut(
        id=f.public_id,
        order_id=order_public_id,
        location=f.location_code,
        mode=Mode(f.mode),
        status=FulfilmentStatus(f.status),
        lines=[FulfilmentLineOut(sku=line.sku, qty=line.qty) for line in f.lines],
        distance_km=f.distance_km,
        promised_at=f.promised_at,
        transfer_from=f.transfer_from or [],
        reason=f.reason,
        pickup_code=pickup_code,
    )


def attribution_out(order: Order) -> AttributionOut | None:
    """The rule that credited the order, or "named at checkout", or None (nobody credited)."""
    if order.attribution:
        return AttributionOut.model_validate(order.attribution)
    return named_attribution(order.attributed_location, order.attributed_staff)


def named_attribution(location: str | None, staff: str | None) -> AttributionOut | None:
    """The store and staff named at checkout, or None (nobody credited)."""
    if location is None and staff is None:
        return None
    return AttributionOut(
        rule="checkout", reason="named when the order was placed", location=location, staff=staff
    )


class _Written(Protocol):
    """An order's header and money, as written (``placing.NewOrder``) or read
    (``models.Order``)."""

    public_id: str
    number: str
    status: str
    channel: str
    customer_id: str | None
    mode: str
    placed_at_location: str | None
    attributed_location: str | None
    attributed_staff: str | None
    currency: str
    subtotal: int
    discount_total: int
    delivery_fee: int
    points_redeemed: int
    total: int
    paid_amount: int


def header_out(order: _Written) -> dict[str, Any]:
    """The fields of an ``OrderOut`` that a written and a read order give alike."""
    return {
        "id": order.public_id,
        "number": order.number,
        "status": OrderStatus(order.status),
        "channel": order.channel,
        "customer_id": order.customer_id,
        "mode": Mode(order.mode),
        "placed_at_location": order.placed_at_location,
        "attributed_location": order.attributed_location,
        "attributed_staff": order.attributed_staff,
        "totals": totals_out(order),
    }


def totals_out(order: _Written) -> TotalsOut:
    return TotalsOut(
        currency=order.currency,
        subtotal=order.subtotal,
        discount_total=order.discount_total,
        delivery_fee=order.delivery_fee,
        points_redeemed=order.points_redeemed,
        total=order.total,
        paid=order.paid_amount,
    )


def order_out(order: Order, pickup_codes: dict[int, str] | None = None) -> OrderOut:
    codes = pickup_codes or {}
    return OrderOut(
        **header_out(order),
        attribution=attribution_out(order),
        lines=[OrderLineOut.model_validate(line) for line in order.lines],
        payments=[PaymentOut.model_validate(p) for p in order.payments],
        fulfillments=[
            fulfilment_out(f, order.public_id, codes.get(f.id)) for f in order.fulfilments
        ],
        coupon_codes=order.coupon_codes or [],
        sourcing=order.sourcing or {},
        created_at=order.created_at,
    )


async def access_order(uow: UnitOfWork, public_id: str, *, for_update: bool = False) -> Order:
    query = sa.select(Order).where(Order.public_id == public_id)
    if for_update:
        query = query.with_for_update()
    order = await uow.session.scalar(query)
    if order is None:
        raise NotFound("order", public_id)
    return order


async def get_order(uow: UnitOfWork, public_id: str) -> OrderOut:
    return order_out(await access_order(uow, public_id))


async def list_orders(
    uow: UnitOfWork,
    *,
    limit: int,
    after: Any = None,
    channel: str | None = None,
    channels: Collection[str] | None = None,
    customer_id: str | None = None,
    location: str | None = None,
    status: OrderStatus | None = None,
    q: str | None = None,
    placed_from: dt.datetime | None = None,
    placed_before: dt.datetime | None = None,
) -> list[tuple[int, OrderOut]]:
    """Newest first, each with its keyset cursor value. ``location`` matches orders placed
    at, attributed to, or fulfilled by that location; ``channels`` is the caller's scope.
    ``q`` is an order number (or its start) or id; ``placed_from`` <= placed < ``placed_before``."""
    query = sa.select(Order).order_by(Order.id.desc()).limit(limit + 1)
    if q:
        prefix = q.strip().upper().replace("\\", "").replace("%", "").replace("_", "")
        query = query.where(sa.or_(Order.public_id == q.strip(), Order.number.like(f"{prefix}%")))
    if placed_from is not None:
        query = query.where(Order.created_at >= placed_from)
    if placed_before is not None:
        query = query.where(Order.created_at < placed_before)
    if after is not None:
        query = query.where(Order.id < int(after))
    if channel:
        query = query.where(Order.channel == channel)
    if channels is not None:
        query = query.where(Order.channel.in_(channels))
    if customer_id:
        query = query.where(Order.customer_id == customer_id)
    if status is not None:
        query = query.where(Order.status == status.value)
    if location:
        fulfilled_there = sa.select(Fulfilment.order_id).where(Fulfilment.location_code == location)
        query = query.where(
            sa.or_(
                Order.placed_at_location == location,
                Order.attributed_location == location,
                Order.id.in_(fulfilled_there),
            )
        )
    return [(o.id, order_out(o)) for o in await uow.session.scalars(query)]


async def access_fulfilment(
    uow: UnitOfWork, public_id: str, *, for_update: bool = False
) -> Fulfilment:
    query = sa.select(Fulfilment).where(Fulfilment.public_id == public_id)
    if for_update:
        query = query.with_for_update()
    fulfilment = await uow.session.scalar(query)
    if fulfilment is None:
        raise NotFound("fulfillment", public_id)
    return fulfilment


async def skus_by_order(
    uow: UnitOfWork, public_ids: Collection[str], *, chunk: int = 500
) -> dict[str, tuple[str | None, list[str]]]:
    """Orders' customers and line SKUs in line order, by public id, in one read per ``chunk``
    ids (for consumers that take events in groups). Orders not found are not in it."""
    found: dict[str, tuple[str | None, list[str]]] = {}
    ids = sorted(set(public_ids))
    statement = _SKUS_BY_ORDER[uow.dialect]
    for start in range(0, len(ids), chunk):
        result = await uow.session.execute(
            statement, {TENANT: uow.require_tenant(), "ids": ids[start : start + chunk]}
        )
        for order_id, customer_id, sku in result:
            found.setdefault(order_id, (customer_id, []))[1].append(sku)
    return found


_ORDERS, _LINES = cast(sa.Table, Order.__table__), cast(sa.Table, OrderLine.__table__)
_SKUS_BY_ORDER = per_dialect(
    lambda one_of: (
        sa.select(_ORDERS.c.public_id, _ORDERS.c.customer_id, _LINES.c.sku)
        .join(
            _LINES,
            (_LINES.c.order_id == _ORDERS.c.id) & (_LINES.c.tenant_id == sa.bindparam(TENANT)),
        )
        .where(_ORDERS.c.tenant_id == sa.bindparam(TENANT), one_of(_ORDERS.c.public_id, "ids"))
        .order_by(_LINES.c.id)
    ),
    bind=TENANT,
)
