"""Fulfilment facts summed per day, month and year (``fulfilment_rollups``), kept in the facts'
transaction, so the fulfilment report over a year reads a few rows per mode and location.

Most orders have one fulfilment of a mode: each such fact is one order in the rollups
(``single_orders``). An order split over several fulfilments of a mode has its facts marked
``split``; the report counts those orders directly from the (few) split facts of the period,
so "distinct orders" stays exact. Whenever an order's facts change (a milestone reached, an
outcome recorded), the order's contribution before and after is compared and the rollups
moved by the difference: a redelivered event changes nothing, and a set-based rebuild gives
the same rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

import sqlalchemy as sa

from omniretail.analytics.domain import (
    DAILY,
    MONTHLY,
    YEARLY,
    month_of,
    span_ends,
    split_spans,
    year_of,
)
from omniretail.analytics.models import FulfilmentFact, FulfilmentRollup, FulfilmentSplitSpan
from omniretail.analytics.sql import lock_names, period_start, text_literal
from omniretail.db import UnitOfWork, add_up

MEASURES = (
    "fulfilments",
    "single_orders",
    "distance_m",
    "measured",
    "promised",
    "kept",
    "done",
    "cancelled",
)
_KEY = ["tenant_id", "grain", "day", "mode", "location", "location_type"]
RollupKey = tuple[str, Any, str, str, str]  # grain, day, mode, location, location type


def contribution(facts: list[dict[str, Any]]) -> dict[RollupKey, list[int]]:
    """What one order's fulfilment facts add to the rollups."""
    per_mode: dict[str, int] = {}
    for fact in facts:
        per_mode[fact["mode"]] = per_mode.get(fact["mode"], 0) + 1
    out: dict[RollupKey, list[int]] = {}
    for fact in facts:
        distance, kept = fact["distance_m"], fact["promise_kept"]
        added = (
            1,
            int(per_mode[fact["mode"]] == 1),
            distance or 0,
            int(distance is not None),
            int(kept is not None),
            int(kept is True),
            int(fact["outcome"] == "done"),
            int(fact["outcome"] in ("cancelled", "rejected")),
        )
        for grain, day in (
            (DAILY, fact["day"]),
            (MONTHLY, month_of(fact["day"])),
            (YEARLY, year_of(fact["day"])),
        ):
            key = (grain, day, fact["mode"], fact["location"], fact["location_type"])
            total = out.setdefault(key, [0] * len(MEASURES))
            for i, value in enumerate(added):
                total[i] += value
    return out


async def orders_facts(uow: UnitOfWork, order_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The orders' fulfilment facts (in id order), by order, locked for this transaction."""
    f = FulfilmentFact
    out: dict[str, list[dict[str, Any]]] = {order_id: [] for order_id in order_ids}
    for start in range(0, len(order_ids), 500):
        result = await uow.session.execute(
            sa.select(f.id, f.order_id, f.ref, f.day, f.mode, f.location, f.location_type)
            .add_columns(f.distance_m, f.promise_kept, f.outcome, f.split)
            .where(f.order_id.in_(order_ids[start : start + 500]))
            .order_by(f.id)
            .with_for_update()
        )
        for row in result:
            fact = row._asdict()
            out[fact.pop("order_id")].append(fact)
    return out


async def restate_order(
    uow: UnitOfWork, order_id: str, change: Callable[[], Awaitable[None]]
) -> None:
    """Make ``change`` to the order's facts and move the rollups (and the split marks) by
    what it did (:func:`restate_orders` for one order)."""

    async def changed(_: dict[str, list[dict[str, Any]]]) -> None:
        await change()

    await restate_orders(uow, [order_id], changed)


async def restate_orders(
    uow: UnitOfWork,
    order_ids: list[str],
    change: Callable[[dict[str, list[dict[str, Any]]]], Awaitable[None]],
) -> None:
    """Make ``change`` to the orders' facts (it is given them as they were, by order) and move
    the rollups (and the split marks) by what it did, in a few statements for any number of
    orders: each order's contribution after, less before. The orders are locked first: two
    fulfilments of one order projected at the same moment take turns, the second reading the
    first's committed fact (else each would miss the other's, and the split marks and
    ``single_orders`` be off)."""
    order_ids = sorted(set(order_ids))
    await lock_names(uow, [f"order:{order_id}" for order_id in order_ids])
    before = await orders_facts(uow, order_ids)
    await change(before)
    after = await orders_facts(uow, order_ids)
    changes: dict[RollupKey, list[int]] = {}
    spans: dict[SplitRowKey, int] = {}
    splits: list[dict[str, Any]] = []
    for order_id in order_ids:
        was, now = before[order_id], after[order_id]
        if was == now:
            continue
        modes: dict[str, int] = {}
        for fact in now:
            modes[fact["mode"]] = modes.get(fact["mode"], 0) + 1
        for fact in now:
            split = modes[fact["mode"]] > 1
            if fact["split"] != split:
                splits.append({"fact_id": fact["id"], "split_now": split})
        for sign, facts in ((1, now), (-1, was)):
            for key, value in contribution(facts).items():
                total = changes.setdefault(key, [0] * len(MEASURES))
                for i, v in enumerate(value):
                    total[i] += sign * v
            for row, n in split_span_rows([facts]).items():
                spans[row] = spans.get(row, 0) + sign * n
    if splits:
        table = cast(sa.Table, FulfilmentFact.__table__)
        await uow.session.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("fact_id"))
            .values(split=sa.bindparam("split_now")),
            splits,
        )
    await _add(uow, {k: v for k, v in changes.items() if any(v)})
    await _add_spans(uow, {row: n for row, n in spans.items() if n})


