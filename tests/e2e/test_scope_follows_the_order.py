"""Scope follows the order, never a field the client sends (issue 10, items 2 and 3).

A Douyin shop's key cannot see or act on an app order (nor its returns and cases), and a store's
key cannot act on another store's orders, cases or stock, whatever channel or location its body
names. Each refusal changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from omniretail.auth.domain import Role
from omniretail.db import Database
from tests.factories import Api, TenantHandle, make_key
from tests.orders_world import World, build_world, paid_online, tee_for_jeans, tee_sold_at_st_a


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    world = await build_world(admin, db, tenant)
    world.keys["douyin"] = Api(
        admin.client, await make_key(db, tenant, Role.CHANNEL, channel="douyin")
    )
    return world


async def delivered_app_order(world: World) -> dict[str, Any]:
    await world.stock("ST-B", "TEE-S", 2)
    placed = await world.order(
        world.keys["app"],
        fulfillment={"mode": "pickup", "location": "ST-B"},
        payments=[{"method": "sandbox", "amount": 9900}],
    )
    assert placed.status_code == 201, placed.text
    order = await paid_online(world, placed.json())
    order["pickup_code"] = placed.json()["fulfillments"][0]["pickup_code"]  # shown once
    return order


async def order_state(world: World, order_id: str) -> tuple[str, list[Any]]:
    order = (await world.admin.get(f"/v1/orders/{order_id}")).json()
    return order["status"], [(p["method"], p["status"]) for p in order["payments"]]


async def test_a_douyin_key_cannot_cancel_read_or_list_an_app_order(world: World) -> None:
    order = await delivered_app_order(world)
    before = await order_state(world, order["id"])
    douyin = world.keys["douyin"]
    assert (await douyin.post(f"/v1/orders/{order['id']}/cancel")).status_code == 404
    assert (await douyin.get(f"/v1/orders/{order['id']}")).status_code == 404
    listed = await douyin.get("/v1/orders", channel="app")
    assert listed.status_code == 200
    assert listed.json()["items"] == []
    assert await order_state(world, order["id"]) == before
    # The app's own key still sees it: the refusal is the scope, not a broken order.
    assert (await world.keys["app"].get(f"/v1/orders/{order['id']}")).status_code == 200


async def test_a_douyin_key_cannot_return_an_app_order_by_naming_its_own_channel(
    world: World,
) -> None:
    order = await delivered_app_order(world)
    ready = await world.admin.post(f"/v1/fulfillments/{order['fulfillments'][0]['id']}/accept")
    assert ready.status_code == 200
    await world.admin.post(f"/v1/fulfillments/{order['fulfillments'][0]['id']}/ready")
    fid = order["fulfillments"][0]["id"]
    code = order["pickup_code"]
    handed = await world.admin.post(
        f"/v1/fulfillments/{fid}/hand-over", {"code": code, "location": "ST-B"}
    )
    assert handed.status_code == 200, handed.text
    before = await world.on_hand("ST-B", "TEE-S")
    attempt = await world.keys["douyin"].post(
        "/v1/returns",
        {
            "order_id": order["id"],
            "channel": "douyin",
            "location": "ST-B",
            "lines": [{"sku": "TEE-S", "qty": 1, "condition": "resellable"}],
        },
    )
    assert attempt.status_code == 404, attempt.text
    assert await world.on_hand("ST-B", "TEE-S") == before
    assert (await world.admin.get(f"/v1/orders/{order['id']}/returns")).json() == []

    # A return taken by the app (courier pick-up) stays invisible to Douyin at every door.
    opened = await world.keys["app"].post(
        "/v1/returns",
        {
            "order_id": order["id"],
            "channel": "app",
            "courier_pickup": {"lat": 31.23, "lng": 121.47},
            "lines": [{"sku": "TEE-S", "qty": 1, "condition": "resellable"}],
        },
    )
    assert opened.status_code == 201, opened.text
    ret = opened.json()["id"]
    douyin = world.keys["douyin"]
    assert (await douyin.get(f"/v1/returns/{ret}")).status_code == 404
    assert (await douyin.get(f"/v1/orders/{order['id']}/returns")).status_code == 404
    received = await douyin.post(f"/v1/returns/{ret}/receive", {"location": "ST-B"})
    assert received.status_code == 404
    assert (await world.admin.get(f"/v1/returns/{ret}")).json()["status"] == "awaiting_receipt"


async def test_a_douyin_key_cannot_open_read_list_or_annotate_an_app_orders_case(
    world: World,
) -> None:
    order = await delivered_app_order(world)
    douyin = world.keys["douyin"]
    case_body = {
        "order_id": order["id"],
        "type": "complaint",
        "subject": "late",
        "channel": "douyin",
    }
    assert (await douyin.post("/v1/cases", case_body)).status_code == 404
    opened = await world.keys["app"].post("/v1/cases", {**case_body, "channel": "app"})
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["id"]
    assert (await douyin.get(f"/v1/cases/{case_id}")).status_code == 404
    assert (await douyin.get("/v1/cases")).json()["items"] == []
    note = await douyin.post(f"/v1/cases/{case_id}/notes", {"body": "closing", "status": "closed"})
    assert note.status_code == 404
    case = (await world.admin.get(f"/v1/cases/{case_id}")).json()
    assert case["status"] == "open"
    assert len(case["timeline"]) == 1


async def test_the_apps_key_takes_back_a_store_purchase_one_order_history(world: World) -> None:
    """The retailer's own touchpoints share one history (journey 7); a platform's shop does not."""
    await world.stock("ST-A", "TEE-M", 1)
    sale = await world.order(
        world.keys["pos_a"],
        channel="pos",
        fulfillment={"mode": "in_store", "location": "ST-A"},
        lines=[{"sku": "TEE-M", "qty": 1}],
        payments=[{"method": "cash", "amount": 9900}],
    )
    assert sale.status_code == 201, sale.text
    assert (await world.keys["app"].get(f"/v1/orders/{sale.json()['id']}")).status_code == 200
    assert (await world.keys["douyin"].get(f"/v1/orders/{sale.json()['id']}")).status_code == 404


async def test_a_store_key_cannot_cancel_an_order_fulfilled_at_another_store(world: World) -> None:
    order = await delivered_app_order(world)
    before = await order_state(world, order["id"])
    refused = await world.keys["store_a"].post(f"/v1/orders/{order['id']}/cancel")
    assert refused.status_code == 403, refused.text
    assert await order_state(world, order["id"]) == before
    allowed = await world.keys["store_b"].post(f"/v1/orders/{order['id']}/cancel")
    assert allowed.status_code == 200, allowed.text


async def test_a_store_key_cannot_close_or_reassign_another_stores_case(world: World) -> None:
    order = await delivered_app_order(world)
    opened = await world.admin.post(
        "/v1/cases",
        {
            "order_id": order["id"],
            "type": "complaint",
            "subject": "wrong size",
            "channel": "app",
            "owner_location": "ST-B",
        },
    )
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["id"]
    store_a = world.keys["store_a"]
    for change in ({"status": "closed"}, {"owner_location": "ST-A"}):
        refused = await store_a.post(f"/v1/cases/{case_id}/notes", {"body": "mine", **change})
        assert refused.status_code == 403, refused.text
    # Nor can it open a case in another store's name.
    foreign = await store_a.post(
        "/v1/cases",
        {
            "order_id": order["id"],
            "type": "complaint",
            "subject": "x",
            "channel": "app",
            "owner_location": "ST-B",
        },
    )
    assert foreign.status_code == 403
    case = (await world.admin.get(f"/v1/cases/{case_id}")).json()
    assert (case["status"], case["owner_location"], len(case["timeline"])) == ("open", "ST-B", 1)
    handed = await world.keys["store_b"].post(
        f"/v1/cases/{case_id}/notes", {"body": "yours", "owner_location": "ST-A"}
    )
    assert handed.status_code == 200, handed.text


async def test_a_store_key_cannot_restock_another_store_through_an_exchange(world: World) -> None:
    sale = await tee_sold_at_st_a(world)
    before = await world.on_hand("ST-B", "TEE-S")
    swap = tee_for_jeans(
        sale["id"], received_at="ST-B", payments=[{"method": "cash", "amount": 20000}]
    )
    refused = await world.keys["pos_a"].post("/v1/exchanges", swap)
    assert refused.status_code == 403, refused.text
    assert await world.on_hand("ST-B", "TEE-S") == before
    assert await world.on_hand("ST-A", "JEANS-32") == {"on_hand": 1, "reserved": 0}
    assert (await world.admin.get(f"/v1/orders/{sale['id']}/returns")).json() == []
