"""Orders end to end over HTTP: every mode, routing, rejection, pickup codes, payments."""

from __future__ import annotations

import pytest

from omniretail.db import Database
from tests.factories import Api, TenantHandle
from tests.orders_world import CUSTOMER, FAR_AWAY, World, build_world, paid_online


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


async def test_bopis_from_order_to_verified_handover(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 2)
    placed = await world.order(
        world.keys["app"], fulfillment={"mode": "pickup", "location": "ST-A"}
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "pending_payment"
    pickup = order["fulfillments"][0]
    code = pickup["pickup_code"]
    assert pickup["location"] == "ST-A"
    assert len(code) == 8
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 2, "reserved": 1}

    assert (await paid_online(world, order))["status"] == "confirmed"
    store = world.keys["store_a"]
    # Not ready yet: the code is refused until the store says the parcel is ready.
    early = await store.post("/v1/pickups/verify", {"code": code, "location": "ST-A"})
    assert early.status_code == 409
    assert early.json()["code"] == "pickup_not_ready"
    for action in ("accept", "ready"):
        step = await store.post(f"/v1/fulfillments/{pickup['id']}/{action}")
        assert step.status_code == 200, step.text
    handed = await store.post("/v1/pickups/verify", {"code": code, "location": "ST-A"})
    assert handed.status_code == 200, handed.text
    assert handed.json()["status"] == "handed_over"
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 0}
    final = (await world.admin.get(f"/v1/orders/{order['id']}")).json()
    assert final["status"] == "completed"
    assert "pickup_code" not in final["fulfillments"][0] or (
        final["fulfillments"][0]["pickup_code"] is None
    )

    again = await store.post("/v1/pickups/verify", {"code": code, "location": "ST-A"})
    assert again.status_code == 409
    assert again.json()["code"] == "pickup_code_used"


async def test_a_pickup_code_at_the_wrong_store_or_guessed_is_refused(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    order = (await world.order(fulfillment={"mode": "pickup", "location": "ST-A"})).json()
    await paid_online(world, order)
    pickup = order["fulfillments"][0]
    for action in ("accept", "ready"):
        await world.keys["store_a"].post(f"/v1/fulfillments/{pickup['id']}/{action}")

    wrong_store = await world.keys["store_b"].post(
        "/v1/pickups/verify", {"code": pickup["pickup_code"], "location": "ST-B"}
    )
    assert wrong_store.status_code == 422
    assert wrong_store.json()["code"] == "invalid_pickup_code"
    # A store key cannot verify on another store's behalf.
    other = await world.keys["store_b"].post(
        "/v1/pickups/verify", {"code": pickup["pickup_code"], "location": "ST-A"}
    )
    assert other.status_code == 403

    store = world.keys["store_a"]
    guesses = [
        await store.post("/v1/pickups/verify", {"code": f"{n:08d}", "location": "ST-A"})
        for n in range(11)
    ]
    assert {g.status_code for g in guesses[:10]} == {422}
    assert guesses[10].status_code == 429
    assert guesses[10].json()["code"] == "pickup_rate_limited"
    # Even the right code waits out the lock-out: guessing must not be rewarded.
    right = await store.post(
        "/v1/pickups/verify", {"code": pickup["pickup_code"], "location": "ST-A"}
    )
    assert right.status_code == 429
    assert 1 <= int(right.headers["Retry-After"]) <= 600
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 1}
    # The store's other terminal is not locked out with it: the right code hands over.
    counter = world.keys["pos_a"]
    handed = await counter.post(
        "/v1/pickups/verify", {"code": pickup["pickup_code"], "location": "ST-A"}
    )
    assert handed.status_code == 200, handed.text
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 0, "reserved": 0}


async def test_ship_from_the_nearest_store_that_has_every_line(world: World) -> None:
    for location in ("WH", "ST-B", "ST-C"):
        await world.stock(location, "TEE-S", 5)
        await world.stock(location, "JEANS-32", 5)
    await world.stock("ST-A", "TEE-S", 5)  # nearest, but has no jeans
    placed = await world.order(lines=[{"sku": "TEE-S", "qty": 1}, {"sku": "JEANS-32", "qty": 1}])
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert [f["location"] for f in order["fulfillments"]] == ["ST-C"]
    decisions = {d["location"]: d["reason"] for d in order["sourcing"]["decisions"]}
    assert decisions["ST-A"] == "short of JEANS-32"
    assert "farther" in decisions["WH"]


