"""The outbox dispatcher's throughput on a checkout backlog, in process, projections taking a
group's events at once (``grouped``) against one by one (``one by one``, their wiring before).

For each database and each wiring: a fresh database seeded as ``bench_http`` seeds it, a
backlog of ``OMNI_BENCH_CHECKOUTS`` (default 600) three-line in-store checkouts sent through
``httpx.ASGITransport`` with no dispatcher running (SKUs spread over the store's range; half of
them by one of 60 repeat customers, so that the pairings have history to pair with), then
``Dispatcher.run_until_idle`` times the delivery of the whole backlog (the per-event types in
the dispatcher's groups, the batch of 200 on PostgreSQL and 50 on SQLite; the stock changes in
their batches). Printed: events delivered per second, SQL statements per event
(BEGIN/COMMIT/SAVEPOINT not counted) and this process's CPU time per event (Python, and on
SQLite the database engine too: it moves little when other processes share the cores, unlike
the rate). The two wirings alternate, ``OMNI_BENCH_ROUNDS`` (default 2) rounds each, and the
median is shown with the load average: the machine is shared.

Environment: ``OMNI_BENCH_CHECKOUTS``, ``OMNI_BENCH_ROUNDS``, ``OMNI_BENCH_DATABASES``
(``postgresql,sqlite``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import statistics
import time
from typing import Any

import httpx
import sqlalchemy as sa

from bench.bench_cpu import CONTROL
from bench.bench_http import SPREAD, drop_pg_database, in_store_order, seed
from bench.common import fresh_pg_database, fresh_sqlite_url
from omniretail.app import create_app
from omniretail.auth import service as auth
from omniretail.config import Settings
from omniretail.customers import service as customers
from omniretail.db import Database
from omniretail.events import Dispatcher, OutboxEvent
from omniretail.wiring import build_registry

CHECKOUTS = int(os.environ.get("OMNI_BENCH_CHECKOUTS", "600"))
ROUNDS = int(os.environ.get("OMNI_BENCH_ROUNDS", "2"))
DATABASES = os.environ.get("OMNI_BENCH_DATABASES", "postgresql,sqlite").split(",")
DB_NAME = f"omni_bench_dispatch_{os.getpid()}"
REPEAT_CUSTOMERS = 60
CONCURRENCY = 8


async def _backlog(url: str, checkouts: int, grouped: bool) -> Database:
    """A seeded database (its own events delivered) with ``checkouts`` checkouts' events
    pending."""
    keys = await seed(url)
    db = Database(Settings(database_url=url, run_dispatcher=False))
    async with db.uow(unscoped=True) as uow:
        tenant_id = await auth.tenant_id_by_slug(uow, "bench")
    async with db.uow(tenant_id) as uow:
        people = [
            (await customers.do_create_customer(uow, identities=[])).id
            for _ in range(REPEAT_CUSTOMERS)
        ]
    await Dispatcher(db, build_registry(grouped=grouped)).run_until_idle()
    picker = random.Random(11)
    bodies: list[dict[str, Any]] = []
    for n in range(checkouts):
        body = in_store_order(picker.sample(SPREAD, 3))
        if n % 2:
            body["customer_id"] = picker.choice(people)
        bodies.append(body)
    app = create_app(db.settings, db=db)
    headers = {"Authorization": f"Bearer {keys.store}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench", headers=headers
    ) as client:

        async def till(share: list[dict[str, Any]]) -> None:
            for body in share:
                response = await client.post("/v1/orders", json=body)
                assert response.status_code == 201, response.text

        await asyncio.gather(*(till(bodies[i::CONCURRENCY]) for i in range(CONCURRENCY)))
    return db


async def _pending(db: Database) -> collections.Counter[str]:
    async with db.uow(unscoped=True) as uow:
        rows = await uow.session.execute(
            sa.select(OutboxEvent.type, sa.func.count())
            .where(OutboxEvent.dispatched_at.is_(None))
            .group_by(OutboxEvent.type)
        )
        return collections.Counter({kind: int(n) for kind, n in rows})


async def _deliver(db: Database, grouped: bool) -> tuple[float, int, float, float]:
    """Events per second, events, statements per event, CPU ms of this process per event."""
    statements = 0

    def count(*args: Any) -> None:
        nonlocal statements
        if not str(args[2]).startswith(CONTROL):
            statements += 1

    dispatcher = Dispatcher(db, build_registry(grouped=grouped))
    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        delivered = await dispatcher.run_until_idle()
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    n = max(delivered, 1)
    return delivered / took, delivered, statements / n, cpu * 1000 / n


async def _one(label: str, fresh: Any, grouped: bool, checkouts: int = CHECKOUTS) -> float:
    url, dispose = await fresh()
    db = await _backlog(url, checkouts, grouped)
    try:
        pending = await _pending(db)
        rate, delivered, per_event, cpu = await _deliver(db, grouped)
        if checkouts != CHECKOUTS:
            return rate  # a warm-up (compiled statements, first imports)
        left = sum((await _pending(db)).values())
        mix = ", ".join(f"{kind} {n}" for kind, n in sorted(pending.items()))
        wiring = "grouped" if grouped else "one by one"
        print(f"   {label} {wiring:<10} {rate:8,.0f} events/s  {per_event:5.1f} statements/event"
              f"  {cpu:6.2f} ms CPU/event"
              f"  ({delivered} delivered, {left} left; {mix})", flush=True)  # fmt: skip
        return rate
    finally:
        await db.dispose()
        await dispose()


async def _measure(label: str, fresh: Any) -> None:
    rates: dict[bool, list[float]] = {True: [], False: []}
    for grouped in (False, True):
        await _one(label, fresh, grouped, checkouts=20)
    for round_ in range(ROUNDS):
        for grouped in (False, True) if round_ % 2 == 0 else (True, False):
            rates[grouped].append(await _one(label, fresh, grouped))
    before, after = statistics.median(rates[False]), statistics.median(rates[True])
    print(
        f"   {label}: median {before:,.0f} -> {after:,.0f} events/s "
        f"(x{after / before:.2f}); load average {os.getloadavg()}",
        flush=True,
    )


async def main() -> None:
    print(f"   {CHECKOUTS} checkouts' events pending, then delivered until idle")
    if "postgresql" in DATABASES:

        async def fresh_pg() -> tuple[str, Any]:
            url = await fresh_pg_database(DB_NAME)

            async def drop() -> None:
                with contextlib.suppress(Exception):
                    await drop_pg_database(DB_NAME)

            return url, drop

        await _measure("PostgreSQL", fresh_pg)
    if "sqlite" in DATABASES:

        async def fresh_sqlite() -> tuple[str, Any]:
            async def nothing() -> None:
                return None

            return fresh_sqlite_url(), nothing

        await _measure("SQLite", fresh_sqlite)
