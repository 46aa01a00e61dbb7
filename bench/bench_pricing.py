"""Price-quote latency for a 10-line cart with 50 active promotions: the pure engine alone
(the baseline) and through the service (a fixed handful of queries) on both databases."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time

from bench.common import fresh_pg_database, fresh_sqlite_url, summary
from omniretail.auth import service as auth
from omniretail.catalog import service as catalog
from omniretail.catalog.schemas import ProductIn
from omniretail.channels import service as channels
from omniretail.channels.schemas import ChannelKind
from omniretail.config import Settings
from omniretail.db import Database, utcnow
from omniretail.migrate import upgrade
from omniretail.pricing import service as pricing
from omniretail.pricing.domain import CartLine, Context, price_cart
from omniretail.pricing.schemas import PromotionIn

PROMOTIONS = 50
RUNS = 400
CATEGORIES = ["women/dresses", "women/tops", "men/shirts", "men/trousers", "kids/tops"]
KINDS = [
    {"kind": "percent", "value": 10},
    {"kind": "amount", "value": 500},
    {"kind": "fixed_price", "value": 9900},
    {"kind": "buy_x_get_y", "buy": 2, "get": 1},
]


async def seeded(url: str) -> tuple[Database, int]:
    await asyncio.to_thread(upgrade, url)
    db = Database(Settings(database_url=url, run_dispatcher=False))
    async with db.uow(unscoped=True) as uow:
        await auth.do_create_tenant(uow, slug="bench", name="Bench")
        tenant_id = await auth.tenant_id_by_slug(uow, "bench")
    rng = random.Random(4)
    now = utcnow()
    async with db.uow(tenant_id) as uow:
        for code, kind in (("app", ChannelKind.APP), ("douyin", ChannelKind.DOUYIN)):
            await channels.do_create_channel(uow, code=code, kind=kind, name=code)
        for p in range(50):
            await catalog.do_create_product(
                uow,
                actor="bench",
                data=ProductIn.model_validate(
                    {
                        "code": f"P{p}",
                        "title": f"P{p}",
                        "category": CATEGORIES[p % 5],
                        "variants": [
                            {"sku": f"P{p}-{s}", "price": rng.randrange(5_000, 90_000, 100)}
                            for s in range(4)
                        ],
                    }
                ),
            )
        for i in range(PROMOTIONS):
            scope: dict[str, object] = {}
            if i % 3 == 0:
                scope["categories"] = [CATEGORIES[i % 5]]
            if i % 7 == 0:
                scope["channels"] = ["douyin"]
            await pricing.do_create_promotion(
                uow,
                actor="bench",
                data=PromotionIn.model_validate(
                    {
                        "code": f"PROMO{i}",
                        "title": f"Promo {i}",
                        "scope": scope,
                        "discount": KINDS[i % 4],
                        "priority": i,
                        "stacking": "exclusive" if i % 5 == 0 else "stackable",
                        "starts_at": now - dt.timedelta(days=1),
                        "ends_at": now + dt.timedelta(days=30),
                    }
                ),
            )
    return db, tenant_id


def cart(rng: random.Random) -> list[tuple[str, int]]:
    return [(f"P{p}-{rng.randrange(4)}", rng.randint(1, 3)) for p in rng.sample(range(50), 10)]


async def main() -> None:
    rng = random.Random(9)
    for name, url in (
        ("PostgreSQL", await fresh_pg_database("omni_bench_pricing")),
        ("SQLite", fresh_sqlite_url()),
    ):
        db, tenant_id = await seeded(url)
        try:
            samples = []
            for _ in range(RUNS):
                lines = cart(rng)
                started = time.perf_counter()
                async with db.uow(tenant_id) as uow:
                    await pricing.quote(uow, channel="app", lines=lines)
                samples.append(time.perf_counter() - started)
            print(
                f"   {name}: quote, 10 lines, {PROMOTIONS} active promotions, service: "
                f"{summary(samples)}"
            )
            async with db.uow(tenant_id) as uow:
                rules = [pricing.to_rule(p) for p in await pricing.active_promotions(uow)]
        finally:
            await db.dispose()
    engine = []
    ctx = Context(channel="app", at=utcnow())
    for _ in range(RUNS):
        lines = [
            CartLine(s, q, rng.randrange(5_000, 90_000, 100), CATEGORIES[i % 5])
            for i, (s, q) in enumerate(cart(rng))
        ]
        started = time.perf_counter()
        price_cart(lines, rules, ctx)
        engine.append(time.perf_counter() - started)
    print(f"   pure engine alone (baseline): {summary(engine)}")
