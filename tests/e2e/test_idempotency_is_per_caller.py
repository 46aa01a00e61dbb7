"""Idempotency keys belong to the key that sent them, and stored responses keep no secrets
(issue 10, items 4 and 6)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from omniretail.auth.domain import Role
from omniretail.db import Database
from omniretail.idempotency import IdempotencyRecord
from tests.factories import Api, TenantHandle, make_key
from tests.orders_world import World, build_world


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    world = await build_world(admin, db, tenant)
    world.keys["douyin"] = Api(
        admin.client, await make_key(db, tenant, Role.CHANNEL, channel="douyin")
    )
    world.keys["pos_a2"] = Api(
        admin.client, await make_key(db, tenant, Role.STORE, location="ST-A")
    )
    return world


def pickup_body() -> dict[str, object]:
    return {
        "channel": "app",
        "lines": [{"sku": "TEE-S", "qty": 1}],
        "fulfillment": {"mode": "pickup", "location": "ST-A"},
        "payments": [{"method": "sandbox", "amount": 9900}],
    }


async def stored_responses(db: Database) -> list[str]:
    async with db.uow(unscoped=True) as uow:
        rows = await uow.session.scalars(sa.select(IdempotencyRecord.response))
        return [json.dumps(r) for r in rows]


async def test_another_key_replaying_the_same_idempotency_key_gets_nothing_of_the_first(
    world: World,
) -> None:
    await world.stock("ST-A", "TEE-S", 2)
    headers = {"Idempotency-Key": "order-1"}
    first = await world.keys["app"].post("/v1/orders", pickup_body(), headers=headers)
    assert first.status_code == 201, first.text
    replay = await world.keys["douyin"].post("/v1/orders", pickup_body(), headers=headers)
    # Douyin's request runs as its own: it may not place app orders, and sees no app order.
    assert replay.status_code == 403, replay.text
    assert "Idempotent-Replayed" not in replay.headers
    assert first.json()["id"] not in replay.text
    assert first.json()["fulfillments"][0]["pickup_code"] not in replay.text


async def test_two_terminals_using_the_same_key_each_get_their_own_sale(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 2)
    sale = {
        "channel": "pos",
        "lines": [{"sku": "TEE-S", "qty": 1}],
        "fulfillment": {"mode": "in_store", "location": "ST-A"},
        "payments": [{"method": "cash", "amount": 9900}],
    }
    headers = {"Idempotency-Key": "1"}
    one = await world.keys["pos_a"].post("/v1/orders", sale, headers=headers)
    two = await world.keys["pos_a2"].post("/v1/orders", sale, headers=headers)
    assert one.status_code == two.status_code == 201, (one.text, two.text)
    assert one.json()["id"] != two.json()["id"]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 0, "reserved": 0}
    # Each terminal's own retry still replays its own sale.
    again = await world.keys["pos_a2"].post("/v1/orders", sale, headers=headers)
    assert again.json()["id"] == two.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_a_replayed_pickup_order_does_not_reveal_its_code_and_none_is_stored(
    world: World, db: Database
) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    headers = {"Idempotency-Key": "order-2"}
    first = await world.keys["app"].post("/v1/orders", pickup_body(), headers=headers)
    assert first.status_code == 201, first.text
    code = first.json()["fulfillments"][0]["pickup_code"]
    assert code is not None
    replay = await world.keys["app"].post("/v1/orders", pickup_body(), headers=headers)
    assert replay.status_code == 201
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["fulfillments"][0]["pickup_code"] is None
    assert not any(code in stored for stored in await stored_responses(db))


async def test_a_replayed_key_creation_does_not_show_the_key_again_and_none_is_stored(
    admin: Api, db: Database
) -> None:
    headers = {"Idempotency-Key": "new-key"}
    first = await admin.post("/v1/keys", {"role": "analyst"}, headers=headers)
    assert first.status_code == 201, first.text
    secret = first.json()["key"]
    assert secret.startswith("omk_")
    replay = await admin.post("/v1/keys", {"role": "analyst"}, headers=headers)
    assert replay.status_code == 201
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["key"] is None
    assert not any(secret in stored for stored in await stored_responses(db))
