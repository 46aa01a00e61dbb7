"""Returns through any channel (退换货双向通道): an online order back at a store, a store
purchase back through the app with a courier pick-up.

One transaction receives the goods, restocks where they physically are, refunds exactly over the
original tenders and reverses the return's share of points, so the response can say all of it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.catalog import service as catalog
from omniretail.catalog.domain import category_matches
from omniretail.channels import service as channels
from omniretail.db import UnitOfWork, utcnow
from omniretail.errors import Conflict, Forbidden, NotFound, ValidationFailed
from omniretail.events import record_event
from omniretail.inventory import service as inventory
from omniretail.inventory.domain import Reason
from omniretail.inventory.schemas import MovementLineIn
from omniretail.loyalty import service as loyalty
from omniretail.money import allocate
from omniretail.network import service as network
from omniretail.orders.access import check_order_visible
from omniretail.orders.domain import DONE, FulfilmentStatus, OrderStatus, new_public_id
from omniretail.orders.models import Fulfilment, Order
from omniretail.payments import refunds
from omniretail.payments.providers import PaymentProvider, PaymentStatus
from omniretail.returns.domain import Tender, refund_for_units, split_refund, within_window
from omniretail.returns.models import Refund, Return, ReturnLine
from omniretail.returns.schemas import (
    Condition,
    RefundOut,
    RestockOut,
    ReturnIn,
    ReturnLineOut,
    ReturnOut,
)

DEFAULT_WINDOW_DAYS = 30


class ReturnWindowClosed(Conflict):
    code = "return_window_closed"
    title = "The return window has closed"


class ReturnExceedsOrder(ValidationFailed):
    code = "return_exceeds_order"
    title = "More is returned than was bought and delivered"


class NotReturnable(ValidationFailed):
    code = "not_returnable"
    title = "These items cannot be returned"


class OrderNotReturnable(Conflict):
    code = "order_not_returnable"
    title = "Nothing of this order has been handed over yet"


class ReturnNotAwaiting(Conflict):
    code = "return_not_awaiting_receipt"
    title = "This return was already received"


def return_rules(settings: dict[str, Any]) -> dict[str, Any]:
    rules = dict(settings.get("returns") or {})
    return {
        "window_days": int(rules.get("window_days", DEFAULT_WINDOW_DAYS)),
        "non_returnable_categories": list(rules.get("non_returnable_categories", [])),
        "stores_accept_online_returns": bool(rules.get("stores_accept_online_returns", True)),
    }


async def _delivered(uow: UnitOfWork, order: Order) -> Counter[str]:
    rows = (
        await uow.session.scalars(sa.select(Fulfilment).where(Fulfilment.order_id == order.id))
    ).all()
    delivered: Counter[str] = Counter()
    for f in rows:
        if FulfilmentStatus(f.status) in DONE:
            for line in f.lines:
                delivered[line.sku] += line.qty
    return delivered


async def do_create_return(
    uow: UnitOfWork,
    *,
    data: ReturnIn,
    actor: str,
    caller_location: str | None,
    providers: dict[str, PaymentProvider],
    caller_channels: Collection[str] | None = None,
    now: dt.datetime | None = None,
) -> ReturnOut:
    """Open a return; received at ``location`` it completes at once, with a courier pick-up
    it waits for :func:`do_receive_return`. Another tenant's order is simply not found, and so
    is an order a channel key may not see (``caller_channels``)."""
    now = now or utcnow()
    ret, order = await open_return(
        uow,
        data=data,
        actor=actor,
        caller_location=caller_location,
        caller_channels=caller_channels,
        now=now,
    )
    restocked: list[RestockOut] = []
    points: dict[str, int] | None = None
    if data.location is not None:
        restocked, points = await receive(
            uow, ret, order, data.location, actor=actor, providers=providers, now=now
        )
    return return_out(ret, restocked, points)


async def open_return(
    uow: UnitOfWork,
    *,
    data: ReturnIn,
    actor: str,
    caller_location: str | None,
    now: dt.datetime,
    caller_channels: Collection[str] | None = None,
) -> tuple[Return, Order]:
    """Check and record a return (lines, refund amounts), not yet received."""
    order = await uow.session.scalar(
        sa.select(Order).where(Order.public_id == data.order_id).with_for_update()
    )
    if order is None:
        raise NotFound("order", data.order_id)
    check_order_visible(
        order_id=order.public_id, order_channel=order.channel, channels=caller_channels
    )
    await channels.check_channel_exists(uow, data.channel)
    rules = return_rules(await auth.tenant_settings(uow))
    if data.location is not None:
        await check_receiving_location(uow, data.location, order, rules, caller_location)
    if order.status not in (OrderStatus.COMPLETED.value, OrderStatus.PARTIALLY_FULFILLED.value):
        raise OrderNotReturnable(f"order {order.public_id} is {order.status}")
    if not within_window(order.created_at, now, rules["window_days"]):
        raise ReturnWindowClosed(
            f"returns are accepted within {rules['window_days']} days of the order",
            window_days=rules["window_days"],
        )
    wanted = await _check_lines(uow, data, order, rules)
    ret = Return(
        public_id=new_public_id("ret"),
        order_id=order.id,
        order_public_id=order.public_id,
        channel=data.channel,
        location_code=data.location,
        courier_pickup=data.courier_pickup.model_dump() if data.courier_pickup else None,
        status="awaiting_receipt",
        refund_total=0,
        actor=actor,
        created_at=now,
        lines=[],
        refunds=[],
    )
    by_sku = {line.sku: line for line in order.lines}
    for line_in in data.lines:
        line = by_sku[line_in.sku]
        amount = refund_for_units(line.line_total, line.qty, line.returned_qty, line_in.qty)
        line.returned_qty += line_in.qty
        ret.lines.append(
            ReturnLine(
                order_line_id=line.id,
                sku=line.sku,
                qty=line_in.qty,
                condition=line_in.condition.value,
                refund_amount=amount,
            )
        )
        ret.refund_total += amount
    assert sum(wanted.values()) == sum(line.qty for line in ret.lines)
    uow.session.add(ret)
    await uow.flush()
    record_event(
        uow,
        "return.opened",
        aggregate_type="order",
        aggregate_id=order.public_id,
        payload={
            "return_id": ret.public_id,
            "order_id": order.public_id,
            "channel": ret.channel,
            "location": ret.location_code,
            "refund_total": ret.refund_total,
        },
    )
    return ret, order


async def check_receiving_location(
    uow: UnitOfWork,
    code: str,
    order: Order,
    rules: dict[str, Any],
    caller_location: str | None,
) -> None:
    """The goods can come back at ``code``, and a store key receives at its own store only."""
    try:
        location = await network.access_location(uow, code)
    except NotFound as exc:
        raise ValidationFailed(
            "unknown location", [{"field": "location", "message": "no such location"}]
        ) from exc
    if caller_location is not None and caller_location != code:
        raise Forbidden(f"this key receives returns at {caller_location!r} only")
    if location.type == "experience_store":
        raise ValidationFailed(
            "an experience store holds no stock",
            [{"field": "location", "message": "cannot receive goods"}],
        )
    online = order.placed_at_location is None
    if online and location.type == "store" and not rules["stores_accept_online_returns"]:
        raise ValidationFailed(
            "stores do not take back online orders here",
            [{"field": "location", "message": "use a courier pick-up"}],
        )


async def _check_lines(
    uow: UnitOfWork, data: ReturnIn, order: Order, rules: dict[str, Any]
) -> Counter[str]:
    wanted: Counter[str] = Counter()
    for line in data.lines:
        wanted[line.sku] += line.qty
    if len(wanted) != len(data.lines):
        raise ValidationFailed(
            "name each sku once", [{"field": "lines", "message": "a sku appears twice"}]
        )
    bought = {line.sku: line for line in order.lines}
    delivered = await _delivered(uow, order)
    errors: list[dict[str, Any]] = []
    for i, line in enumerate(data.lines):
        ordered = bought.get(line.sku)
        if ordered is None:
            errors.append({"field": f"lines.{i}.sku", "message": "not in this order"})
            continue
        left = min(delivered[line.sku], ordered.qty) - ordered.returned_qty
        if line.qty > left:
            errors.append(
                {"field": f"lines.{i}.qty", "message": f"at most {max(left, 0)} left to return"}
            )
    if errors:
        raise ReturnExceedsOrder("the return asks for more than can be returned", errors)
    variants = await catalog.variants_by_sku(uow, list(wanted))
    blocked = [
        {"field": f"lines.{i}.sku", "message": f"{variants[line.sku].category} is final sale"}
        for i, line in enumerate(data.lines)
        if line.sku in variants
        and any(
            category_matches(variants[line.sku].category, c)
            for c in rules["non_returnable_categories"]
        )
    ]
    if blocked:
        raise NotReturnable("some items cannot be returned", blocked)
    return wanted


async def do_receive_return(
    uow: UnitOfWork,
    *,
    return_id: str,
    location: str,
    actor: str,
    caller_location: str | None,
    providers: dict[str, PaymentProvider],
    caller_channels: Collection[str] | None = None,
    now: dt.datetime | None = None,
) -> ReturnOut:
    """A courier brought the goods to ``location``: restock, refund, reverse points."""
    now = now or utcnow()
    if caller_location is not None and caller_location != location:
        raise Forbidden(f"this key receives returns at {caller_location!r} only")
    ret = await access_return(uow, return_id, for_update=True, channels=caller_channels)
    if ret.status != "awaiting_receipt":
        raise ReturnNotAwaiting(f"return {return_id} is {ret.status}")
    await network.location_ref(uow, location)
    order = await order_of(uow, ret)
    ret.location_code = location
    restocked, points = await receive(
        uow, ret, order, location, actor=actor, providers=providers, now=now
    )
    return return_out(ret, restocked, points)


async def receive(
    uow: UnitOfWork,
    ret: Return,
    order: Order,
    location: str,
    *,
    actor: str,
    providers: dict[str, PaymentProvider],
    now: dt.datetime,
    keep_as_credit: int = 0,
) -> tuple[list[RestockOut], dict[str, int] | None]:
    restocked = await _restock(uow, ret, location, actor=actor, now=now)
    await _refund(uow, ret, order, providers, keep_as_credit=keep_as_credit)
    points = None
    if order.customer_id is not None:
        reversal = await loyalty.do_reverse_for_return(
            uow,
            customer_id=order.customer_id,
            order_ref=order.public_id,
            return_ref=ret.public_id,
            returned_value=ret.refund_total,
            order_value=order.total - order.delivery_fee,
            actor=actor,
        )
        points = {
            "earned_reversed": reversal.earned_reversed,
            "redeemed_returned": reversal.redeemed_given_back,
            "shortfall": reversal.shortfall,
        }
    ret.status = "completed"
    ret.received_at = now
    await uow.flush()
    record_event(
        uow,
        "return.completed",
        aggregate_type="order",
        aggregate_id=order.public_id,
        payload={
            "return_id": ret.public_id,
            "order_id": order.public_id,
            "customer_id": order.customer_id,
            "location": location,
            "returned_value": ret.refund_total,
            "order_value": order.total - order.delivery_fee,
            "refunds": [{"method": r.method, "amount": r.amount} for r in ret.refunds],
            "completed_at": now.isoformat(),
        },
    )
    return restocked, points


async def _restock(
    uow: UnitOfWork, ret: Return, location: str, *, actor: str, now: dt.datetime
) -> list[RestockOut]:
    """Returned goods are stock where they physically are: resellable units become sellable
    there at once; damaged ones are recorded coming back and then leaving as damaged."""
    moves = []
    for line in ret.lines:
        moves.append(
            MovementLineIn(
                sku=line.sku,
                location=location,
                reason=Reason.RETURN.value,
                qty=line.qty,
                reference=ret.public_id,
            )
        )
        if line.condition == Condition.DAMAGED.value:
            moves.append(
                MovementLineIn(
                    sku=line.sku,
                    location=location,
                    reason=Reason.DAMAGE.value,
                    qty=line.qty,
                    reference=ret.public_id,
                )
            )
    await inventory.do_apply_movements(uow, lines=moves, actor=actor, now=now)
    return [
        RestockOut(
            location=location, sku=line.sku, qty=line.qty, condition=Condition(line.condition)
        )
        for line in ret.lines
    ]


def money_refundable(ret: Return, order: Order) -> int:
    """The part of a return's refund that goes back to money tenders (not points)."""
    paid = [p for p in order.payments if p.status == PaymentStatus.CAPTURED.value]
    parts = split_refund(
        ret.refund_total,
        [Tender(p.method, p.amount, p.refunded_amount) for p in paid],
        order.total - order.delivery_fee,
    )
    return sum(a for p, a in zip(paid, parts, strict=True) if p.method != "points")


