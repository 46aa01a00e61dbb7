"""Positions by location, page by page, and the positions CSV export; store keys see their own."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import event

from omniretail.auth.domain import Role
from omniretail.db import Database
from omniretail.inventory import listing
from tests.factories import Api, TenantHandle, make_key
from tests.orders_world import World, build_world


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    world = await build_world(admin, db, tenant)
    for sku, qty in (("TEE-S", 5), ("TEE-M", 3), ("JEANS-32", 2)):
        await world.stock("ST-A", sku, qty)
    await world.stock("ST-B", "TEE-S", 7)
    await world.stock("WH", "JEANS-32", 40)
    return world


async def test_a_locations_positions_come_in_sku_order_page_by_page(world: World) -> None:
    first = await world.admin.get("/v1/inventory", location="ST-A", limit=2)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [p["sku"] for p in page["items"]] == ["JEANS-32", "TEE-M"]
    assert page["items"][0] == {
        "location": "ST-A",
        "sku": "JEANS-32",
        "on_hand": 2,
        "reserved": 0,
        "safety_stock": 0,
        "available": 2,
    }
    second = (
        await world.admin.get("/v1/inventory", location="ST-A", limit=2, cursor=page["next_cursor"])
    ).json()
    assert [p["sku"] for p in second["items"]] == ["TEE-S"]
    assert second["next_cursor"] is None


async def test_without_a_location_every_position_is_listed_by_location_then_sku(
    world: World,
) -> None:
    seen: list[tuple[str, str]] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await world.admin.get("/v1/inventory", **params)).json()
        seen += [(p["location"], p["sku"]) for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [
        ("ST-A", "JEANS-32"),
        ("ST-A", "TEE-M"),
        ("ST-A", "TEE-S"),
        ("ST-B", "TEE-S"),
        ("WH", "JEANS-32"),
    ]


async def test_a_store_key_reads_its_own_location_only(world: World) -> None:
    store = world.keys["store_a"]
    own = await store.get("/v1/inventory")
    assert own.status_code == 200, own.text
    assert {p["location"] for p in own.json()["items"]} == {"ST-A"}
    assert (await store.get("/v1/inventory", location="ST-A")).status_code == 200
    assert (await store.get("/v1/inventory", location="ST-B")).status_code == 403
    assert (await store.get("/v1/inventory.csv", location="WH")).status_code == 403
    exported = await store.get("/v1/inventory.csv")
    assert {row["location"] for row in csv.DictReader(io.StringIO(exported.text))} == {"ST-A"}


async def test_unknown_locations_bad_cursors_and_other_tenants_are_refused(
    world: World, db: Database, other_tenant: TenantHandle
) -> None:
    assert (await world.admin.get("/v1/inventory", location="NOPE")).status_code == 404
    assert (await world.admin.get("/v1/inventory.csv", location="NOPE")).status_code == 404
    assert (await world.admin.get("/v1/inventory", cursor="bm9wZQ")).status_code == 422
    forged = "eyJhZnRlciI6IDF9"  # {"after": 1}
    assert (await world.admin.get("/v1/inventory", cursor=forged)).status_code == 422
    rival = Api(world.admin.client, other_tenant.admin_key)
    assert (await rival.get("/v1/inventory", location="ST-A")).status_code == 404
    assert (await rival.get("/v1/inventory")).json()["items"] == []
    assert (await Api(world.admin.client, None).get("/v1/inventory")).status_code == 401


async def test_the_csv_export_holds_every_position(
    world: World, db: Database, tenant: TenantHandle
) -> None:
    analyst = Api(world.admin.client, await make_key(db, tenant, Role.ANALYST))
    response = await analyst.get("/v1/inventory.csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["location"], r["sku"], r["available"]) for r in rows] == [
        ("ST-A", "JEANS-32", "2"),
        ("ST-A", "TEE-M", "3"),
        ("ST-A", "TEE-S", "5"),
        ("ST-B", "TEE-S", "7"),
        ("WH", "JEANS-32", "40"),
    ]
    one = await analyst.get("/v1/inventory.csv", location="WH")
    assert (
        one.text == "location,sku,on_hand,reserved,safety_stock,available\nWH,JEANS-32,40,0,0,40\n"
    )
    for_excel = await analyst.get("/v1/inventory.csv", location="WH", bom="true")
    assert for_excel.content == b"\xef\xbb\xbf" + one.content


async def test_the_export_reads_in_chunks_and_loses_no_row_between_them(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = (await world.admin.get("/v1/inventory.csv")).text
    monkeypatch.setattr(listing, "EXPORT_CHUNK", 2)
    assert (await world.admin.get("/v1/inventory.csv")).text == whole
    assert len(whole.splitlines()) == 6


async def test_a_page_of_a_locations_positions_costs_one_statement_once_its_location_is_known(
    world: World, db: Database
) -> None:
    # The location's id is read once per process (scoped.read_ref), by the first page.
    assert (await world.admin.get("/v1/inventory", location="ST-A", limit=2)).status_code == 200
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        page = await world.admin.get("/v1/inventory", location="ST-A", limit=2)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert page.status_code == 200, page.text
    # The key's lookup depends on the principal cache's one-second TTL, not on this page.
    work = [
        s
        for s in statements
        if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK")) and "api_keys" not in s
    ]
    # the page of positions
    assert len(work) == 1, "\n".join(work)