# dim, mode, key, first grain, first, last grain, last
SplitRowKey = tuple[str, str, str, str, dt.date, str, dt.date]
_SPAN_KEY = ["tenant_id", "dim", "mode", "key", "first_grain", "first", "last_grain", "last"]


def split_span_rows(orders: Iterable[list[dict[str, Any]]]) -> dict[SplitRowKey, int]:
    """The orders' split items (each order's fulfilment facts given together) as rows."""
    out: dict[SplitRowKey, int] = {}
    for facts in orders:
        for (dim, mode, key, first, last), orders_ in split_spans(facts).items():
            for ends in span_ends(first, last):
                row = (dim, mode, key, *ends)
                out[row] = out.get(row, 0) + orders_
    return out


async def _add_spans(uow: UnitOfWork, changes: dict[SplitRowKey, int]) -> None:
    if not changes:
        return
    tenant_id = uow.require_tenant()
    values = [
        {"tenant_id": tenant_id, **dict(zip(_SPAN_KEY[1:], key, strict=True)), "orders": n}
        for key, n in sorted(changes.items())
    ]
    await add_up(uow, FulfilmentSplitSpan.__table__, values, key=_SPAN_KEY, measures=("orders",))


async def _add(uow: UnitOfWork, changes: dict[RollupKey, list[int]]) -> None:
    if not changes:
        return
    tenant_id = uow.require_tenant()
    values = [
        {
            "tenant_id": tenant_id,
            **dict(zip(_KEY[1:], key, strict=True)),
            **dict(zip(MEASURES, change, strict=True)),
        }
        for key, change in sorted(changes.items())
    ]
    await add_up(uow, FulfilmentRollup.__table__, values, key=_KEY, measures=MEASURES)


def _count(condition: Any) -> Any:
    return sa.func.sum(sa.case((condition, 1), else_=0))


async def rebuild_fulfilment_rollups(uow: UnitOfWork) -> None:
    """The split marks and the rollups recomputed from the facts, set-based."""
    f = FulfilmentFact
    tenant_id = uow.require_tenant()
    await uow.session.execute(sa.delete(FulfilmentRollup))
    await uow.session.execute(sa.update(f).where(f.split.is_(True)).values(split=False))
    several = (
        sa.select(f.order_id, f.mode)
        .where(f.tenant_id == tenant_id)
        .group_by(f.order_id, f.mode)
        .having(sa.func.count() > 1)
    )
    await uow.session.execute(
        sa.update(f).where(sa.tuple_(f.order_id, f.mode).in_(several)).values(split=True)
    )
    await _rebuild_split_spans(uow)
    measures = (
        sa.func.count(),
        _count(f.split.is_(False)),
        sa.func.coalesce(sa.func.sum(f.distance_m), 0),
        sa.func.count(f.distance_m),
        sa.func.count(f.promise_kept),
        _count(f.promise_kept.is_(True)),
        _count(f.outcome == "done"),
        _count(f.outcome.in_(("cancelled", "rejected"))),
    )
    table = cast(sa.Table, FulfilmentRollup.__table__)
    for grain in (DAILY, MONTHLY, YEARLY):
        day = f.day if grain == DAILY else period_start(uow, grain, f.day)
        select = (
            sa.select(f.tenant_id, text_literal(grain), day, f.mode, f.location, f.location_type)
            .add_columns(*measures)
            .where(f.tenant_id == tenant_id)  # said outright: an INSERT ... SELECT
            .group_by(f.tenant_id, day, f.mode, f.location, f.location_type)
        )
        await uow.session.execute(sa.insert(table).from_select([*_KEY, *MEASURES], select))


async def _rebuild_split_spans(uow: UnitOfWork) -> None:
    """The split orders' items from their (few) facts, an order at a time."""
    await uow.session.execute(sa.delete(FulfilmentSplitSpan))
    f = FulfilmentFact
    result = await uow.session.execute(
        sa.select(f.order_id, f.mode, f.day, f.location, f.location_type)
        .where(f.split.is_(True))
        .order_by(f.order_id)
    )
    orders: dict[str, list[dict[str, Any]]] = {}
    for row in result:
        orders.setdefault(row.order_id, []).append(row._asdict())
    rows = split_span_rows(orders.values())
    await _add_spans(uow, {k: v for k, v in rows.items() if v})
