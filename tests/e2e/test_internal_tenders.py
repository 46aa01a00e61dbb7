"""Internal tenders (exchange credit, platform-collected money) are created only by the code
that owns them: a client naming one gets a 422 on the field and nothing changes (issue 10.1)."""

from __future__ import annotations

from typing import Any

import pytest

from omniretail.db import Database
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world, tee_for_jeans, tee_sold_at_st_a


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


def _as(world: World, who: str) -> tuple[Api, dict[str, Any]]:
    if who == "store":
        return world.keys["pos_a"], {
            "channel": "pos",
            "fulfillment": {"mode": "in_store", "location": "ST-A"},
        }
    return (world.admin if who == "admin" else world.keys["app"]), {}


@pytest.mark.parametrize("who", ["admin", "channel", "store"])
@pytest.mark.parametrize("method", ["exchange_credit", "platform"])
async def test_a_client_naming_an_internal_tender_gets_422_and_no_order(
    world: World, who: str, method: str
) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    api, overrides = _as(world, who)
    free = await world.order(api, payments=[{"method": method, "amount": 9900}], **overrides)
    assert free.status_code == 422, free.text
    assert free.json()["code"] == "validation_error"
    assert [e["field"] for e in free.json()["errors"]] == ["payments.0.method"]
    assert method not in free.json()["errors"][0]["message"]
    assert (await world.admin.get("/v1/orders")).json()["items"] == []
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 0}


async def test_an_internal_tender_hidden_beside_a_public_one_is_refused(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    mixed = await world.order(
        payments=[
            {"method": "sandbox", "amount": 100, "token": "tok"},
            {"method": "exchange_credit", "amount": 9800},
        ]
    )
    assert mixed.status_code == 422, mixed.text
    assert [e["field"] for e in mixed.json()["errors"]] == ["payments.1.method"]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 0}


async def test_an_exchange_refuses_internal_tenders_in_the_new_goods_payments(
    world: World,
) -> None:
    sale = await tee_sold_at_st_a(world)
    sneaky = tee_for_jeans(sale["id"], payments=[{"method": "exchange_credit", "amount": 20000}])
    refused = await world.keys["pos_a"].post("/v1/exchanges", sneaky)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["new_order.payments.0.method"]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 0, "reserved": 0}
    assert await world.on_hand("ST-A", "JEANS-32") == {"on_hand": 1, "reserved": 0}
    assert len((await world.admin.get("/v1/orders")).json()["items"]) == 1


async def test_an_exchange_still_pays_with_credit_from_the_returned_goods(world: World) -> None:
    sale = await tee_sold_at_st_a(world)
    done = await world.keys["pos_a"].post(
        "/v1/exchanges", tee_for_jeans(sale["id"], payments=[{"method": "cash", "amount": 20000}])
    )
    assert done.status_code == 201, done.text
    payments = done.json()["order"]["payments"]
    assert [(p["method"], p["amount"]) for p in payments] == [
        ("exchange_credit", 9900),
        ("cash", 20000),
    ]
    assert done.json()["order"]["status"] == "completed"
