"""Past one machine: with the outbox relayed to NATS JetStream, a local sale reaches the
platform's stock figure and a webhook subscriber's delivery log through the NATS consumers,
once each, and the in-process dispatcher does neither itself."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI

from omniretail.connectors.vault import CredentialVault
from omniretail.consumers import NatsConsumers
from omniretail.db import Database
from omniretail.events import Dispatcher
from omniretail.relay import NatsRelay
from omniretail.wiring import build_registry, nats_groups
from tests.connectors_world import connect
from tests.factories import Api, TenantHandle
from tests.orders_world import World, build_world

NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture
async def world(app: FastAPI, admin: Api, db: Database, tenant: TenantHandle) -> World:
    app.state.connector_vault = CredentialVault([Fernet.generate_key().decode()])
    app.state.settings = app.state.settings.model_copy(update={"webhooks_allow_loopback": True})
    return await build_world(admin, db, tenant)


@pytest.fixture
async def relay() -> AsyncIterator[NatsRelay]:
    tag = secrets.token_hex(4)
    found = NatsRelay(NATS_URL, stream=f"OMNI_TEST_{tag.upper()}", subject_prefix=f"t{tag}.ev")
    yield found
    js = await found._jetstream()
    await js.delete_stream(found.stream)
    await found.close()


async def test_stock_out_runs_from_nats_consumers_once(
    world: World, db: Database, relay: NatsRelay
) -> None:
    shop = await connect(world, "douyin", locations=["ST-A"])
    hook = await world.admin.post(
        "/v1/webhook-subscriptions",
        {"url": "http://127.0.0.1:9/hook", "event_types": ["order.placed", "stock.changed"]},
    )
    assert hook.status_code == 201, hook.text
    dispatcher = Dispatcher(db, build_registry(nats=True), relay=relay)
    consumers = NatsConsumers(
        NATS_URL, db, nats_groups(), stream=relay.stream, subject_prefix=relay.subject_prefix
    )
    await world.stock("ST-A", "TEE-S", 5)
    await dispatcher.run_until_idle()

    async def pushes() -> list[int]:
        found = await world.admin.get(
            f"/v1/connections/{shop.connection_id}/stock-pushes", sku="TEE-S"
        )
        return [p["qty"] for p in found.json()["items"]]

    # Relayed and marked dispatched, but neither pushed nor logged in-process.
    assert await pushes() == []
    assert not (
        await world.admin.get(f"/v1/webhook-subscriptions/{hook.json()['id']}/deliveries")
    ).json()["items"]
    stop = asyncio.Event()
    running = asyncio.create_task(consumers.run(stop))
    try:
        for _ in range(400):
            if await pushes() == [5]:
                break
            await asyncio.sleep(0.05)
        sale = await world.order(
            world.keys["pos_a"],
            channel="pos",
            fulfillment={"mode": "in_store", "location": "ST-A"},
            payments=[{"method": "cash", "amount": 9900}],
        )
        assert sale.status_code == 201, sale.text
        await dispatcher.run_until_idle()
        for _ in range(400):
            logged = await world.admin.get(
                f"/v1/webhook-subscriptions/{hook.json()['id']}/deliveries"
            )
            if await pushes() == [5, 4] and len(logged.json()["items"]) == 3:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
    assert await pushes() == [5, 4]
    logged = await world.admin.get(f"/v1/webhook-subscriptions/{hook.json()['id']}/deliveries")
    assert sorted(d["event_type"] for d in logged.json()["items"]) == [
        "order.placed",
        "stock.changed",
        "stock.changed",
    ]
