"""What the connectors do when events arrive from the outbox."""

from __future__ import annotations

from omniretail.connectors import apply, stock
from omniretail.connectors.platforms.base import Platform
from omniretail.db import UnitOfWork
from omniretail.events import Event, HandlerRegistry


def subscribe(registry: HandlerRegistry, platforms: dict[str, Platform]) -> None:
    async def on_message_received(uow: UnitOfWork, event: Event) -> None:
        await apply.do_apply_message(uow, message_id=int(event.payload["message_id"]))

    async def on_availability_changed(uow: UnitOfWork, event: Event) -> None:
        await stock.do_push_stock(
            uow,
            sku=str(event.payload["sku"]),
            location=str(event.payload["location"]),
            platforms=platforms,
        )

    registry.subscribe("connector.message_received", on_message_received)
    registry.subscribe("inventory.availability_changed", on_availability_changed)
