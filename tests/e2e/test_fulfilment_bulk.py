"""POST /v1/fulfillments/actions: many fulfilments moved along in one request, each item with
its own result, with the same rules and scope as one action at a time."""

from __future__ import annotations

from typing import Any

import pytest

from omniretail.db import Database
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world, paid_online


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    world = await build_world(admin, db, tenant)
    await world.stock("ST-A", "TEE-S", 10)
    await world.stock("ST-B", "TEE-M", 10)
    return world


async def _paid_order(world: World, sku: str) -> dict[str, Any]:
    placed = await world.order(lines=[{"sku": sku, "qty": 1}])
    assert placed.status_code == 201, placed.text
    order = placed.json()
    await paid_online(world, order)
    fulfilment: dict[str, Any] = order["fulfillments"][0]
    return fulfilment


async def _status(world: World, fulfilment: dict[str, Any]) -> str:
    order = (await world.admin.get(f"/v1/orders/{fulfilment['order_id']}")).json()
    return str(next(f["status"] for f in order["fulfillments"] if f["id"] == fulfilment["id"]))


async def test_every_item_is_applied_and_reported_in_order(world: World) -> None:
    at_a = [await _paid_order(world, "TEE-S") for _ in range(3)]
    assert {f["location"] for f in at_a} == {"ST-A"}
    response = await world.admin.post(
        "/v1/fulfillments/actions",
        {
            "actions": [
                {"fulfillment_id": at_a[2]["id"], "action": "accept"},
                {"fulfillment_id": at_a[0]["id"], "action": "accept"},
                {"fulfillment_id": at_a[0]["id"], "action": "ship"},
                {"fulfillment_id": at_a[1]["id"], "action": "cancel"},
            ]
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (4, 0)
    assert [(r["index"], r["fulfillment_id"], r["ok"]) for r in body["results"]] == [
        (0, at_a[2]["id"], True),
        (1, at_a[0]["id"], True),
        (2, at_a[0]["id"], True),
        (3, at_a[1]["id"], True),
    ]
    assert body["results"][2]["fulfillment"]["status"] == "shipped"
    assert [await _status(world, f) for f in at_a] == ["shipped", "cancelled", "accepted"]
    # The shipped unit left the store; the cancelled one was given back.
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 9, "reserved": 1}


async def test_a_store_key_is_refused_for_another_stores_items_which_do_not_change(
    world: World,
) -> None:
    own = await _paid_order(world, "TEE-S")
    other = await _paid_order(world, "TEE-M")
    assert other["location"] == "ST-B"
    response = await world.keys["store_a"].post(
        "/v1/fulfillments/actions",
        {
            "actions": [
                {"fulfillment_id": other["id"], "action": "accept"},
                {"fulfillment_id": own["id"], "action": "accept"},
                {"fulfillment_id": other["id"], "action": "reject", "reason": "not_in_stock"},
            ]
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (1, 2)
    refused = [r for r in body["results"] if not r["ok"]]
    assert [r["index"] for r in refused] == [0, 2]
    assert {r["error"]["status"] for r in refused} == {403}
    assert {r["error"]["code"] for r in refused} == {"forbidden"}
    assert all(r["fulfillment"] is None for r in refused)
    assert await _status(world, other) == "pending"
    assert await _status(world, own) == "accepted"
    assert await world.on_hand("ST-B", "TEE-M") == {"on_hand": 10, "reserved": 1}


async def test_a_refused_item_changes_nothing_and_the_rest_go_through(world: World) -> None:
    first = await _paid_order(world, "TEE-S")
    second = await _paid_order(world, "TEE-S")
    unpaid = (await world.order(lines=[{"sku": "TEE-S", "qty": 1}])).json()["fulfillments"][0]
    response = await world.admin.post(
        "/v1/fulfillments/actions",
        {
            "actions": [
                {"fulfillment_id": first["id"], "action": "deliver"},  # not shipped yet
                {"fulfillment_id": "ful_0000000000000000", "action": "accept"},
                {"fulfillment_id": unpaid["id"], "action": "accept"},
                {"fulfillment_id": second["id"], "action": "reject", "reason": "damaged"},
            ]
        },
    )
    body = response.json()
    assert [r["ok"] for r in body["results"]] == [False, False, False, True]
    assert [r["error"]["code"] for r in body["results"][:3]] == [
        "invalid_transition",
        "not_found",
        "order_not_paid",
    ]
    assert [r["error"]["status"] for r in body["results"][:3]] == [409, 404, 409]
    assert await _status(world, first) == "pending"
    assert await _status(world, unpaid) == "pending"
    assert await _status(world, second) == "rejected"


async def test_another_tenants_fulfilments_are_not_found(
    world: World, other_tenant: TenantHandle
) -> None:
    mine = await _paid_order(world, "TEE-S")
    rival = Api(world.admin.client, other_tenant.admin_key)
    response = await rival.post(
        "/v1/fulfillments/actions",
        {"actions": [{"fulfillment_id": mine["id"], "action": "cancel"}]},
    )
    assert response.json()["results"][0]["error"]["status"] == 404
    assert await _status(world, mine) == "pending"


@pytest.mark.parametrize(
    "actions",
    [
        [],
        [{"fulfillment_id": "ful_1", "action": "hand-over"}],
        [{"fulfillment_id": "ful_1", "action": "reject"}],
        [{"fulfillment_id": "ful_1", "action": "accept", "reason": "damaged"}],
        [{"fulfillment_id": "ful_1", "action": "accept"}] * 501,
    ],
)
async def test_a_malformed_batch_is_a_422_and_nothing_changes(
    world: World, actions: list[dict[str, Any]]
) -> None:
    mine = await _paid_order(world, "TEE-S")
    actions = [a | {"fulfillment_id": mine["id"]} for a in actions] + (
        [{"fulfillment_id": mine["id"], "action": "accept"}] if actions else []
    )
    response = await world.admin.post("/v1/fulfillments/actions", {"actions": actions})
    assert response.status_code == 422, response.text
    assert await _status(world, mine) == "pending"


async def test_keys_without_the_fulfil_permission_are_refused(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    mine = await _paid_order(world, "TEE-S")
    body = {"actions": [{"fulfillment_id": mine["id"], "action": "accept"}]}
    assert (await world.keys["app"].post("/v1/fulfillments/actions", body)).status_code == 403
    assert (
        await Api(world.admin.client, None).post("/v1/fulfillments/actions", body)
    ).status_code == 401
    assert await _status(world, mine) == "pending"