async def test_an_order_no_single_store_can_serve_is_split_into_the_fewest(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    await world.stock("ST-B", "TEE-M", 1)
    await world.stock("ST-C", "JEANS-32", 1)
    await world.stock("WH", "TEE-M", 3)
    await world.stock("WH", "JEANS-32", 3)
    placed = await world.order(
        lines=[
            {"sku": "TEE-S", "qty": 1},
            {"sku": "TEE-M", "qty": 1},
            {"sku": "JEANS-32", "qty": 1},
        ]
    )
    assert placed.status_code == 201, placed.text
    fulfilments = placed.json()["fulfillments"]
    assert sorted(f["location"] for f in fulfilments) == ["ST-A", "WH"]
    by_location = {f["location"]: {line["sku"] for line in f["lines"]} for f in fulfilments}
    assert by_location == {"ST-A": {"TEE-S"}, "WH": {"TEE-M", "JEANS-32"}}


async def test_local_delivery_outside_every_radius_is_refused(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 3)
    placed = await world.order(fulfillment={"mode": "local_delivery", "address": FAR_AWAY})
    assert placed.status_code == 422
    assert placed.json()["code"] == "out_of_delivery_area"
    near = await world.order(
        fulfillment={
            "mode": "local_delivery",
            "address": {"lat": CUSTOMER["lat"], "lng": CUSTOMER["lng"]},
        }
    )
    assert near.status_code == 201, near.text
    fulfilment = near.json()["fulfillments"][0]
    assert fulfilment["location"] == "ST-A"
    assert fulfilment["distance_km"] < 3


async def test_scan_to_buy_lowers_the_stores_stock_at_once(world: World) -> None:
    await world.stock("ST-A", "TEE-M", 4)
    sale = await world.order(
        world.keys["pos_a"],
        channel="pos",
        lines=[{"sku": "TEE-M", "qty": 2}],
        fulfillment={"mode": "in_store", "location": "ST-A"},
        payments=[{"method": "card_present", "amount": 2 * 9900}],
    )
    assert sale.status_code == 201, sale.text
    assert sale.json()["status"] == "completed"
    assert sale.json()["placed_at_location"] == "ST-A"
    assert await world.on_hand("ST-A", "TEE-M") == {"on_hand": 2, "reserved": 0}
    elsewhere = await world.order(
        world.keys["pos_a"],
        channel="pos",
        fulfillment={"mode": "in_store", "location": "ST-B"},
        payments=[{"method": "cash", "amount": 9900}],
    )
    assert elsewhere.status_code == 403


async def test_a_store_rejection_reroutes_to_the_next_best(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 2)
    await world.stock("ST-C", "TEE-S", 2)
    order = (await world.order()).json()
    await paid_online(world, order)
    first = order["fulfillments"][0]
    assert first["location"] == "ST-A"
    rejected = await world.keys["store_a"].post(
        f"/v1/fulfillments/{first['id']}/reject", {"reason": "not_in_stock"}
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    after = (await world.admin.get(f"/v1/orders/{order['id']}")).json()
    live = [f for f in after["fulfillments"] if f["status"] != "rejected"]
    assert [f["location"] for f in live] == ["ST-C"]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 0, "reserved": 0}
    assert await world.on_hand("ST-C", "TEE-S") == {"on_hand": 2, "reserved": 1}
    # Another store's key cannot act on it.
    assert (
        await world.keys["store_a"].post(f"/v1/fulfillments/{live[0]['id']}/accept")
    ).status_code == 403


async def test_a_declined_payment_leaves_no_order_and_no_hold(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    declined = await world.order(
        payments=[{"method": "sandbox", "amount": 9900, "token": "decline"}]
    )
    assert declined.status_code == 409
    assert declined.json()["code"] == "payment_declined"
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 0}
    assert (await world.admin.get("/v1/orders")).json()["items"] == []


async def test_payments_must_add_up_and_methods_fit_the_mode(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    short = await world.order(payments=[{"method": "sandbox", "amount": 100}])
    assert short.status_code == 422
    assert short.json()["code"] == "payment_mismatch"
    cash_online = await world.order(payments=[{"method": "cash", "amount": 9900}])
    assert cash_online.status_code == 422
    unknown = await world.order(
        lines=[{"sku": "NOPE", "qty": 1}], payments=[{"method": "sandbox", "amount": 0}]
    )
    assert unknown.status_code == 422
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 0}


async def test_not_enough_stock_anywhere_is_409_naming_the_line(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    short = await world.order(
        lines=[{"sku": "TEE-S", "qty": 2}], payments=[{"method": "sandbox", "amount": 2 * 9900}]
    )
    assert short.status_code == 409
    assert short.json()["code"] == "insufficient_stock"
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 0}


async def test_the_same_idempotency_key_places_one_order(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 3)
    headers = {"Idempotency-Key": "checkout-1"}
    body = {
        "channel": "app",
        "lines": [{"sku": "TEE-S", "qty": 1}],
        "fulfillment": {
            "mode": "ship",
            "address": {"lat": CUSTOMER["lat"], "lng": CUSTOMER["lng"]},
        },
        "payments": [{"method": "sandbox", "amount": 9900}],
    }
    first = await world.admin.post("/v1/orders", body, headers=headers)
    second = await world.admin.post("/v1/orders", body, headers=headers)
    assert first.json()["id"] == second.json()["id"]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 3, "reserved": 1}


