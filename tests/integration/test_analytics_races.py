"""Two projections touching one customer, or one order's fulfilments, at the same moment: the
second waits for the first to commit and builds on its fact, so the kept groups, spans and
split marks equal a rebuild from the facts. On PostgreSQL the first holds its transaction
open while the second starts; SQLite serialises the writers anyway."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa

from omniretail.analytics import fulfilment_rollups, projection
from omniretail.analytics.models import FulfilmentFact
from omniretail.db import Database, UnitOfWork
from tests.factories import TenantHandle

DAY = dt.date(2026, 11, 3)


async def at_once(
    db: Database, tenant_id: int, first: Callable[[UnitOfWork], Awaitable[None]],
    second: Callable[[UnitOfWork], Awaitable[None]],
) -> None:  # fmt: skip
    """``second`` starts while ``first``'s transaction is still open (it commits after)."""

    async def later() -> None:
        async with db.uow(tenant_id) as uow:
            await second(uow)

    async with db.uow(tenant_id) as uow:
        await first(uow)
        task = asyncio.create_task(later())
        await asyncio.sleep(0.3)  # the second is started and waiting (or reading) by now
    await task


async def rows(db: Database, tenant_id: int, queries: list[str]) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        return [
            (i, *row)
            for i, query in enumerate(queries)
            for row in sorted(
                tuple(r) for r in await conn.execute(sa.text(query), {"t": tenant_id})
            )
        ]


def sale(ref: str, channel: str, day: dt.date) -> dict[str, Any]:
    """A sale of customer 1 (on its own day and month, so that the two share no sales rollup
    row: only the customer's lock can make them take turns)."""
    at = dt.datetime(day.year, day.month, day.day, 4, tzinfo=dt.UTC)
    return {
        "kind": "sale", "ref": ref, "order_id": ref, "day": day, "at": at, "channel": channel,
        "online": True, "location": "ST-A", "fulfilled_from": "ST-A",
        "attributed_location": None, "attributed_staff": None, "customer_id": "cus_1",
        "amount": 9900, "units": 1,
    }  # fmt: skip


async def test_two_orders_of_one_customer_completed_at_once_make_one_customer_of_two_channels(
    db: Database, tenant: TenantHandle
) -> None:
    await at_once(
        db,
        tenant.id,
        lambda uow: projection._insert(uow, sale("ord_1", "app", DAY)),
        lambda uow: projection._insert(uow, sale("ord_2", "douyin", dt.date(2026, 12, 5))),
    )
    queries = [
        "SELECT grain, scope, day, channel_group, customers, orders, repeat_customers, gross,"
        " net FROM customer_group_rollups WHERE tenant_id = :t AND customers <> 0",
        "SELECT scope, first_grain, first, last_grain, last, channel_group, customers, orders,"
        " repeat_customers, gross, net FROM customer_span_rollups WHERE tenant_id = :t AND"
        " (customers <> 0 OR orders <> 0 OR repeat_customers <> 0 OR gross <> 0 OR net <> 0)",
    ]
    kept = await rows(db, tenant.id, queries)
    year = [r[4:] for r in kept if r[:3] == (0, "y", "*")]
    assert year == [("2", 1, 2, 1, 19800, 19800)]  # one customer, two channels
    async with db.uow(tenant.id) as uow:
        await projection.rebuild_rollups(uow)
    assert await rows(db, tenant.id, queries) == kept


def parcel(ref: str, location: str) -> Callable[[UnitOfWork], Awaitable[None]]:
    async def restate(uow: UnitOfWork) -> None:
        async def change() -> None:
            at = dt.datetime(2026, 11, 3, 4, tzinfo=dt.UTC)
            fact = FulfilmentFact(ref=ref, order_id="ord_1", day=DAY, channel="app", mode="ship")
            fact.location, fact.location_type, fact.distance_m = location, "store", 1000
            fact.promised_at, fact.milestone_at, fact.promise_kept = None, at, None
            fact.outcome = "open"
            uow.session.add(fact)
            await uow.session.flush()

        await fulfilment_rollups.restate_order(uow, "ord_1", change)

    return restate


async def test_two_parcels_of_one_order_projected_at_once_are_one_split_order(
    db: Database, tenant: TenantHandle
) -> None:
    await at_once(db, tenant.id, parcel("ful_1", "ST-A"), parcel("ful_2", "ST-B"))
    queries = [
        "SELECT ref, split FROM fulfilment_facts WHERE tenant_id = :t",
        "SELECT grain, day, mode, location, location_type, fulfilments, single_orders,"
        " distance_m, measured, promised, kept, done, cancelled FROM fulfilment_rollups"
        " WHERE tenant_id = :t AND fulfilments <> 0",
        "SELECT dim, mode, key, first_grain, first, last_grain, last, orders"
        " FROM fulfilment_split_spans WHERE tenant_id = :t AND orders <> 0",
    ]
    kept = await rows(db, tenant.id, queries)
    assert [r for r in kept if r[0] == 0] == [(0, "ful_1", True), (0, "ful_2", True)]
    async with db.uow(tenant.id) as uow:
        await fulfilment_rollups.rebuild_fulfilment_rollups(uow)
    assert await rows(db, tenant.id, queries) == kept
