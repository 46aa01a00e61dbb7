"""HQ pages over HTTP on both databases: orders with their sourcing, the network, the
dashboard's figures, imports; store roles and other tenants are refused."""

from __future__ import annotations

import httpx
import pytest

from omniretail.auth.staff_domain import StaffRole
from omniretail.db import Database
from tests.console_helpers import form_token, make_staff, sign_in
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


async def test_hq_reads_orders_with_their_sourcing_and_the_network(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    await world.stock("ST-A", "TEE-S", 5)
    placed = (await world.order()).json()
    await make_staff(db, tenant, StaffRole.OPS, "ops@acme.test")
    assert (await sign_in(client, tenant.slug, "ops@acme.test")).status_code == 303
    listing = await client.get("/console/orders")
    assert listing.status_code == 200
    assert placed["number"] in listing.text
    detail = await client.get(f"/console/orders/{placed['id']}")
    assert detail.status_code == 200
    for decision in placed["sourcing"]["decisions"]:
        assert decision["location"] in detail.text
    assert (await client.get("/console/orders/ord_unknown")).status_code == 404
    network = await client.get("/console/network")
    assert network.status_code == 200
    assert all(code in network.text for code in ("WH", "ST-A", "ST-B", "ST-C"))


async def test_orders_paginate(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    await world.stock("ST-A", "TEE-S", 60)
    numbers = []
    for _ in range(51):
        numbers.append((await world.order()).json()["number"])
    await make_staff(db, tenant, StaffRole.ANALYST, "analyst@acme.test")
    assert (await sign_in(client, tenant.slug, "analyst@acme.test")).status_code == 303
    first = await client.get("/console/orders")
    assert numbers[-1] in first.text
    assert numbers[0] not in first.text
    assert 'id="next-page"' in first.text
    after = first.text.split("/console/orders?before=")[1].split('"')[0]
    second = await client.get(f"/console/orders?before={after}")
    assert numbers[0] in second.text
    assert 'id="next-page"' not in second.text
    assert (await client.get("/console/orders?before=0")).status_code == 422


async def test_store_roles_and_other_tenants_do_not_see_hq_pages(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantHandle,
    other_tenant: TenantHandle,
    world: World,
) -> None:
    await world.stock("ST-A", "TEE-S", 5)
    placed = (await world.order()).json()
    await make_staff(db, tenant, StaffRole.STORE_MANAGER, "manager@acme.test", locations=["ST-A"])
    assert (await sign_in(client, tenant.slug, "manager@acme.test")).status_code == 303
    for path in ("/console/orders", f"/console/orders/{placed['id']}", "/console/network",
                 "/console/dashboard", "/console/imports"):  # fmt: skip
        assert (await client.get(path)).status_code == 403, path
    token = await form_token(client, "/console/stores/ST-A/queue")
    upload = await client.post(
        "/console/imports",
        data={"csrf": token, "kind": "products", "apply": "1"},
        files={
            "file": ("p.csv", b"product_code,title,category,sku,barcode,price\nP9,T,c,P9-S,,1.00\n")
        },
    )
    assert upload.status_code == 403
    assert (await world.admin.get("/v1/products/P9")).status_code == 404
    client.cookies.clear()
    await make_staff(db, other_tenant, StaffRole.ADMIN, "hq@rival.test")
    assert (await sign_in(client, other_tenant.slug, "hq@rival.test")).status_code == 303
    assert (await client.get(f"/console/orders/{placed['id']}")).status_code == 404
    listing = await client.get("/console/orders")
    assert placed["number"] not in listing.text
    dashboard = await client.get("/console/dashboard")
    assert dashboard.status_code == 200
    assert 'id="gmv-today">CNY 0.00' in dashboard.text


async def test_admins_manage_staff_and_nobody_else_does(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    await make_staff(db, tenant, StaffRole.ADMIN, "hq@acme.test")
    await make_staff(db, tenant, StaffRole.OPS, "ops@acme.test")
    assert (await sign_in(client, tenant.slug, "hq@acme.test")).status_code == 303
    token = await form_token(client, "/console/staff")
    form = {
        "csrf": token,
        "name": "New Clerk",
        "email": "new@acme.test",
        "role": "store_clerk",
        "locations": "ST-A",
        "password": "a long enough password",
        "language": "en",
    }
    no_store = await client.post("/console/staff", data={**form, "locations": ""})
    assert no_store.status_code == 422
    made = await client.post("/console/staff", data=form)
    assert made.status_code == 201
    assert "new@acme.test" in made.text
    assert "a long enough password" not in made.text
    client.cookies.clear()
    assert (await sign_in(client, tenant.slug, "new@acme.test", "a long enough password")).headers[
        "location"
    ] == "/console/stores/ST-A/queue"
    client.cookies.clear()
    assert (await sign_in(client, tenant.slug, "ops@acme.test")).status_code == 303
    token = await form_token(client, "/console/orders")
    listing = await client.get("/console/staff")
    assert listing.status_code == 403
    assert "hq@acme.test" not in listing.text
    refused = await client.post(
        "/console/staff", data={**form, "csrf": token, "email": "x@acme.test"}
    )
    assert refused.status_code == 403
    client.cookies.clear()
    assert (
        await sign_in(client, tenant.slug, "x@acme.test", "a long enough password")
    ).status_code == 401