async def test_an_unpaid_order_can_be_cancelled_and_gives_its_stock_back(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    order = (await world.order()).json()
    cancelled = await world.admin.post(f"/v1/orders/{order['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 0}


async def test_channel_keys_see_their_channel_and_tenants_stay_apart(
    world: World, other_tenant: TenantHandle
) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    order = (await world.order()).json()
    rival = Api(world.admin.client, other_tenant.admin_key)
    assert (await rival.get(f"/v1/orders/{order['id']}")).status_code == 404
    assert (await rival.post(f"/v1/orders/{order['id']}/cancel")).status_code == 404
    wrong_channel = await world.order(world.keys["app"], channel="douyin")
    assert wrong_channel.status_code == 403


async def test_an_experience_store_sale_is_attributed_to_it(world: World) -> None:
    await world.stock("WH", "JEANS-32", 1)
    placed = await world.order(
        lines=[{"sku": "JEANS-32", "qty": 1}], attributed_location="EXP", attributed_staff="guide-7"
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (order["attributed_location"], order["attributed_staff"]) == ("EXP", "guide-7")
    assert [f["location"] for f in order["fulfillments"]] == ["WH"]
    listed = (await world.admin.get("/v1/orders", location="EXP")).json()["items"]
    assert [o["id"] for o in listed] == [order["id"]]


async def test_a_store_at_its_daily_capacity_gets_no_new_orders(world: World) -> None:
    await world.admin.patch("/v1/locations/ST-A", {"daily_capacity": 1})
    await world.stock("ST-A", "TEE-S", 5)
    await world.stock("ST-C", "TEE-S", 5)
    first = (await world.order()).json()
    second = (await world.order()).json()
    assert [f["location"] for f in first["fulfillments"]] == ["ST-A"]
    assert [f["location"] for f in second["fulfillments"]] == ["ST-C"]
    reasons = {d["location"]: d["reason"] for d in second["sourcing"]["decisions"]}
    assert reasons["ST-A"] == "at its daily capacity of 1 orders"


async def test_a_pickup_store_short_of_a_line_gets_it_sent_from_another(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    await world.stock("WH", "JEANS-32", 1)
    placed = await world.order(
        lines=[{"sku": "TEE-S", "qty": 1}, {"sku": "JEANS-32", "qty": 1}],
        fulfillment={"mode": "pickup", "location": "ST-A"},
        payments=[{"method": "sandbox", "amount": 9900 + 29900}],
    )
    assert placed.status_code == 201, placed.text
    pickup = placed.json()["fulfillments"][0]
    assert pickup["location"] == "ST-A"
    assert pickup["transfer_from"] == [{"location": "WH", "lines": [["JEANS-32", 1]]}]
    assert await world.on_hand("WH", "JEANS-32") == {"on_hand": 1, "reserved": 1}
    nothing = await world.order(
        lines=[{"sku": "TEE-M", "qty": 1}], fulfillment={"mode": "pickup", "location": "ST-B"}
    )
    assert nothing.status_code == 409
    assert nothing.json()["code"] == "pickup_unavailable"


async def test_a_rejected_pickup_asks_for_attention_and_gives_the_stock_back(
    world: World,
) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    order = await paid_online(
        world, (await world.order(fulfillment={"mode": "pickup", "location": "ST-A"})).json()
    )
    pickup = order["fulfillments"][0]
    rejected = await world.keys["store_a"].post(
        f"/v1/fulfillments/{pickup['id']}/reject", {"reason": "damaged"}
    )
    assert rejected.status_code == 200, rejected.text
    after = (await world.admin.get(f"/v1/orders/{order['id']}")).json()
    assert after["status"] == "needs_attention"
    assert after["sourcing"]["unserved"] == [{"sku": "TEE-S", "qty": 1}]
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 0, "reserved": 0}
