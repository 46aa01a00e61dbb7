"""The returns desk in the console, both databases: find an order, see the exact refund per
tender before anything is written, confirm, restock or write off; exchanges of one size for
another; a store's staff work only at their own store; bad input changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from omniretail.auth.staff_domain import StaffRole
from omniretail.db import Database
from tests.console_helpers import form_token, make_staff, sign_in
from tests.factories import Api, TenantHandle
from tests.orders_world import CUSTOMER, World, build_world, tee_sold_at_st_a


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


@pytest.fixture
async def clerk(client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World) -> str:
    await make_staff(db, tenant, StaffRole.STORE_CLERK, "clerk@acme.test", locations=["ST-A"])
    assert (await sign_in(client, tenant.slug, "clerk@acme.test")).status_code == 303
    return await form_token(client, "/console/stores/ST-A/returns")


async def _returns(world: World, order: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (
        await world.admin.get(f"/v1/orders/{order['id']}/returns")
    ).json()
    return found


async def test_the_desk_shows_the_exact_refund_per_tender_then_takes_the_return(
    client: httpx.AsyncClient, world: World, clerk: str
) -> None:
    sale = await tee_sold_at_st_a(world)
    assert (await world.on_hand("ST-A", "TEE-S"))["on_hand"] == 0
    found = await client.get("/console/stores/ST-A/returns", params={"q": sale["number"]})
    assert found.status_code == 200
    assert f'id="o-{sale["id"]}"' in found.text
    page = await client.get(f"/console/stores/ST-A/returns/{sale['id']}")
    assert page.status_code == 200
    assert 'name="qty_TEE-S"' in page.text
    form = {"csrf": clerk, "qty_TEE-S": "1", "condition_TEE-S": "resellable"}
    quoted = await client.post(f"/console/stores/ST-A/returns/{sale['id']}/quote", data=form)
    assert quoted.status_code == 200, quoted.text
    assert 'data-method="card_present" data-amount="9900"' in quoted.text
    assert 'id="refund-total" data-amount="9900"' in quoted.text
    assert await _returns(world, sale) == []  # a quote writes nothing
    assert (await world.on_hand("ST-A", "TEE-S"))["on_hand"] == 0
    taken = await client.post(f"/console/stores/ST-A/returns/{sale['id']}", data=form)
    assert taken.status_code == 201, taken.text
    assert 'id="return-taken"' in taken.text
    returns = await _returns(world, sale)
    assert len(returns) == 1
    assert [(r["method"], r["amount"]) for r in returns[0]["refunds"]] == [("card_present", 9900)]
    assert returns[0]["location"] == "ST-A"
    assert (await world.on_hand("ST-A", "TEE-S"))["on_hand"] == 1  # resellable: restocked here
    again = await client.post(f"/console/stores/ST-A/returns/{sale['id']}", data=form)
    assert again.status_code == 422  # nothing left to return
    assert len(await _returns(world, sale)) == 1


async def test_a_damaged_return_is_refunded_but_not_put_back_on_sale(
    client: httpx.AsyncClient, world: World, clerk: str
) -> None:
    sale = await tee_sold_at_st_a(world)
    form = {"csrf": clerk, "qty_TEE-S": "1", "condition_TEE-S": "damaged"}
    taken = await client.post(f"/console/stores/ST-A/returns/{sale['id']}", data=form)
    assert taken.status_code == 201, taken.text
    assert (await world.on_hand("ST-A", "TEE-S"))["on_hand"] == 0
    assert (await _returns(world, sale))[0]["refund_total"] == 9900


async def test_a_size_is_exchanged_for_another_in_one_step(
    client: httpx.AsyncClient, world: World, clerk: str
) -> None:
    sale = await tee_sold_at_st_a(world)
    await world.stock("ST-A", "TEE-M", 1)
    swapped = await client.post(
        f"/console/stores/ST-A/returns/{sale['id']}/exchange",
        data={"csrf": clerk, "sku": "TEE-S", "new_sku": "TEE-M"},
    )
    assert swapped.status_code == 201, swapped.text
    assert 'id="exchanged"' in swapped.text
    assert (await world.on_hand("ST-A", "TEE-S"))["on_hand"] == 1
    assert (await world.on_hand("ST-A", "TEE-M"))["on_hand"] == 0
    dearer = await client.post(
        f"/console/stores/ST-A/returns/{sale['id']}/exchange",
        data={"csrf": clerk, "sku": "TEE-S", "new_sku": "JEANS-32"},
    )
    assert dearer.status_code in (409, 422)  # nothing left to return, and the price differs
    assert (await world.on_hand("ST-A", "JEANS-32"))["on_hand"] == 1


async def test_a_dearer_exchange_asks_for_the_difference_then_takes_it(
    client: httpx.AsyncClient, world: World, clerk: str
) -> None:
    """Tee (99.00) for jeans (299.00): the first post writes nothing and names 200.00 due;
    the clerk takes it at the till and the exchange is made with the card payment."""
    sale = await tee_sold_at_st_a(world)
    path = f"/console/stores/ST-A/returns/{sale['id']}/exchange"
    asked = await client.post(path, data={"csrf": clerk, "sku": "TEE-S", "new_sku": "JEANS-32"})
    assert asked.status_code == 200, asked.text
    assert 'id="due" data-minor="20000"' in asked.text
    assert (await world.on_hand("ST-A", "JEANS-32"))["on_hand"] == 1
    assert await _returns(world, sale) == []
    short = {"csrf": clerk, "sku": "TEE-S", "new_sku": "JEANS-32", "pay_method": "cash"}
    wrong = await client.post(path, data={**short, "pay_amount": "100"})
    assert wrong.status_code == 422
    assert (await world.on_hand("ST-A", "JEANS-32"))["on_hand"] == 1
    taken = await client.post(
        path, data={**short, "pay_method": "card_present", "pay_amount": "20000"}
    )
    assert taken.status_code == 201, taken.text
    assert 'id="exchanged"' in taken.text
    assert (await world.on_hand("ST-A", "JEANS-32"))["on_hand"] == 0
    assert (await world.on_hand("ST-A", "TEE-S"))["on_hand"] == 1


async def test_bad_input_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, world: World, clerk: str
) -> None:
    sale = await tee_sold_at_st_a(world)
    path = f"/console/stores/ST-A/returns/{sale['id']}"
    for data in (
        {"qty_TEE-S": "abc"},
        {"qty_TEE-S": "5"},
        {"qty_TEE-S": "0"},
        {"qty_TEE-S": "1", "condition_TEE-S": "stolen"},
    ):
        refused = await client.post(path, data={"csrf": clerk, **data})
        assert refused.status_code == 422, (data, refused.text)
    unknown = await client.post(
        "/console/stores/ST-A/returns/ord_nope/quote", data={"csrf": clerk, "qty_TEE-S": "1"}
    )
    assert unknown.status_code == 404
    assert await _returns(world, sale) == []
    assert (await world.on_hand("ST-A", "TEE-S"))["on_hand"] == 0


async def test_a_clerk_of_store_a_cannot_take_returns_for_store_b_nor_an_analyst_any(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World, clerk: str
) -> None:
    sale = await tee_sold_at_st_a(world)
    form = {"csrf": clerk, "qty_TEE-S": "1"}
    assert (await client.get("/console/stores/ST-B/returns")).status_code == 403
    assert (await client.get(f"/console/stores/ST-B/returns/{sale['id']}")).status_code == 403
    for path in (
        f"/console/stores/ST-B/returns/{sale['id']}/quote",
        f"/console/stores/ST-B/returns/{sale['id']}",
    ):
        assert (await client.post(path, data=form)).status_code == 403
    swapped = await client.post(
        f"/console/stores/ST-B/returns/{sale['id']}/exchange",
        data={"csrf": clerk, "sku": "TEE-S", "new_sku": "TEE-M"},
    )
    assert swapped.status_code == 403
    await make_staff(db, tenant, StaffRole.ANALYST, "analyst@acme.test")
    assert (await sign_in(client, tenant.slug, "analyst@acme.test")).status_code == 303
    token = await form_token(client, "/console/stores/ST-A/returns")
    refused = await client.post(
        f"/console/stores/ST-A/returns/{sale['id']}", data={"csrf": token, "qty_TEE-S": "1"}
    )
    assert refused.status_code == 403
    assert await _returns(world, sale) == []


async def test_a_customer_phone_finds_their_orders_on_every_channel(
    client: httpx.AsyncClient, world: World, clerk: str
) -> None:
    await world.stock("ST-A", "TEE-S", 2)
    customer = await world.keys["app"].post(
        "/v1/customers",
        {"name": "Li Wei", "identities": [{"type": "phone", "value": CUSTOMER["phone"]}]},
    )
    placed = await world.order(world.keys["app"], customer_id=customer.json()["id"])
    assert placed.status_code == 201, placed.text
    found = await client.get("/console/stores/ST-A/returns", params={"q": "138 0013 8000"})
    assert f'id="o-{placed.json()["id"]}"' in found.text
    none = await client.get("/console/stores/ST-A/returns", params={"q": "nobody"})
    assert 'id="none-found"' in none.text
    chinese = await client.post("/console/language", data={"csrf": clerk})
    assert chinese.status_code == 303
    assert "退换货" in (await client.get("/console/stores/ST-A/returns")).text
