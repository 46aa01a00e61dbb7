"""A placed order as plain values: its fulfilments, its events and the checkout's response,
built from what the checkout worked out (``orders.checkout``) and written by
``orders.placing``; also the events of an order's later steps (a re-routed fulfilment, the
order's completion), whose payloads are the same as at checkout.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from omniretail.db import UnitOfWork
from omniretail.events import record_event
from omniretail.loyalty import service as loyalty
from omniretail.orders.domain import (
    FulfilmentStatus,
    Mode,
    OrderStatus,
    new_pickup_code,
    new_public_id,
)
from omniretail.orders.models import Fulfilment, Order
from omniretail.orders.placing import NewEvent, NewFulfilment, NewFulfilmentLine, NewOrder
from omniretail.orders.planning import Draft
from omniretail.orders.queries import header_out, named_attribution
from omniretail.orders.schemas import (
    FulfilmentLineOut,
    FulfilmentOut,
    OrderLineOut,
    OrderOut,
    PaymentOut,
)


def add_fulfilments(
    order: NewOrder,
    draft: Draft,
    mode: Mode,
    settings: dict[str, Any],
    now: dt.datetime,
    location_ids: dict[str, int],
    *,
    issue_codes: bool = True,
) -> list[tuple[NewFulfilment, str | None]]:
    promise = {
        Mode.SHIP: dt.timedelta(hours=int(settings.get("ship_promise_hours", 48))),
        Mode.LOCAL_DELIVERY: dt.timedelta(minutes=int(settings.get("local_promise_minutes", 30))),
        Mode.PICKUP: dt.timedelta(hours=int(settings.get("pickup_promise_hours", 2))),
        Mode.IN_STORE: dt.timedelta(0),
    }[mode]
    if draft.transfers:
        promise += dt.timedelta(hours=int(settings.get("transfer_promise_hours", 24)))
    status = FulfilmentStatus.HANDED_OVER if mode is Mode.IN_STORE else FulfilmentStatus.PENDING
    transferred = [
        NewFulfilmentLine(sku=sku, qty=qty) for t in draft.transfers for sku, qty in t["lines"]
    ]
    out: list[tuple[NewFulfilment, str | None]] = []
    for location, distance, lines in draft.plan:
        code = new_pickup_code() if mode is Mode.PICKUP and issue_codes else None
        fulfilment = NewFulfilment(
            public_id=new_public_id("ful"),
            location_id=location_ids[location],
            location_code=location,
            mode=mode.value,
            status=status.value,
            distance_km=distance,
            promised_at=now + promise,
            reservation_id=str(draft.reservation_id) if draft.reservation_id else None,
            transfer_from=draft.transfers if mode is Mode.PICKUP else [],
            lines=[NewFulfilmentLine(sku=sku, qty=qty) for sku, qty in lines] + transferred,
        )
        order.fulfilments.append(fulfilment)
        out.append((fulfilment, code))
    return out


def placed_out(order: NewOrder, pickup_codes: dict[str, str]) -> OrderOut:
    """The response of a checkout, from what it writes (nothing is read back); pickup codes
    by fulfilment id, shown this once. Validated as built: pydantic's ``model_construct``
    (Python) measured slower than its validation (Rust) here, 23 against 13 us."""
    return OrderOut(
        **header_out(order),
        attribution=named_attribution(order.attributed_location, order.attributed_staff),
        lines=[
            OrderLineOut(
                sku=x.sku,
                title=x.title,
                qty=x.qty,
                unit_price=x.unit_price,
                discounts=x.discounts,
                discount=x.discount,
                line_total=x.line_total,
                returned_qty=x.returned_qty,
            )
            for x in order.lines
        ],
        payments=[
            PaymentOut(
                method=p.method,
                amount=p.amount,
                status=p.status,
                provider_ref=p.provider_ref,
                refunded_amount=p.refunded_amount,
            )
            for p in order.payments
        ],
        fulfillments=[
            FulfilmentOut(
                id=f.public_id,
                order_id=order.public_id,
                location=f.location_code,
                mode=Mode(f.mode),
                status=FulfilmentStatus(f.status),
                lines=[FulfilmentLineOut(sku=x.sku, qty=x.qty) for x in f.lines],
                distance_km=f.distance_km,
                promised_at=f.promised_at,
                transfer_from=f.transfer_from,
                reason=None,
                pickup_code=pickup_codes.get(f.public_id),
            )
            for f in order.fulfilments
        ],
        coupon_codes=order.coupon_codes,
        sourcing=order.sourcing,
        created_at=order.created_at,
    )


def announce_order(order: NewOrder, now: dt.datetime) -> None:
    """The new order's events, in the order they are written: ``order.placed``, each
    ``fulfillment.created``, and ``order.completed`` when it is (a paid till sale)."""
    order.events.append(
        NewEvent(
            "order.placed",
            {
                "order_id": order.public_id,
                "channel": order.channel,
                "customer_id": order.customer_id,
                "mode": order.mode,
                "total": order.total,
                "status": order.status,
                "attributed_location": order.attributed_location,
            },
        )
    )
    for f in order.fulfilments:
        order.events.append(
            NewEvent(
                "fulfillment.created",
                fulfilment_created(
                    order.public_id,
                    public_id=f.public_id,
                    location=f.location_code,
                    mode=f.mode,
                    status=f.status,
                    lines=[(x.sku, x.qty) for x in f.lines],
                ),
            )
        )
    if order.status == OrderStatus.COMPLETED.value:
        points = sum(p.amount for p in order.payments if p.method == "points")
        location = order.placed_at_location or next(
            (f.location_code for f in order.fulfilments), None
        )
        order.events.append(
            NewEvent(
                "order.completed",
                order_completed(
                    order.public_id,
                    customer_id=order.customer_id,
                    channel=order.channel,
                    location=location,
                    paid=order.paid_amount - points,
                    points_redeemed=order.points_redeemed,
                    now=now,
                ),
            )
        )


async def earn_for_till_sale(uow: UnitOfWork, order: NewOrder, now: dt.datetime) -> None:
    """Points for a paid till sale, in the placing transaction (as ``complete_order``)."""
    assert order.customer_id is not None
    await loyalty.do_earn_for_order(
        uow,
        customer_id=order.customer_id,
        order_ref=order.public_id,
        channel=order.channel,
        paid_amount=order.paid_amount
        - sum(p.amount for p in order.payments if p.method == "points"),
        at=now,
    )


def fulfilment_created(
    order_id: str,
    *,
    public_id: str,
    location: str,
    mode: str,
    status: str,
    lines: Sequence[tuple[str, int]],
    rerouted_from: str | None = None,
) -> dict[str, Any]:
    """The payload of ``fulfillment.created``: the store is told it has work."""
    payload: dict[str, Any] = {
        "fulfillment_id": public_id,
        "order_id": order_id,
        "location": location,
        "mode": mode,
        "status": status,
        "lines": [{"sku": sku, "qty": qty} for sku, qty in lines],
    }
    if rerouted_from is not None:
        payload["rerouted_from"] = rerouted_from
    return payload


def announce_fulfilment(
    uow: UnitOfWork, order_id: str, f: Fulfilment, *, rerouted_from: str | None = None
) -> None:
    """``fulfillment.created`` for a fulfilment made after checkout (a re-routing)."""
    record_event(
        uow,
        "fulfillment.created",
        aggregate_type="order",
        aggregate_id=order_id,
        payload=fulfilment_created(
            order_id,
            public_id=f.public_id,
            location=f.location_code,
            mode=f.mode,
            status=f.status,
            lines=[(line.sku, line.qty) for line in f.lines],
            rerouted_from=rerouted_from,
        ),
    )


def order_completed(
    order_id: str,
    *,
    customer_id: str | None,
    channel: str,
    location: str | None,
    paid: int,
    points_redeemed: int,
    now: dt.datetime,
) -> dict[str, Any]:
    """The payload of ``order.completed``."""
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "channel": channel,
        "location": location,
        "paid_amount": paid,
        "points_redeemed": points_redeemed,
        "completed_at": now.isoformat(),
    }


async def complete_order(uow: UnitOfWork, order: Order, now: dt.datetime) -> None:
    """Points are earned in the completing transaction itself (idempotent per order), so a
    return can never overtake them; ``order.completed`` then tells the profile and others."""
    if order.customer_id is not None:
        await loyalty.do_earn_for_order(
            uow,
            customer_id=order.customer_id,
            order_ref=order.public_id,
            channel=order.channel,
            paid_amount=order.paid_amount - _points_paid(order),
            at=now,
        )
    location = order.placed_at_location or next((f.location_code for f in order.fulfilments), None)
    record_event(
        uow,
        "order.completed",
        aggregate_type="order",
        aggregate_id=order.public_id,
        payload=order_completed(
            order.public_id,
            customer_id=order.customer_id,
            channel=order.channel,
            location=location,
            paid=order.paid_amount - _points_paid(order),
            points_redeemed=order.points_redeemed,
            now=now,
        ),
    )


def _points_paid(order: Order) -> int:
    return sum(p.amount for p in order.payments if p.method == "points")
