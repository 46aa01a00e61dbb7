"""Reactions of the orders context to other contexts' events (wired in ``wiring.py``)."""

from __future__ import annotations

import sqlalchemy as sa

from omniretail.db import UnitOfWork
from omniretail.events import Event
from omniretail.orders.models import Order


async def on_customer_merged(uow: UnitOfWork, event: Event) -> None:
    """``customer.merged`` {survivor_id, absorbed_id}: the absorbed customer's orders now
    belong to the survivor (idempotent: a repeat finds nothing left to move)."""
    await uow.session.execute(
        sa.update(Order)
        .where(Order.customer_id == str(event.payload["absorbed_id"]))
        .values(customer_id=str(event.payload["survivor_id"]))
        .execution_options(synchronize_session=False)
    )
