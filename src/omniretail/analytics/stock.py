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
from typing import Any, cast

import sqlalchemy as sa

from omniretail.analytics.domain import (
    ALL_STORES,
    DAILY,
    MONTHLY,
    YEARLY,
    local_day,
    month_of,
    year_of,
)
from omniretail.analytics.models import StockFact, StockProjectionMark, StockRollup
from omniretail.analytics.sql import period_start, text_literal
from omniretail.auth import service as auth
from omniretail.auth.models import Tenant
from omniretail.db import Database, UnitOfWork, add_up, dialect_insert, utcnow
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
    new_position: int = 0
    # Whether the position was out (available <= 0) before this day's entries of the batch,
    # and after them: their difference is what the day adds to ``out_delta``.
    out_before: bool = False
    out_after: bool = False


@dataclass(slots=True)
class _Balance:
    on_hand: int = 0
    reserved: int = 0
    last_day: dt.date | None = None  # the position's latest day with facts


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
    out: dict[tuple[str, str], _Balance] = {}
    skus = sorted({sku for _, sku in keys})
    for start in range(0, len(skus), 500):
        result = await uow.session.execute(
            sa.select(
                StockFact.location,
                StockFact.sku,
                sa.func.sum(StockFact.on_hand_delta),
                sa.func.sum(StockFact.reserved_delta),
                sa.func.max(StockFact.day),
            )
            .where(StockFact.sku.in_(skus[start : start + 500]))
            .group_by(StockFact.location, StockFact.sku)
        )
        for location, sku, on_hand, reserved, last_day in result:
            if (location, sku) in keys:
                out[(location, sku)] = _Balance(int(on_hand), int(reserved), last_day)
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
    # Positions given an entry dated before their latest day: their running measures are
    # worked out again over their whole history, in day order (see ``_restate``).
    back_dated: set[tuple[str, str]] = set()
    for r in rows:
        new = (r.location_code, r.sku) not in balances
        position = balances.setdefault((r.location_code, r.sku), _Balance())
        before = position.on_hand - position.reserved
        position.on_hand += r.on_hand_delta
        position.reserved += r.reserved_delta
        local = local_day(r.created_at, timezone)
        if position.last_day is not None and local < position.last_day:
            back_dated.add((r.location_code, r.sku))
        position.last_day = max(local, position.last_day or local)
        day = days[(local, r.location_code, r.sku)]
        if day.entries == 0:
            day.new_position = int(new)
            day.out_before = not new and before <= 0
        day.out_after = position.on_hand - position.reserved <= 0
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
    if back_dated:
        await _restate(uow, back_dated)
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
            "new_position": d.new_position,
            "out_delta": int(d.out_after) - int(d.out_before),
        }
        for (day, location, sku), d in days.items()
    ]
    await add_up(
        uow,
        StockFact.__table__,
        values,
        key=("tenant_id", "day", "location", "sku"),
        measures=(*_MEASURES, "new_position", "out_delta"),
    )
    await _roll_up(uow, values)


async def _restate(uow: UnitOfWork, positions: set[tuple[str, str]]) -> None:
    """Each position's ``new_position`` and ``out_delta`` recomputed over its days in day
    order (an entry dated before a later one changes every close after it); the facts that
    change are corrected and the rollups moved by the difference."""
    f = StockFact
    ordered = sorted(positions)
    changed: list[dict[str, Any]] = []
    for start in range(0, len(ordered), 500):
        result = await uow.session.execute(
            sa.select(f.id, f.day, f.location, f.sku, f.on_hand_delta, f.reserved_delta)
            .add_columns(f.new_position, f.out_delta)
            .where(sa.tuple_(f.location, f.sku).in_(ordered[start : start + 500]))
            .order_by(f.location, f.sku, f.day)
        )
        previous: tuple[str, str] | None = None
        available, out = 0, False
        for row in result:
            first = (row.location, row.sku) != previous
            if first:
                previous, available, out = (row.location, row.sku), 0, False
            available += row.on_hand_delta - row.reserved_delta
            new_position, out_delta = int(first), int(available <= 0) - int(out)
            out = available <= 0
            if (new_position, out_delta) != (row.new_position, row.out_delta):
                changed.append(
                    {
                        "fact_id": row.id,
                        "day": row.day,
                        "location": row.location,
                        "sku": row.sku,
                        **dict.fromkeys(_MEASURES, 0),
                        "new_position": new_position,
                        "out_delta": out_delta,
                        "was_new": row.new_position,
                        "was_out": row.out_delta,
                    }
                )
    if not changed:
        return
    table = cast(sa.Table, f.__table__)
    await uow.session.execute(
        sa.update(table)
        .where(table.c.id == sa.bindparam("fact_id"))
        .values(new_position=sa.bindparam("new"), out_delta=sa.bindparam("out")),
        # Only these keys: any other that names a column would be set as well.
        [
            {"fact_id": c["fact_id"], "new": c["new_position"], "out": c["out_delta"]}
            for c in changed
        ],
    )
    await _roll_up(
        uow,
        [
            {
                **c,
                "new_position": c["new_position"] - c["was_new"],
                "out_delta": c["out_delta"] - c["was_out"],
            }
            for c in changed
        ],
    )


