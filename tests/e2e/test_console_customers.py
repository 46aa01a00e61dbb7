"""HQ customers (360) in the console, both databases: search, one customer whole (identities,
merges, orders on every channel, points and ledger); store roles and other tenants refused."""

from __future__ import annotations

import httpx
import pytest

from omniretail.auth.staff_domain import StaffRole
from omniretail.db import Database
from tests.console_helpers import make_staff, sign_in
from tests.factories import Api, TenantHandle
from tests.orders_world import CUSTOMER, World, build_world


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


async def test_a_customer_is_shown_whole_with_merges_and_orders(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    app = world.keys["app"]
    first = (await app.post("/v1/customers", {"name": "Li Wei", "identities": [
        {"type": "phone", "value": CUSTOMER["phone"]}]})).json()  # fmt: skip
    second = (await app.post("/v1/customers", {"name": "Li W.", "identities": [
        {"type": "member_card", "value": "M-7"}]})).json()  # fmt: skip
    merged = await world.admin.post(
        f"/v1/customers/{first['id']}/merge",
        {"customer_id": second["id"], "reason": "same person at the counter"},
    )
    assert merged.status_code in (200, 201), merged.text
    await world.stock("ST-A", "TEE-S", 1)
    placed = await world.order(app, customer_id=first["id"])
    assert placed.status_code == 201, placed.text
    await make_staff(db, tenant, StaffRole.ANALYST, "analyst@acme.test")
    assert (await sign_in(client, tenant.slug, "analyst@acme.test")).status_code == 303
    found = await client.get("/console/customers", params={"q": "138 0013 8000"})
    assert found.status_code == 200
    assert f'id="c-{first["id"]}"' in found.text
    assert f'id="c-{second["id"]}"' not in found.text  # merged away
    page = await client.get(f"/console/customers/{first['id']}")
    assert page.status_code == 200
    assert "M-7" in page.text  # both identities
    assert "+8613800138000" in page.text
    assert f'data-absorbed="{second["id"]}"' in page.text
    assert "same person at the counter" in page.text
    assert f'id="o-{placed.json()["id"]}"' in page.text
    assert 'id="points-balance">0<' in page.text
    via_old = await client.get(f"/console/customers/{second['id']}")
    assert via_old.status_code == 200  # a merged id answers with the survivor
    assert f'data-absorbed="{second["id"]}"' in via_old.text


async def test_unknown_bad_and_refused(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantHandle,
    other_tenant: TenantHandle,
    world: World,
) -> None:
    mine = (await world.keys["app"].post("/v1/customers", {"name": "Wang"})).json()
    await make_staff(db, other_tenant, StaffRole.ADMIN, "hq@rival.test")
    assert (await sign_in(client, other_tenant.slug, "hq@rival.test")).status_code == 303
    assert (await client.get(f"/console/customers/{mine['id']}")).status_code == 404
    assert "Wang" not in (await client.get("/console/customers")).text
    assert (await client.get("/console/customers", params={"before": 0})).status_code == 422
    client.cookies.clear()
    await make_staff(db, tenant, StaffRole.STORE_CLERK, "clerk@acme.test", locations=["ST-A"])
    assert (await sign_in(client, tenant.slug, "clerk@acme.test")).status_code == 303
    assert (await client.get("/console/customers")).status_code == 403
    assert (await client.get(f"/console/customers/{mine['id']}")).status_code == 403
