"""Applying stored platform messages (worker side): a paid order becomes our order through
checkout with the platform tender; a cancel, or a refund before hand-over, cancels it; a
refund after hand-over is a return. Whatever the order and
number of messages, one platform order gives at most one order of ours, and a cancel that
overtook its "paid" message still wins. What cannot be applied is parked with its reason."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from omniretail.catalog import service as catalog
from omniretail.connectors import service
from omniretail.connectors.models import Connection, InboundMessage, PlatformOrder
from omniretail.connectors.platforms.base import Action
from omniretail.db import UnitOfWork, utcnow
from omniretail.errors import DomainError
from omniretail.orders import checkout, fulfilment
from omniretail.orders.checkout import Caller, PaymentMismatch
from omniretail.orders.domain import DONE, OrderStatus
from omniretail.orders.queries import get_order
from omniretail.orders.schemas import OrderIn, OrderOut, PaymentIn
from omniretail.payments.providers import PaymentProvider, PlatformProvider
from omniretail.returns import service as returns
from omniretail.returns.schemas import ReturnIn, ReturnLineIn

# Platform orders are paid with the platform tender only; refunding it is bookkeeping.
PLATFORM_TENDER: dict[str, PaymentProvider] = {"platform": PlatformProvider()}
# A refund of an order whose goods reached the buyer is a return, not a cancel.
HANDED_OVER = frozenset({OrderStatus.COMPLETED, OrderStatus.PARTIALLY_FULFILLED})


class Unappliable(Exception):
    """The message is well formed but cannot become an order yet (parked with this reason)."""


async def do_apply_message(
    uow: UnitOfWork, *, message_id: int, now: dt.datetime | None = None
) -> None:
    """Apply one received message once; applied and parked messages are left alone."""
    now = now or utcnow()
    row = await uow.session.scalar(
        sa.select(InboundMessage).where(InboundMessage.id == message_id).with_for_update()
    )
    if row is None or row.status != "received":
        return
    connection = await uow.session.get(Connection, row.connection_id)
    assert connection is not None
    assert row.platform_order_id is not None  # only order messages are announced
    known = await _platform_order(uow, connection.id, row.platform_order_id)
    try:
        outcome = await _apply(uow, row, connection, known, now)
    except Unappliable as exc:
        row.status, row.outcome = "parked", str(exc)[:500]
        return
    row.status, row.outcome, row.applied_at = "applied", outcome[:500], now
    row.order_id = known.order_id


async def _platform_order(
    uow: UnitOfWork, connection_id: int, platform_order_id: str
) -> PlatformOrder:
    query = (
        sa.select(PlatformOrder)
        .where(
            PlatformOrder.connection_id == connection_id,
            PlatformOrder.platform_order_id == platform_order_id,
        )
        .with_for_update()
    )
    found = await uow.session.scalar(query)
    if found is not None:
        return found
    try:
        async with uow.session.begin_nested():
            uow.session.add(
                PlatformOrder(connection_id=connection_id, platform_order_id=platform_order_id)
            )
            await uow.flush()
    except IntegrityError:
        pass  # another worker created it: read theirs, under lock
    found = await uow.session.scalar(query)
    assert found is not None
    return found


async def _apply(
    uow: UnitOfWork,
    row: InboundMessage,
    connection: Connection,
    known: PlatformOrder,
    now: dt.datetime,
) -> str:
    if Action(row.action) is Action.PAID:
        if known.order_id is not None:
            return "repeat: the order was already placed"
        if known.cancelled:
            return "the platform cancelled it before it was applied: no order"
        known.order_id, note = await _place(uow, row.parsed, connection, now)
        return f"order placed{note}"
    if known.order_id is None:
        known.cancelled = True
        return "cancel recorded before the order: it will not be placed"
    order = await get_order(uow, known.order_id)
    if order.status is OrderStatus.CANCELLED:
        return "repeat: the order was already cancelled"
    if Action(row.action) is Action.REFUNDED and order.status in HANDED_OVER:
        return await _return(uow, order, connection, now)
    known.cancelled = True
    try:
        async with uow.session.begin_nested():
            await fulfilment.do_cancel_order(
                uow,
                order_id=known.order_id,
                actor=f"connector:{connection.public_id}",
                providers=PLATFORM_TENDER,
                now=now,
            )
    except DomainError as exc:
        raise Unappliable(f"cannot cancel {known.order_id}: {exc}") from exc
    return "order cancelled"


async def _return(
    uow: UnitOfWork, order: OrderOut, connection: Connection, now: dt.datetime
) -> str:
    """A refund after the goods were handed over: the platform confirms a return-and-refund
    once the merchant has the goods back, so the return is received at once where they were
    sent from, restocked, and refunded over the platform tender (bookkeeping)."""
    delivered: Counter[str] = Counter()
    for f in order.fulfillments:
        if f.status in DONE:
            delivered.update({line.sku: line.qty for line in f.lines})
    returned = Counter({line.sku: line.returned_qty for line in order.lines})
    left = delivered - returned
    if not left:
        return "repeat: everything handed over was already returned"
    at = next(f.location for f in order.fulfillments if f.status in DONE)
    try:
        data = ReturnIn(
            order_id=order.id,
            channel=connection.channel_code,
            location=at,
            lines=[ReturnLineIn(sku=sku, qty=qty) for sku, qty in sorted(left.items())],
        )
        async with uow.session.begin_nested():
            ret = await returns.do_create_return(
                uow,
                data=data,
                actor=f"connector:{connection.public_id}",
                caller_location=None,
                providers=PLATFORM_TENDER,
                now=now,
            )
    except (DomainError, ValidationError) as exc:
        raise Unappliable(f"cannot return {order.id}: {exc}") from exc
    return f"refunded after hand-over: return {ret.id} received at {at}"


async def _place(
    uow: UnitOfWork, parsed: dict[str, Any], connection: Connection, now: dt.datetime
) -> tuple[str, str]:
    lines = await _our_lines(uow, connection, [(str(s), int(q)) for s, q in parsed["lines"]])
    fulfillment: dict[str, Any] = {"mode": parsed["mode"]}
    if parsed["mode"] == "pickup":
        fulfillment["location"] = connection.locations[0]
    else:
        fulfillment["address"] = parsed.get("address")
    paid = int(parsed.get("paid_amount") or 0)
    try:
        data = OrderIn(channel=connection.channel_code, lines=lines, fulfillment=fulfillment)
    except ValidationError as exc:
        raise Unappliable(f"the order cannot be read: {_first_error(exc)}") from exc
    try:
        placed = await _checkout(uow, data, connection, paid, now)
        return placed, ""
    except PaymentMismatch as exc:
        # Platform prices and discounts differ from ours: the platform's figure is what the
        # buyer paid; ours prices the order. Both are kept on the message.
        due = int(exc.extra.get("amount_due", 0))
        try:
            placed = await _checkout(uow, data, connection, due, now)
        except DomainError as again:
            raise Unappliable(str(again)) from again
        return placed, f" (platform collected {paid}, our price {due})"
    except DomainError as exc:
        raise Unappliable(str(exc)) from exc


async def _checkout(
    uow: UnitOfWork, data: OrderIn, connection: Connection, amount: int, now: dt.datetime
) -> str:
    async with uow.session.begin_nested():
        order = await checkout.do_place_order(
            uow,
            data=data,
            caller=Caller(actor=f"connector:{connection.public_id}", channel=data.channel),
            providers=PLATFORM_TENDER,
            internal_payments=[PaymentIn(method="platform", amount=amount)],
            now=now,
            sources=connection.locations,  # a shop sells only the stock of its own locations
        )
    return order.id


async def _our_lines(
    uow: UnitOfWork, connection: Connection, lines: list[tuple[str, int]]
) -> list[dict[str, Any]]:
    """Platform SKU ids through the connection's mapping; an unmapped id that is one of our
    SKUs (Douyin's out_sku_id is the merchant's own) is taken as is."""
    mapped = await service.our_skus(uow, connection.id, [s for s, _ in lines])
    direct = await catalog.variants_by_sku(uow, [s for s, _ in lines if s not in mapped])
    unknown = [s for s, _ in lines if s not in mapped and s not in direct]
    if unknown:
        raise Unappliable(f"unknown platform SKU: {', '.join(sorted(set(unknown)))}")
    return [{"sku": mapped.get(s, s), "qty": q} for s, q in lines]


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
