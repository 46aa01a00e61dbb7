"""Nearest-locations latency at 5,000 locations (service layer, SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
import time

from bench.common import fresh_pg_database, fresh_sqlite_url, summary
from omniretail.auth import service as auth
from omniretail.config import Settings
from omniretail.db import Database
from omniretail.migrate import upgrade
from omniretail.network import service as network
from omniretail.network.models import Location

LOCATIONS = 5_000
QUERIES = 400
REGION = ((30.7, 31.9), (120.8, 122.0))  # ~130 x 115 km around Shanghai


async def seeded(url: str) -> tuple[Database, int]:
    await asyncio.to_thread(upgrade, url)
    db = Database(Settings(database_url=url, run_dispatcher=False))
    async with db.uow(unscoped=True) as uow:
        await auth.do_create_tenant(uow, slug="bench", name="Bench")
        tenant_id = await auth.tenant_id_by_slug(uow, "bench")
    rng = random.Random(1)
    async with db.uow(tenant_id) as uow:
        uow.session.add_all(
            [
                Location(
                    code=f"L{i:05d}",
                    name=f"Store {i}",
                    type="store",
                    lat=rng.uniform(*REGION[0]),
                    lng=rng.uniform(*REGION[1]),
                    can_ship=True,
                    can_pickup=rng.random() < 0.7,
                    can_local_delivery=True,
                    sells_online=True,
                    delivery_radius_km=3.0,
                    active=True,
                )
                for i in range(LOCATIONS)
            ]
        )
    if db.dialect == "postgresql":
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql("ANALYZE locations")
    return db, tenant_id


async def measure(db: Database, tenant_id: int, radius_km: float) -> tuple[list[float], float]:
    rng = random.Random(2)
    samples = []
    found = 0
    for _ in range(QUERIES):
        lat, lng = rng.uniform(*REGION[0]), rng.uniform(*REGION[1])
        started = time.perf_counter()
        async with db.uow(tenant_id) as uow:
            near = await network.locations_near(
                uow, lat=lat, lng=lng, radius_km=radius_km, capability="pickup", limit=20
            )
        samples.append(time.perf_counter() - started)
        found += len(near)
    return samples, found / QUERIES


async def main() -> None:
    for name, url in (
        ("PostgreSQL", await fresh_pg_database("omni_bench_nearest")),
        ("SQLite", fresh_sqlite_url()),
    ):
        db, tenant_id = await seeded(url)
        try:
            for radius in (3.0, 10.0, 50.0):
                samples, average = await measure(db, tenant_id, radius)
                print(
                    f"   {name}, {LOCATIONS:,} locations, {radius:g} km, pickup-capable "
                    f"(avg {average:.1f} found): {summary(samples)}"
                )
        finally:
            await db.dispose()
