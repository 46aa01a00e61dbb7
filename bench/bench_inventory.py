"""Inventory on PostgreSQL: holds on one hot SKU (raw conditional UPDATE, service layer, HTTP),
bulk movements per second, nearby-availability latency with 2,000 locations and 5,000 SKUs.

The raw figure is measured by this same script on the same database a moment earlier, so the
ratio of service and HTTP to it stays honest on a noisy shared machine.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

import asyncpg
import httpx

from bench.common import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    fresh_pg_database,
    open_database,
    served,
    summary,
)
from omniretail.auth import service as auth
from omniretail.catalog import service as catalog
from omniretail.catalog.schemas import ProductIn
from omniretail.config import Settings
from omniretail.db import Database
from omniretail.inventory import availability as atp
from omniretail.inventory import reservations as res
from omniretail.inventory import service as inventory
from omniretail.inventory.schemas import MovementLineIn
from omniretail.network import service as network
from omniretail.network.schemas import CapabilitiesIn, LocationIn

DB_NAME = "omni_bench_inventory"
LOCATIONS = 2_000
SKUS = 5_000
HOT_EVERYWHERE = 20  # SKUs stocked at every location (the ones availability is asked for)
PER_LOCATION = 40  # other SKUs per location
SECONDS = 5.0
CLIENTS = 8  # concurrent writers on the hot row (ANCHORS: keep the pool on a hot SKU small)
HTTP_CLIENTS = 16
BULK_BATCH = 10_000
REGION = ((30.6, 31.9), (120.6, 121.9))  # ~145 x 125 km around Shanghai


async def timed_loop(workers: int, seconds: float, one: Callable[[], Awaitable[None]]) -> float:
    """Run ``one`` back to back in ``workers`` tasks for ``seconds``; returns completions/s."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await one()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return done / (time.perf_counter() - started)


async def seed(db: Database) -> tuple[int, str]:
    async with db.uow(unscoped=True) as uow:
        created = await auth.do_create_tenant(uow, slug="bench", name="Bench")
        tenant_id = await auth.tenant_id_by_slug(uow, "bench")
    started = time.perf_counter()
    async with db.uow(tenant_id) as uow:
        for p in range(SKUS // 500):
            await catalog.do_create_product(
                uow,
                data=ProductIn.model_validate(
                    {
                        "code": f"P{p:03d}",
                        "title": f"Product {p}",
                        "category": "bench",
                        "variants": [
                            {"sku": f"S{p * 500 + v:05d}", "price": 1000} for v in range(500)
                        ],
                    }
                ),
                actor="bench",
            )
        await catalog.do_create_product(
            uow,
            data=ProductIn.model_validate(
                {
                    "code": "HOT",
                    "title": "Hot",
                    "category": "bench",
                    "variants": [{"sku": "HOT", "price": 1000}],
                }
            ),
            actor="bench",
        )
    rng = random.Random(5)
    async with db.uow(tenant_id) as uow:
        for i in range(LOCATIONS):
            await network.do_create_location(
                uow,
                data=LocationIn(
                    code=f"L{i:04d}",
                    name=f"Store {i}",
                    type="store",  # type: ignore[arg-type]
                    lat=rng.uniform(*REGION[0]),
                    lng=rng.uniform(*REGION[1]),
                    capabilities=CapabilitiesIn(
                        ship=True, pickup=True, local_delivery=rng.random() < 0.6, sells_online=True
                    ),
                    delivery_radius_km=3.0,
                ),
            )
    print(
        f"   seeded {SKUS} SKUs and {LOCATIONS} locations in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return tenant_id, str(created["admin_key"])


async def bulk(db: Database, tenant_id: int) -> None:
    rng = random.Random(9)
    lines = []
    for i in range(LOCATIONS):
        skus = {f"S{k:05d}" for k in range(HOT_EVERYWHERE)}
        skus |= {f"S{rng.randrange(SKUS):05d}" for _ in range(PER_LOCATION)}
        lines += [
            MovementLineIn(
                sku=s, location=f"L{i:04d}", reason="receipt", qty=rng.randint(0, 6) or 1
            )
            for s in sorted(skus)
        ]
    lines.append(MovementLineIn(sku="HOT", location="L0000", reason="receipt", qty=10**9))
    started = time.perf_counter()
    for n, start in enumerate(range(0, len(lines), BULK_BATCH)):
        async with db.uow(tenant_id) as uow:
            await inventory.do_apply_movements(
                uow, lines=lines[start : start + BULK_BATCH], actor="bench", batch_id=f"first-{n}"
            )
    first = len(lines) / (time.perf_counter() - started)
    sales = [
        MovementLineIn(sku=ln.sku, location=ln.location, reason="receipt", qty=2)
        for ln in lines[: BULK_BATCH * 3]
    ]
    started = time.perf_counter()
    for n, start in enumerate(range(0, len(sales), BULK_BATCH)):
        async with db.uow(tenant_id) as uow:
            await inventory.do_apply_movements(
                uow, lines=sales[start : start + BULK_BATCH], actor="bench", batch_id=f"more-{n}"
            )
    steady = len(sales) / (time.perf_counter() - started)
    # Fresh statistics, as autovacuum would have them in production after a bulk load.
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=DB_NAME)
    await conn.execute("ANALYZE")
    await conn.close()
    print(
        f"   bulk movements: {first:,.0f}/s creating {len(lines):,} positions, "
        f"{steady:,.0f}/s on existing positions (batches of {BULK_BATCH:,} lines)",
        flush=True,
    )


async def raw_limit(tenant_id: int) -> float:
    pool = await asyncpg.create_pool(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_USER,
        database=DB_NAME,
        min_size=CLIENTS,
        max_size=CLIENTS,
    )
    sql = (
        "UPDATE stock_positions SET reserved = reserved + 1 WHERE tenant_id = $1 AND sku = $2"
        " AND location_code = $3 AND on_hand - reserved - safety_stock >= 1"
    )

    async def one() -> None:
        async with pool.acquire() as conn:
            await conn.execute(sql, tenant_id, "HOT", "L0000")

    try:
        return await timed_loop(CLIENTS, SECONDS, one)
    finally:
        await pool.close()
        # Give the units back so that the ledger check at the end balances.
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=DB_NAME)
        await conn.execute(
            "UPDATE stock_positions SET reserved = (SELECT coalesce(sum(qty), 0) FROM"
            " reservation_lines l WHERE l.position_id = stock_positions.id AND l.state = 'held')"
            " WHERE sku = 'HOT'"
        )
        await conn.close()


