"""Reactions of engagement to other contexts' events (wired in ``wiring.py``)."""

from __future__ import annotations

import datetime as dt

from omniretail.db import UnitOfWork
from omniretail.engagement import attribution, campaigns, pairings
from omniretail.engagement.attribution import ScanLine
from omniretail.events import Event


async def on_tried_on(uow: UnitOfWork, event: Event) -> None:
    """``customer.tried_on`` {customer_id, sku, location?, channel, at}: start the campaigns'
    clocks (once per campaign, customer and SKU, however often delivered)."""
    payload = event.payload
    await campaigns.note_try_on(
        uow,
        customer_id=str(payload["customer_id"]),
        sku=str(payload["sku"]),
        location=payload.get("location"),
        at=dt.datetime.fromisoformat(str(payload["at"])),
    )


async def on_looked_at(uow: UnitOfWork, event: Event) -> None:
    """``customer.looked_at`` {customer_id, items: [{type, sku, channel, location?, staff?,
    at}]}: co-view signals, and the scans made in experience stores (both once per event)."""
    payload = event.payload
    customer_id = str(payload["customer_id"])
    items = [(str(i["sku"]), dt.datetime.fromisoformat(str(i["at"]))) for i in payload["items"]]
    await pairings.do_note_looked_at(uow, customer_id=customer_id, items=items)
    await on_scanned(uow, event)


async def on_signals(uow: UnitOfWork, events: list[Event]) -> None:
    """A dispatcher group's ``order.completed``, ``customer.looked_at`` and
    ``customer.merged`` events, in their order, into the pairings at once (set-based): what
    :func:`on_order_completed`, the co-view half of :func:`on_looked_at` and the signal half of
    :func:`on_customer_merged` do one by one."""
    await pairings.apply_events(uow, events)


async def on_scanned(uow: UnitOfWork, event: Event) -> None:
    """``customer.looked_at``: keep its scans made in experience stores (once per event),
    before any later event (an ``order.placed`` to credit) is handled."""
    payload = event.payload
    customer_id = str(payload["customer_id"])
    scans = [
        ScanLine(
            sku=str(i["sku"]),
            location=str(i["location"]),
            staff=i.get("staff"),
            at=dt.datetime.fromisoformat(str(i["at"])),
        )
        for i in payload["items"]
        if i["type"] == "scan" and i.get("location")
    ]
    await attribution.do_note_scans(uow, customer_id=customer_id, scans=scans)


async def on_order_completed(uow: UnitOfWork, event: Event) -> None:
    """``order.completed``: its SKUs pair with what its customer bought before."""
    await pairings.do_note_order(
        uow,
        order_id=str(event.payload["order_id"]),
        completed_at=dt.datetime.fromisoformat(str(event.payload["completed_at"])),
    )


async def on_order_placed(uow: UnitOfWork, event: Event) -> None:
    """``order.placed``: credit it to an experience store whose sample its customer scanned
    (once; before ``order.completed``, so the data hub's fact carries the credit)."""
    customer_id = event.payload.get("customer_id")
    await attribution.do_credit_order(
        uow,
        order_id=str(event.payload["order_id"]),
        customer_id=str(customer_id) if customer_id else None,
    )


async def on_customer_merged(uow: UnitOfWork, event: Event) -> None:
    await pairings.do_move_customer(
        uow,
        absorbed_id=str(event.payload["absorbed_id"]),
        survivor_id=str(event.payload["survivor_id"]),
    )


async def on_customer_merged_scans(uow: UnitOfWork, event: Event) -> None:
    """``customer.merged``: the absorbed customer's experience scans become the survivor's
    (their signals move with :func:`on_signals`)."""
    await pairings.do_move_scans(
        uow,
        absorbed_id=str(event.payload["absorbed_id"]),
        survivor_id=str(event.payload["survivor_id"]),
    )