async def _refund(
    uow: UnitOfWork,
    ret: Return,
    order: Order,
    providers: dict[str, PaymentProvider],
    *,
    keep_as_credit: int = 0,
) -> None:
    """Split the refund over the tenders; in an exchange, ``keep_as_credit`` of the money
    part pays for the new goods instead of going back (drawn pro rata from the money tenders)."""
    paid = [p for p in order.payments if p.status == PaymentStatus.CAPTURED.value]
    tenders = [Tender(p.method, p.amount, p.refunded_amount) for p in paid]
    parts = split_refund(ret.refund_total, tenders, order.total - order.delivery_fee)
    money = [a if p.method != "points" else 0 for p, a in zip(paid, parts, strict=True)]
    credits = allocate(keep_as_credit, money) if keep_as_credit else [0] * len(paid)
    for payment, share, credit in zip(paid, parts, credits, strict=True):
        if share == 0:
            continue
        payment.refunded_amount += share
        amount = share - credit
        ref = None
        if payment.method != "points" and amount > 0:
            # A gateway's refund is recorded here and sent after commit (payments.refunds).
            refunded = await refunds.request_refund(
                uow,
                providers[payment.method],
                amount=amount,
                total=payment.amount,
                currency=order.currency,
                provider_ref=payment.provider_ref or "",
                reason=f"return {ret.public_id}",
            )
            ref = refunded.provider_ref
        ret.refunds.append(
            Refund(
                payment_id=payment.id,
                method=payment.method,
                amount=amount,
                credited=credit,
                provider_ref=ref,
            )
        )


