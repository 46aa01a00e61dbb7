"""Stock facts: the inventory ledger summed per local day, location and SKU, projected in
ledger order with the running balance of each position, so that stock-outs (available
reaching 0) and oversells (on hand driven below 0) are counted where they happened.

How far it got is one mark per tenant, advanced in the same transaction as the facts it
covers, so a rerun adds nothing twice. Ledger ids are handed out before commit, so a slow
transaction could commit a lower id after the mark passed it: rows are only taken once they
are ``SETTLE`` old, and every run also checks that the facts hold exactly as many ledger rows
as the ledger has up to the mark; if one slipped through anyway, the tenant's facts are
rebuilt from scratch. Either way the figures end exact."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from omniretail.analytics.domain import local_day
from omniretail.analytics.models import StockFact, StockProjectionMark
from omniretail.auth import service as auth
from omniretail.auth.models import Tenant
from omniretail.db import Database, UnitOfWork, dialect_insert, utcnow
from omniretail.inventory.domain import Reason
from omniretail.inventory.models import StockMovement

log = logging.getLogger(__name__)

SETTLE = dt.timedelta(seconds=5)
# Stock that came in from outside (a count's variance and adjustments are not receipts).
RECEIVED = frozenset({Reason.RECEIPT.value, Reason.TRANSFER_IN.value})
# Stock that left to a customer.
SOLD = frozenset({Reason.SALE.value, Reason.SHIPMENT.value, Reason.PICKUP.value})


@dataclass(slots=True)
class _Day:
    received: int = 0
    sold: int = 0
    on_hand_delta: int = 0
    reserved_delta: int = 0
    stockouts: int = 0
    oversells: int = 0
    entries: int = 0


@dataclass(slots=True)
class _Balance:
    on_hand: int = 0
    reserved: int = 0


@dataclass(slots=True)
class Projected:
    entries: int = 0
    rebuilt: bool = False
    days: dict[tuple[dt.date, str, str], _Day] = field(default_factory=dict)


async def _mark(uow: UnitOfWork) -> StockProjectionMark:
    """The tenant's mark, locked: projections of one tenant in several processes take turns."""
    await uow.session.execute(
        dialect_insert(uow, StockProjectionMark.__table__)
        .values(tenant_id=uow.require_tenant(), last_entry_id=0)
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    mark = await uow.session.scalar(sa.select(StockProjectionMark).with_for_update())
    assert mark is not None
    return mark


async def _balances(uow: UnitOfWork, keys: set[tuple[str, str]]) -> dict[tuple[str, str], _Balance]:
    """Each position's on hand and reserved after everything projected so far."""
    out: dict[tuple[str, str], _Balance] = defaultdict(_Balance)
    skus = sorted({sku for _, sku in keys})
    for start in range(0, len(skus), 500):
        result = await uow.session.execute(
            sa.select(
                StockFact.location,
                StockFact.sku,
                sa.func.sum(StockFact.on_hand_delta),
                sa.func.sum(StockFact.reserved_delta),
            )
            .where(StockFact.sku.in_(skus[start : start + 500]))
            .group_by(StockFact.location, StockFact.sku)
        )
        for location, sku, on_hand, reserved in result:
            if (location, sku) in keys:
                out[(location, sku)] = _Balance(int(on_hand), int(reserved))
    return out


async def project_ledger(
    uow: UnitOfWork, *, limit: int = 5000, now: dt.datetime | None = None
) -> int:
    """Project up to ``limit`` settled ledger rows past the mark; returns how many."""
    now = now or utcnow()
    mark = await _mark(uow)
    rows = (
        await uow.session.execute(
            sa.select(
                StockMovement.id,
                StockMovement.location_code,
                StockMovement.sku,
                StockMovement.reason,
                StockMovement.on_hand_delta,
                StockMovement.reserved_delta,
                StockMovement.created_at,
            )
            .where(StockMovement.id > mark.last_entry_id)
            .order_by(StockMovement.id)
            .limit(limit)
        )
    ).all()
    # In ledger order up to the first entry not yet settled: the mark never passes one.
    settled = next((i for i, r in enumerate(rows) if r.created_at > now - SETTLE), len(rows))
    rows = rows[:settled]
    if not rows:
        return 0
    timezone = (await auth.get_tenant(uow)).timezone
    balances = await _balances(uow, {(r.location_code, r.sku) for r in rows})
    days: dict[tuple[dt.date, str, str], _Day] = defaultdict(_Day)
    for r in rows:
        position = balances[(r.location_code, r.sku)]
        before = position.on_hand - position.reserved
        position.on_hand += r.on_hand_delta
        position.reserved += r.reserved_delta
        day = days[(local_day(r.created_at, timezone), r.location_code, r.sku)]
        day.entries += 1
        day.on_hand_delta += r.on_hand_delta
        day.reserved_delta += r.reserved_delta
        if r.reason in RECEIVED and r.on_hand_delta > 0:
            day.received += r.on_hand_delta
        elif r.reason in SOLD:
            day.sold -= r.on_hand_delta
        if before > 0 >= position.on_hand - position.reserved:
            day.stockouts += 1
        if r.on_hand_delta < 0 and position.on_hand < 0:
            day.oversells += 1
    await _add(uow, days)
    mark.last_entry_id = rows[-1].id
    return len(rows)


async def _add(uow: UnitOfWork, days: dict[tuple[dt.date, str, str], _Day]) -> None:
    values = [
        {
            "tenant_id": uow.require_tenant(),
            "day": day,
            "location": location,
            "sku": sku,
            "received": d.received,
            "sold": d.sold,
            "on_hand_delta": d.on_hand_delta,
            "reserved_delta": d.reserved_delta,
            "stockouts": d.stockouts,
            "oversells": d.oversells,
        }
        for (day, location, sku), d in days.items()
    ]
    insert = dialect_insert(uow, StockFact.__table__)
    measures = ("received", "sold", "on_hand_delta", "reserved_delta", "stockouts", "oversells")
    table = StockFact.__table__
    for start in range(0, len(values), 1000):
        await uow.session.execute(
            insert.on_conflict_do_update(
                index_elements=["tenant_id", "day", "location", "sku"],
                set_={m: table.c[m] + getattr(insert.excluded, m) for m in measures},
            ),
            values[start : start + 1000],
        )


async def _consistent(uow: UnitOfWork) -> bool:
    """Whether the ledger up to the mark is exactly what the facts hold."""
    mark = await _mark(uow)

    def totals(on_hand: Any, reserved: Any) -> Any:
        return sa.select(
            sa.func.coalesce(sa.func.sum(on_hand), 0), sa.func.coalesce(sa.func.sum(reserved), 0)
        )

    m, f = StockMovement, StockFact
    ledger = (
        await uow.session.execute(
            totals(m.on_hand_delta, m.reserved_delta).where(m.id <= mark.last_entry_id)
        )
    ).one()
    facts = (await uow.session.execute(totals(f.on_hand_delta, f.reserved_delta))).one()
    return tuple(map(int, ledger)) == tuple(map(int, facts))


async def do_rebuild_stock(uow: UnitOfWork, *, now: dt.datetime | None = None) -> int:
    """Drop the tenant's stock facts and project its whole settled ledger again."""
    await uow.session.execute(sa.delete(StockFact))
    await uow.session.execute(sa.delete(StockProjectionMark))
    total = 0
    while (done := await project_ledger(uow, limit=20_000, now=now)) > 0:
        total += done
    return total


async def catch_up(db: Database, tenant_id: int, *, now: dt.datetime | None = None) -> int:
    """Project a tenant's settled ledger to the end, batch by batch, each its own
    transaction; rebuild when a late commit slipped under the mark."""
    async with db.uow(tenant_id) as uow:
        if not await _consistent(uow):
            log.warning(
                "analytics: stock facts of tenant %s missed a late entry; rebuilding", tenant_id
            )
            return await do_rebuild_stock(uow, now=now)
    total = 0
    while True:
        async with db.uow(tenant_id) as uow:
            done = await project_ledger(uow, now=now)
        total += done
        if done == 0:
            return total


async def project_stock_everywhere(db: Database, now: dt.datetime) -> int:
    """The periodic job: every tenant with ledger rows past its mark."""
    last = (
        sa.select(StockProjectionMark.last_entry_id)
        .where(StockProjectionMark.tenant_id == Tenant.id)
        .scalar_subquery()
    )
    behind = sa.exists().where(
        StockMovement.tenant_id == Tenant.id,
        StockMovement.id > sa.func.coalesce(last, 0),
    )
    async with db.uow(unscoped=True) as uow:
        tenants = list(await uow.session.scalars(sa.select(Tenant.id).where(behind)))
    total = 0
    for tenant_id in tenants:
        total += await catch_up(db, tenant_id, now=now)
    return total
