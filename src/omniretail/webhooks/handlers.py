"""Our events become webhook deliveries (in the dispatcher's transaction, so once each)."""

from __future__ import annotations

from typing import Any

from omniretail.db import UnitOfWork
from omniretail.events import Event, HandlerRegistry
from omniretail.webhooks import service
from omniretail.webhooks.domain import (
    FULFILMENT_EVENTS,
    STOCK_EVENT,
    WebhookEvent,
    fulfilment_data,
    public_event,
)

# A receipt of thousands of lines is a few deliveries, not thousands.
STOCK_CHANGES_PER_DELIVERY = 500


def event_id(outbox_id: int) -> str:
    return f"evt_{outbox_id}"


async def on_event(uow: UnitOfWork, event: Event) -> None:
    kind = public_event(event.type)
    if kind is None:
        return
    data = dict(event.payload)
    if kind is WebhookEvent.FULFILMENT_STATUS_CHANGED:
        data = fulfilment_data(event.type, data)
    await service.do_record_deliveries(
        uow, event_type=kind, events=[(event_id(event.id), event.occurred_at, data)]
    )


async def on_stock_changed(uow: UnitOfWork, events: list[Event]) -> None:
    """One ``stock.changed`` per chunk of the burst, each position at its latest figure."""
    latest: dict[tuple[str, str], tuple[Event, dict[str, Any]]] = {}
    for event in events:
        p = event.payload
        latest[(str(p["sku"]), str(p["location"]))] = (
            event,
            {
                "sku": p["sku"],
                "location": p["location"],
                "available": p["available_after"],
                "on_hand": p["on_hand"],
                "reserved": p["reserved"],
            },
        )
    items = list(latest.values())
    chunks = [
        items[i : i + STOCK_CHANGES_PER_DELIVERY]
        for i in range(0, len(items), STOCK_CHANGES_PER_DELIVERY)
    ]
    await service.do_record_deliveries(
        uow,
        event_type=WebhookEvent.STOCK_CHANGED,
        events=[
            (
                # The chunk's last event: unique, since the chunks share no event.
                event_id(max(e.id for e, _ in chunk)),
                max(e.occurred_at for e, _ in chunk),
                {"changes": [change for _, change in chunk]},
            )
            for chunk in chunks
        ],
    )


def subscribe(registry: HandlerRegistry) -> None:
    for event_type in ("order.placed", "return.completed", *FULFILMENT_EVENTS):
        registry.subscribe(event_type, on_event)
    registry.subscribe_batch(STOCK_EVENT, on_stock_changed)
