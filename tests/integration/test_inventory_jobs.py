"""The periodic expiry job and the demo stock."""

from __future__ import annotations

import datetime as dt

from omniretail.db import Database, utcnow
from omniretail.inventory import reservations as res
from omniretail.inventory import service
from omniretail.inventory.demo import seed_inventory
from omniretail.inventory.jobs import release_expired_everywhere
from tests.factories import TenantHandle
from tests.inventory_factories import (
    assert_books_balance,
    make_location,
    make_skus,
    position,
    receive,
)


async def test_the_worker_releases_expired_holds_of_every_tenant_in_batches(
    db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    now = utcnow()
    for t in (tenant, other_tenant):
        await make_skus(db, t.id, "TEE")
        await make_location(db, t.id, "ST-1")
        await receive(db, t.id, "ST-1", "TEE", 10)
        async with db.uow(t.id) as uow:
            for _ in range(3):
                await res.do_reserve(
                    uow, lines=[res.StockLine("TEE", "ST-1", 1)], ttl_seconds=30, actor="a", now=now
                )
            await res.do_reserve(
                uow, lines=[res.StockLine("TEE", "ST-1", 2)], ttl_seconds=None, actor="order"
            )
    assert await release_expired_everywhere(db, now + dt.timedelta(seconds=29)) == 0
    assert await release_expired_everywhere(db, now + dt.timedelta(seconds=31), batch=2) == 6
    for t in (tenant, other_tenant):
        assert await position(db, t.id, "ST-1", "TEE") == (10, 2)
        await assert_books_balance(db, t.id)


async def test_demo_stock_goes_to_stores_dark_stores_and_warehouses_only(
    db: Database, tenant: TenantHandle
) -> None:
    await make_skus(db, tenant.id, "A", "B", "C")
    await make_location(db, tenant.id, "ST-1")
    await make_location(db, tenant.id, "WH-1", type="warehouse")
    await make_location(db, tenant.id, "DS-1", type="dark_store")
    await make_location(db, tenant.id, "EX-1", type="experience_store")
    assert await seed_inventory(db, tenant.id) > 0
    again = await seed_inventory(db, tenant.id)
    async with db.uow(tenant.id) as uow:
        stock = {sku: await service.stock_of_sku(uow, sku) for sku in "ABC"}
    for sku, out in stock.items():
        where = {p.location for p in out.positions}
        assert {"WH-1", "DS-1"} <= where <= {"ST-1", "WH-1", "DS-1"}, sku
        assert next(p.on_hand for p in out.positions if p.location == "WH-1") >= 150
    assert again > 0  # a replay of the same batch: nothing received twice
    async with db.uow(tenant.id) as uow:
        assert (await service.stock_of_sku(uow, "A")).totals == stock["A"].totals
    await assert_books_balance(db, tenant.id)
