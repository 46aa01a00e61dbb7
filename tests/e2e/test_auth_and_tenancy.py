"""Every request is authenticated; tenants never see each other; store keys stay in their store."""

from __future__ import annotations

import httpx

from omniretail.auth.domain import Role
from omniretail.db import Database
from tests.factories import Api, TenantHandle, location_body, make_key


async def test_a_request_without_a_key_is_401_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/locations")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "unauthenticated"


async def test_malformed_unknown_and_revoked_keys_are_401(
    admin: Api, client: httpx.AsyncClient
) -> None:
    assert (await Api(client, "not-a-key").get("/v1/locations")).status_code == 401
    forged = admin.key[:-4] + "AAAA"  # right lookup, wrong secret
    assert (await Api(client, forged).get("/v1/locations")).status_code == 401
    created = (await admin.post("/v1/keys", {"role": "analyst"})).json()
    analyst = Api(client, created["key"])
    assert (await analyst.get("/v1/locations")).status_code == 200
    assert (await admin.delete(f"/v1/keys/{created['id']}")).status_code == 204
    assert (await analyst.get("/v1/locations")).status_code == 401


async def test_another_tenants_location_is_404_and_leaks_nothing(
    admin: Api, client: httpx.AsyncClient, other_tenant: TenantHandle
) -> None:
    rival = Api(client, other_tenant.admin_key)
    created = await rival.post("/v1/locations", location_body("SECRET-HQ", name="Rival flagship"))
    assert created.status_code == 201

    response = await admin.get("/v1/locations/SECRET-HQ")
    assert response.status_code == 404
    assert "Rival flagship" not in response.text
    assert (await admin.patch("/v1/locations/SECRET-HQ", {"name": "mine"})).status_code == 404
    listed = (await admin.get("/v1/locations")).json()
    assert listed["items"] == []


async def test_the_same_code_may_exist_in_two_tenants(
    admin: Api, client: httpx.AsyncClient, other_tenant: TenantHandle
) -> None:
    rival = Api(client, other_tenant.admin_key)
    assert (await admin.post("/v1/locations", location_body("ST-001"))).status_code == 201
    assert (await rival.post("/v1/locations", location_body("ST-001"))).status_code == 201
    assert (await admin.post("/v1/locations", location_body("ST-001"))).status_code == 409


async def test_a_store_key_acting_on_another_store_is_403(
    admin: Api, client: httpx.AsyncClient, db: Database, tenant: TenantHandle
) -> None:
    await admin.post("/v1/locations", location_body("ST-A"))
    await admin.post("/v1/locations", location_body("ST-B"))
    store_a = Api(client, await make_key(db, tenant, Role.STORE, location="ST-A"))

    other = await store_a.patch("/v1/locations/ST-B", {"daily_capacity": 5})
    assert other.status_code == 403
    assert other.json()["code"] == "forbidden"
    assert (await admin.get("/v1/locations/ST-B")).json()["daily_capacity"] == 60

    own = await store_a.patch("/v1/locations/ST-A", {"daily_capacity": 25})
    assert own.status_code == 200
    assert own.json()["daily_capacity"] == 25
    # A store manager sets hours and capacity, not what the location is.
    assert (await store_a.patch("/v1/locations/ST-A", {"name": "x"})).status_code == 403
    # Reading other stores is allowed: staff look up nearby stock and stores.
    assert (await store_a.get("/v1/locations/ST-B")).status_code == 200


async def test_roles_limit_what_a_key_may_change(
    admin: Api, client: httpx.AsyncClient, db: Database, tenant: TenantHandle
) -> None:
    await admin.post("/v1/channels", {"code": "douyin", "kind": "douyin", "name": "Douyin"})
    analyst = Api(client, await make_key(db, tenant, Role.ANALYST))
    channel = Api(client, await make_key(db, tenant, Role.CHANNEL, channel="douyin"))
    ops = Api(client, await make_key(db, tenant, Role.OPS))

    assert (await analyst.post("/v1/locations", location_body())).status_code == 403
    assert (await channel.post("/v1/locations", location_body())).status_code == 403
    assert (await ops.post("/v1/keys", {"role": "admin"})).status_code == 403
    assert (await ops.post("/v1/locations", location_body())).status_code == 201
    assert (await analyst.get("/v1/locations")).status_code == 200
    assert (await channel.get("/v1/me")).json() == {
        "tenant": "acme",
        "currency": "CNY",
        "timezone": "Asia/Shanghai",
        "role": "channel",
        "location": None,
        "channel": "douyin",
    }


async def test_keys_need_their_scope_and_it_must_exist(admin: Api) -> None:
    assert (await admin.post("/v1/keys", {"role": "store"})).status_code == 422
    missing = await admin.post("/v1/keys", {"role": "store", "location": "NOPE"})
    assert missing.status_code == 404
    assert (await admin.post("/v1/keys", {"role": "channel"})).status_code == 422