_MEASURES = ("received", "sold", "on_hand_delta", "reserved_delta", "stockouts", "oversells")
_ROLLED = (*_MEASURES, "new_positions", "out_delta")
_ROLLUP_KEY = ["tenant_id", "dim", "scope", "grain", "day", "key"]


def _rollup_keys(fact: dict[str, Any]) -> list[tuple[str, str, str, dt.date, str]]:
    """Where one stock fact counts, on its day and its month: its location and its SKU for
    the whole tenant, and its SKU within its location."""
    location, sku = fact["location"], fact["sku"]
    return [
        (dim, scope, grain, day, key)
        for grain, day in (
            (DAILY, fact["day"]),
            (MONTHLY, month_of(fact["day"])),
            (YEARLY, year_of(fact["day"])),
        )
        for dim, scope, key in (
            ("location", ALL_STORES, location),
            ("sku", ALL_STORES, sku),
            ("sku", location, sku),
        )
    ]


async def _roll_up(uow: UnitOfWork, facts: list[dict[str, Any]]) -> None:
    """Add what the facts added to the rollups (every measure is a plain sum)."""
    sums: dict[tuple[str, str, str, dt.date, str], list[int]] = {}
    for fact in facts:
        added = [*(fact[m] for m in _MEASURES), fact["new_position"], fact["out_delta"]]
        for key in _rollup_keys(fact):
            total = sums.setdefault(key, [0] * len(_ROLLED))
            for i, value in enumerate(added):
                total[i] += value
    tenant_id = uow.require_tenant()
    values = [
        {
            "tenant_id": tenant_id,
            **dict(zip(("dim", "scope", "grain", "day", "key"), key, strict=True)),
            **dict(zip(_ROLLED, total, strict=True)),
        }
        for key, total in sorted(sums.items())
    ]
    await add_up(uow, StockRollup.__table__, values, key=_ROLLUP_KEY, measures=_ROLLED)


async def rebuild_stock_rollups(uow: UnitOfWork) -> None:
    """The rollups recomputed from the stock facts set-based (what :func:`_roll_up` adds
    fact by fact)."""
    await uow.session.execute(sa.delete(StockRollup))
    f = StockFact
    target = [*_ROLLUP_KEY, *_ROLLED]
    sums = (
        *(sa.func.sum(getattr(f, m)) for m in _MEASURES),
        sa.func.sum(f.new_position),
        sa.func.sum(f.out_delta),
    )
    mine = f.tenant_id == uow.require_tenant()  # said outright: an INSERT ... SELECT
    for grain in (DAILY, MONTHLY, YEARLY):
        day = f.day if grain == DAILY else period_start(uow, grain, f.day)
        for dim, scope, key in (
            ("location", None, f.location),
            ("sku", None, f.sku),
            ("sku", f.location, f.sku),
        ):
            head = (
                f.tenant_id,
                text_literal(dim),
                text_literal(ALL_STORES) if scope is None else scope,
            )
            grouped = [f.tenant_id, *([] if scope is None else [scope]), day, key]
            select = (
                sa.select(*head, text_literal(grain), day, key, *sums)
                .where(mine)
                .group_by(*grouped)
            )
            await uow.session.execute(
                sa.insert(cast(sa.Table, StockRollup.__table__)).from_select(target, select)
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
    await uow.session.execute(sa.delete(StockRollup))
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
