"""`omni demo` builds a believable retailer, and its orders cover every mode."""

from __future__ import annotations

import sqlalchemy as sa

from omniretail.auth import service as auth
from omniretail.catalog import service as catalog
from omniretail.catalog.schemas import ProductIn
from omniretail.db import Database
from omniretail.demo import DEMO_SLUG, seed_demo
from omniretail.inventory.demo import seed_inventory
from omniretail.orders.demo import seed_orders
from omniretail.orders.models import Order


async def test_the_demo_seeds_once_and_its_orders_cover_every_mode(db: Database) -> None:
    first = await seed_demo(db)
    again = await seed_demo(db)
    assert first["created"]
    assert not again["created"]
    async with db.uow(unscoped=True) as uow:
        tenant_id = await auth.tenant_id_by_slug(uow, DEMO_SLUG)
    async with db.uow(tenant_id) as uow:
        if not await catalog.list_products(uow, limit=1):
            await catalog.do_create_product(
                uow,
                actor="test",
                data=ProductIn.model_validate(
                    {
                        "code": "TEE",
                        "title": "Tee",
                        "category": "men/tees",
                        "variants": [{"sku": f"TEE-{s}", "price": 9900} for s in "SML"],
                    }
                ),
            )
    await seed_inventory(db, tenant_id, seed=99)
    placed = await seed_orders(db, tenant_id, count=16, seed=3)
    assert placed >= 10
    async with db.uow(tenant_id) as uow:
        modes = set((await uow.session.scalars(sa.select(Order.mode))).all())
        statuses = set((await uow.session.scalars(sa.select(Order.status))).all())
    assert modes == {"ship", "pickup", "local_delivery", "in_store"}
    assert "completed" in statuses
