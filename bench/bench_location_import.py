"""Importing a chain's locations from CSV (the service, all rows in one unit of work): 3,000
new locations, then the same file again with 300 changed, on SQLite and PostgreSQL.

Issue 17 measured 3,095 locations in 4.6-7.2 s when they were inserted row by row.
"""

from __future__ import annotations

import asyncio
import time

from bench.common import fresh_pg_database, fresh_sqlite_url, open_database
from omniretail.auth import service as auth
from omniretail.imports import service as imports
from omniretail.imports.service import Kind

COUNT = 3_000
HEADER = (
    "code,name,type,lat,lng,address,ship,pickup,local_delivery,sells_online,"
    "delivery_radius_km,daily_capacity,opening_hours\n"
)


def chain(changed_every: int = 0) -> str:
    return HEADER + "".join(
        f"ST-{i:05d},{'Renamed' if changed_every and i % changed_every == 0 else 'Store'} {i},"
        f"store,{20 + i / 200:.4f},{100 + i / 150:.4f},Road {i},yes,yes,yes,yes,3,200,"
        "mon=10:00-22:00;sat=10:00-23:00\n"
        for i in range(COUNT)
    )


async def measure(url: str) -> tuple[float, float]:
    db = await asyncio.to_thread(open_database, url)
    try:
        async with db.uow(unscoped=True) as uow:
            await auth.do_create_tenant(uow, slug="chain", name="Chain")
            tenant_id = await auth.tenant_id_by_slug(uow, "chain")
        timings = []
        for text in (chain(), chain(changed_every=10)):
            started = time.perf_counter()
            async with db.uow(tenant_id) as uow:
                await imports.do_import(
                    uow, kind=Kind.LOCATIONS, text=text, dry_run=False, actor="bench"
                )
            timings.append(time.perf_counter() - started)
        return timings[0], timings[1]
    finally:
        await db.dispose()


async def main() -> None:
    for backend in ("sqlite", "postgresql"):
        url = (
            fresh_sqlite_url()
            if backend == "sqlite"
            else await fresh_pg_database("omni_bench_location_import")
        )
        created, updated = await measure(url)
        print(
            f"   {backend:10} {COUNT:,} new locations in {created:.2f} s; "
            f"the same file again with {COUNT // 10:,} changed in {updated:.2f} s",
            flush=True,
        )
