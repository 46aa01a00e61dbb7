"""The life of a fulfilment after checkout: store actions, their stock effects, rejection and
re-routing, cancellation, and the order status that follows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.db import UnitOfWork, utcnow
from omniretail.errors import Conflict, Forbidden, NotFound
from omniretail.events import record_event
from omniretail.inventory import positions, reservations
from omniretail.inventory import service as inventory
from omniretail.inventory.domain import Reason
from omniretail.inventory.schemas import MovementLineIn
from omniretail.loyalty import service as loyalty
from omniretail.network import service as network
from omniretail.orders import pricing_port, routing
from omniretail.orders.access import Caller, check_may_act_on_order
from omniretail.orders.building import announce_fulfilment, complete_order
from omniretail.orders.domain import (
    CLOSED,
    STOCK_LEAVES,
    Action,
    FulfilmentStatus,
    Mode,
    OrderStatus,
    RejectReason,
    new_public_id,
    next_status,
    order_status,
)
from omniretail.orders.models import Fulfilment, FulfilmentLine, Order
from omniretail.orders.queries import access_fulfilment, fulfilment_out
from omniretail.orders.schemas import FulfilmentOut
from omniretail.orders.sourcing import Policy, source_order
from omniretail.payments import refunds
from omniretail.payments.providers import PaymentProvider, PaymentStatus


class InvalidTransition(Conflict):
    code = "invalid_transition"
    title = "Not allowed in the fulfilment's current state"


class OrderNotPaid(Conflict):
    code = "order_not_paid"
    title = "The order is waiting for payment"


async def access_fulfilment_for(
    uow: UnitOfWork, fulfilment_id: str, *, caller_location: str | None
) -> tuple[Fulfilment, Order]:
    """The fulfilment and its order, locked; a store key reaches its own location's only."""
    fulfilment = await access_fulfilment(uow, fulfilment_id, for_update=True)
    if caller_location is not None and fulfilment.location_code != caller_location:
        raise Forbidden(f"this key acts for location {caller_location!r} only")
    order = await uow.session.scalar(
        sa.select(Order).where(Order.id == fulfilment.order_id).with_for_update()
    )
    assert order is not None
    return fulfilment, order


async def do_fulfilment_action(
    uow: UnitOfWork,
    *,
    fulfilment_id: str,
    action: Action,
    actor: str,
    caller_location: str | None = None,
    now: dt.datetime | None = None,
) -> FulfilmentOut:
    """accept, pick, ready, ship, deliver or cancel (hand-over goes through the pickup code,
    reject through :func:`do_reject`). Stock leaves on ship and hand-over; cancel gives it back."""
    now = now or utcnow()
    fulfilment, order = await access_fulfilment_for(
        uow, fulfilment_id, caller_location=caller_location
    )
    await apply_action(uow, order, fulfilment, action, actor=actor, now=now)
    return fulfilment_out(fulfilment, order.public_id)


async def apply_action(
    uow: UnitOfWork,
    order: Order,
    fulfilment: Fulfilment,
    action: Action,
    *,
    actor: str,
    now: dt.datetime,
) -> None:
    if order.status == OrderStatus.PENDING_PAYMENT.value and action is not Action.CANCEL:
        raise OrderNotPaid(f"order {order.public_id} is not paid yet")
    status = FulfilmentStatus(fulfilment.status)
    after = next_status(status, action, Mode(fulfilment.mode))
    if after is None:
        raise InvalidTransition(
            f"cannot {action.value} a {fulfilment.mode} fulfilment that is {status.value}",
            fulfillment_status=status.value,
        )
    if action in STOCK_LEAVES and fulfilment.reservation_id:
        await reservations.do_consume_reservation(
            uow,
            reservation_id=int(fulfilment.reservation_id),
            actor=actor,
            reason=Reason.PICKUP if fulfilment.mode == Mode.PICKUP else Reason.SHIPMENT,
            location=None if fulfilment.transfer_from else fulfilment.location_code,
            reference=order.public_id,
            now=now,
        )
    if action is Action.CANCEL:
        await _release(uow, fulfilment, actor=actor, now=now)
    fulfilment.status = after.value
    record_event(
        uow,
        f"fulfillment.{after.value}",
        aggregate_type="order",
        aggregate_id=order.public_id,
        payload={
            "fulfillment_id": fulfilment.public_id,
            "order_id": order.public_id,
            "location": fulfilment.location_code,
            "status": after.value,
            "at": now.isoformat(),
        },
    )
    await refresh_order_status(uow, order, now=now)


