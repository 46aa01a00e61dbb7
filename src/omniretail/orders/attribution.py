"""Crediting an order to a store and staff member after it was placed, by a rule another
context applies (engagement's experience-store scans). The order keeps the rule's
explanation, so ``GET /v1/orders/{id}`` says why; the data hub reads the same two fields."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from omniretail.db import UnitOfWork
from omniretail.orders.models import Order
from omniretail.orders.schemas import AttributionOut


async def do_credit_order(
    uow: UnitOfWork, *, order_id: str, location: str, staff: str | None, why: AttributionOut
) -> bool:
    """Credit the order once: only an order nobody is credited for yet takes it (a
    conditional update, so a second rule, a redelivery or a race change nothing). Returns
    whether this call credited it."""
    explained: dict[str, Any] = why.model_dump(mode="json")
    credited = await uow.session.execute(
        sa.update(Order)
        .where(
            Order.public_id == order_id,
            Order.attributed_location.is_(None),
            Order.attributed_staff.is_(None),
        )
        .values(attributed_location=location, attributed_staff=staff, attribution=explained)
        .execution_options(synchronize_session=False)
    )
    return bool(credited.rowcount == 1)  # type: ignore[attr-defined]
