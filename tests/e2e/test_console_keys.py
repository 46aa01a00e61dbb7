"""Channels and API keys in the console, both databases: only admins (as ``POST /v1/keys``);
a new key's secret is shown once, works over the API, and stops working when revoked."""

from __future__ import annotations

import re

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


async def test_an_admin_creates_a_key_seen_once_and_revokes_it(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    await make_staff(db, tenant, StaffRole.ADMIN, "hq@acme.test")
    assert (await sign_in(client, tenant.slug, "hq@acme.test")).status_code == 303
    page = await client.get("/console/keys")
    assert page.status_code == 200
    assert "<td>douyin</td>" in page.text  # the channels
    token = await form_token(client, "/console/keys")
    made = await client.post(
        "/console/keys",
        data={"csrf": token, "role": "store", "location": "ST-B", "label": "till 2"},
    )
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    secret = re.search(r'<code id="secret">([^<]+)</code>', made.text)
    assert secret
    key = secret.group(1)
    as_key = Api(client, key)
    assert (await as_key.get("/v1/me")).json()["location"] == "ST-B"
    again = await client.get("/console/keys")
    assert key not in again.text  # shown once
    key_id = int(re.findall(r'<tr id="key-(\d+)" data-revoked="no">', again.text)[-1])
    revoked = await client.post(f"/console/keys/{key_id}/revoke", data={"csrf": token})
    assert revoked.status_code == 200
    assert f'<tr id="key-{key_id}" data-revoked="yes">' in revoked.text
    client.cookies.clear()
    assert (await as_key.get("/v1/me")).status_code == 401


async def test_bad_keys_are_refused_and_create_nothing(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    await make_staff(db, tenant, StaffRole.ADMIN, "hq@acme.test")
    assert (await sign_in(client, tenant.slug, "hq@acme.test")).status_code == 303
    token = await form_token(client, "/console/keys")
    before = (await client.get("/console/keys")).text.count('<tr id="key-')
    for data in (
        {"role": "wizard"},
        {"role": "store"},  # no store
        {"role": "store", "location": "NOWHERE"},
        {"role": "channel", "channel": "nope"},
    ):
        refused = await client.post("/console/keys", data={"csrf": token, **data})
        assert refused.status_code in (404, 422), (data, refused.status_code)
        assert 'id="secret"' not in refused.text
    assert (await client.get("/console/keys")).text.count('<tr id="key-') == before
    unknown = await client.post("/console/keys/999999/revoke", data={"csrf": token})
    assert unknown.status_code == 404
    forged = await client.post("/console/keys", data={"csrf": "forged", "role": "admin"})
    assert forged.status_code == 403


@pytest.mark.parametrize("role", [StaffRole.OPS, StaffRole.ANALYST, StaffRole.STORE_MANAGER])
async def test_only_admins_manage_keys(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World, role: StaffRole
) -> None:
    stores = ["ST-A"] if role is StaffRole.STORE_MANAGER else None
    await make_staff(db, tenant, role, "someone@acme.test", locations=stores)
    assert (await sign_in(client, tenant.slug, "someone@acme.test")).status_code == 303
    assert (await client.get("/console/keys")).status_code == 403
    home = "/console/stores/ST-A/queue" if stores else "/console/dashboard"
    token = await form_token(client, home)
    made = await client.post("/console/keys", data={"csrf": token, "role": "admin"})
    assert made.status_code == 403
    assert "omk_" not in made.text
    revoked = await client.post("/console/keys/1/revoke", data={"csrf": token})
    assert revoked.status_code == 403
    assert (await world.admin.get("/v1/me")).status_code == 200
