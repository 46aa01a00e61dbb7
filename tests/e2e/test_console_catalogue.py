"""HQ catalogue and prices in the console, both databases: products searched and paged, a
product's variants with their price history, the catalogue as CSV; store roles and other
tenants refused."""

from __future__ import annotations

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


async def test_products_prices_and_export(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    repriced = await world.admin.patch(
        "/v1/products/BASICS", {"variants": [{"sku": "TEE-S", "price": 8900}]}
    )
    assert repriced.status_code == 200, repriced.text
    await make_staff(db, tenant, StaffRole.ANALYST, "analyst@acme.test")
    assert (await sign_in(client, tenant.slug, "analyst@acme.test")).status_code == 303
    listed = await client.get("/console/catalogue", params={"q": "TEE-S"})
    assert listed.status_code == 200
    assert 'id="p-BASICS"' in listed.text
    none = await client.get("/console/catalogue", params={"q": "nothing-like-it"})
    assert 'id="p-BASICS"' not in none.text
    page = await client.get("/console/catalogue/BASICS")
    assert page.status_code == 200
    row = page.text.split('id="v-TEE-S"')[1].split("</tr>")[0]
    assert 'data-minor="8900"' in row
    assert "99.00 → 89.00" in row
    assert (await client.get("/console/catalogue/NOPE")).status_code == 404
    exported = await client.get("/console/catalogue/export.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.content.startswith(b"\xef\xbb\xbf")  # a BOM, for Excel
    text = exported.content.decode("utf-8-sig")
    assert "TEE-S" in text
    assert "89.00" in text


async def test_store_roles_and_other_tenants_are_refused(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantHandle,
    other_tenant: TenantHandle,
    world: World,
) -> None:
    await make_staff(db, tenant, StaffRole.STORE_CLERK, "clerk@acme.test", locations=["ST-A"])
    assert (await sign_in(client, tenant.slug, "clerk@acme.test")).status_code == 303
    assert (await client.get("/console/catalogue")).status_code == 403
    assert (await client.get("/console/catalogue/export.csv")).status_code == 403
    client.cookies.clear()
    await make_staff(db, other_tenant, StaffRole.ADMIN, "hq@rival.test")
    assert (await sign_in(client, other_tenant.slug, "hq@rival.test")).status_code == 303
    assert (await client.get("/console/catalogue/BASICS")).status_code == 404
    assert "TEE-S" not in (await client.get("/console/catalogue/export.csv")).text
