"""What the connectors do when events arrive from the outbox."""

from __future__ import annotations

from omniretail.connectors import apply, stock
from omniretail.connectors.platforms.base import Platform
from omniretail.db import UnitOfWork
from omniretail.events import Event, HandlerRegistry


async def on_message_received(uow: UnitOfWork, event: Event) -> None:
    await apply.do_apply_message(uow, message_id=int(event.payload["message_id"]))


def subscribe_messages(registry: HandlerRegistry) -> None:
    """Orders in: platform messages applied by the outbox worker."""
    registry.subscribe("connector.message_received", on_message_received)


def subscribe_stock(registry: HandlerRegistry, platforms: dict[str, Platform]) -> None:
    """Stock out: availability changes pushed to the platforms (in-process, or from NATS)."""

    async def on_availability_changed(uow: UnitOfWork, events: list[Event]) -> None:
        # A burst (a checkout's lines, a receipt of thousands) is one delivery: one stock
        # request per (connection, SKU), whatever the number of changes behind it.
        await stock.do_push_stock_changes(
            uow,
            changes={(str(e.payload["sku"]), str(e.payload["location"])) for e in events},
            platforms=platforms,
        )

    registry.subscribe_batch("inventory.availability_changed", on_availability_changed)
