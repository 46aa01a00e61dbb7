"""Sourcing reads the locations that hold the lines, not the whole network."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import event

from omniretail.catalog import service as catalog
from omniretail.catalog.schemas import ProductIn
from omniretail.db import Database
from omniretail.inventory import service as inventory
from omniretail.inventory.schemas import MovementLineIn
from omniretail.network import service as network
from omniretail.network.models import Location
from omniretail.network.schemas import CapabilitiesIn, LocationIn
from omniretail.orders import routing
from omniretail.orders.domain import Mode
from tests.factories import TenantHandle

NOW = dt.datetime(2026, 3, 2, 4, 0, tzinfo=dt.UTC)  # noon in Shanghai, a Monday


async def _network(db: Database, tenant: TenantHandle, size: int) -> None:
    async with db.uow(tenant.id) as uow:
        for i in range(size):
            await network.do_create_location(
                uow,
                data=LocationIn(
                    code=f"ST-{i:03d}",
                    name=f"Store {i}",
                    type="store",  # type: ignore[arg-type]
                    lat=31.0 + i * 0.01,
                    lng=121.0,
                    capabilities=CapabilitiesIn(ship=True, pickup=True, sells_online=True),
                    daily_capacity=0 if i == 1 else None,
                ),
            )
        await catalog.do_create_product(
            uow,
            data=ProductIn.model_validate(
                {
                    "code": "P",
                    "title": "Tee",
                    "category": "tees",
                    "variants": [{"sku": "TEE", "price": 100}, {"sku": "CAP", "price": 100}],
                }
            ),
            actor="test",
        )
        await inventory.do_apply_movements(
            uow,
            actor="test",
            lines=[
                MovementLineIn(sku="TEE", location=code, reason="receipt", qty=3)
                for code in ("ST-001", "ST-040")
            ],
        )


async def _candidates(db: Database, tenant: TenantHandle, **kwargs: object) -> routing.Network:
    async with db.uow(tenant.id) as uow:
        return await routing.candidates_for(
            uow,
            mode=Mode.SHIP,
            lat=31.0,
            lng=121.0,
            skus=["TEE"],
            now=NOW,
            timezone="Asia/Shanghai",
            **kwargs,  # type: ignore[arg-type]
        )


async def test_only_the_locations_holding_a_line_are_candidates(
    db: Database, tenant: TenantHandle
) -> None:
    await _network(db, tenant, 50)
    found = await _candidates(db, tenant)
    assert [c.code for c in found.candidates] == ["ST-001", "ST-040"]
    assert found.candidates[0].stock == {"TEE": 3}
    assert found.candidates[0].distance_km < found.candidates[1].distance_km


async def test_a_holder_that_cannot_serve_the_mode_or_is_inactive_is_left_out(
    db: Database, tenant: TenantHandle
) -> None:
    await _network(db, tenant, 50)
    async with db.uow(tenant.id) as uow:
        await uow.session.execute(
            sa.update(Location).where(Location.code == "ST-040").values(can_ship=False)
        )
    assert [c.code for c in (await _candidates(db, tenant)).candidates] == ["ST-001"]
    async with db.uow(tenant.id) as uow:
        await uow.session.execute(
            sa.update(Location).where(Location.code == "ST-001").values(active=False)
        )
    assert (await _candidates(db, tenant)).candidates == []


async def test_a_holder_at_its_capacity_stays_a_candidate_that_says_why(
    db: Database, tenant: TenantHandle
) -> None:
    await _network(db, tenant, 50)
    found = await _candidates(db, tenant)
    assert [(c.code, c.excluded) for c in found.candidates] == [
        ("ST-001", "at its daily capacity of 0 orders"),
        ("ST-040", None),
    ]


async def test_sold_out_positions_and_another_tenants_stock_are_not_candidates(
    db: Database, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    await _network(db, tenant, 50)
    await _network(db, other_tenant, 45)
    async with db.uow(tenant.id) as uow:
        await inventory.do_apply_movements(
            uow,
            actor="test",
            lines=[MovementLineIn(sku="TEE", location="ST-001", reason="sale", qty=3)],
        )
    assert [c.code for c in (await _candidates(db, tenant)).candidates] == ["ST-040"]


async def test_the_number_of_queries_does_not_grow_with_the_network(
    db: Database, tenant: TenantHandle
) -> None:
    await _network(db, tenant, 120)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        found = await _candidates(db, tenant)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    work = [s for s in statements if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
    # positions of the SKUs, the holders by primary key, today's load of the capped holder
    assert len(work) == 3, "\n".join(work)
    assert len(found.candidates) == 2
    assert "stock_positions" in work[0]
    assert "locations" in work[1]


async def test_the_pickup_store_is_read_even_when_it_holds_nothing(
    db: Database, tenant: TenantHandle
) -> None:
    await _network(db, tenant, 45)
    async with db.uow(tenant.id) as uow:
        store_id, _ = await network.location_ref(uow, "ST-005")
    found = await _candidates(db, tenant, only=[store_id])
    assert [(c.code, dict(c.stock)) for c in found.candidates] == [("ST-005", {})]
