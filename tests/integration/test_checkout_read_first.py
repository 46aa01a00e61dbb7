"""The read-only half of a checkout (priced and planned before the write lock) is used only
while what it read still holds; otherwise the checkout does the work again under the lock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from omniretail.db import Database, ReadOnlyViolation
from omniretail.network.models import Location
from omniretail.orders import checkout, read_first
from omniretail.orders.schemas import OrderIn
from omniretail.payments.providers import builtin_providers
from tests.factories import SANDBOX_SECRET, Api, TenantHandle
from tests.orders_world import World, build_world, order_body


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    world = await build_world(admin, db, tenant)
    await world.stock("ST-A", "TEE-S", 1)
    await world.stock("ST-C", "TEE-S", 5)
    return world


async def _prepare(db: Database, tenant: TenantHandle, body: OrderIn) -> checkout.Prepared:
    async with db.uow(tenant.id, read_only=True) as uow:
        prepared = await read_first.prepare_order(uow, data=body)
    assert prepared is not None
    return prepared


async def _place(
    db: Database, tenant: TenantHandle, body: OrderIn, prepared: checkout.Prepared
) -> tuple[checkout.Prepared | None, Any]:
    async with db.uow(tenant.id) as uow:
        confirmed = await read_first.confirm(uow, prepared, data=body)
        order = await checkout.do_place_order(
            uow,
            data=body,
            caller=checkout.Caller(actor="test"),
            providers=builtin_providers(SANDBOX_SECRET),
            prepared=confirmed,
        )
    return confirmed, order


async def test_an_unchanged_read_is_used_as_it_was(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    body = OrderIn.model_validate(order_body())
    prepared = await _prepare(db, tenant, body)
    assert prepared.plan == [("ST-A", pytest.approx(0.511, abs=0.01), [("TEE-S", 1)])]
    confirmed, order = await _place(db, tenant, body, prepared)
    assert confirmed is prepared
    assert [f.location for f in order.fulfillments] == ["ST-A"]
    assert order.totals.total == 9900


async def test_a_price_changed_in_between_is_charged_at_the_new_price(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    body = OrderIn.model_validate(order_body(payments=[{"method": "sandbox", "amount": 8900}]))
    prepared = await _prepare(db, tenant, body)
    assert prepared.quote.total == 9900
    patched = await world.admin.patch(
        "/v1/products/BASICS", {"variants": [{"sku": "TEE-S", "price": 8900}]}
    )
    assert patched.status_code == 200, patched.text
    confirmed, order = await _place(db, tenant, body, prepared)
    assert confirmed is None
    assert order.totals.total == 8900


async def test_a_promotion_created_in_between_applies(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    body = OrderIn.model_validate(order_body(payments=[{"method": "sandbox", "amount": 8910}]))
    prepared = await _prepare(db, tenant, body)
    created = await world.admin.post(
        "/v1/promotions",
        {
            "code": "TENOFF",
            "title": "10% off",
            "scope": {"skus": ["TEE-S"]},
            "discount": {"kind": "percent", "value": 10},
            "starts_at": "2020-01-01T00:00:00Z",
            "ends_at": "2099-01-01T00:00:00Z",
        },
    )
    assert created.status_code == 201, created.text
    confirmed, order = await _place(db, tenant, body, prepared)
    assert confirmed is None
    assert order.totals.total == 8910


async def test_a_location_that_reached_its_capacity_in_between_is_planned_around(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    body = OrderIn.model_validate(order_body())
    prepared = await _prepare(db, tenant, body)
    async with db.uow(tenant.id) as uow:
        await uow.session.execute(
            sa.update(Location).where(Location.code == "ST-A").values(daily_capacity=0)
        )
    confirmed, order = await _place(db, tenant, body, prepared)
    assert confirmed is not None
    assert confirmed.plan is None
    assert [f.location for f in order.fulfillments] == ["ST-C"]


async def test_stock_taken_in_between_is_re_planned_under_the_lock(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    body = OrderIn.model_validate(order_body())
    prepared = await _prepare(db, tenant, body)
    assert prepared.plan is not None
    assert prepared.plan[0][0] == "ST-A"
    first = await world.order()  # takes ST-A's only unit
    assert first.json()["fulfillments"][0]["location"] == "ST-A"
    confirmed, order = await _place(db, tenant, body, prepared)
    assert confirmed is prepared  # prices and capacity held; the hold found ST-A empty
    assert [f.location for f in order.fulfillments] == ["ST-C"]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 1}


async def test_an_order_that_cannot_be_planned_leaves_the_work_to_the_locked_checkout(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    for body in (
        order_body(lines=[{"sku": "TEE-S", "qty": 99}]),
        order_body(channel="nope"),
        order_body(customer_id="cus_nobody"),
    ):
        async with db.uow(tenant.id, read_only=True) as uow:
            assert await read_first.prepare_order(uow, data=OrderIn.model_validate(body)) is None


async def test_a_read_only_unit_of_work_neither_waits_for_nor_keeps_a_write(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    async with db.uow(tenant.id) as writer:
        await writer.session.execute(
            sa.update(Location).where(Location.code == "WH").values(name="Renamed")
        )
        # On SQLite the writer holds the one write lock now; a reader still reads its snapshot.
        async with asyncio.timeout(5), db.uow(tenant.id, read_only=True) as reader:
            name = await reader.session.scalar(
                sa.select(Location.name).where(Location.code == "WH")
            )
        assert name == "WH"
    # A read-only unit of work refuses to write at all (it never keeps a write either).
    with pytest.raises(ReadOnlyViolation):
        async with db.uow(tenant.id, read_only=True) as reader:
            await reader.session.execute(
                sa.update(Location).where(Location.code == "WH").values(name="Lost")
            )
    async with db.uow(tenant.id) as uow:
        assert (
            await uow.session.scalar(sa.select(Location.name).where(Location.code == "WH"))
            == "Renamed"
        )


async def test_settings_changed_in_between_are_applied(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    body = OrderIn.model_validate(order_body(payments=[{"method": "sandbox", "amount": 10_700}]))
    prepared = await _prepare(db, tenant, body)
    changed = await world.admin.patch("/v1/settings", {"delivery_fees": {"ship": 800}})
    assert changed.status_code == 200, changed.text
    confirmed, order = await _place(db, tenant, body, prepared)
    assert confirmed is None
    assert order.totals.total == 9900 + 800


async def test_sqlite_checkouts_take_the_write_lock_in_the_order_they_asked(db: Database) -> None:
    served: list[int] = []
    gate = asyncio.Event()

    async def checkout_writer(n: int) -> None:
        async with read_first.write_turn(db):
            if n == 0:
                await gate.wait()  # the first holds its turn while the others queue
            served.append(n)

    tasks = []
    for n in range(5):
        tasks.append(asyncio.create_task(checkout_writer(n)))
        await asyncio.sleep(0)  # each asks in turn
    await asyncio.sleep(0.01)
    if db.is_sqlite:
        assert served == []  # everyone waits behind the first
    else:
        assert served == [1, 2, 3, 4]  # PostgreSQL has row locks: no queue at all
    gate.set()
    await asyncio.gather(*tasks)
    assert served == ([0, 1, 2, 3, 4] if db.is_sqlite else [1, 2, 3, 4, 0])
