"""Reactions of engagement to other contexts' events (wired in ``wiring.py``)."""

from __future__ import annotations

import datetime as dt

from omniretail.db import UnitOfWork
from omniretail.engagement import campaigns
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
