"""Moving fulfilments along over HTTP (``omni serve``), one client: one
``POST /v1/fulfillments/{id}/accept`` per fulfilment against ``POST /v1/fulfillments/actions``
with 500 at a time, on SQLite and PostgreSQL, in a chain of 3,000 locations. Issue 17: 8,900
fulfilments took 5 minutes one call at a time.
"""

from __future__ import annotations

import asyncio
import random
import time

import httpx

from bench.bench_network_scale import CENTRE, seed
from bench.common import fresh_pg_database, fresh_sqlite_url, open_database, served
from omniretail.db import Database
from omniretail.orders import checkout, payments
from omniretail.orders.schemas import OrderIn
from omniretail.payments.providers import PaymentStatus, builtin_providers

ORDERS = 1_000  # half acted on one by one, half in bulk
BATCH = 500


async def paid_fulfilments(db: Database, tenant_id: int) -> list[str]:
    providers = builtin_providers("bench")
    rng = random.Random(2)
    ids = []
    for _ in range(ORDERS):
        body = OrderIn.model_validate(
            {
                "channel": "app",
                "lines": [{"sku": "HERO", "qty": 1}],
                "fulfillment": {
                    "mode": "ship",
                    "address": {
                        "lat": CENTRE[0] + rng.uniform(-0.1, 0.1),
                        "lng": CENTRE[1] + rng.uniform(-0.1, 0.1),
                    },
                },
                "payments": [{"method": "sandbox", "amount": 9900}],
            }
        )
        async with db.uow(tenant_id) as uow:
            order = await checkout.do_place_order(
                uow, data=body, caller=checkout.Caller(actor="bench"), providers=providers
            )
            await payments.do_settle_payment(
                uow,
                provider_ref=order.payments[0].provider_ref or "",
                status=PaymentStatus.CAPTURED,
                amount=9900,
                providers=providers,
            )
        ids.append(order.fulfillments[0].id)
    return ids


async def measure(url: str) -> tuple[float, float]:
    db = await asyncio.to_thread(open_database, url)
    try:
        tenant_id, key = await seed(db, 3_000)
        ids = await paid_fulfilments(db, tenant_id)
    finally:
        await db.dispose()
    singles, bulks = ids[: ORDERS // 2], ids[ORDERS // 2 :]
    async with (
        served(url) as base,
        httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120
        ) as http,
    ):
        started = time.perf_counter()
        for fulfilment_id in singles:
            response = await http.post(f"/v1/fulfillments/{fulfilment_id}/accept")
            assert response.status_code == 200, response.text
        one_by_one = time.perf_counter() - started
        started = time.perf_counter()
        for start in range(0, len(bulks), BATCH):
            actions = [
                {"fulfillment_id": f, "action": "accept"} for f in bulks[start : start + BATCH]
            ]
            response = await http.post("/v1/fulfillments/actions", json={"actions": actions})
            assert response.json()["failed"] == 0, response.text
        in_bulk = time.perf_counter() - started
    return one_by_one, in_bulk


async def main() -> None:
    for backend in ("sqlite", "postgresql"):
        url = (
            fresh_sqlite_url()
            if backend == "sqlite"
            else await fresh_pg_database("omni_bench_fulfilment_actions")
        )
        single, many = await measure(url)
        n = ORDERS // 2
        print(
            f"   {backend:10} accept {n} fulfilments: one call each {single:.2f} s "
            f"({single / n * 1000:.1f} ms each), in batches of {BATCH} {many:.2f} s "
            f"({many / n * 1000:.1f} ms each); 8,900 in bulk ~ {many / n * 8_900:.0f} s",
            flush=True,
        )
