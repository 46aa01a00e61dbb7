"""Online payments settle later: a signed capture confirms, a decline or an unpaid window
cancels and gives the stock back; a forged callback is refused."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from omniretail.app import create_app
from omniretail.config import Settings
from omniretail.db import Database, utcnow
from omniretail.jobs import build_jobs
from omniretail.payments.providers import SandboxProvider, builtin_providers
from tests.factories import SANDBOX_SECRET, Api, TenantHandle
from tests.orders_world import World, build_world, paid_online


@pytest.fixture
async def world(admin: Api, db: Database, tenant: TenantHandle) -> World:
    return await build_world(admin, db, tenant)


def callback(
    order: dict[str, object], status: str, *, secret: str = SANDBOX_SECRET
) -> dict[str, object]:
    payment = order["payments"][0]  # type: ignore[index]
    ref, amount = payment["provider_ref"], payment["amount"]
    return {
        "provider_ref": ref,
        "status": status,
        "amount": amount,
        "signature": SandboxProvider(secret).sign(ref, status, amount),
    }


async def test_a_forged_callback_is_refused_and_changes_nothing(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    order = (await world.order()).json()
    forged = await world.admin.client.post(
        "/v1/payments/sandbox/callback", json=callback(order, "captured", secret="guess")
    )
    assert forged.status_code == 401
    after = (await world.admin.get(f"/v1/orders/{order['id']}")).json()
    assert after["status"] == "pending_payment"


async def test_a_capture_confirms_once_and_a_repeat_changes_nothing(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    order = (await world.order()).json()
    first = await paid_online(world, order)
    second = await paid_online(world, order)
    assert first["status"] == second["status"] == "confirmed"
    assert second["totals"]["paid"] == 9900


async def test_a_declined_callback_cancels_and_releases(world: World) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    order = (await world.order()).json()
    response = await world.admin.client.post(
        "/v1/payments/sandbox/callback", json=callback(order, "declined")
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 0}


async def test_an_order_unpaid_past_its_window_is_cancelled_by_the_worker(
    world: World, db: Database
) -> None:
    await world.stock("ST-A", "TEE-S", 1)
    order = (await world.order()).json()
    jobs = {job.name: job for job in build_jobs(builtin_providers(SANDBOX_SECRET))}
    assert await jobs["cancel unpaid orders"].run(db, utcnow()) == 0
    later = utcnow() + dt.timedelta(minutes=16)
    assert await jobs["cancel unpaid orders"].run(db, later) == 1
    after = (await world.admin.get(f"/v1/orders/{order['id']}")).json()
    assert after["status"] == "cancelled"
    assert await world.on_hand("ST-A", "TEE-S") == {"on_hand": 1, "reserved": 0}


async def test_without_a_configured_secret_every_sandbox_callback_is_refused(
    world: World, db: Database
) -> None:
    """No install trusts a known default secret: the old built-in one signs nothing now."""
    await world.stock("ST-A", "TEE-S", 1)
    order = (await world.order()).json()
    bare = create_app(Settings(database_url=db.settings.database_url, run_dispatcher=False), db=db)
    transport = httpx.ASGITransport(app=bare)
    async with httpx.AsyncClient(transport=transport, base_url="http://omni.test") as client:
        for secret in ("omniretail-sandbox", SANDBOX_SECRET):
            refused = await client.post(
                "/v1/payments/sandbox/callback", json=callback(order, "captured", secret=secret)
            )
            assert refused.status_code == 401, refused.text
            assert "OMNI_SANDBOX_PAYMENT_SECRET" in refused.json()["detail"]
    current = (await world.admin.get(f"/v1/orders/{order['id']}")).json()
    assert current["payments"][0]["status"] == "pending"
    # Nor does a server with its own secret take the old built-in one.
    settled = await world.admin.client.post(
        "/v1/payments/sandbox/callback",
        json=callback(order, "captured", secret="omniretail-sandbox"),
    )
    assert settled.status_code == 401
