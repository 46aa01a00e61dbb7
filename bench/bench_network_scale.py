"""A one-line ship checkout (the service, one client at a time) in networks of 3, 300, 3,000
and 30,000 ship-capable locations, on SQLite and PostgreSQL, with its ratio to the 3-location
cost. The ordered SKU is held by two locations; every location holds three other SKUs, so the
positions table grows with the network as it does in a real chain.

Goal (issue 17): at 3,000 locations within 1.3 x the cost at 3; at 30,000 within 2 x.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time

import sqlalchemy as sa

from bench.common import fresh_pg_database, fresh_sqlite_url, open_database
from omniretail.auth import service as auth
from omniretail.catalog import service as catalog
from omniretail.catalog.models import Variant
from omniretail.catalog.schemas import ProductIn
from omniretail.channels import service as channels
from omniretail.channels.schemas import ChannelKind
from omniretail.db import Database
from omniretail.inventory.models import StockPosition
from omniretail.network.models import Location
from omniretail.orders import checkout
from omniretail.orders.schemas import OrderIn
from omniretail.payments.providers import builtin_providers

SIZES = (3, 300, 3_000, 30_000)
CHECKOUTS = 60
CENTRE = (31.2304, 121.4737)
OTHER_SKUS = [f"OTHER-{i}" for i in range(30)]
CHUNK = 2_000


async def seed(db: Database, size: int) -> tuple[int, str]:
    """A chain of ``size`` locations; returns the tenant id and its admin key."""
    async with db.uow(unscoped=True) as uow:
        created = await auth.do_create_tenant(uow, slug="chain", name="Chain")
        tenant_id = await auth.tenant_id_by_slug(uow, "chain")
    rng = random.Random(size)
    async with db.uow(tenant_id) as uow:
        await channels.do_create_channel(uow, code="app", kind=ChannelKind.APP, name="App")
        variants = [{"sku": "HERO", "price": 9900}] + [{"sku": s, "price": 500} for s in OTHER_SKUS]
        await catalog.do_create_product(
            uow,
            data=ProductIn.model_validate(
                {"code": "P", "title": "Tee", "category": "tees", "variants": variants}
            ),
            actor="bench",
        )
        variant_ids = dict((await uow.session.execute(sa.select(Variant.sku, Variant.id))).all())
        rows = [
            {
                "tenant_id": tenant_id,
                "code": f"L{i:05d}",
                "name": f"Location {i}",
                "type": "store",
                # Across China: about 18-45 N, 80-125 E.
                "lat": rng.uniform(18.0, 45.0),
                "lng": rng.uniform(80.0, 125.0),
                "can_ship": True,
                "can_pickup": True,
                "can_local_delivery": False,
                "sells_online": True,
                "active": True,
            }
            for i in range(size)
        ]
        for start in range(0, size, CHUNK):
            await uow.session.execute(sa.insert(Location), rows[start : start + CHUNK])
        ids = dict((await uow.session.execute(sa.select(Location.code, Location.id))).all())
        holders = {"L00000", f"L{size - 1:05d}"}
        positions = [
            {
                "tenant_id": tenant_id,
                "location_id": location_id,
                "location_code": code,
                "variant_id": variant_ids[sku],
                "sku": sku,
                "on_hand": 10**9 if sku == "HERO" else 20,
                "reserved": 0,
                "safety_stock": 0,
                "may_go_negative": False,
            }
            for code, location_id in ids.items()
            for sku in [*rng.sample(OTHER_SKUS, 3), *(["HERO"] if code in holders else [])]
        ]
        for start in range(0, len(positions), CHUNK):
            await uow.session.execute(sa.insert(StockPosition), positions[start : start + CHUNK])
    return tenant_id, str(created["admin_key"])


async def one_checkout(db: Database, tenant_id: int, rng: random.Random) -> float:
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
    providers = builtin_providers("bench")
    started = time.perf_counter()
    async with db.uow(tenant_id) as uow:
        await checkout.do_place_order(
            uow, data=body, caller=checkout.Caller(actor="bench"), providers=providers
        )
    return time.perf_counter() - started


async def measure(url: str, size: int) -> float:
    db = await asyncio.to_thread(open_database, url)
    try:
        tenant_id, _ = await seed(db, size)
        rng = random.Random(1)
        for _ in range(5):  # warm up caches and the pool
            await one_checkout(db, tenant_id, rng)
        samples = [await one_checkout(db, tenant_id, rng) for _ in range(CHECKOUTS)]
        return statistics.median(samples) * 1000
    finally:
        await db.dispose()


async def main() -> None:
    for backend in ("sqlite", "postgresql"):
        base: float | None = None
        for size in SIZES:
            if backend == "sqlite":
                url = fresh_sqlite_url()
            else:
                url = await fresh_pg_database(f"omni_bench_scale_{size}")
            median = await measure(url, size)
            base = base or median
            print(
                f"   {backend:10} {size:>6,} locations: one-line ship checkout median "
                f"{median:6.2f} ms, {median / base:4.2f} x the 3-location cost",
                flush=True,
            )