async def order_of(uow: UnitOfWork, ret: Return) -> Order:
    order = await uow.session.scalar(
        sa.select(Order).where(Order.id == ret.order_id).with_for_update()
    )
    assert order is not None
    return order


async def access_return(
    uow: UnitOfWork,
    public_id: str,
    *,
    for_update: bool = False,
    channels: Collection[str] | None = None,
) -> Return:
    """The return, if the caller may see it: a channel key only sees returns of its channel's
    orders (whatever channel the return itself came through)."""
    query = sa.select(Return).where(Return.public_id == public_id)
    if channels is not None:
        query = query.join(Order, Order.id == Return.order_id).where(Order.channel.in_(channels))
    if for_update:
        query = query.with_for_update()
    ret = await uow.session.scalar(query)
    if ret is None:
        raise NotFound("return", public_id)
    return ret


async def get_return(
    uow: UnitOfWork, public_id: str, *, channels: Collection[str] | None = None
) -> ReturnOut:
    ret = await access_return(uow, public_id, channels=channels)
    restocked = (
        [
            RestockOut(
                location=ret.location_code,
                sku=line.sku,
                qty=line.qty,
                condition=Condition(line.condition),
            )
            for line in ret.lines
        ]
        if ret.status == "completed" and ret.location_code
        else []
    )
    return return_out(ret, restocked, ret.points_reversed)


