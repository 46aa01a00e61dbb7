"""Customers by channels used, kept incrementally: per month and year and scope, the totals
of each group of customers by channels bought on (``customer_group_rollups``), written in the
transaction that inserts the facts.

A customer's group for a period depends on every channel they bought on in it, so a new fact
cannot simply be added to a group: the customer's facts of the years it touches are read
(a few rows: one customer's), their state before and after the new facts computed per month
and year, and each group total moved by the difference
(:func:`omniretail.analytics.domain.group_changes`). A transaction lock per customer
(:func:`omniretail.analytics.sql.lock_names`, taken after the facts are inserted and before
they are read) makes two projections adding to one customer take turns, the second reading
the first's committed facts.

A merge of two customers (``customer.merged``) moves the absorbed customer's facts to the
survivor, and the groups from both customers' states to the merged one's. A rebuild sums
the groups set-based from the facts (:func:`group_totals`, which the customers report also
uses for a period that is not one whole month or year) and gives the same rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, cast

import sqlalchemy as sa

from omniretail.analytics.domain import (
    ALL_STORES,
    MAX_PERIOD_DAYS,
    MONTHLY,
    YEARLY,
    CustomerKey,
    CustomerPeriod,
    GroupKey,
    SpanKey,
    channel_group,
    customer_keys,
    customer_spans,
    group_changes,
    span_ends,
    year_of,
)
from omniretail.analytics.models import CustomerGroupRollup, CustomerSpanRollup, SalesFact
from omniretail.analytics.sql import lock_names, period_start, text_literal
from omniretail.db import UnitOfWork, add_up

_GROUP_KEY = ["tenant_id", "scope", "grain", "day", "channel_group"]
_SPAN_KEY = ["tenant_id", "scope", "first_grain", "first", "last_grain", "last", "channel_group"]
# scope, first grain, first, last grain, last, group
SpanRowKey = tuple[str, str, dt.date, str, dt.date, str]
_GROUP_MEASURES = ("customers", "orders", "repeat_customers", "gross", "net")
_FACT_COLUMNS = ("id", "customer_id", "day", "location", "kind", "channel", "amount")


def _states(
    facts: Iterable[dict[str, Any]], wanted: set[CustomerKey] | None
) -> dict[CustomerKey, CustomerPeriod]:
    """Each customer's state per month and year and scope, from their facts (only the
    ``wanted`` keys, when given)."""
    out: dict[CustomerKey, CustomerPeriod] = {}
    for fact in facts:
        state = CustomerPeriod.of_fact(fact)
        for key in customer_keys(fact):
            if wanted is None or key in wanted:
                out[key] = out[key].plus(state) if key in out else state
    return out


async def _facts_of(
    uow: UnitOfWork, customers: list[str], days: tuple[dt.date, dt.date] | None
) -> list[dict[str, Any]]:
    """The customers' facts (of the days from ``days[0]`` to ``days[1]`` only, when given)."""
    f = SalesFact
    where: list[Any] = []
    if days is not None:
        where = [f.day >= days[0], f.day <= days[1]]
    out: list[dict[str, Any]] = []
    for start in range(0, len(customers), 500):
        result = await uow.session.execute(
            sa.select(*(getattr(f, c) for c in _FACT_COLUMNS)).where(
                f.customer_id.in_(customers[start : start + 500]), *where
            )
        )
        out += [row._asdict() for row in result]
    return out


def span_rows(facts: Iterable[dict[str, Any]]) -> dict[SpanRowKey, list[int]]:
    """The customers' spans in the whole tenant as rows, each end per day and per month. (A
    store's own periods are grouped from its facts, a fortieth of them or so: no spans.)"""
    theirs: dict[str, list[dict[str, Any]]] = {}
    for fact in facts:
        if fact["customer_id"]:
            theirs.setdefault(fact["customer_id"], []).append(fact)
    spans: dict[SpanKey, list[int]] = {}
    for mine in theirs.values():
        for key, change in customer_spans(mine).items():
            total = spans.get(key)
            if total is None:
                spans[key] = change
            else:
                for i, value in enumerate(change):
                    total[i] += value
    out: dict[SpanRowKey, list[int]] = {}
    for (first, last, group), change in spans.items():
        for ends in span_ends(first, last):
            row = (ALL_STORES, *ends, group)
            total = out.get(row)
            if total is None:
                out[row] = list(change)
            else:
                for i, value in enumerate(change):
                    total[i] += value
    return out


