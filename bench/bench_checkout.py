"""Checkouts per second over HTTP on PostgreSQL (``omni serve`` at its default worker count),
for 3-line ship orders that go through pricing, sourcing over 40 locations, holds and payment,
next to the same server's rate for a plain authenticated GET measured by this same script.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable

import httpx

from bench.common import fresh_pg_database, served
from omniretail.auth import service as auth
from omniretail.catalog import service as catalog
from omniretail.catalog.schemas import ProductIn
from omniretail.channels import service as channels
from omniretail.channels.schemas import ChannelKind
from omniretail.config import Settings
from omniretail.db import Database
from omniretail.inventory import service as inventory
from omniretail.inventory.schemas import MovementLineIn
from omniretail.migrate import upgrade
from omniretail.network import service as network
from omniretail.network.schemas import CapabilitiesIn, LocationIn

DB_NAME = "omni_bench_checkout"
LOCATIONS = 40
SKUS = [f"SKU-{i}" for i in range(30)]
CLIENTS = 16
SECONDS = 8.0
CENTRE = (31.2304, 121.4737)


async def seed(url: str) -> str:
    await asyncio.to_thread(upgrade, url)
    db = Database(Settings(database_url=url, run_dispatcher=False))
    try:
        async with db.uow(unscoped=True) as uow:
            created = await auth.do_create_tenant(uow, slug="bench", name="Bench")
            tenant_id = await auth.tenant_id_by_slug(uow, "bench")
        rng = random.Random(3)
        async with db.uow(tenant_id) as uow:
            await channels.do_create_channel(uow, code="app", kind=ChannelKind.APP, name="App")
            for i in range(LOCATIONS):
                await network.do_create_location(
                    uow,
                    data=LocationIn(
                        code=f"ST-{i:03d}",
                        name=f"Store {i}",
                        type="store",  # type: ignore[arg-type]
                        lat=CENTRE[0] + rng.uniform(-0.2, 0.2),
                        lng=CENTRE[1] + rng.uniform(-0.2, 0.2),
                        capabilities=CapabilitiesIn(ship=True, pickup=True, sells_online=True),
                    ),
                )
            await catalog.do_create_product(
                uow,
                data=ProductIn.model_validate(
                    {
                        "code": "P",
                        "title": "Bench tee",
                        "category": "bench",
                        "variants": [{"sku": sku, "price": 9900} for sku in SKUS],
                    }
                ),
                actor="bench",
            )
            await inventory.do_apply_movements(
                uow,
                actor="bench",
                lines=[
                    MovementLineIn(sku=sku, location=f"ST-{i:03d}", reason="receipt", qty=1_000_000)
                    for i in range(LOCATIONS)
                    for sku in SKUS
                ],
            )
        return str(created["admin_key"])
    finally:
        await db.dispose()


async def rate(
    seconds: float, clients: int, one: Callable[[], Awaitable[bool]]
) -> tuple[float, int]:
    done = failed = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done, failed
        while time.perf_counter() < deadline:
            if await one():
                done += 1
            else:
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return done / (time.perf_counter() - started), failed


async def main() -> None:
    url = await fresh_pg_database(DB_NAME)
    key = await seed(url)
    headers = {"Authorization": f"Bearer {key}"}
    rng = random.Random(7)
    async with (
        served(url) as base,
        httpx.AsyncClient(
            base_url=base, headers=headers, timeout=30, limits=httpx.Limits(max_connections=CLIENTS)
        ) as client,
    ):

        async def plain_get() -> bool:
            return (await client.get("/v1/me")).status_code == 200

        async def checkout() -> bool:
            lines = [{"sku": sku, "qty": 1} for sku in rng.sample(SKUS, 3)]
            body = {
                "channel": "app",
                "lines": lines,
                "fulfillment": {
                    "mode": "ship",
                    "address": {
                        "lat": CENTRE[0] + rng.uniform(-0.1, 0.1),
                        "lng": CENTRE[1] + rng.uniform(-0.1, 0.1),
                    },
                },
                "payments": [{"method": "sandbox", "amount": 3 * 9900}],
            }
            return (await client.post("/v1/orders", json=body)).status_code == 201

        await rate(1.0, 4, plain_get)  # warm up both workers
        gets, _ = await rate(SECONDS, CLIENTS, plain_get)
        orders, failed = await rate(SECONDS, CLIENTS, checkout)
    workers = os.cpu_count() or 1
    print(
        f"   plain authenticated GET /v1/me: {gets:,.0f}/s "
        f"(omni serve, {workers} workers, {CLIENTS} clients)"
    )
    print(
        f"   3-line ship checkouts POST /v1/orders: {orders:,.0f}/s, failed {failed} "
        f"({LOCATIONS} candidate locations, {len(SKUS)} SKUs)"
    )
    print(f"   ratio checkout / plain GET: {orders / gets:.2f}")
