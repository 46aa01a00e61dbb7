"""Reactions of the customers context to other contexts' events (wired in ``wiring.py``)."""

from __future__ import annotations

import datetime as dt

from omniretail.customers import service
from omniretail.db import UnitOfWork
from omniretail.events import Event


async def on_order_completed(uow: UnitOfWork, event: Event) -> None:
    """``order.completed`` {order_id, customer_id?, channel, location?, paid_amount,
    points_redeemed, completed_at}: count the order in the profile (once per order)."""
    payload = event.payload
    if not payload.get("customer_id"):
        return  # a guest order belongs to nobody's profile
    await service.do_record_order(
        uow,
        customer_id=str(payload["customer_id"]),
        order_ref=str(payload["order_id"]),
        channel=str(payload["channel"]),
        location=payload.get("location"),
        amount=int(payload["paid_amount"]),
        at=dt.datetime.fromisoformat(str(payload["completed_at"])),
    )


async def on_return_completed(uow: UnitOfWork, event: Event) -> None:
    """``return.completed`` {return_id, order_id, customer_id?, returned_value, order_value,
    completed_at}: net the returned share off the order's spend (LTV)."""
    payload = event.payload
    await service.do_record_return(
        uow,
        order_ref=str(payload["order_id"]),
        return_ref=str(payload["return_id"]),
        returned_value=int(payload["returned_value"]),
        order_value=int(payload["order_value"]),
    )
