"""Reactions of loyalty to other contexts' events (wired in ``wiring.py``). Every handler is
idempotent: the outbox delivers at least once."""

from __future__ import annotations

import datetime as dt

from omniretail.db import UnitOfWork
from omniretail.events import Event
from omniretail.loyalty import service


async def on_order_completed(uow: UnitOfWork, event: Event) -> None:
    """``order.completed`` {order_id, customer_id?, channel, location?, paid_amount,
    points_redeemed, completed_at}: earn points on the money paid (redeemed points were already
    spent by checkout through ``do_redeem_points``)."""
    payload = event.payload
    if not payload.get("customer_id"):
        return
    await service.do_earn_for_order(
        uow,
        customer_id=str(payload["customer_id"]),
        order_ref=str(payload["order_id"]),
        channel=str(payload["channel"]),
        paid_amount=int(payload["paid_amount"]),
        at=dt.datetime.fromisoformat(str(payload["completed_at"])),
    )


async def on_return_completed(uow: UnitOfWork, event: Event) -> None:
    """``return.completed`` {return_id, order_id, customer_id?, returned_value, order_value,
    completed_at}: reverse the return's share of earned and redeemed points."""
    payload = event.payload
    if not payload.get("customer_id"):
        return
    await service.do_reverse_for_return(
        uow,
        customer_id=str(payload["customer_id"]),
        order_ref=str(payload["order_id"]),
        return_ref=str(payload["return_id"]),
        returned_value=int(payload["returned_value"]),
        order_value=int(payload["order_value"]),
    )


async def on_order_cancelled(uow: UnitOfWork, event: Event) -> None:
    """``order.cancelled`` {order_id, customer_id?}: give back redeemed points."""
    payload = event.payload
    if not payload.get("customer_id"):
        return
    await service.do_release_order_points(
        uow, customer_id=str(payload["customer_id"]), order_ref=str(payload["order_id"])
    )


async def on_customer_merged(uow: UnitOfWork, event: Event) -> None:
    """``customer.merged`` {survivor_id, absorbed_id}: move the points to the survivor."""
    await service.do_move_points_on_merge(
        uow,
        survivor_id=str(event.payload["survivor_id"]),
        absorbed_id=str(event.payload["absorbed_id"]),
    )
