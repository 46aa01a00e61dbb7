"""Points: redemption latency and hot-account throughput, earning, and identity resolve."""

from __future__ import annotations

import asyncio
import time

from bench.common import fresh_pg_database, fresh_sqlite_url, open_database, summary
from omniretail.auth import service as auth
from omniretail.customers import service as customers
from omniretail.customers.domain import IdentityType
from omniretail.customers.schemas import IdentityIn
from omniretail.db import Database, utcnow
from omniretail.loyalty import service as loyalty


async def _setup(db: Database) -> tuple[int, str]:
    async with db.uow(unscoped=True) as uow:
        await auth.do_create_tenant(uow, slug="bench", name="Bench")
        tenant_id = await auth.tenant_id_by_slug(uow, "bench")
    async with db.uow(tenant_id) as uow:
        out = await customers.do_create_customer(
            uow, identities=[IdentityIn(type=IdentityType.PHONE, value="13800138000")]
        )
        await loyalty.do_adjust_points(
            uow, customer_id=out.id, points=10**9, reason="bench", idempotency_key="g", actor="b"
        )
    return tenant_id, out.id


async def _setup_customer(db: Database, tenant_id: int, n: int) -> str:
    async with db.uow(tenant_id) as uow:
        out = await customers.do_create_customer(
            uow, identities=[IdentityIn(type=IdentityType.MEMBER_CARD, value=f"card-{n}")]
        )
        await loyalty.do_adjust_points(
            uow, customer_id=out.id, points=10**9, reason="b", idempotency_key=f"g{n}", actor="b"
        )
    return out.id


async def _redeem(db: Database, tenant_id: int, cid: str, key: str) -> None:
    async with db.uow(tenant_id) as uow:
        await loyalty.do_redeem_points(
            uow, customer_id=cid, points=1, reason="bench", idempotency_key=key
        )


async def _run(label: str, db: Database, *, clients: int) -> None:
    tenant_id, cid = await _setup(db)
    samples = []
    for i in range(500):
        started = time.perf_counter()
        await _redeem(db, tenant_id, cid, f"seq-{i}")
        samples.append(time.perf_counter() - started)
    print(f"{label}: one redemption (own transaction): {summary(samples)}")

    total = 2000
    queue = iter(range(total))

    async def worker() -> None:
        for i in queue:
            await _redeem(db, tenant_id, cid, f"par-{i}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    rate = total / (time.perf_counter() - started)
    print(f"{label}: {clients} clients on ONE account: {rate:,.0f} redemptions/s")

    others = [(await _setup_customer(db, tenant_id, n)) for n in range(clients)]
    queue = iter(range(total))

    async def spread(who: str) -> None:
        for i in queue:
            await _redeem(db, tenant_id, who, f"spread-{i}")

    started = time.perf_counter()
    await asyncio.gather(*(spread(who) for who in others))
    rate = total / (time.perf_counter() - started)
    print(f"{label}: {clients} clients on {clients} accounts: {rate:,.0f} redemptions/s")

    samples = []
    for i in range(300):
        started = time.perf_counter()
        async with db.uow(tenant_id) as uow:
            await loyalty.do_earn_for_order(
                uow,
                customer_id=cid,
                order_ref=f"O-{i}",
                channel="app",
                paid_amount=9900,
                at=utcnow(),
            )
        samples.append(time.perf_counter() - started)
    print(f"{label}: earn for an order: {summary(samples)}")

    async with db.uow(tenant_id) as uow:
        for i in range(1000):
            await customers.do_create_customer(
                uow, identities=[IdentityIn(type=IdentityType.PHONE, value=f"139{i:08d}")]
            )
    samples = []
    for i in range(300):
        started = time.perf_counter()
        async with db.uow(tenant_id) as uow:
            await customers.resolve_customer(
                uow,
                identities=[(IdentityType.PHONE, f"+86139{i * 3:08d}")],
                create_if_missing=False,
                channel="pos",
                actor="bench",
            )
        samples.append(time.perf_counter() - started)
    print(f"{label}: resolve a customer by phone (1,001 customers): {summary(samples)}")
    async with db.uow(tenant_id) as uow:
        check = await loyalty.check_points_ledger(uow, customer_id=cid)
    print(f"{label}: ledger consistent after the run: {check.consistent}")


async def main() -> None:
    sqlite = await asyncio.to_thread(open_database, fresh_sqlite_url())
    try:
        await _run("sqlite", sqlite, clients=8)
    finally:
        await sqlite.dispose()
    url = await fresh_pg_database("omni_bench_points")
    pg = await asyncio.to_thread(open_database, url, pool_size=16)
    try:
        await _run("postgresql", pg, clients=16)
    finally:
        await pg.dispose()
