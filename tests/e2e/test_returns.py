"""Returns through any channel: an online order back at a store, exact refunds over tenders,
stock back where the goods are, points reversed; and one after-sales desk."""

from __future__ import annotations

from typing import Any

import pytest

from omniretail.auth import service as auth
from omniretail.db import Database
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world, paid_online, tee_for_jeans, tee_sold_at_st_a


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


async def customer_with_points(world: World, points: int) -> str:
    customer = (
        await world.admin.post(
            "/v1/customers",
            {"identities": [{"type": "phone", "value": "13900139000"}], "channel": "app"},
        )
    ).json()
    if points:
        await world.admin.post(
            f"/v1/customers/{customer['id']}/points/adjustments",
            {"points": points, "reason": "welcome"},
        )
    return str(customer["id"])


async def balance(world: World, customer_id: str) -> int:
    return int((await world.admin.get(f"/v1/customers/{customer_id}/points")).json()["balance"])


async def shipped_and_delivered(world: World, order: dict[str, Any]) -> None:
    for fulfilment in order["fulfillments"]:
        for action in ("accept", "ship", "deliver"):
            step = await world.admin.post(f"/v1/fulfillments/{fulfilment['id']}/{action}")
            assert step.status_code == 200, step.text


async def test_an_app_order_returned_at_a_store_refunds_card_and_points(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 3)
    customer = await customer_with_points(world, 1000)
    placed = await world.order(
        customer_id=customer,
        lines=[{"sku": "TEE-S", "qty": 2}],
        points_to_redeem=1000,
        payments=[{"method": "sandbox", "amount": 2 * 9900 - 1000}],
    )
    assert placed.status_code == 201, placed.text
    order = await paid_online(world, placed.json())
    await shipped_and_delivered(world, order)
    earned = await balance(world, customer)
    assert earned == 188  # 1 point per yuan paid in money: 188.00

    returned = await world.keys["store_b"].post(
        "/v1/returns",
        {
            "order_id": order["id"],
            "channel": "pos",
            "location": "ST-B",
            "lines": [{"sku": "TEE-S", "qty": 1, "condition": "resellable"}],
        },
    )
    assert returned.status_code == 201, returned.text
    body = returned.json()
    assert body["status"] == "completed"
    assert body["refund_total"] == 9900
    assert {r["method"]: r["amount"] for r in body["refunds"]} == {"points": 500, "sandbox": 9400}
    assert body["points_reversed"] == {
        "earned_reversed": 94,
        "redeemed_returned": 500,
        "shortfall": 0,
    }
    assert body["restocked"] == [
        {"location": "ST-B", "sku": "TEE-S", "qty": 1, "condition": "resellable"}
    ]
    assert await world.on_hand("ST-B", "TEE-S") == {"on_hand": 1, "reserved": 0}
    assert await balance(world, customer) == earned - 94 + 500


async def test_partial_returns_never_exceed_what_was_bought(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 3)
    order = await paid_online(
        world,
        (
            await world.order(
                lines=[{"sku": "TEE-S", "qty": 3}],
                payments=[{"method": "sandbox", "amount": 3 * 9900}],
            )
        ).json(),
    )
    await shipped_and_delivered(world, order)
    body = {"order_id": order["id"], "channel": "app", "location": "ST-A"}
    first = await world.admin.post("/v1/returns", body | {"lines": [{"sku": "TEE-S", "qty": 2}]})
    assert first.status_code == 201, first.text
    too_many = await world.admin.post("/v1/returns", body | {"lines": [{"sku": "TEE-S", "qty": 2}]})
    assert too_many.status_code == 422
    assert too_many.json()["code"] == "return_exceeds_order"
    last = await world.admin.post("/v1/returns", body | {"lines": [{"sku": "TEE-S", "qty": 1}]})
    assert last.status_code == 201
    assert first.json()["refund_total"] + last.json()["refund_total"] == 3 * 9900
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 3, "reserved": 0}


async def test_an_unshipped_order_or_another_tenants_cannot_be_returned(
    world: World, other_tenant: TenantHandle
) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    order = await paid_online(world, (await world.order()).json())
    body = {
        "order_id": order["id"],
        "channel": "app",
        "location": "ST-A",
        "lines": [{"sku": "TEE-S", "qty": 1}],
    }
    not_yet = await world.admin.post("/v1/returns", body)
    assert not_yet.status_code == 409
    assert not_yet.json()["code"] == "order_not_returnable"
    await shipped_and_delivered(world, order)
    rival = Api(world.admin.client, other_tenant.admin_key)
    assert (await rival.post("/v1/returns", body)).status_code == 404


