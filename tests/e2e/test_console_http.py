"""The console over HTTP on both databases: sign-in, sessions, CSRF, throttling, lock-out,
and scope (a store's staff see and act for their own stores only; another tenant is invisible)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest

from omniretail.auth.staff import do_create_staff
from omniretail.auth.staff_domain import MAX_FAILURES, StaffRole
from omniretail.console.mount import SIGNIN_FAILURES
from omniretail.db import Database
from tests.console_helpers import PASSWORD, csrf_of, form_token, make_staff, sign_in
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


async def _pickup_at(world: World, store: str) -> dict[str, object]:
    await world.stock(store, "TEE-S", 3)
    placed = await world.order(fulfillment={"mode": "pickup", "location": store})
    assert placed.status_code == 201, placed.text
    fulfilment: dict[str, object] = placed.json()["fulfillments"][0]
    return fulfilment


async def test_a_clerk_signs_in_to_their_store_queue_and_out_again(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    await make_staff(db, tenant, StaffRole.STORE_CLERK, "clerk@acme.test", locations=["ST-A"])
    signed = await sign_in(client, tenant.slug, "clerk@acme.test")
    assert signed.status_code == 303
    assert signed.headers["location"] == "/console/stores/ST-A/queue"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert PASSWORD not in cookie
    queue = await client.get("/console/stores/ST-A/queue")
    assert queue.status_code == 200
    token = await form_token(client, "/console/stores/ST-A/queue")
    out = await client.post("/console/sign-out", data={"csrf": token})
    assert out.status_code == 303
    after = await client.get("/console/stores/ST-A/queue")
    assert after.status_code == 303
    assert after.headers["location"] == "/console/sign-in"


async def test_wrong_passwords_are_refused_then_lock_the_account(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    await make_staff(db, tenant, StaffRole.ADMIN, "hq@acme.test")
    for _ in range(MAX_FAILURES):
        refused = await sign_in(client, tenant.slug, "hq@acme.test", "wrong password!")
        assert refused.status_code == 401
    locked = await sign_in(client, tenant.slug, "hq@acme.test")  # the right password
    assert locked.status_code == 423
    assert "set-cookie" not in locked.headers or "omni_console=" not in locked.headers.get(
        "set-cookie", ""
    )


async def test_many_failed_sign_ins_from_one_address_are_throttled(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    await make_staff(db, tenant, StaffRole.ADMIN, "hq@acme.test")
    for i in range(SIGNIN_FAILURES):
        refused = await sign_in(client, tenant.slug, f"nobody{i}@acme.test", "wrong password!")
        assert refused.status_code == 401
    throttled = await sign_in(client, tenant.slug, "hq@acme.test")
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1


async def test_a_forged_form_post_without_the_csrf_token_changes_nothing(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    fulfilment = await _pickup_at(world, "ST-A")
    await make_staff(db, tenant, StaffRole.STORE_CLERK, "clerk@acme.test", locations=["ST-A"])
    assert (await sign_in(client, tenant.slug, "clerk@acme.test")).status_code == 303
    path = f"/console/stores/ST-A/fulfilments/{fulfilment['id']}/accept"
    forged = await client.post(path, data={"csrf": "forged"})
    assert forged.status_code == 403
    missing = await client.post(path)
    assert missing.status_code == 403
    order = (await world.admin.get(f"/v1/orders/{fulfilment['order_id']}")).json()
    assert order["fulfillments"][0]["status"] == "pending"
    sign_in_forged = await client.post(
        "/console/sign-in",
        data={"tenant": tenant.slug, "login": "clerk@acme.test", "password": PASSWORD},
    )
    assert sign_in_forged.status_code == 403


async def test_a_clerk_of_store_a_cannot_open_or_act_on_store_b(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    at_b = await _pickup_at(world, "ST-B")
    await make_staff(db, tenant, StaffRole.STORE_CLERK, "clerk@acme.test", locations=["ST-A"])
    assert (await sign_in(client, tenant.slug, "clerk@acme.test")).status_code == 303
    token = await form_token(client, "/console/stores/ST-A/queue")
    assert (await client.get("/console/stores/ST-B/queue")).status_code == 403
    via_b = await client.post(
        f"/console/stores/ST-B/fulfilments/{at_b['id']}/accept", data={"csrf": token}
    )
    assert via_b.status_code == 403
    via_own = await client.post(
        f"/console/stores/ST-A/fulfilments/{at_b['id']}/accept", data={"csrf": token}
    )
    assert via_own.status_code == 404
    handover = await client.post(
        "/console/stores/ST-B/handover", data={"csrf": token, "code": "12345678"}
    )
    assert handover.status_code == 403
    assert (await client.get("/console/dashboard")).status_code == 403
    order = (await world.admin.get(f"/v1/orders/{at_b['order_id']}")).json()
    assert order["fulfillments"][0]["status"] == "pending"


async def test_an_analyst_sees_but_cannot_act_and_another_tenant_is_refused(
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantHandle,
    other_tenant: TenantHandle,
    world: World,
) -> None:
    fulfilment = await _pickup_at(world, "ST-A")
    await make_staff(db, tenant, StaffRole.ANALYST, "analyst@acme.test")
    await make_staff(db, other_tenant, StaffRole.ADMIN, "hq@rival.test")
    assert (await sign_in(client, other_tenant.slug, "analyst@acme.test")).status_code == 401
    assert (await sign_in(client, tenant.slug, "analyst@acme.test")).status_code == 303
    assert (await client.get("/console/dashboard")).status_code == 200
    token = await form_token(client, "/console/stores/ST-A/queue")
    acted = await client.post(
        f"/console/stores/ST-A/fulfilments/{fulfilment['id']}/accept", data={"csrf": token}
    )
    assert acted.status_code == 403
    order = (await world.admin.get(f"/v1/orders/{fulfilment['order_id']}")).json()
    assert order["fulfillments"][0]["status"] == "pending"


async def test_wrong_pickup_codes_in_the_console_are_throttled_per_person(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    await _pickup_at(world, "ST-A")
    await make_staff(db, tenant, StaffRole.STORE_CLERK, "clerk@acme.test", locations=["ST-A"])
    assert (await sign_in(client, tenant.slug, "clerk@acme.test")).status_code == 303
    token = await form_token(client, "/console/stores/ST-A/handover")
    for _ in range(10):
        wrong = await client.post(
            "/console/stores/ST-A/handover", data={"csrf": token, "code": "00000000"}
        )
        assert wrong.status_code == 422
    held = await client.post(
        "/console/stores/ST-A/handover", data={"csrf": token, "code": "00000000"}
    )
    assert held.status_code == 429
    assert "Retry-After" in held.headers
    # The store's API terminal is not held back by the person's guesses.
    other = await world.keys["store_a"].post(
        "/v1/pickups/verify", {"code": "00000000", "location": "ST-A"}
    )
    assert other.status_code == 422


async def test_a_person_with_totp_needs_the_current_code(
    client: httpx.AsyncClient, db: Database, tenant: TenantHandle, world: World
) -> None:
    async with db.uow(tenant.id) as uow:
        created = await do_create_staff(
            uow,
            role=StaffRole.OPS,
            password=PASSWORD,
            name="Ops",
            email="ops@acme.test",
            totp=True,
        )
    secret = parse_qs(urlsplit(created["totp_uri"]).query)["secret"][0]
    form = await client.get("/console/sign-in")
    data = {"tenant": tenant.slug, "login": "ops@acme.test", "password": PASSWORD}
    without = await client.post("/console/sign-in", data={**data, "csrf": csrf_of(form.text)})
    assert without.status_code == 401
    form = await client.get("/console/sign-in")
    wrong = await client.post(
        "/console/sign-in", data={**data, "csrf": csrf_of(form.text), "totp": "000000"}
    )
    assert wrong.status_code == 401 or pyotp.TOTP(secret).verify("000000")
    form = await client.get("/console/sign-in")
    right = await client.post(
        "/console/sign-in",
        data={**data, "csrf": csrf_of(form.text), "totp": pyotp.TOTP(secret).now()},
    )
    assert right.status_code == 303
    assert right.headers["location"] == "/console/dashboard"
