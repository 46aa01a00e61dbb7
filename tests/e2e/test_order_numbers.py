"""A checkout whose random order number is already taken (by the tenant's earlier order of the
day, or another checkout of the same moment) is placed under another number: the client gets
its 201 and nothing is written twice; a number that keeps being taken ends in a clear 503."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from omniretail.db import Database
from omniretail.events import OutboxEvent
from omniretail.inventory import service as inventory
from omniretail.inventory.models import StockMovement
from omniretail.orders.models import Order, OrderLine, Payment
from omniretail.orders.numbers import NUMBER_ATTEMPTS
from tests.factories import Api, TenantHandle
from tests.orders_world import (
    PRICES,
    World,
    build_world,
    numbers_drawn,
    tee_for_jeans,
    tee_sold_at_st_a,
)


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    world = await build_world(admin, db, tenant)
    await world.stock("ST-A", "TEE-S", 10)
    return world


def till_sale(world: World) -> Any:
    body = {
        "channel": "pos",
        "lines": [{"sku": "TEE-S", "qty": 1}],
        "fulfillment": {"mode": "in_store", "location": "ST-A"},
        "payments": [{"method": "cash", "amount": PRICES["TEE-S"]}],
    }
    return world.keys["pos_a"].post("/v1/orders", body)


async def _written(db: Database, tenant_id: int) -> dict[str, int]:
    """How many rows of each kind the tenant's orders have."""
    async with db.uow(tenant_id) as uow:
        counts = {}
        for name, model in (("orders", Order), ("lines", OrderLine), ("payments", Payment)):
            query = sa.select(sa.func.count()).select_from(model)
            counts[name] = int(await uow.session.scalar(query) or 0)
        query = sa.select(sa.func.count()).where(OutboxEvent.type == "order.placed")
        counts["placed_events"] = int(await uow.session.scalar(query) or 0)
        query = sa.select(sa.func.count()).where(StockMovement.reason == "sale")
        counts["sales"] = int(await uow.session.scalar(query) or 0)
        return counts


@pytest.mark.parametrize("kind", ["online", "till"])
async def test_an_order_whose_number_is_taken_is_placed_under_another_number(
    world: World, db: Database, tenant: TenantHandle, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    place = (lambda: world.order()) if kind == "online" else (lambda: till_sale(world))
    first = await place()
    assert first.status_code == 201, first.text
    taken = first.json()["number"]
    before = await _written(db, tenant.id)
    stock = await world.on_hand("ST-A", "TEE-S")

    drawn = numbers_drawn(monkeypatch, {0: taken})
    second = await place()

    assert second.status_code == 201, second.text
    assert len(drawn) == 2
    assert drawn[0] == taken
    assert second.json()["number"] == drawn[1] != taken
    # One more order, with its one line, payment and event, and (at the till) one sale.
    more = {"orders": 1, "lines": 1, "payments": 1, "placed_events": 1, "sales": kind == "till"}
    assert await _written(db, tenant.id) == {name: before[name] + more[name] for name in before}
    read = await world.admin.get(f"/v1/orders/{second.json()['id']}")
    assert read.json() == second.json()
    # The stock moved once for each order (held online, sold at the till).
    after = await world.on_hand("ST-A", "TEE-S")
    if kind == "till":
        assert after == {"on_hand": stock["on_hand"] - 1, "reserved": 0}
    async with db.uow(tenant.id) as uow:
        assert await inventory.check_ledger(uow) == []


@pytest.mark.parametrize("kind", ["online", "till"])
async def test_a_number_taken_at_every_attempt_ends_in_a_clear_error_and_writes_nothing(
    world: World, db: Database, tenant: TenantHandle, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    place = (lambda: world.order()) if kind == "online" else (lambda: till_sale(world))
    first = await place()
    taken = first.json()["number"]
    before = await _written(db, tenant.id)
    stock = await world.on_hand("ST-A", "TEE-S")

    drawn = numbers_drawn(monkeypatch, dict.fromkeys(range(100), taken))
    refused = await place()

    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "order_number_unavailable"
    assert len(drawn) == NUMBER_ATTEMPTS
    assert await _written(db, tenant.id) == before
    assert await world.on_hand("ST-A", "TEE-S") == stock


async def test_an_exchange_whose_new_order_number_is_taken_is_placed_under_another(
    world: World, db: Database, tenant: TenantHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    sale = await tee_sold_at_st_a(world)
    tees = await world.on_hand("ST-A", "TEE-S")
    drawn = numbers_drawn(monkeypatch, {0: sale["number"]})
    swap = tee_for_jeans(sale["id"], payments=[{"method": "cash", "amount": 20000}])

    done = await world.keys["pos_a"].post("/v1/exchanges", swap)

    assert done.status_code == 201, done.text
    assert done.json()["order"]["number"] == drawn[1] != sale["number"]
    assert (await _written(db, tenant.id))["orders"] == 2
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": tees["on_hand"] + 1, "reserved": 0}
    assert await world.on_hand("ST-A", "JEANS-32") == {"on_hand": 0, "reserved": 0}
    async with db.uow(tenant.id) as uow:
        assert await inventory.check_ledger(uow) == []
