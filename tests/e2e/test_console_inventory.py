"""HQ inventory across the network in the console, both databases: all positions paged, the
low ones and the at-risk ones; store roles are refused."""

from __future__ import annotations

import re

import httpx
import pytest

from omniretail.auth.staff_domain import StaffRole
from omniretail.db import Database
from tests.console_helpers import make_staff, sign_in
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


def _shown(html: str) -> list[str]:
    return re.findall(r'data-position="([^"]+)"', html)


async def test_low_and_at_risk_positions_across_the_network(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    await world.stock("ST-A", "TEE-S", 10)
    await world.stock("ST-B", "TEE-M", 1)
    await world.stock("ST-A", "JEANS-32", 2)
    placed = await world.order(
        lines=[{"sku": "JEANS-32", "qty": 2}],
        fulfillment={"mode": "pickup", "location": "ST-A"},
    )
    assert placed.status_code == 201, placed.text  # 2 jeans reserved at ST-A
    counted = await world.admin.client.put(
        "/v1/inventory/ST-A/JEANS-32", json={"on_hand": 1}, headers=world.admin.headers()
    )
    assert counted.status_code == 200, counted.text  # a count found one: reservations at risk
    await make_staff(db, tenant, StaffRole.OPS, "ops@acme.test")
    assert (await sign_in(client, tenant.slug, "ops@acme.test")).status_code == 303
    every = await client.get("/console/inventory")
    assert every.status_code == 200
    assert sorted(_shown(every.text)) == ["ST-A/JEANS-32", "ST-A/TEE-S", "ST-B/TEE-M"]
    low = await client.get("/console/inventory", params={"watch": "low"})
    assert _shown(low.text) == ["ST-B/TEE-M"]
    risky = await client.get("/console/inventory", params={"watch": "at_risk"})
    assert _shown(risky.text) == ["ST-A/JEANS-32"]
    wider = await client.get("/console/inventory", params={"watch": "low", "low_at": 10})
    assert sorted(_shown(wider.text)) == ["ST-A/TEE-S", "ST-B/TEE-M"]
    at_b = await client.get("/console/inventory", params={"location": "ST-B"})
    assert _shown(at_b.text) == ["ST-B/TEE-M"]
    bad = await client.get("/console/inventory", params={"watch": "everything"})
    assert bad.status_code == 422


async def test_the_inventory_pages_through_every_position(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    for location in ("WH", "ST-A", "ST-B", "ST-C"):
        for sku in ("TEE-S", "TEE-M", "JEANS-32"):
            await world.stock(location, sku, 1)
    await make_staff(db, tenant, StaffRole.ANALYST, "analyst@acme.test")
    assert (await sign_in(client, tenant.slug, "analyst@acme.test")).status_code == 303
    seen: list[str] = []
    url: str | None = "/console/inventory?per_page=4"
    pages = 0
    while url:
        page = await client.get(url)
        assert page.status_code == 200
        rows = _shown(page.text)
        assert 1 <= len(rows) <= 4
        seen += rows
        pages += 1
        found = re.search(r'id="next-page" href="([^"]+)"', page.text)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert pages == 3
    assert len(seen) == len(set(seen)) == 12  # every position once, none lost between pages


async def test_store_roles_do_not_see_network_inventory(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    await make_staff(db, tenant, StaffRole.STORE_MANAGER, "mgr@acme.test", locations=["ST-A"])
    assert (await sign_in(client, tenant.slug, "mgr@acme.test")).status_code == 303
    assert (await client.get("/console/inventory")).status_code == 403
