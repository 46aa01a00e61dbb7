"""Customers by channels used, kept incrementally: each customer's figures per month and
year (``customer_rollups``) and each group's totals per such period
(``customer_group_rollups``), both written in the transaction that inserts the facts.

A customer's group for a period depends on every channel they bought on in it, so a new fact
cannot simply be added to a group: the customer's rows it touches are locked (created empty
when missing), their new state computed, and each group total moved by the difference
(:func:`omniretail.analytics.domain.group_changes`). Two projections touching the same
customer take turns on the row lock; the group totals are only ever added to, so they never
conflict beyond the row's own lock.

A merge of two customers (``customer.merged``) moves the absorbed customer's facts to the
survivor: the survivor's rows are recomputed from its facts, the absorbed customer's rows are
dropped, and the groups follow. A rebuild computes both tables set-based from the facts and
gives the same figures."""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa

from omniretail.analytics.domain import (
    ALL_STORES,
    MONTHLY,
    YEARLY,
    CustomerKey,
    CustomerPeriod,
    GroupKey,
    channel_group,
    customer_keys,
    group_changes,
)
from omniretail.analytics.models import CustomerGroupRollup, CustomerRollup, SalesFact
from omniretail.analytics.sql import period_start, text_literal
from omniretail.db import UnitOfWork, dialect_insert

CHANNEL_SEPARATOR = "\x1f"
_KEY = ["tenant_id", "scope", "grain", "day", "customer_id"]
_GROUP_KEY = ["tenant_id", "scope", "grain", "day", "channel_group"]
_MEASURES = ("channels", "channel_count", "orders", "gross", "net")
_GROUP_MEASURES = ("customers", "orders", "repeat_customers", "gross", "net")


def split_channels(joined: str | None) -> frozenset[str]:
    return frozenset(c for c in (joined or "").split(CHANNEL_SEPARATOR) if c)


def _values(tenant_id: int, key: CustomerKey, state: CustomerPeriod) -> dict[str, Any]:
    grain, scope, day, customer = key
    return {
        "tenant_id": tenant_id,
        "grain": grain,
        "scope": scope,
        "day": day,
        "customer_id": customer,
        "channels": CHANNEL_SEPARATOR.join(sorted(state.channels)),
        "channel_count": len(state.channels),
        "orders": state.orders,
        "gross": state.gross,
        "net": state.net,
    }


async def _lock(uow: UnitOfWork, keys: list[CustomerKey]) -> dict[CustomerKey, CustomerPeriod]:
    """The rows' current state, each row locked until commit (created empty when missing,
    so a row a concurrent transaction is about to create is waited for, not raced)."""
    table = CustomerRollup.__table__
    insert = dialect_insert(uow, table)
    empty = CustomerPeriod()
    statement = insert.on_conflict_do_update(
        index_elements=_KEY, set_={"orders": table.c.orders}
    ).returning(*(table.c[c] for c in ("grain", "scope", "day", "customer_id", *_MEASURES)))
    tenant_id = uow.require_tenant()
    # In key order: two transactions locking overlapping rows take them in the same order.
    values = [_values(tenant_id, key, empty) for key in sorted(keys)]
    out: dict[CustomerKey, CustomerPeriod] = {}
    for start in range(0, len(values), 2000):
        result = await uow.session.execute(statement, values[start : start + 2000])
        for grain, scope, day, customer, channels, _, orders, gross, net in result:
            out[(grain, scope, day, customer)] = CustomerPeriod(
                split_channels(channels), int(orders), int(gross), int(net)
            )
    return out


async def _write(
    uow: UnitOfWork,
    before: dict[CustomerKey, CustomerPeriod],
    after: dict[CustomerKey, CustomerPeriod],
) -> None:
    """Store the customers' new rows (already locked) and move the group totals."""
    tenant_id = uow.require_tenant()
    table = CustomerRollup.__table__
    insert = dialect_insert(uow, table)
    replace = insert.on_conflict_do_update(
        index_elements=_KEY, set_={m: getattr(insert.excluded, m) for m in _MEASURES}
    )
    values = [_values(tenant_id, key, state) for key, state in sorted(after.items())]
    for start in range(0, len(values), 2000):
        await uow.session.execute(replace, values[start : start + 2000])
    await _move_groups(uow, group_changes(before, after))


async def _move_groups(uow: UnitOfWork, changes: dict[GroupKey, list[int]]) -> None:
    if not changes:
        return
    tenant_id = uow.require_tenant()
    table = CustomerGroupRollup.__table__
    insert = dialect_insert(uow, table)
    add = insert.on_conflict_do_update(
        index_elements=_GROUP_KEY,
        set_={m: table.c[m] + getattr(insert.excluded, m) for m in _GROUP_MEASURES},
    )
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
    for start in range(0, len(values), 2000):
        await uow.session.execute(add, values[start : start + 2000])


async def roll_up_customers(uow: UnitOfWork, facts: list[dict[str, Any]]) -> None:
    """Add newly inserted sales facts (each with ``customer_id``, ``day``, ``location``,
    ``kind``, ``channel``, ``amount``) to their customers' rows and groups."""
    added: dict[CustomerKey, CustomerPeriod] = {}
    for fact in facts:
        keys = customer_keys(fact)
        if not keys:
            continue
        state = CustomerPeriod.of_fact(fact)
        for key in keys:
            added[key] = added[key].plus(state) if key in added else state
    if not added:
        return
    before = await _lock(uow, list(added))
    after = {key: before[key].plus(state) for key, state in added.items()}
    await _write(uow, before, after)


