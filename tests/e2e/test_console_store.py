"""Store screens over HTTP on both databases: reject with a reason (stock effects as the API),
stock lookup here and nearby, and each person's language."""

from __future__ import annotations

import httpx
import pytest

from omniretail.auth.staff_domain import StaffRole
from omniretail.db import Database
from tests.console_helpers import form_token, make_staff, sign_in
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world, numbers_drawn, paid_online


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


@pytest.fixture
async def clerk(client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World) -> str:
    await make_staff(db, tenant, StaffRole.STORE_CLERK, "clerk@acme.test", locations=["ST-A"])
    assert (await sign_in(client, tenant.slug, "clerk@acme.test")).status_code == 303
    return await form_token(client, "/console/stores/ST-A/queue")


async def test_a_clerk_rejects_with_a_reason_and_the_stock_follows(
    client: httpx.AsyncClient, world: World, clerk: str
) -> None:
    await world.stock("ST-A", "TEE-S", 2)
    order = (await world.order(fulfillment={"mode": "pickup", "location": "ST-A"})).json()
    fulfilment = order["fulfillments"][0]
    path = f"/console/stores/ST-A/fulfilments/{fulfilment['id']}/reject"
    unpaid = await client.post(path, data={"csrf": clerk, "reason": "not_in_stock"})
    assert unpaid.status_code == 409  # as over the API: an unpaid order is not worked on
    await paid_online(world, order)
    bad = await client.post(path, data={"csrf": clerk, "reason": "bored"})
    assert bad.status_code == 422
    assert (await world.on_hand("ST-A", "TEE-S"))["on_hand"] == 2
    done = await client.post(path, data={"csrf": clerk, "reason": "not_in_stock"})
    assert done.status_code == 303
    after = (await world.admin.get(f"/v1/orders/{order['id']}")).json()
    assert after["fulfillments"][0]["status"] == "rejected"
    assert after["fulfillments"][0]["reason"] == "not_in_stock"
    assert (await world.on_hand("ST-A", "TEE-S"))["on_hand"] == 0  # counted to zero, as the API


async def test_stock_lookup_shows_every_variant_here_and_nearby_with_distance(
    client: httpx.AsyncClient, world: World, clerk: str
) -> None:
    await world.stock("ST-A", "TEE-S", 4)
    await world.stock("ST-B", "TEE-M", 7)
    page = await client.get("/console/stores/ST-A/stock", params={"q": "TEE-S"})
    assert page.status_code == 200
    assert all(sku in page.text for sku in ("TEE-S", "TEE-M", "JEANS-32"))
    assert "ST-B · 3." in page.text  # ST-B is 3.5 km from ST-A's neighbourhood
    unknown = await client.get("/console/stores/ST-A/stock", params={"q": "NOPE"})
    assert unknown.status_code == 404
    other = await client.get("/console/stores/ST-B/stock", params={"q": "TEE-S"})
    assert other.status_code == 403


async def test_each_person_reads_the_console_in_their_language(
    client: httpx.AsyncClient, clerk: str
) -> None:
    english = await client.get("/console/stores/ST-A/queue")
    assert "Nothing to do right now" in english.text
    switched = await client.post(
        "/console/language", data={"csrf": clerk}, headers={"referer": "https://evil.example/x"}
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == "/console"
    chinese = await client.get("/console/stores/ST-A/queue")
    assert "暂无待处理任务" in chinese.text


async def test_an_endless_aisle_order_is_picked_up_nearby_and_attributed_to_the_clerk(
    client: httpx.AsyncClient, world: World, clerk: str
) -> None:
    await world.stock("ST-B", "TEE-M", 2)
    done = await client.post(
        "/console/stores/ST-A/aisle-orders",
        data={"csrf": clerk, "sku": "TEE-M", "pickup_at": "ST-B", "qty": "1"},
    )
    assert done.status_code == 201, done.text
    orders = (await world.admin.get("/v1/orders", location="ST-B")).json()["items"]
    assert len(orders) == 1
    order = orders[0]
    assert order["channel"] == "pos"
    assert order["attributed_location"] == "ST-A"
    assert order["attributed_staff"].startswith("staff:")
    assert order["totals"]["total"] == 9900
    assert order["status"] == "pending_payment"  # paid online by the customer, not at the till
    assert (await paid_online(world, order))["status"] == "confirmed"
    assert order["fulfillments"][0]["location"] == "ST-B"
    assert (await world.on_hand("ST-B", "TEE-M"))["reserved"] == 1
    bad = await client.post(
        "/console/stores/ST-A/aisle-orders",
        data={"csrf": clerk, "sku": "bad sku!", "pickup_at": "ST-B", "qty": "1"},
    )
    assert bad.status_code == 422
    elsewhere = await client.post(
        "/console/stores/ST-B/aisle-orders",
        data={"csrf": clerk, "sku": "TEE-M", "pickup_at": "ST-B", "qty": "1"},
    )
    assert elsewhere.status_code == 403
    assert len((await world.admin.get("/v1/orders", location="ST-B")).json()["items"]) == 1


async def test_an_aisle_order_whose_number_is_taken_is_placed_under_another(
    client: httpx.AsyncClient, world: World, clerk: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await world.stock("ST-B", "TEE-M", 2)
    await world.stock("WH", "TEE-S", 1)
    earlier = await world.order()  # shipped from the warehouse
    assert earlier.status_code == 201, earlier.text
    numbers_drawn(monkeypatch, {0: earlier.json()["number"]})
    done = await client.post(
        "/console/stores/ST-A/aisle-orders",
        data={"csrf": clerk, "sku": "TEE-M", "pickup_at": "ST-B", "qty": "1"},
    )
    assert done.status_code == 201, done.text
    orders = (await world.admin.get("/v1/orders", location="ST-B")).json()["items"]
    assert len(orders) == 1
    assert orders[0]["number"] != earlier.json()["number"]
    assert (await world.on_hand("ST-B", "TEE-M"))["reserved"] == 1
