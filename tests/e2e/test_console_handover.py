"""Pickup handover in the console checks first and hands over only on an explicit confirm;
the store's queue pages through every open fulfilment. Both databases."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from omniretail.auth.staff_domain import StaffRole
from omniretail.db import Database
from tests.console_helpers import form_token, make_staff, sign_in
from tests.factories import Api, TenantHandle
from tests.orders_world import CUSTOMER, World, build_world, paid_online


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


async def _clerk(client: httpx.AsyncClient, db: Database, tenant: TenantHandle, store: str) -> str:
    email = f"clerk-{store.lower()}@acme.test"
    await make_staff(db, tenant, StaffRole.STORE_CLERK, email, locations=[store])
    assert (await sign_in(client, tenant.slug, email)).status_code == 303
    return await form_token(client, f"/console/stores/{store}/handover")


async def _ready_pickup(world: World, store: str) -> dict[str, Any]:
    await world.stock(store, "TEE-S", 1)
    customer = await world.keys["app"].post(
        "/v1/customers",
        {"name": "Wang Fang", "identities": [{"type": "phone", "value": CUSTOMER["phone"]}]},
    )
    placed = await world.order(
        world.keys["app"],
        fulfillment={"mode": "pickup", "location": store},
        customer_id=customer.json()["id"],
    )
    assert placed.status_code == 201, placed.text
    order: dict[str, Any] = placed.json()
    await paid_online(world, order)
    key = world.keys["store_a" if store == "ST-A" else "store_b"]
    fulfilment = order["fulfillments"][0]
    for action in ("accept", "ready"):
        done = await key.post(f"/v1/fulfillments/{fulfilment['id']}/{action}", {})
        assert done.status_code == 200, done.text
    return order


async def _status(world: World, order: dict[str, Any]) -> tuple[str, str]:
    now = (await world.admin.get(f"/v1/orders/{order['id']}")).json()
    return now["status"], now["fulfillments"][0]["status"]


async def test_a_code_is_checked_first_and_handed_over_only_on_confirm(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    order = await _ready_pickup(world, "ST-A")
    code = str(order["fulfillments"][0]["pickup_code"])
    token = await _clerk(client, db, tenant, "ST-A")
    checked = await client.post("/console/stores/ST-A/handover", data={"csrf": token, "code": code})
    assert checked.status_code == 200, checked.text
    assert 'id="checked"' in checked.text
    assert order["id"] in checked.text
    assert "Wang Fang" in checked.text
    assert "138****8000" in checked.text
    assert "TEE-S \u00d7 1" in checked.text
    assert 'id="confirm-handover"' in checked.text
    assert await _status(world, order) == ("confirmed", "ready")  # nothing handed over yet
    confirmed = await client.post(
        "/console/stores/ST-A/handover", data={"csrf": token, "code": code, "confirm": "yes"}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert 'id="handed-over"' in confirmed.text
    assert await _status(world, order) == ("completed", "handed_over")
    again = await client.post(
        "/console/stores/ST-A/handover", data={"csrf": token, "code": code, "confirm": "yes"}
    )
    assert again.status_code == 409
    rechecked = await client.post(
        "/console/stores/ST-A/handover", data={"csrf": token, "code": code}
    )
    assert rechecked.status_code == 409


async def test_a_wrong_or_foreign_code_is_refused_at_the_check_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    at_b = await _ready_pickup(world, "ST-B")
    code_b = str(at_b["fulfillments"][0]["pickup_code"])
    token = await _clerk(client, db, tenant, "ST-A")
    wrong = await client.post(
        "/console/stores/ST-A/handover", data={"csrf": token, "code": "00000000"}
    )
    assert wrong.status_code == 422
    foreign = await client.post(
        "/console/stores/ST-A/handover", data={"csrf": token, "code": code_b, "confirm": "yes"}
    )
    assert foreign.status_code == 422  # another store's code is unknown here
    via_b = await client.post("/console/stores/ST-B/handover", data={"csrf": token, "code": code_b})
    assert via_b.status_code == 403
    via_b_confirm = await client.post(
        "/console/stores/ST-B/handover", data={"csrf": token, "code": code_b, "confirm": "yes"}
    )
    assert via_b_confirm.status_code == 403
    assert "Wang Fang" not in via_b_confirm.text
    assert await _status(world, at_b) == ("confirmed", "ready")
    forged = await client.post(
        "/console/stores/ST-A/handover", data={"csrf": "forged", "code": "00000000"}
    )
    assert forged.status_code == 403


async def test_the_queue_pages_through_every_open_fulfilment(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    await world.stock("ST-A", "TEE-S", 5)
    placed = []
    for _ in range(5):
        order = await world.order(fulfillment={"mode": "pickup", "location": "ST-A"})
        assert order.status_code == 201, order.text
        placed.append(order.json()["fulfillments"][0]["id"])
    await _clerk(client, db, tenant, "ST-A")
    seen: list[str] = []
    page = 1
    while True:
        shown = await client.get("/console/stores/ST-A/queue", params={"page": page, "per_page": 2})
        assert shown.status_code == 200
        rows = re.findall(r'<tr id="f-([^"]+)"', shown.text)
        assert len(rows) <= 2
        seen += rows
        if 'id="next-page"' not in shown.text:
            break
        page += 1
    assert page == 3
    assert sorted(seen) == sorted(placed)  # every one once, none lost between pages
    english = await client.get("/console/stores/ST-A/queue", params={"per_page": 2})
    assert "Next page" in english.text
    beyond = await client.get("/console/stores/ST-A/queue", params={"page": 0})
    assert beyond.status_code == 422
    other = await client.get("/console/stores/ST-B/queue", params={"page": 2})
    assert other.status_code == 403


async def test_the_handover_check_reads_in_chinese_for_a_chinese_clerk(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    order = await _ready_pickup(world, "ST-A")
    code = str(order["fulfillments"][0]["pickup_code"])
    await make_staff(
        db, tenant, StaffRole.STORE_CLERK, "zh@acme.test", locations=["ST-A"], language="zh-CN"
    )
    assert (await sign_in(client, tenant.slug, "zh@acme.test")).status_code == 303
    token = await form_token(client, "/console/stores/ST-A/handover")
    checked = await client.post("/console/stores/ST-A/handover", data={"csrf": token, "code": code})
    assert "确认交付" in checked.text
    assert "请核对订单与顾客后再交付" in checked.text
