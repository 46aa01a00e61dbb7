"""Sourcing from the holders of the stock, as seen over HTTP: what the order explains, and
local delivery's 'out of area' told apart from 'out of stock'."""

from __future__ import annotations

import pytest

from omniretail.db import Database
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world

AT_ST_B = {"lat": 31.2304, "lng": 121.5100}


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


async def test_the_order_explains_the_holders_it_considered(world: World) -> None:
    await world.admin.patch("/v1/locations/ST-A", {"daily_capacity": 0})
    await world.stock("ST-A", "TEE-S", 5)
    await world.stock("WH", "TEE-S", 5)
    placed = await world.order()
    assert placed.status_code == 201, placed.text
    sourcing = placed.json()["sourcing"]
    assert sourcing["chosen"] == ["WH"]
    assert sourcing["considered"] == 2  # ST-B, ST-C and EXP hold nothing: not read at all
    reasons = {d["location"]: d["reason"] for d in sourcing["decisions"]}
    assert reasons == {
        "WH": "nearest location holding every line",
        "ST-A": "at its daily capacity of 0 orders",
    }


async def test_local_delivery_inside_a_radius_without_stock_is_out_of_stock_not_out_of_area(
    world: World,
) -> None:
    await world.stock("ST-A", "TEE-S", 5)  # ST-A is 3.5 km away: beyond its 3 km radius
    placed = await world.order(fulfillment={"mode": "local_delivery", "address": AT_ST_B})
    assert placed.status_code == 409, placed.text
    assert placed.json()["code"] == "insufficient_stock"
    await world.stock("ST-B", "TEE-S", 1)
    placed = await world.order(fulfillment={"mode": "local_delivery", "address": AT_ST_B})
    assert placed.status_code == 201, placed.text
    assert [f["location"] for f in placed.json()["fulfillments"]] == ["ST-B"]