async def test_a_return_after_the_window_is_refused(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    order = await paid_online(world, (await world.order()).json())
    await shipped_and_delivered(world, order)
    async with db.uow(tenant.id) as uow:
        await auth.do_update_tenant_settings(uow, changes={"returns": {"window_days": 0}})
    late = await world.admin.post(
        "/v1/returns",
        {
            "order_id": order["id"],
            "channel": "app",
            "location": "ST-A",
            "lines": [{"sku": "TEE-S", "qty": 1}],
        },
    )
    assert late.status_code == 409
    assert late.json()["code"] == "return_window_closed"


async def test_an_order_paid_in_points_only_refunds_points_only(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    customer = await customer_with_points(world, 9900)
    placed = await world.order(
        customer_id=customer,
        points_to_redeem=9900,
        payments=[],
        fulfillment={"mode": "pickup", "location": "ST-A"},
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "confirmed"
    pickup = order["fulfillments"][0]
    for action in ("accept", "ready"):
        await world.keys["store_a"].post(f"/v1/fulfillments/{pickup['id']}/{action}")
    handed = await world.keys["store_a"].post(
        "/v1/pickups/verify", {"code": pickup["pickup_code"], "location": "ST-A"}
    )
    assert handed.status_code == 200, handed.text
    assert await balance(world, customer) == 0
    returned = await world.admin.post(
        "/v1/returns",
        {
            "order_id": order["id"],
            "channel": "app",
            "location": "ST-A",
            "lines": [{"sku": "TEE-S", "qty": 1}],
        },
    )
    assert returned.status_code == 201, returned.text
    assert [(r["method"], r["amount"]) for r in returned.json()["refunds"]] == [("points", 9900)]
    assert await balance(world, customer) == 9900


async def test_a_store_purchase_comes_back_by_courier_and_damaged_goods_leave_stock(
    world: World,
) -> None:
    await world.stock("ST-A", "TEE-M", 2)
    sale = await world.order(
        world.keys["pos_a"],
        channel="pos",
        lines=[{"sku": "TEE-M", "qty": 1}],
        fulfillment={"mode": "in_store", "location": "ST-A"},
        payments=[{"method": "cash", "amount": 9900}],
    )
    assert sale.status_code == 201, sale.text
    opened = await world.keys["app"].post(
        "/v1/returns",
        {
            "order_id": sale.json()["id"],
            "channel": "app",
            "courier_pickup": {"lat": 31.23, "lng": 121.47, "line1": "1 Renmin Rd"},
            "lines": [{"sku": "TEE-M", "qty": 1, "condition": "damaged"}],
        },
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["status"] == "awaiting_receipt"
    assert opened.json()["refunds"] == []
    received = await world.admin.post(
        f"/v1/returns/{opened.json()['id']}/receive", {"location": "WH"}
    )
    assert received.status_code == 200, received.text
    assert received.json()["refunds"][0]["method"] == "cash"
    assert await world.on_hand("WH", "TEE-M") == {"on_hand": 0, "reserved": 0}
    again = await world.admin.post(f"/v1/returns/{opened.json()['id']}/receive", {"location": "WH"})
    assert again.status_code == 409


async def test_any_channel_opens_and_follows_a_case_on_any_order(
    world: World, other_tenant: TenantHandle
) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    order = (await world.order()).json()
    opened = await world.admin.post(
        "/v1/cases",
        {
            "order_id": order["id"],
            "type": "missing_item",
            "subject": "Parcel arrived empty",
            "channel": "douyin",
            "note": "Customer wrote on Douyin",
        },
    )
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert case["owner_location"] == "ST-A"
    step = await world.keys["store_a"].post(
        f"/v1/cases/{case['id']}/notes",
        {"body": "Checked CCTV, re-sending", "status": "in_progress", "channel": "pos"},
    )
    assert step.status_code == 200, step.text
    done = await world.admin.post(
        f"/v1/cases/{case['id']}/notes", {"body": "Delivered again", "status": "resolved"}
    )
    assert [n["status_change"] for n in done.json()["timeline"]] == [
        "open",
        "in_progress",
        "resolved",
    ]
    listed = (await world.admin.get("/v1/cases", order_id=order["id"])).json()["items"]
    assert [c["id"] for c in listed] == [case["id"]]
    rival = Api(world.admin.client, other_tenant.admin_key)
    assert (await rival.get(f"/v1/cases/{case['id']}")).status_code == 404
    assert (
        await rival.post(
            "/v1/cases",
            {"order_id": order["id"], "type": "complaint", "subject": "x", "channel": "app"},
        )
    ).status_code == 404


async def test_an_exchange_pays_only_the_difference_in_one_step(world: World) -> None:
    sale = await tee_sold_at_st_a(world)
    swap = tee_for_jeans(sale["id"], payments=[{"method": "cash", "amount": 100}])
    wrong = await world.keys["pos_a"].post("/v1/exchanges", swap)
    assert wrong.status_code == 422
    assert wrong.json()["amount_due"] == 29900 - 9900
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 0, "reserved": 0}

    swap["new_order"]["payments"] = [{"method": "cash", "amount": 20000}]
    done = await world.keys["pos_a"].post("/v1/exchanges", swap)
    assert done.status_code == 201, done.text
    body = done.json()
    assert (body["credit"], body["difference_paid"], body["refunded"]) == (9900, 20000, 0)
    assert body["order"]["status"] == "completed"
    assert [p["method"] for p in body["order"]["payments"]] == ["exchange_credit", "cash"]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 0}
    assert await world.on_hand("ST-A", "JEANS-32") == {"on_hand": 0, "reserved": 0}
