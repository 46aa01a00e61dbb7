"""What the connectors do when events arrive from the outbox."""

from __future__ import annotations

from omniretail.connectors import apply, stock
from omniretail.connectors.platforms.base import Platform
from omniretail.db import UnitOfWork
from omniretail.events import Event, HandlerRegistry


def subscribe(registry: HandlerRegistry, platforms: dict[str, Platform]) -> None:
    async def on_message_received(uow: UnitOfWork, event: Event) -> None:
        await apply.do_apply_message(uow, message_id=int(event.payload["message_id"]))

    async def on_availability_changed(uow: UnitOfWork, events: list[Event]) -> None:
        # A burst (a checkout's lines, a receipt of thousands) is one delivery: one stock
        # request per (connection, SKU), whatever the number of changes behind it.
        await stock.do_push_stock_changes(
            uow,
            changes={(str(e.payload["sku"]), str(e.payload["location"])) for e in events},
            platforms=platforms,
        )

    registry.subscribe("connector.message_received", on_message_received)
    registry.subscribe_batch("inventory.availability_changed", on_availability_changed)