async def _release(
    uow: UnitOfWork, fulfilment: Fulfilment, *, actor: str, now: dt.datetime
) -> None:
    if fulfilment.reservation_id:
        await reservations.do_release_reservation(
            uow,
            reservation_id=int(fulfilment.reservation_id),
            actor=actor,
            location=None if fulfilment.transfer_from else fulfilment.location_code,
            now=now,
        )


async def refresh_order_status(uow: UnitOfWork, order: Order, *, now: dt.datetime) -> None:
    await uow.flush()
    fulfilments = (
        await uow.session.scalars(sa.select(Fulfilment).where(Fulfilment.order_id == order.id))
    ).all()
    unserved = len((order.sourcing or {}).get("unserved", []))
    before = order.status
    after = order_status(
        before != OrderStatus.PENDING_PAYMENT.value,
        [FulfilmentStatus(f.status) for f in fulfilments],
        unserved,
    )
    if after.value == before:
        return
    order.status = after.value
    record_event(
        uow,
        "order.status_changed",
        aggregate_type="order",
        aggregate_id=order.public_id,
        payload={"order_id": order.public_id, "from": before, "to": after.value},
    )
    if after is OrderStatus.COMPLETED:
        await complete_order(uow, order, now)


async def do_reject(
    uow: UnitOfWork,
    *,
    fulfilment_id: str,
    reason: RejectReason,
    actor: str,
    caller_location: str | None = None,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> FulfilmentOut:
    """A store cannot fulfil: its hold is released, the stock effect follows the reason, and
    the lines are re-routed to the next best location (never one that already rejected this
    order). A pickup, or lines nobody can serve, leave the order ``needs_attention`` with the
    alternatives named in an ``order.needs_attention`` event."""
    now = now or utcnow()
    fulfilment, order = await access_fulfilment_for(
        uow, fulfilment_id, caller_location=caller_location
    )
    if order.status == OrderStatus.PENDING_PAYMENT.value:
        raise OrderNotPaid(f"order {order.public_id} is not paid yet")
    if (
        next_status(FulfilmentStatus(fulfilment.status), Action.REJECT, Mode(fulfilment.mode))
        is None
    ):
        raise InvalidTransition(f"cannot reject a fulfilment that is {fulfilment.status}")
    lines = [(line.sku, line.qty) for line in fulfilment.lines]
    await _release(uow, fulfilment, actor=actor, now=now)
    await _stock_effect(
        uow, fulfilment.location_code, lines, reason, actor=actor, reference=order.public_id
    )
    fulfilment.status = FulfilmentStatus.REJECTED.value
    fulfilment.reason = f"{reason.value}: {note}" if note else reason.value
    record_event(
        uow,
        "fulfillment.rejected",
        aggregate_type="order",
        aggregate_id=order.public_id,
        payload={
            "fulfillment_id": fulfilment.public_id,
            "order_id": order.public_id,
            "location": fulfilment.location_code,
            "reason": reason.value,
        },
    )
    await _reroute(uow, order, fulfilment, lines, actor=actor, now=now)
    await refresh_order_status(uow, order, now=now)
    return fulfilment_out(fulfilment, order.public_id)


async def _stock_effect(
    uow: UnitOfWork,
    location: str,
    lines: list[tuple[str, int]],
    reason: RejectReason,
    *,
    actor: str,
    reference: str,
) -> None:
    """After HotWax: not in stock counts the position to zero; damaged units leave sellable
    stock; a mismatch lowers on hand by the rejected quantity; no variance changes nothing."""
    if reason is RejectReason.NO_VARIANCE:
        return
    if reason is RejectReason.NOT_IN_STOCK:
        for sku, _ in lines:
            await inventory.do_count(
                uow, location=location, sku=sku, on_hand=0, actor=actor, reference=reference
            )
        return
    movement = Reason.DAMAGE if reason is RejectReason.DAMAGED else Reason.ADJUSTMENT
    sign = 1 if reason is RejectReason.DAMAGED else -1
    settings = await auth.tenant_settings(uow)
    on_hand = {
        sku: (await inventory.get_position(uow, location=location, sku=sku)).on_hand
        for sku, _ in lines
    }
    moves = [
        MovementLineIn(
            sku=sku,
            location=location,
            reason=movement.value,
            qty=sign * min(qty, on_hand[sku])
            if not settings.get("allow_negative_stock")
            else sign * qty,
            reference=reference,
        )
        for sku, qty in lines
        if min(qty, on_hand[sku]) > 0 or settings.get("allow_negative_stock")
    ]
    if moves:
        await inventory.do_apply_movements(uow, lines=moves, actor=actor)


async def _reroute(
    uow: UnitOfWork,
    order: Order,
    rejected: Fulfilment,
    lines: list[tuple[str, int]],
    *,
    actor: str,
    now: dt.datetime,
) -> None:
    tenant = await auth.get_tenant(uow)
    mode = Mode(rejected.mode)
    refused = {
        f.location_code: "rejected this order"
        for f in await _fulfilments(uow, order)
        if f.status == FulfilmentStatus.REJECTED.value
    }
    refused[rejected.location_code] = "rejected this order"
    if mode is Mode.PICKUP or order.address is None:
        await _needs_attention(uow, order, lines, "the pickup store rejected the order")
        return
    found = await routing.candidates_for(
        uow,
        mode=mode,
        lat=order.address["lat"],
        lng=order.address["lng"],
        skus=[s for s, _ in lines],
        now=now,
        timezone=tenant.timezone,
        exclude=refused,
    )
    max_shipments = (
        1 if mode is Mode.LOCAL_DELIVERY else int((tenant.settings or {}).get("max_shipments", 3))
    )
    plan = source_order(lines, found.candidates, Policy(max_shipments=max_shipments))
    if not plan.complete:
        await _needs_attention(uow, order, list(plan.unserved), "no other location can serve")
        return
    hold = [
        positions.StockLine(sku=sku, location=s.location, qty=qty)
        for s in plan.shipments
        for sku, qty in s.lines
    ]
    held = await reservations.do_reserve(
        uow,
        lines=hold,
        ttl_seconds=None,
        actor=actor,
        reference=order.public_id,
        channel=order.channel,
        now=now,
    )
    for shipment in plan.shipments:
        location_id, _ = await network.location_ref(uow, shipment.location)
        new = Fulfilment(
            public_id=new_public_id("ful"),
            order_id=order.id,
            location_id=location_id,
            location_code=shipment.location,
            mode=mode.value,
            status=FulfilmentStatus.PENDING.value,
            distance_km=shipment.distance_km,
            promised_at=rejected.promised_at,
            reservation_id=str(held.id),
            transfer_from=[],
            created_at=now,
        )
        new.lines = [FulfilmentLine(sku=sku, qty=qty) for sku, qty in shipment.lines]
        uow.session.add(new)
        await uow.flush()
        announce_fulfilment(uow, order.public_id, new, rerouted_from=rejected.public_id)
    order.sourcing = {
        **(order.sourcing or {}),
        "reroutes": [
            *(order.sourcing or {}).get("reroutes", []),
            {
                "from": rejected.location_code,
                "to": [s.location for s in plan.shipments],
                "decisions": [
                    {"location": v.location, "chosen": v.chosen, "reason": v.reason}
                    for v in plan.explanation
                ],
            },
        ],
    }


async def _fulfilments(uow: UnitOfWork, order: Order) -> list[Fulfilment]:
    return list(
        (
            await uow.session.scalars(sa.select(Fulfilment).where(Fulfilment.order_id == order.id))
        ).all()
    )


async def _needs_attention(
    uow: UnitOfWork, order: Order, lines: list[tuple[str, int]], why: str
) -> None:
    sourcing: dict[str, Any] = dict(order.sourcing or {})
    sourcing["unserved"] = [
        *sourcing.get("unserved", []),
        *({"sku": s, "qty": q} for s, q in lines),
    ]
    order.sourcing = sourcing
    record_event(
        uow,
        "order.needs_attention",
        aggregate_type="order",
        aggregate_id=order.public_id,
        payload={
            "order_id": order.public_id,
            "customer_id": order.customer_id,
            "reason": why,
            "lines": [{"sku": s, "qty": q} for s, q in lines],
            "alternatives": sourcing.get("alternatives", []),
        },
    )


async def do_cancel_order(
    uow: UnitOfWork,
    *,
    order_id: str,
    actor: str,
    providers: dict[str, PaymentProvider],
    caller: Caller | None = None,
    now: dt.datetime | None = None,
) -> Order:
    """Cancel what has not left yet: holds released, coupons and points given back (by the
    ``order.cancelled`` event's handlers and the pricing port). Shipped or handed-over parts
    stay; they come back through a return. ``caller`` is the scoped key asking (None for the
    system's own jobs): a channel key cancels its channel's orders only, a store key only an
    order that is wholly its store's."""
    now = now or utcnow()
    order = await uow.session.scalar(
        sa.select(Order).where(Order.public_id == order_id).with_for_update()
    )
    if order is None:
        raise NotFound("order", order_id)
    fulfilments = await _fulfilments(uow, order)
    if caller is not None:
        check_may_act_on_order(
            order_id=order.public_id,
            order_channel=order.channel,
            placed_at=order.placed_at_location,
            fulfilling=[f.location_code for f in fulfilments],
            caller=caller,
        )
    if order.status in (OrderStatus.CANCELLED.value, OrderStatus.COMPLETED.value):
        raise InvalidTransition(f"order {order_id} is {order.status}")
    open_ones = [f for f in fulfilments if FulfilmentStatus(f.status) not in CLOSED]
    if any(f.status == FulfilmentStatus.SHIPPED.value for f in open_ones):
        raise InvalidTransition("part of the order has shipped; return it instead")
    for fulfilment in open_ones:
        await _release(uow, fulfilment, actor=actor, now=now)
        fulfilment.status = FulfilmentStatus.CANCELLED.value
    await pricing_port.release_coupons(uow, order_ref=order.public_id)
    await _refund_all(uow, order, providers, reason=f"order {order.public_id} cancelled")
    if order.customer_id is not None:
        # Redeemed points come back (and earned ones go) with the cancellation itself.
        await loyalty.do_release_order_points(
            uow, customer_id=order.customer_id, order_ref=order.public_id, actor=actor
        )
    before = order.status
    order.status = OrderStatus.CANCELLED.value
    record_event(
        uow,
        "order.cancelled",
        aggregate_type="order",
        aggregate_id=order.public_id,
        payload={"order_id": order.public_id, "customer_id": order.customer_id, "from": before},
    )
    return order


async def _refund_all(
    uow: UnitOfWork, order: Order, providers: dict[str, PaymentProvider], *, reason: str
) -> None:
    """Money back to each captured tender (a gateway's refund is sent after commit); points
    come back through ``order.cancelled``."""
    for payment in order.payments:
        if payment.method == "points":
            payment.refunded_amount = payment.amount
            continue
        if payment.status != PaymentStatus.CAPTURED.value:
            payment.status = PaymentStatus.VOIDED.value
            continue
        due = payment.amount - payment.refunded_amount
        if due > 0:
            await refunds.request_refund(
                uow,
                providers[payment.method],
                amount=due,
                total=payment.amount,
                currency=order.currency,
                provider_ref=payment.provider_ref or "",
                reason=reason,
            )
            payment.refunded_amount = payment.amount