async def merge_customers(uow: UnitOfWork, *, survivor: str, absorbed: str) -> None:
    """After the absorbed customer's facts became the survivor's: the survivor's rows
    recomputed from its facts, the absorbed customer's dropped, the groups moved to match.
    Idempotent: a repeat finds the rows already right and nothing to drop."""
    f = SalesFact
    facts = (
        await uow.session.execute(
            sa.select(f.customer_id, f.day, f.location, f.kind, f.channel, f.amount).where(
                f.customer_id == survivor
            )
        )
    ).all()
    after: dict[CustomerKey, CustomerPeriod] = {}
    for fact in facts:
        row = fact._asdict()
        state = CustomerPeriod.of_fact(row)
        for key in customer_keys(row):
            after[key] = after[key].plus(state) if key in after else state
    before = await _lock(uow, list(after)) if after else {}
    r = CustomerRollup
    gone = (
        await uow.session.execute(
            sa.delete(r)
            .where(r.customer_id == absorbed)
            .returning(
                r.grain,
                r.scope,
                r.day,
                r.customer_id,
                r.channels,
                r.channel_count,
                r.orders,
                r.gross,
                r.net,
            )
            .execution_options(synchronize_session=False)
        )
    ).all()
    for grain, scope, day, customer, channels, _, orders, gross, net in gone:
        before[(grain, scope, day, customer)] = CustomerPeriod(
            split_channels(channels), int(orders), int(gross), int(net)
        )
    await _write(uow, before, after)


def joined_channels(uow: UnitOfWork, column: Any) -> Any:
    """The aggregate that joins channel names with ``CHANNEL_SEPARATOR`` (NULLs skipped)."""
    separator: Any = sa.literal_column("chr(31)" if uow.dialect == "postgresql" else "char(31)")
    name = "string_agg" if uow.dialect == "postgresql" else "group_concat"
    return getattr(sa.func, name)(column, separator)


async def rebuild_customer_rollups(uow: UnitOfWork) -> None:
    """Both tables recomputed from the facts in a few set-based statements: per customer and
    channel first, then per customer (the channels bought on joined), then per group."""
    await uow.session.execute(sa.delete(CustomerRollup))
    await uow.session.execute(sa.delete(CustomerGroupRollup))
    f = SalesFact
    sale = f.kind == "sale"
    mine = f.tenant_id == uow.require_tenant()  # said outright: an INSERT ... SELECT
    table = cast(sa.Table, CustomerRollup.__table__)
    target = ["tenant_id", "grain", "scope", "day", "customer_id", *_MEASURES]
    for grain in (MONTHLY, YEARLY):
        day = period_start(uow, grain, f.day)
        for scope, per_store in ((text_literal(ALL_STORES), False), (f.location, True)):
            # A constant is not grouped by (PostgreSQL refuses a constant in GROUP BY).
            stores = [f.location] if per_store else []
            per_channel = (
                sa.select(
                    f.tenant_id.label("tenant_id"),
                    scope.label("scope"),
                    day.label("day"),
                    f.customer_id.label("customer_id"),
                    f.channel.label("channel"),
                    sa.func.sum(sa.case((sale, 1), else_=0)).label("orders"),
                    sa.func.sum(sa.case((sale, f.amount), else_=0)).label("gross"),
                    sa.func.sum(f.amount).label("net"),
                )
                .where(mine, f.customer_id.is_not(None), *(s.is_not(None) for s in stores))
                .group_by(f.tenant_id, *stores, day, f.customer_id, f.channel)
                .subquery()
            )
            c = per_channel.c
            bought = c.orders > 0
            select = sa.select(
                c.tenant_id,
                text_literal(grain),
                c.scope,
                c.day,
                c.customer_id,
                sa.func.coalesce(
                    joined_channels(uow, sa.case((bought, c.channel))), text_literal("")
                ),
                sa.func.sum(sa.case((bought, 1), else_=0)),
                sa.func.sum(c.orders),
                sa.func.sum(c.gross),
                sa.func.sum(c.net),
            ).group_by(c.tenant_id, c.scope, c.day, c.customer_id)
            await uow.session.execute(sa.insert(table).from_select(target, select))
    r = CustomerRollup
    bucketed = (
        sa.select(
            r.tenant_id.label("tenant_id"),
            r.grain.label("grain"),
            r.scope.label("scope"),
            r.day.label("day"),
            sa.case(
                (r.channel_count >= 3, text_literal(channel_group(3))),
                else_=sa.cast(r.channel_count, sa.String),
            ).label("channel_group"),
            r.orders.label("orders"),
            r.gross.label("gross"),
            r.net.label("net"),
        )
        .where(r.tenant_id == uow.require_tenant(), r.orders > 0)
        .subquery()
    )
    b = bucketed.c
    groups = sa.select(
        b.tenant_id,
        b.grain,
        b.scope,
        b.day,
        b.channel_group,
        sa.func.count(),
        sa.func.sum(b.orders),
        sa.func.sum(sa.case((b.orders >= 2, 1), else_=0)),
        sa.func.sum(b.gross),
        sa.func.sum(b.net),
    ).group_by(b.tenant_id, b.grain, b.scope, b.day, b.channel_group)
    await uow.session.execute(
        sa.insert(cast(sa.Table, CustomerGroupRollup.__table__)).from_select(
            ["tenant_id", "grain", "scope", "day", "channel_group", *_GROUP_MEASURES], groups
        )
    )
