"""`omni demo` builds a believable retailer, and its orders cover every mode."""

from __future__ import annotations

import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.catalog.models import Variant
from omniretail.db import Database
from omniretail.demo import DEMO_SLUG, seed_demo
from omniretail.inventory.models import StockPosition
from omniretail.orders.models import Order


async def test_the_demo_seeds_once_and_its_orders_cover_every_mode(db: Database) -> None:
    first = await seed_demo(db)
    again = await seed_demo(db)
    assert first["created"]
    assert not again["created"]
    async with db.uow(unscoped=True) as uow:
        tenant_id = await auth.tenant_id_by_slug(uow, DEMO_SLUG)
    async with db.uow(tenant_id) as uow:
        count = sa.select(sa.func.count())
        assert await uow.session.scalar(count.select_from(Variant)) > 1_500
        assert await uow.session.scalar(count.select_from(StockPosition)) > 10_000
        modes = set((await uow.session.scalars(sa.select(Order.mode))).all())
        statuses = set((await uow.session.scalars(sa.select(Order.status))).all())
    assert modes == {"ship", "pickup", "local_delivery", "in_store"}
    assert {"completed", "confirmed"} <= statuses