async def service_rate(url: str, tenant_id: int) -> float:
    db = Database(
        Settings(database_url=url, run_dispatcher=False, db_pool_size=CLIENTS, db_max_overflow=0)
    )
    line = [res.StockLine("HOT", "L0000", 1)]

    async def one() -> None:
        async with db.uow(tenant_id) as uow:
            await res.do_reserve(uow, lines=line, ttl_seconds=600, actor="bench")

    try:
        return await timed_loop(CLIENTS, SECONDS, one)
    finally:
        await db.dispose()


async def http_rates(url: str, key: str) -> tuple[float, list[float]]:
    body = {"lines": [{"sku": "HOT", "location": "L0000", "qty": 1}], "ttl_seconds": 600}
    headers = {"Authorization": f"Bearer {key}"}
    async with served(
        url, workers=2, env={"OMNI_RUN_DISPATCHER": "false", "OMNI_DB_POOL_SIZE": str(CLIENTS // 2)}
    ) as base:
        limits = httpx.Limits(max_connections=HTTP_CLIENTS)
        async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as http:

            async def one() -> None:
                reply = await http.post("/v1/reservations", json=body)
                assert reply.status_code == 201, reply.text

            rate = await timed_loop(HTTP_CLIENTS, SECONDS, one)
            rng = random.Random(3)
            samples = []
            for _ in range(300):
                params = {
                    "sku": f"S{rng.randrange(HOT_EVERYWHERE):05d}",
                    "lat": rng.uniform(*REGION[0]),
                    "lng": rng.uniform(*REGION[1]),
                    "radius_km": 10,
                    "mode": "pickup",
                }
                started = time.perf_counter()
                reply = await http.get("/v1/availability", params=params)
                samples.append(time.perf_counter() - started)
                assert reply.status_code == 200, reply.text
    return rate, samples


async def nearby_latency(db: Database, tenant_id: int) -> tuple[list[float], float, list[float]]:
    rng = random.Random(3)
    samples = []
    found = 0
    for _ in range(300):
        lat, lng = rng.uniform(*REGION[0]), rng.uniform(*REGION[1])
        sku = f"S{rng.randrange(HOT_EVERYWHERE):05d}"
        started = time.perf_counter()
        async with db.uow(tenant_id) as uow:
            out = await atp.availability(
                uow, sku=sku, lat=lat, lng=lng, radius_km=10, mode="pickup", channel=None
            )
        samples.append(time.perf_counter() - started)
        found += len(out.locations)
    network_samples = []
    for _ in range(100):
        sku = f"S{rng.randrange(HOT_EVERYWHERE):05d}"
        started = time.perf_counter()
        async with db.uow(tenant_id) as uow:
            await atp.availability(uow, sku=sku)
        network_samples.append(time.perf_counter() - started)
    return samples, found / 300, network_samples


async def main() -> None:
    url = await fresh_pg_database(DB_NAME)
    db = await asyncio.to_thread(open_database, url, pool_size=4)
    try:
        tenant_id, key = await seed(db)
        await bulk(db, tenant_id)
        samples, per_query, network_samples = await nearby_latency(db, tenant_id)
        print(
            f"   nearby availability (service, {LOCATIONS} locations, {SKUS} SKUs, 10 km, "
            f"~{per_query:.0f} locations each): {summary(samples)}",
            flush=True,
        )
        print(
            f"   network ATP of a SKU stocked at all {LOCATIONS} locations (service): "
            f"{summary(network_samples)}",
            flush=True,
        )
        raw = await raw_limit(tenant_id)
        print(f"   hot SKU raw conditional UPDATE (asyncpg, {CLIENTS} conns): {raw:,.0f}/s")
        service = await service_rate(url, tenant_id)
        print(
            f"   hot SKU holds via service layer ({CLIENTS} tasks): {service:,.0f}/s "
            f"({service / raw:.0%} of raw)",
            flush=True,
        )
        http, http_samples = await http_rates(url, key)
        print(
            f"   hot SKU holds via HTTP (omni serve, 2 workers, {HTTP_CLIENTS} clients): "
            f"{http:,.0f}/s ({http / raw:.0%} of raw)"
        )
        print(f"   nearby availability via HTTP: {summary(http_samples)}")
        async with db.uow(tenant_id) as uow:
            drift = await inventory.check_ledger(uow)
        print(f"   ledger check after the run: {'balanced' if not drift else drift[:3]}")
    finally:
        await db.dispose()
