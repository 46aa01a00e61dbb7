"""Engagement (issue 16) at demo scale: trigger evaluation throughput, suggestion latency and
recommendation hit rate.

1. **Triggers.** ``OMNI_BENCH_TRYONS`` (default 1,000; 0 skips this part)
   ``customer.tried_on`` events through the dispatcher into a campaign, the same trigger
   (``note_try_on``) without the dispatcher's transaction per event, then the delayed checks
   through ``campaigns.evaluate_due_targets`` (half the customers consented: coupon +
   message; half not), all per second.
2. **Hit rate.** A generated history: ``OMNI_BENCH_CUSTOMERS`` (default 1,500) customers with
   tastes (two of 60 styles of the demo catalogue's ~1,800 SKUs), 3-8 orders each and views
   mostly within their styles, a few best sellers bought by everybody. Every customer's last
   order is held out; the rest goes through ``pairings.do_note_signals`` (the handler's own
   function; signals/s). A hit: one of the held-out order's SKUs among the top 10 of the
   pairings (ranked as the guide's suggestions are), among the top 10 of the same pairings
   ranked by raw co-counts (the previous ranking), or, for the baseline, among the 10 best
   sellers the customer has not bought.
3. **Latency.** ``suggestions.customer_suggestions`` (what ``GET /v1/customers/{id}/suggestions``
   calls) for random customers at random stores of 30, each in its own unit of work, after a
   ``VACUUM ANALYZE`` (PostgreSQL; ``ANALYZE`` on SQLite); target p99 <= 20 ms.

``OMNI_BENCH_DATABASES`` (default "sqlite,postgresql") picks the databases."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import time
from collections import Counter

import sqlalchemy as sa

import omniretail.models  # noqa: F401  (every table on the metadata)
from bench.common import fresh_pg_database, fresh_sqlite_url, open_database, summary
from omniretail.auth import service as auth
from omniretail.catalog.demo import seed_catalog
from omniretail.catalog.models import Variant
from omniretail.customers.models import Consent, Customer, CustomerIdentity
from omniretail.db import Database
from omniretail.engagement import campaigns, pairings, suggestions
from omniretail.engagement.domain import Outcome, Signal
from omniretail.engagement.models import CampaignTarget
from omniretail.engagement.schemas import CampaignIn
from omniretail.events import Dispatcher, OutboxEvent
from omniretail.inventory.models import StockPosition
from omniretail.network.models import Location
from omniretail.pricing import service as pricing
from omniretail.pricing.schemas import PromotionIn
from omniretail.wiring import build_registry

TRYONS = int(os.environ.get("OMNI_BENCH_TRYONS", "1000"))
CUSTOMERS = int(os.environ.get("OMNI_BENCH_CUSTOMERS", "1500"))
ROUNDS = int(os.environ.get("OMNI_BENCH_ROUNDS", "500"))
DATABASES = os.environ.get("OMNI_BENCH_DATABASES", "sqlite,postgresql").split(",")
STORES = [f"ST-{i:03d}" for i in range(1, 31)]
STYLES = 60
TOP = 10
# 11:00 in Shanghai: outside the campaigns' default quiet hours.
NOW = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)


async def _tenant(db: Database) -> tuple[int, list[str]]:
    async with db.uow(unscoped=True) as uow:
        await auth.do_create_tenant(uow, slug="bench", name="Bench")
        tenant_id = await auth.tenant_id_by_slug(uow, "bench")
    await seed_catalog(db, tenant_id, locale="en")
    async with db.uow(tenant_id) as uow:
        for i, code in enumerate(STORES):
            uow.session.add(
                Location(code=code, name=code, type="store", lat=31 + i / 100, lng=121.4)
            )
    async with db.uow(tenant_id) as uow:
        variants = (await uow.session.execute(sa.select(Variant.id, Variant.sku))).all()
        stores = (await uow.session.execute(sa.select(Location.id, Location.code))).all()
        rng = random.Random(16)
        rows = [
            {
                "tenant_id": tenant_id,
                "location_id": loc_id,
                "location_code": code,
                "variant_id": v_id,
                "sku": sku,
                "on_hand": rng.randint(0, 6),
                "reserved": 0,
                "safety_stock": 0,
            }
            for loc_id, code in stores
            for v_id, sku in variants
            if rng.random() < 0.6
        ]
        for start in range(0, len(rows), 5000):
            await uow.session.execute(sa.insert(StockPosition), rows[start : start + 5000])
    return tenant_id, sorted(sku for _, sku in variants)


async def _customers(db: Database, tenant_id: int, count: int, prefix: str) -> list[str]:
    ids = [f"cus_{prefix}{i:08d}" for i in range(count)]
    async with db.uow(tenant_id) as uow:
        await uow.session.execute(
            sa.insert(Customer), [{"tenant_id": tenant_id, "public_id": cid} for cid in ids]
        )
        pks = dict(
            (
                await uow.session.execute(
                    sa.select(Customer.public_id, Customer.id).where(Customer.public_id.in_(ids))
                )
            ).all()
        )
        # Half can be reached by SMS with consent; the rest cannot.
        reachable = ids[::2]
        await uow.session.execute(
            sa.insert(CustomerIdentity),
            [
                {
                    "tenant_id": tenant_id,
                    "customer_id": pks[cid],
                    "type": "phone",
                    "value": f"+86139{i:08d}{prefix}",
                }
                for i, cid in enumerate(reachable)
            ],
        )
        await uow.session.execute(
            sa.insert(Consent),
            [
                {
                    "tenant_id": tenant_id,
                    "customer_id": pks[cid],
                    "channel": "sms",
                    "granted": True,
                    "source": "bench",
                    "decided_at": NOW - dt.timedelta(days=30),
                }
                for cid in reachable
            ],
        )
    return ids


async def bench_triggers(db: Database, tenant_id: int, skus: list[str]) -> None:
    if not TRYONS:
        return  # OMNI_BENCH_TRYONS=0: the recommendations part only
    async with db.uow(tenant_id) as uow:
        await pricing.do_create_promotion(
            uow,
            data=PromotionIn.model_validate(
                {
                    "code": "TRYON10",
                    "title": "10% off",
                    "discount": {"kind": "percent", "value": 10},
                    "starts_at": "2026-01-01T00:00:00Z",
                    "ends_at": "2028-01-01T00:00:00Z",
                    "requires_coupon": True,
                }
            ),
            actor="bench",
        )
        await campaigns.do_create_campaign(
            uow,
            data=CampaignIn(
                code="tryon", title="Tried, not bought", promotion="TRYON10", delay_minutes=60
            ),
        )
    people = await _customers(db, tenant_id, TRYONS, "t")
    await Dispatcher(db, build_registry()).run_until_idle()  # the catalogue's own events first
    rng = random.Random(3)
    tried = NOW - dt.timedelta(hours=2)
    async with db.uow(tenant_id) as uow:
        await uow.session.execute(
            sa.insert(OutboxEvent),
            [
                {
                    "tenant_id": tenant_id,
                    "type": "customer.tried_on",
                    "aggregate_type": "customer",
                    "aggregate_id": cid,
                    "payload": {
                        "customer_id": cid,
                        "sku": rng.choice(skus),
                        "location": rng.choice(STORES),
                        "channel": "pos",
                        "at": tried.isoformat(),
                    },
                }
                for cid in people
            ],
        )
    started = time.perf_counter()
    delivered = await Dispatcher(db, build_registry()).run_until_idle()
    took = time.perf_counter() - started
    print(
        f"   try-on events through the dispatcher: {delivered / took:,.0f} events/s ({delivered})"
    )
    started = time.perf_counter()
    offers = 0
    while True:
        offers += await campaigns.evaluate_due_targets(db, now=NOW, limit=500)
        async with db.uow(tenant_id) as uow:
            waiting = await uow.session.scalar(
                sa.select(sa.func.count()).where(CampaignTarget.outcome == Outcome.WAITING.value)
            )
        if not waiting:
            break
    took = time.perf_counter() - started
    async with db.uow(tenant_id) as uow:
        decided = await uow.session.scalar(sa.select(sa.func.count()).select_from(CampaignTarget))
    print(
        f"   delayed checks (campaign evaluation): {decided / took:,.0f} targets/s ({decided}, "
        f"{offers} coupons sent; the rest without consent or over the frequency cap)"
    )


def _history(skus: list[str], people: list[str]) -> dict[str, tuple[list[list[str]], list[str]]]:
    """Per customer: their orders (the last one held out) and what they looked at."""
    rng = random.Random(16)
    styles = [skus[i::STYLES] for i in range(STYLES)]
    best_sellers = rng.sample(skus, 15)
    out: dict[str, tuple[list[list[str]], list[str]]] = {}
    for cid in people:
        taste = rng.sample(styles, 2)

        def pick(taste: list[list[str]] = taste) -> str:
            roll = rng.random()
            if roll < 0.75:
                return rng.choice(rng.choice(taste))
            if roll < 0.9:
                return rng.choice(best_sellers)
            return rng.choice(skus)

        orders = [
            list(dict.fromkeys(pick() for _ in range(rng.randint(1, 3))))
            for _ in range(rng.randint(3, 8))
        ]
        views = [pick() for _ in range(rng.randint(5, 20))]
        out[cid] = (orders, views)
    return out


async def bench_recommendations(db: Database, tenant_id: int, skus: list[str]) -> None:
    people = await _customers(db, tenant_id, CUSTOMERS, "r")
    history = _history(skus, people)
    started = time.perf_counter()
    signals = 0
    for n, (cid, (orders, views)) in enumerate(history.items()):
        at = NOW - dt.timedelta(days=200) + dt.timedelta(minutes=n)
        async with db.uow(tenant_id) as uow:
            for k, order in enumerate(orders[:-1]):
                when = at + dt.timedelta(days=k * 20)
                await pairings.do_note_signals(
                    uow, owner=cid, kind=Signal.BOUGHT, seen=dict.fromkeys(order, when)
                )
                signals += len(order)
            await pairings.do_note_looked_at(
                uow,
                customer_id=cid,
                items=[(sku, at + dt.timedelta(hours=i)) for i, sku in enumerate(views)],
            )
            signals += len(views)
    took = time.perf_counter() - started
    print(f"   pairings kept from {signals:,} signals: {signals / took:,.0f} signals/s")
    # Fresh statistics and visibility map, as autovacuum (PostgreSQL) or a periodic ANALYZE
    # would keep them: right after a bulk load the planner's picture of the pair counts is an
    # empty table, and every index-only read would visit the table.
    vacuum = "VACUUM ANALYZE" if db.dialect == "postgresql" else "ANALYZE"
    async with db.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(sa.text(vacuum))

    sold = Counter(sku for orders, _ in history.values() for o in orders[:-1] for sku in o)
    popular = [sku for sku, _ in sold.most_common()]
    hits = raw = baseline = 0
    for cid, (orders, _) in history.items():
        held_out, before = set(orders[-1]), {s for o in orders[:-1] for s in o}
        async with db.uow(tenant_id) as uow:
            ranked = (await suggestions.paired_for(uow, owner=cid)).ranked
        hits += bool(held_out & {r.other for r in ranked[:TOP]})
        # The previous ranking, for comparison: the same pairings by raw weighted counts.
        by_count = sorted((r for r in ranked if r.score), key=lambda r: (-r.score, r.other))
        raw += bool(held_out & {r.other for r in by_count[:TOP]})
        baseline += bool(held_out & set([s for s in popular if s not in before][:TOP]))
    print(
        f"   hit rate @{TOP} on {len(history):,} held-out orders: pairings "
        f"{hits / len(history):.1%} (by raw co-counts {raw / len(history):.1%}), "
        f"popularity baseline {baseline / len(history):.1%}"
    )

    rng = random.Random(5)
    samples = []
    for _ in range(ROUNDS):
        cid, store = rng.choice(people), rng.choice(STORES)
        started = time.perf_counter()
        async with db.uow(tenant_id) as uow:
            await suggestions.customer_suggestions(uow, customer_id=cid, location=store, limit=10)
        samples.append(time.perf_counter() - started)
    print(f"   suggestions at a store (target p99 <= 20 ms): {summary(samples)}")


async def _run(url: str) -> None:
    db = await asyncio.to_thread(open_database, url)
    try:
        tenant_id, skus = await _tenant(db)
        print(f"   {len(skus):,} SKUs, {len(STORES)} stores")
        await bench_triggers(db, tenant_id, skus)
        await bench_recommendations(db, tenant_id, skus)
    finally:
        await db.dispose()


async def main() -> None:
    for name in DATABASES:
        print(f"-- {name}", flush=True)
        url = (
            await fresh_pg_database("omni_bench_engagement")
            if name == "postgresql"
            else fresh_sqlite_url()
        )
        await _run(url)