def _difference(
    before: dict[SpanRowKey, list[int]], after: dict[SpanRowKey, list[int]]
) -> dict[SpanRowKey, list[int]]:
    changes = {key: list(value) for key, value in after.items()}
    for key, value in before.items():
        total = changes.setdefault(key, [0] * len(value))
        for i, v in enumerate(value):
            total[i] -= v
    return {key: value for key, value in changes.items() if any(value)}


async def _move_spans(uow: UnitOfWork, changes: dict[SpanRowKey, list[int]]) -> None:
    if not changes:
        return
    tenant_id = uow.require_tenant()
    values = [
        {
            "tenant_id": tenant_id,
            **dict(zip(_SPAN_KEY[1:], key, strict=True)),
            **dict(zip(_GROUP_MEASURES, change, strict=True)),
        }
        for key, change in sorted(changes.items())
    ]
    await add_up(uow, CustomerSpanRollup.__table__, values, key=_SPAN_KEY, measures=_GROUP_MEASURES)


async def _move_groups(uow: UnitOfWork, changes: dict[GroupKey, list[int]]) -> None:
    if not changes:
        return
    tenant_id = uow.require_tenant()
    values = [
        {
            "tenant_id": tenant_id,
            "grain": grain,
            "scope": scope,
            "day": day,
            "channel_group": group,
            **dict(zip(_GROUP_MEASURES, change, strict=True)),
        }
        for (grain, scope, day, group), change in sorted(changes.items())
    ]
    await add_up(
        uow, CustomerGroupRollup.__table__, values, key=_GROUP_KEY, measures=_GROUP_MEASURES
    )


async def roll_up_customers(uow: UnitOfWork, facts: list[dict[str, Any]]) -> None:
    """Move the groups and the spans for newly inserted sales facts (each with ``id``,
    ``customer_id``, ``day``, ``location``, ``kind``, ``channel``, ``amount``): their
    customers' state in each month and year they touch, and their spans around them (a
    report's length either side), before them and with them."""
    touched = {key for fact in facts for key in customer_keys(fact)}
    if not touched:
        return
    customers = sorted({key[3] for key in touched})
    await lock_names(uow, customers)
    new = {fact["id"] for fact in facts}
    reach = dt.timedelta(days=MAX_PERIOD_DAYS)
    days = [fact["day"] for fact in facts]
    first, last = min(days), max(days)
    window = (
        min(year_of(first), first - reach),
        max(dt.date(last.year, 12, 31), last + reach),
    )
    theirs = await _facts_of(uow, customers, window)
    earlier = [f for f in theirs if f["id"] not in new]
    await _move_groups(uow, group_changes(_states(earlier, touched), _states(theirs, touched)))
    await _move_spans(uow, _difference(span_rows(earlier), span_rows(theirs)))


async def merge_customers(uow: UnitOfWork, *, survivor: str, absorbed: str) -> None:
    """The absorbed customer's facts become the survivor's, and the groups and spans move
    from the two customers' states to the merged one's. Idempotent: a repeat finds no fact
    of the absorbed customer left, so nothing moves."""
    await lock_names(uow, [survivor, absorbed])
    theirs = await _facts_of(uow, sorted({survivor, absorbed}), None)
    merged = [{**fact, "customer_id": survivor} for fact in theirs]
    await uow.session.execute(
        sa.update(SalesFact).where(SalesFact.customer_id == absorbed).values(customer_id=survivor)
    )
    await _move_groups(uow, group_changes(_states(theirs, None), _states(merged, None)))
    await _move_spans(uow, _difference(span_rows(theirs), span_rows(merged)))


