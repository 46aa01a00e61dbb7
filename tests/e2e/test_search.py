"""Search and filters users expect (issue 12): ``q`` on products, customers and orders, order
date ranges, and the customer list. Scope stays the tenant's (and the channel key's)."""

from __future__ import annotations

import datetime as dt

from omniretail.db import Database
from tests.factories import Api, TenantHandle
from tests.orders_world import build_world


def product(code: str, title: str, sku: str) -> dict[str, object]:
    return {
        "code": code,
        "title": title,
        "category": "women/tops",
        "variants": [{"sku": sku, "price": 9900}],
    }


async def test_products_are_found_by_title_code_or_sku(admin: Api) -> None:
    for body in (
        product("LM100", "真丝衬衫 Silk shirt", "LM100-WHI-M"),
        product("LM200", "Wool coat", "LM200-BLA-L"),
        product("LM_3", "100% linen", "LM3-S"),
    ):
        assert (await admin.post("/v1/products", body)).status_code == 201

    async def codes(q: str) -> list[str]:
        response = await admin.get("/v1/products", q=q)
        assert response.status_code == 200, response.text
        return [p["code"] for p in response.json()["items"]]

    assert await codes("真丝") == ["LM100"]
    assert await codes("silk") == ["LM100"]
    assert await codes("bla-l") == ["LM200"]
    assert await codes("lm") == ["LM100", "LM200", "LM_3"]
    assert await codes("%") == ["LM_3"]  # a literal percent sign, not a wildcard
    assert await codes("_") == ["LM_3"]
    assert await codes("nothing") == []
    assert (await admin.get("/v1/products", q="")).status_code == 422


async def test_customers_are_listed_newest_first_and_found_by_phone_name_or_id(
    admin: Api, other_tenant: TenantHandle
) -> None:
    made = []
    for name, phone in (("Li Wei", "+8613800138000"), ("Wang Fang", "+8613900139000")):
        response = await admin.post(
            "/v1/customers", {"name": name, "identities": [{"type": "phone", "value": phone}]}
        )
        assert response.status_code == 201
        made.append(response.json()["id"])
    rival = Api(admin.client, other_tenant.admin_key)
    assert (await rival.post("/v1/customers", {"name": "Li Rival"})).status_code == 201

    listed = (await admin.get("/v1/customers")).json()
    assert [c["id"] for c in listed["items"]] == made[::-1]
    assert listed["items"][1]["identities"][0]["value"] == "+8613800138000"
    first = await admin.get("/v1/customers", limit=1)
    rest = await admin.get("/v1/customers", limit=1, cursor=first.json()["next_cursor"])
    assert [c["id"] for c in rest.json()["items"]] == [made[0]]
    assert rest.json()["next_cursor"] is None

    async def found(q: str) -> list[str]:
        return [c["id"] for c in (await admin.get("/v1/customers", q=q)).json()["items"]]

    assert await found("138 0013 8000") == [made[0]]  # any spelling of the phone
    assert await found("wang") == [made[1]]
    assert await found(made[1]) == [made[1]]
    assert await found("li") == [made[0]]  # the other tenant's "Li Rival" is never seen


async def test_merged_customers_leave_the_list(admin: Api) -> None:
    a = (await admin.post("/v1/customers", {"name": "A"})).json()["id"]
    b = (await admin.post("/v1/customers", {"name": "B"})).json()["id"]
    assert (await admin.post(f"/v1/customers/{a}/merge", {"customer_id": b})).status_code == 200
    items = (await admin.get("/v1/customers")).json()["items"]
    assert [c["id"] for c in items] == [a]
    assert items[0]["merged_from"] == [b]


async def test_orders_are_found_by_number_and_placing_time(
    admin: Api, db: Database, tenant: TenantHandle
) -> None:
    world = await build_world(admin, db, tenant)
    await world.stock("ST-A", "TEE-S", 2)
    placed_response = await world.order()
    assert placed_response.status_code == 201, placed_response.text
    order = placed_response.json()
    number = order["number"]
    placed = dt.datetime.fromisoformat(order["created_at"].replace("Z", "+00:00"))

    async def ids(**params: str) -> list[str]:
        response = await world.admin.get("/v1/orders", **params)
        assert response.status_code == 200, response.text
        return [o["id"] for o in response.json()["items"]]

    assert await ids(q=number) == [order["id"]]
    assert await ids(q=number[:6]) == [order["id"]]
    assert await ids(q=order["id"]) == [order["id"]]
    assert await ids(q="999999-NOPE") == []
    minute = dt.timedelta(minutes=1)
    assert await ids(placed_from=(placed - minute).isoformat()) == [order["id"]]
    assert await ids(placed_from=(placed + minute).isoformat()) == []
    assert await ids(placed_before=(placed - minute).isoformat()) == []
    shanghai = dt.timezone(dt.timedelta(hours=8))
    window = {
        "placed_from": (placed - minute).astimezone(shanghai).isoformat(),
        "placed_before": (placed + minute).astimezone(shanghai).isoformat(),
    }
    assert await ids(**window) == [order["id"]]
    naive = await world.admin.get("/v1/orders", placed_from="2026-11-26T00:00:00")
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "placed_from"
