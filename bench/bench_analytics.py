"""The data hub at scale (issue 15): project one million ``order.completed`` events into the
sales facts, then time each report over them.

The history is written straight into the order tables (a benchmark of the projection and the
reports, not of checkout: placing a million orders through the services would take hours
here); the projection then runs exactly as ``omni analytics rebuild`` does. Targets: >= 5,000
events/s projected; each report p99 <= 50 ms.

``OMNI_BENCH_ORDERS`` (default 1,000,000) sizes it, ``OMNI_BENCH_DATABASES`` (default
"postgresql,sqlite") picks the databases, ``OMNI_BENCH_ROUNDS`` (default 30) the samples,
``OMNI_BENCH_ANALYTICS_DB`` (default omni_bench_analytics) the PostgreSQL database."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import os
import random
import time
from typing import Any

import sqlalchemy as sa

import omniretail.models  # noqa: F401  (every table on the metadata)
from bench.common import fresh_pg_database, fresh_sqlite_url, open_database, summary
from omniretail.analytics import fulfilment_rollups, projection, service, stock
from omniretail.analytics.schemas import FulfilmentBy, InventoryBy, SalesBy
from omniretail.auth import service as auth
from omniretail.db import Base, Database
from omniretail.network.models import Location

ORDERS = int(os.environ.get("OMNI_BENCH_ORDERS", "1000000"))
ROUNDS = int(os.environ.get("OMNI_BENCH_ROUNDS", "30"))
# The PostgreSQL database it drops and creates (its own: several people share a server).
PG_DATABASE = os.environ.get("OMNI_BENCH_ANALYTICS_DB", "omni_bench_analytics")
DATABASES = os.environ.get("OMNI_BENCH_DATABASES", "postgresql,sqlite").split(",")
CHANNELS = ["app", "miniprogram", "web", "pos", "douyin", "xiaohongshu"]
STORES = [f"ST-{i:03d}" for i in range(1, 41)]
CUSTOMERS = max(1, ORDERS // 5)
CHUNK = 10_000
SKUS = [f"SKU-{i:04d}" for i in range(500)]
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class _StockDays:
    """The ledger of the history summed per local day, location and SKU, as the stock
    projection writes it: a receipt of 40 per position on each month's first sale there,
    then one unit out per order line sold from the store."""

    def __init__(self, tenant_id: int) -> None:
        self.tenant_id = tenant_id
        self.day: dt.date | None = None
        self.open: dict[tuple[str, str], dict[str, int]] = {}
        self.stocked: set[tuple[str, str, dt.date]] = set()
        self.balance: dict[tuple[str, str], int] = {}
        self.done: list[dict[str, Any]] = []

    def sell(self, day: dt.date, location: str, sku: str, qty: int) -> None:
        if day != self.day:
            self.flush()
            self.day = day
        row = self.open.setdefault((location, sku), dict.fromkeys(_STOCK_MEASURES, 0))
        month = day.replace(day=1)
        if (location, sku, month) not in self.stocked:
            self.stocked.add((location, sku, month))
            row["received"] += 40
            row["on_hand_delta"] += 40
        row["sold"] += qty
        row["on_hand_delta"] -= qty

    def flush(self) -> None:
        for (location, sku), measures in self.open.items():
            before = self.balance.get((location, sku))
            after = (before or 0) + measures["on_hand_delta"]
            self.balance[(location, sku)] = after
            was_out = before is not None and before <= 0
            self.done.append(
                {"tenant_id": self.tenant_id, "day": self.day, "location": location,
                 "sku": sku, **measures, "new_position": int(before is None),
                 "out_delta": int(after <= 0) - int(was_out)}
            )  # fmt: skip
        self.open = {}

    def take(self) -> list[dict[str, Any]]:
        rows, self.done = self.done, []
        return rows


_STOCK_MEASURES = ("received", "sold", "on_hand_delta", "reserved_delta", "stockouts", "oversells")


async def _seed(db: Database) -> int:
    async with db.uow(unscoped=True) as uow:
        await auth.do_create_tenant(uow, slug="bench", name="Bench")
        tenant_id = await auth.tenant_id_by_slug(uow, "bench")
    async with db.uow(tenant_id) as uow:
        for i, code in enumerate(STORES):
            uow.session.add(
                Location(code=code, name=code, type="store", lat=31 + i / 100, lng=121.4)
            )
    async with db.uow(tenant_id) as uow:
        ids = dict((await uow.session.execute(sa.select(Location.code, Location.id))).all())
    rng = random.Random(15)
    tables = Base.metadata.tables
    written = time.perf_counter()
    stock = _StockDays(tenant_id)
    async with db.engine.begin() as conn:
        for start in range(0, ORDERS, CHUNK):
            orders, lines, fulfilments, events = [], [], [], []
            for n in range(start, min(ORDERS, start + CHUNK)):
                order_id = n + 1
                public = f"ord_{order_id:012d}"
                store = rng.choice(STORES)
                in_store = rng.random() < 0.4
                qty = rng.randint(1, 3)
                price = rng.choice((4900, 9900, 19900, 29900))
                # In time order, as a live outbox is: a year of trading spread evenly.
                at = START + dt.timedelta(seconds=n * 365 * 86400 // ORDERS)
                orders.append(
                    {
                        "id": order_id,
                        "tenant_id": tenant_id,
                        "public_id": public,
                        "number": public,
                        "channel": "pos" if in_store else rng.choice(CHANNELS),
                        "customer_id": f"cus_{rng.randrange(CUSTOMERS):010d}",
                        "status": "completed",
                        "mode": "in_store" if in_store else "ship",
                        "placed_at_location": store if in_store else None,
                        "attributed_location": rng.choice(STORES) if rng.random() < 0.2 else None,
                        "attributed_staff": f"guide-{rng.randrange(200)}"
                        if rng.random() < 0.1
                        else None,
                        "currency": "CNY",
                        "subtotal": qty * price,
                        "discount_total": 0,
                        "delivery_fee": 0,
                        "total": qty * price,
                        "points_redeemed": 0,
                        "paid_amount": qty * price,
                        "coupon_codes": [],
                        "sourcing": {},
                        "created_at": at,
                        "updated_at": at,
                    }
                )
                lines.append(
                    {
                        "tenant_id": tenant_id,
                        "order_id": order_id,
                        "sku": "SKU-1",
                        "title": "Tee",
                        "qty": qty,
                        "unit_price": price,
                        "discount": 0,
                        "line_total": qty * price,
                        "discounts": [],
                        "returned_qty": 0,
                    }
                )
                fulfilments.append(
                    {
                        "tenant_id": tenant_id,
                        "public_id": f"ful_{order_id:012d}",
                        "order_id": order_id,
                        "location_id": ids[store],
                        "location_code": store,
                        "mode": "in_store" if in_store else "ship",
                        "status": "handed_over" if in_store else "delivered",
                        "transfer_from": [],
                        "created_at": at,
                        "updated_at": at,
                    }
                )
                local = (at + dt.timedelta(hours=8)).date()
                stock.sell(local, store, rng.choice(SKUS), qty)
                events.append(
                    {
                        "tenant_id": tenant_id,
                        "type": "order.completed",
                        "aggregate_type": "order",
                        "aggregate_id": public,
                        "payload": {"order_id": public, "completed_at": at.isoformat()},
                        "occurred_at": at,
                        "dispatched_at": at,
                        "attempts": 1,
                    }
                )
            for name, rows in (
                ("orders", orders),
                ("order_lines", lines),
                ("fulfilments", fulfilments),
                ("outbox_events", events),
                ("stock_facts", stock.take()),
            ):
                if rows:
                    await conn.execute(sa.insert(tables[name]), rows)
        stock.flush()
        await conn.execute(sa.insert(tables["stock_facts"]), stock.take())
    print(f"   wrote {ORDERS:,} orders with their lines, fulfilments and events in "
          f"{time.perf_counter() - written:.0f} s", flush=True)  # fmt: skip
    if db.dialect == "postgresql":
        async with db.engine.connect() as conn:
            await conn.execute(sa.text("COMMIT"))
            await conn.execute(sa.text("ANALYZE"))
    return tenant_id


async def _fulfilment_facts(db: Database, tenant_id: int) -> None:
    """Each shipped order's fulfilment at its milestone, as the projection writes it (the
    history has no fulfilment events to replay); one in 25 split over a second store. Then
    the rollups summed set-based, as a rebuild does."""
    rng = random.Random(25)
    o, ful = Base.metadata.tables["orders"], Base.metadata.tables["fulfilments"]
    after = 0
    async with db.engine.begin() as conn:
        while True:
            rows = (
                await conn.execute(
                    sa.select(o.c.id, o.c.public_id, o.c.channel, o.c.created_at)
                    .add_columns(ful.c.location_code)
                    .join(ful, ful.c.order_id == o.c.id)
                    .where(o.c.mode == "ship", o.c.id > after)
                    .order_by(o.c.id)
                    .limit(CHUNK)
                )
            ).all()
            if not rows:
                break
            facts = []
            for order_id, public, channel, at, store in rows:
                stores = [store] if order_id % 25 else [store, rng.choice(STORES)]
                for i, location in enumerate(stores):
                    late = rng.random() < 0.1
                    facts.append(
                        {
                            "tenant_id": tenant_id,
                            "ref": f"ful_{order_id:012d}_{i}",
                            "order_id": public,
                            "day": (at + dt.timedelta(hours=8)).date(),
                            "channel": channel,
                            "mode": "ship",
                            "location": location,
                            "location_type": "warehouse" if location == STORES[0] else "store",
                            "distance_m": rng.randint(300, 30_000),
                            "promised_at": at + dt.timedelta(hours=48),
                            "milestone_at": at + dt.timedelta(hours=60 if late else 20),
                            "promise_kept": not late,
                            "outcome": "done",
                        }
                    )
            await conn.execute(sa.insert(Base.metadata.tables["fulfilment_facts"]), facts)
            after = rows[-1].id
    started = time.perf_counter()
    async with db.uow(tenant_id) as uow:
        await fulfilment_rollups.rebuild_fulfilment_rollups(uow)
    print(f"   fulfilment rollups summed in {time.perf_counter() - started:.1f} s", flush=True)


async def _reports(db: Database, tenant_id: int) -> None:
    year = (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    month = (dt.date(2026, 6, 1), dt.date(2026, 6, 30))
    cases: list[tuple[str, Any]] = []
    for label, (start, end) in (("year", year), ("month", month)):
        for by in (SalesBy.CHANNEL, SalesBy.LOCATION, SalesBy.DAY, SalesBy.ATTRIBUTED_STAFF):
            cases.append(
                (
                    f"sales by {by.value}, {label}",
                    lambda uow, s=start, e=end, b=by: service.sales_report(
                        uow, start=s, end=e, by=b, compare=True
                    ),
                )
            )
        cases.append(
            (
                f"attribution, {label}",
                lambda uow, s=start, e=end: service.attribution_report(uow, start=s, end=e),
            )
        )
        cases.append(
            (
                f"customers, {label}",
                lambda uow, s=start, e=end: service.customers_report(uow, start=s, end=e),
            )
        )
        for f_by in FulfilmentBy:
            cases.append(
                (
                    f"fulfilment by {f_by.value}, {label}",
                    lambda uow, s=start, e=end, b=f_by: service.fulfilment_report(
                        uow, start=s, end=e, by=b
                    ),
                )
            )
        for i_by in InventoryBy:
            cases.append(
                (
                    f"inventory by {i_by.value}, {label}",
                    lambda uow, s=start, e=end, b=i_by: service.inventory_report(
                        uow, start=s, end=e, by=b
                    ),
                )
            )
        cases.append(
            (
                f"customers, one store, {label}",
                lambda uow, s=start, e=end: service.customers_report(
                    uow, start=s, end=e, location="ST-007"
                ),
            )
        )
        cases.append(
            (
                f"sales by day, one store, {label}",
                lambda uow, s=start, e=end: service.sales_report(
                    uow, start=s, end=e, by=SalesBy.DAY, location="ST-007"
                ),
            )
        )
    # Periods that are no whole month or year: the customers' spans, the split orders' items.
    cases.append(
        (
            "customers, one store, 10 May - 9 Aug",
            lambda uow: service.customers_report(
                uow, start=dt.date(2026, 5, 10), end=dt.date(2026, 8, 9), location="ST-007"
            ),
        )
    )
    cases.append(
        (
            "fulfilment by location, 10 May - 9 Aug",
            lambda uow: service.fulfilment_report(
                uow, start=dt.date(2026, 5, 10), end=dt.date(2026, 8, 9), by=FulfilmentBy.LOCATION
            ),
        )
    )
    cases.append(
        (
            "customers, 10 May - 9 Aug",
            lambda uow: service.customers_report(
                uow, start=dt.date(2026, 5, 10), end=dt.date(2026, 8, 9)
            ),
        )
    )
    cases.append(
        (
            "customers, 1-7 June",
            lambda uow: service.customers_report(
                uow, start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 7)
            ),
        )
    )
    for label, report in cases:
        # One call first, not timed: it opens the pool's connection and prepares the
        # statement, as a running server has long done.
        async with db.uow(tenant_id, read_only=True) as uow:
            await report(uow)
        samples = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            async with db.uow(tenant_id, read_only=True) as uow:
                await report(uow)
            samples.append(time.perf_counter() - started)
        print(f"   {label:<40} {summary(samples)}", flush=True)


async def _one(kind: str) -> None:
    url = await fresh_pg_database(PG_DATABASE) if kind == "postgresql" else (
        fresh_sqlite_url()
    )  # fmt: skip
    db = await asyncio.to_thread(open_database, url)
    try:
        print(f"-- {kind}", flush=True)
        tenant_id = await _seed(db)
        started = time.perf_counter()
        async with db.uow(tenant_id) as uow:
            replayed = await projection.do_rebuild(uow)
        took = time.perf_counter() - started
        print(
            f"   projected {replayed:,} order.completed events in {took:.1f} s: "
            f"{replayed / took:,.0f} events/s (target >= 5,000)",
            flush=True,
        )
        await _fulfilment_facts(db, tenant_id)
        started = time.perf_counter()
        async with db.uow(tenant_id) as uow:
            await stock.rebuild_stock_rollups(uow)
        print(f"   stock rollups summed in {time.perf_counter() - started:.1f} s", flush=True)
        if db.dialect == "postgresql":  # what autovacuum would have done by now
            async with db.engine.connect() as conn:
                await conn.execute(sa.text("COMMIT"))
                await conn.execute(sa.text("ANALYZE"))
        # The seeding's garbage is this bench's, not a server's: collected before the clock
        # starts and its survivors frozen, so no timed call pays a full collection of it.
        gc.collect()
        gc.freeze()
        await _reports(db, tenant_id)
    finally:
        await db.dispose()


async def main() -> None:
    for kind in DATABASES:
        await _one(kind.strip())


if __name__ == "__main__":
    asyncio.run(main())