def group_totals(uow: UnitOfWork, *, where: list[Any], by: list[tuple[str, Any]]) -> sa.Select[Any]:
    """The groups' totals (``channel_group`` and ``_GROUP_MEASURES``) of the facts matching
    ``where``, per the ``by`` columns (name, expression): per customer and channel first,
    then per customer (how many channels they bought on), then per group. A customer with no
    order in it (only a refund) is in no group."""
    f = SalesFact
    sale = f.kind == "sale"
    names = [name for name, _ in by]
    per_channel = (
        sa.select(
            *(expression.label(name) for name, expression in by),
            f.customer_id.label("customer_id"),
            sa.func.sum(sa.case((sale, 1), else_=0)).label("orders"),
            sa.func.sum(sa.case((sale, f.amount), else_=0)).label("gross"),
            sa.func.sum(f.amount).label("net"),
        )
        .where(f.customer_id.is_not(None), *where)
        .group_by(*(expression for _, expression in by), f.customer_id, f.channel)
        .subquery()
    )
    c = per_channel.c
    channels = sa.func.sum(sa.case((c.orders > 0, 1), else_=0))
    per_customer = (
        sa.select(
            *(c[name] for name in names),
            sa.case(
                (channels >= 3, text_literal(channel_group(3))),
                else_=sa.cast(channels, sa.String),
            ).label("channel_group"),
            sa.func.sum(c.orders).label("orders"),
            sa.func.sum(c.gross).label("gross"),
            sa.func.sum(c.net).label("net"),
        )
        .group_by(*(c[name] for name in names), c.customer_id)
        .having(sa.func.sum(c.orders) > 0)
        .subquery()
    )
    p = per_customer.c
    return sa.select(
        *(p[name] for name in names),
        p.channel_group,
        sa.func.count().label("customers"),
        sa.func.sum(p.orders).label("orders"),
        sa.func.sum(sa.case((p.orders >= 2, 1), else_=0)).label("repeat_customers"),
        sa.func.sum(p.gross).label("gross"),
        sa.func.sum(p.net).label("net"),
    ).group_by(*(p[name] for name in names), p.channel_group)


async def rebuild_customer_spans(uow: UnitOfWork) -> None:
    """The spans recomputed from the facts, a customer at a time (in customer order)."""
    await uow.session.execute(sa.delete(CustomerSpanRollup))
    f = SalesFact
    rows: dict[SpanRowKey, list[int]] = {}
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        for key, change in span_rows(pending).items():
            total = rows.get(key)
            if total is None:
                rows[key] = change
            else:
                for i, value in enumerate(change):
                    total[i] += value
        pending.clear()

    result = await uow.session.stream(
        sa.select(*(getattr(f, c) for c in _FACT_COLUMNS))
        .where(f.customer_id.is_not(None))
        .order_by(f.customer_id)
        .execution_options(yield_per=20_000)
    )
    async for row in result:
        fact = row._asdict()
        if pending and pending[-1]["customer_id"] != fact["customer_id"] and len(pending) > 5000:
            flush()
        pending.append(fact)
    flush()
    tenant_id = uow.require_tenant()
    values = [
        {
            "tenant_id": tenant_id,
            **dict(zip(_SPAN_KEY[1:], key, strict=True)),
            **dict(zip(_GROUP_MEASURES, change, strict=True)),
        }
        for key, change in rows.items()
        if any(change)
    ]
    table = cast(sa.Table, CustomerSpanRollup.__table__)
    for start in range(0, len(values), 5000):
        await uow.session.execute(sa.insert(table), values[start : start + 5000])


async def rebuild_customer_rollups(uow: UnitOfWork) -> None:
    """The group totals recomputed from the facts, set-based: per month and year, for the
    whole tenant and per store credited; then the spans."""
    await rebuild_customer_spans(uow)
    await uow.session.execute(sa.delete(CustomerGroupRollup))
    f = SalesFact
    tenant_id = uow.require_tenant()
    table = cast(sa.Table, CustomerGroupRollup.__table__)
    target = ["tenant_id", "grain", "scope", "day", "channel_group", *_GROUP_MEASURES]
    for grain in (MONTHLY, YEARLY):
        day = period_start(uow, grain, f.day)
        for per_store in (False, True):
            # A constant is not grouped by (PostgreSQL refuses a constant in GROUP BY).
            by = [("scope", f.location)] if per_store else []
            totals = group_totals(
                uow,
                # Said outright: an INSERT ... SELECT carries no tenant criteria.
                where=[f.tenant_id == tenant_id, *([f.location.is_not(None)] if per_store else [])],
                by=[*by, ("day", day)],
            ).subquery()
            t = totals.c
            select = sa.select(
                sa.literal(tenant_id, sa.BigInteger),
                text_literal(grain),
                t.scope if per_store else text_literal(ALL_STORES),
                t.day,
                t.channel_group,
                *(t[m] for m in _GROUP_MEASURES),
            )
            await uow.session.execute(sa.insert(table).from_select(target, select))