def return_out(
    ret: Return, restocked: list[RestockOut], points: dict[str, int] | None
) -> ReturnOut:
    return ReturnOut(
        id=ret.public_id,
        order_id=ret.order_public_id,
        channel=ret.channel,
        location=ret.location_code,
        status=ret.status,
        lines=[
            ReturnLineOut(
                sku=line.sku,
                qty=line.qty,
                condition=Condition(line.condition),
                refund_amount=line.refund_amount,
            )
            for line in ret.lines
        ],
        refund_total=ret.refund_total,
        refunds=[
            RefundOut(
                method=r.method, amount=r.amount, credited=r.credited, provider_ref=r.provider_ref
            )
            for r in ret.refunds
        ],
        points_reversed=points,
        restocked=restocked,
        created_at=ret.created_at,
        received_at=ret.received_at,
    )


async def returns_of_order(
    uow: UnitOfWork, order_public_id: str, *, channels: Collection[str] | None = None
) -> list[ReturnOut]:
    order_channel = await uow.session.scalar(
        sa.select(Order.channel).where(Order.public_id == order_public_id)
    )
    if order_channel is None:
        raise NotFound("order", order_public_id)
    check_order_visible(order_id=order_public_id, order_channel=order_channel, channels=channels)
    rows = await uow.session.scalars(
        sa.select(Return).where(Return.order_public_id == order_public_id).order_by(Return.id)
    )
    return [return_out(r, [], r.points_reversed) for r in rows]
