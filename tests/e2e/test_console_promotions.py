"""HQ promotions and coupons in the console, both databases: the list, one promotion with
its audit history and coupons; store roles and other tenants refused."""

from __future__ import annotations

import httpx
import pytest

from omniretail.auth.staff_domain import StaffRole
from omniretail.db import Database
from tests.console_helpers import make_staff, sign_in
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world

PROMO = {
    "code": "AUTUMN",
    "title": "Autumn",
    "discount": {"kind": "percent", "value": 5},
    "starts_at": "2026-01-01T00:00:00+00:00",
    "ends_at": "2027-01-01T00:00:00+00:00",
}


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


async def test_a_promotion_shows_its_audit_history_and_coupons(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    assert (await world.admin.post("/v1/promotions", PROMO)).status_code == 201
    changed = await world.admin.patch("/v1/promotions/AUTUMN", {"title": "Autumn sale"})
    assert changed.status_code == 200, changed.text
    for code in ("AUT-1", "AUT-2"):
        made = await world.admin.post("/v1/coupons", {"code": code, "promotion": "AUTUMN"})
        assert made.status_code == 201, made.text
    await make_staff(db, tenant, StaffRole.ANALYST, "analyst@acme.test")
    assert (await sign_in(client, tenant.slug, "analyst@acme.test")).status_code == 303
    listed = await client.get("/console/promotions")
    assert listed.status_code == 200
    assert 'id="p-AUTUMN"' in listed.text
    assert "Autumn sale" in listed.text
    page = await client.get("/console/promotions/AUTUMN")
    assert page.status_code == 200
    history = page.text.split('id="history"')[1].split("</table>")[0]
    assert history.count('class="change"') == 2  # created, then retitled
    assert "Autumn sale" in history
    assert 'id="coupon-AUT-1"' in page.text
    assert 'id="coupon-AUT-2"' in page.text
    assert (await client.get("/console/promotions/NOPE")).status_code == 404


async def test_store_roles_and_other_tenants_are_refused(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantHandle,
    other_tenant: TenantHandle,
    world: World,
) -> None:
    assert (await world.admin.post("/v1/promotions", PROMO)).status_code == 201
    await make_staff(db, tenant, StaffRole.STORE_CLERK, "clerk@acme.test", locations=["ST-A"])
    assert (await sign_in(client, tenant.slug, "clerk@acme.test")).status_code == 303
    assert (await client.get("/console/promotions")).status_code == 403
    assert (await client.get("/console/promotions/AUTUMN")).status_code == 403
    client.cookies.clear()
    await make_staff(db, other_tenant, StaffRole.ADMIN, "hq@rival.test")
    assert (await sign_in(client, other_tenant.slug, "hq@rival.test")).status_code == 303
    assert (await client.get("/console/promotions/AUTUMN")).status_code == 404
    assert "AUTUMN" not in (await client.get("/console/promotions")).text
