"""Projections from the outbox into ``sales_facts``: one row per completed order and per
completed return, idempotent on the order's or return's id, so a redelivered or replayed event
changes nothing; ``do_rebuild`` replays the kept outbox from scratch."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, cast

import sqlalchemy as sa

from omniretail.analytics.customer_rollups import (
    merge_customers,
    rebuild_customer_rollups,
    roll_up_customers,
)
from omniretail.analytics.domain import (
    ALL_STORES,
    DAILY,
    MILESTONES,
    MONTHLY,
    OUTCOMES,
    SALES_DIMS,
    RollupKey,
    local_day,
    promise_kept,
    rollup_keys,
)
from omniretail.analytics.fulfilment_rollups import rebuild_fulfilment_rollups, restate_orders
from omniretail.analytics.models import (
    CustomerGroupRollup,
    FulfilmentFact,
    FulfilmentRollup,
    SalesFact,
    SalesRollup,
)
from omniretail.analytics.sql import period_start, roomy_sorts, text_literal
from omniretail.auth import service as auth
from omniretail.db import UnitOfWork, add_up, dialect_insert
from omniretail.errors import NotFound
from omniretail.events import Event, kept_events
from omniretail.network.models import Location
from omniretail.orders import queries
from omniretail.orders.models import Fulfilment, Order, OrderLine
from omniretail.orders.schemas import OrderOut
from omniretail.returns import service as returns

log = logging.getLogger(__name__)

PROJECTED = (
    "order.completed",
    "return.completed",
    "customer.merged",
    *sorted({f"fulfillment.{s}" for s in (*MILESTONES.values(), *OUTCOMES)}),
)


async def on_order_completed(uow: UnitOfWork, event: Event) -> None:
    """A completed order's goods value (after discounts, before delivery) on its local day.
    An order the order core does not hold (one completed elsewhere and only announced) is
    not a sale of ours to count: it is skipped, never failing the event's other handlers."""
    await project_completed_orders(uow, [event])


async def on_return_completed(uow: UnitOfWork, event: Event) -> None:
    await project_return(
        uow,
        return_id=str(event.payload["return_id"]),
        at=dt.datetime.fromisoformat(str(event.payload["completed_at"])),
    )


async def on_customer_merged(uow: UnitOfWork, event: Event) -> None:
    """The absorbed customer's sales become the survivor's (channels used, repurchases),
    in the customer rollups as well."""
    await merge_customers(
        uow, survivor=str(event.payload["survivor_id"]), absorbed=str(event.payload["absorbed_id"])
    )


def _dimensions(order: OrderOut) -> dict[str, Any]:
    live = [f for f in order.fulfillments if f.status.value != "cancelled"]
    fulfilled_from = live[0].location if live else None
    return {
        "order_id": order.id,
        "channel": order.channel,
        "online": order.placed_at_location is None,
        "location": order.placed_at_location or fulfilled_from,
        "fulfilled_from": fulfilled_from,
        "attributed_location": order.attributed_location,
        "attributed_staff": order.attributed_staff,
        "customer_id": order.customer_id,
    }


_ROLLED = ("id", "day", "kind", "location", "online", "fulfilled_from", "amount", "units")
_DIMENSION_COLUMNS = ("channel", "attributed_location", "attributed_staff", "customer_id")


async def _insert_facts(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    """Insert sales facts, and add to the daily rollups exactly the ones that were new."""
    table = SalesFact.__table__
    inserted = (
        await uow.session.execute(
            dialect_insert(uow, table)
            .on_conflict_do_nothing(index_elements=["tenant_id", "kind", "ref"])
            .returning(*(table.c[c] for c in (*_ROLLED, *_DIMENSION_COLUMNS))),
            rows,
        )
    ).all()
    facts = [row._asdict() for row in inserted]
    await _roll_up(uow, facts)
    await roll_up_customers(uow, facts)


async def _roll_up(uow: UnitOfWork, facts: list[dict[str, Any]]) -> None:
    sums: dict[RollupKey, list[int]] = {}
    for fact in facts:
        for key in rollup_keys(fact):
            total = sums.setdefault(key, [0, 0, 0])
            total[0] += int(fact["amount"])
            total[1] += 1
            total[2] += int(fact["units"])
    if not sums:
        return
    tenant_id = uow.require_tenant()
    values = [
        {
            "tenant_id": tenant_id,
            "grain": grain,
            "dim": dim,
            "scope": scope,
            "day": day,
            "key": key,
            "kind": kind,
            "amount": amount,
            "facts": facts_,
            "units": units,
        }
        for (grain, dim, scope, day, key, kind), (amount, facts_, units) in sums.items()
    ]
    await add_up(
        uow,
        SalesRollup.__table__,
        values,
        key=("tenant_id", "dim", "scope", "grain", "day", "key", "kind"),
        measures=("amount", "facts", "units"),
    )


async def _insert(uow: UnitOfWork, row: dict[str, Any]) -> None:
    await _insert_facts(uow, [{"tenant_id": uow.require_tenant(), **row}])


async def project_return(uow: UnitOfWork, *, return_id: str, at: dt.datetime) -> None:
    """A completed return takes its refund off the day it came back, under the original
    order's channel and store: the order's own day keeps its gross sales."""
    try:
        ret = await returns.get_return(uow, return_id)
        order = await queries.get_order(uow, ret.order_id)
    except NotFound:
        log.info("analytics: return %s is not held here; not counted", return_id)
        return
    timezone = (await auth.get_tenant(uow)).timezone
    await _insert(
        uow,
        {
            "kind": "refund",
            "ref": ret.id,
            "day": local_day(at, timezone),
            "at": at,
            "amount": -ret.refund_total,
            "units": -sum(line.qty for line in ret.lines),
            **_dimensions(order),
        },
    )


def _event_time(event: Event) -> dt.datetime:
    """When it happened: the time the service acted at (``at``), else when it was recorded."""
    at = event.payload.get("at")
    return dt.datetime.fromisoformat(str(at)) if at else event.occurred_at


async def on_fulfilment_event(uow: UnitOfWork, event: Event) -> None:
    """At its milestone a fulfilment becomes a fact (promise kept or not); its end (handed
    over, delivered, cancelled, rejected) is recorded on the same row."""
    await project_fulfilments(uow, [event])


async def project_fulfilments(uow: UnitOfWork, events: list[Event]) -> None:
    """Fulfilment status events, in their order, in a few statements for any number: the
    fulfilments read at once, their orders' facts locked and restated together
    (:func:`~omniretail.analytics.fulfilment_rollups.restate_orders`), the new facts in one
    insert and the outcomes of those already kept in one update. Worked out in memory as one
    by one: a milestone makes a fact once (a redelivery inserts nothing), an outcome lands on
    the fact if there is one by then."""
    refs = sorted({str(e.payload["fulfillment_id"]) for e in events})
    held: dict[str, Any] = {}
    for start in range(0, len(refs), 500):
        result = await uow.session.execute(
            sa.select(Fulfilment, Order.public_id, Order.channel, Location.type)
            .join(Order, Order.id == Fulfilment.order_id)
            .join(Location, Location.id == Fulfilment.location_id)
            .where(Fulfilment.public_id.in_(refs[start : start + 500]))
        )
        held.update({row[0].public_id: row for row in result})
    missing = [ref for ref in refs if ref not in held]
    if missing:
        log.info("analytics: fulfilments %s are not held here; not counted", missing[:10])
    if not held:
        return
    timezone = (await auth.get_tenant(uow)).timezone

    async def record(before: dict[str, list[dict[str, Any]]]) -> None:
        kept = {fact["ref"] for facts in before.values() for fact in facts}
        new: dict[str, dict[str, Any]] = {}
        outcomes: dict[str, str] = {}
        for event in events:
            ref = str(event.payload["fulfillment_id"])
            if ref not in held:
                continue
            ful, order_id, channel, location_type = held[ref]
            status = event.type.removeprefix("fulfillment.")
            if MILESTONES.get(ful.mode) == status and ref not in kept and ref not in new:
                at = _event_time(event)
                new[ref] = _milestone_fact(uow, ful, order_id, channel, location_type, at, timezone)
            if status in OUTCOMES:
                if ref in new:
                    new[ref]["outcome"] = OUTCOMES[status]
                elif ref in kept:
                    outcomes[ref] = OUTCOMES[status]
        if new:
            await uow.session.execute(
                dialect_insert(uow, FulfilmentFact.__table__).on_conflict_do_nothing(
                    index_elements=["tenant_id", "ref"]
                ),
                list(new.values()),
            )
        if outcomes:
            table = cast(sa.Table, FulfilmentFact.__table__)
            await uow.session.execute(
                sa.update(table)
                .where(table.c.tenant_id == uow.require_tenant())
                .where(table.c.ref == sa.bindparam("fact_ref"))
                .values(outcome=sa.bindparam("outcome_now")),
                [{"fact_ref": ref, "outcome_now": o} for ref, o in sorted(outcomes.items())],
            )

    await restate_orders(uow, [row[1] for row in held.values()], record)


def _milestone_fact(
    uow: UnitOfWork,
    ful: Fulfilment,
    order_id: str,
    channel: str,
    location_type: str,
    at: dt.datetime,
    timezone: str,
) -> dict[str, Any]:
    """The fulfilment's fact, dated when it reached its milestone (still open)."""
    return {
        "tenant_id": uow.require_tenant(),
        "ref": ful.public_id,
        "order_id": order_id,
        "day": local_day(at, timezone),
        "channel": channel,
        "mode": ful.mode,
        "location": ful.location_code,
        "location_type": location_type,
        "distance_m": None if ful.distance_km is None else round(ful.distance_km * 1000),
        "promised_at": ful.promised_at,
        "milestone_at": at,
        "promise_kept": promise_kept(ful.promised_at, at),
        "outcome": "open",
        "split": False,
    }


HANDLERS = {
    "order.completed": on_order_completed,
    "return.completed": on_return_completed,
    "customer.merged": on_customer_merged,
    **{event_type: on_fulfilment_event for event_type in PROJECTED if "fulfillment." in event_type},
}


async def project_completed_orders(
    uow: UnitOfWork, events: list[Event], *, roll_up: bool = True
) -> None:
    """``order.completed`` events, one or thousands (live delivery, a rebuild, the benchmark):
    on PostgreSQL in one statement that reads the orders and inserts their facts; on SQLite in
    three reads and one multi-row insert. Orders not held here are skipped."""
    completed: dict[str, dt.datetime] = {}
    for e in events:  # the first of an order's repeated events, as one by one
        at = dt.datetime.fromisoformat(str(e.payload["completed_at"]))
        completed.setdefault(str(e.payload["order_id"]), at)
    if uow.dialect == "postgresql":
        inserted = await _insert_sales_set_based(uow, completed, returning=roll_up)
        if roll_up:
            await _roll_up(uow, inserted)
            await roll_up_customers(uow, inserted)
        return
    orders = (
        await uow.session.execute(
            sa.select(
                Order.id,
                Order.public_id,
                Order.channel,
                Order.placed_at_location,
                Order.attributed_location,
                Order.attributed_staff,
                Order.customer_id,
                Order.total,
                Order.delivery_fee,
            ).where(Order.public_id.in_(list(completed)))
        )
    ).all()
    if len(orders) < len(completed):
        missing = set(completed) - {o.public_id for o in orders}
        log.info("analytics: orders %s are not held here; not counted", sorted(missing)[:10])
    if not orders:
        return
    internal = [o.id for o in orders]
    result = await uow.session.execute(
        sa.select(OrderLine.order_id, sa.func.sum(OrderLine.qty))
        .where(OrderLine.order_id.in_(internal))
        .group_by(OrderLine.order_id)
    )
    units = {order_id: int(qty) for order_id, qty in result}
    first_live: dict[int, str] = {}
    for order_id, location in await uow.session.execute(
        sa.select(Fulfilment.order_id, Fulfilment.location_code)
        .where(Fulfilment.order_id.in_(internal), Fulfilment.status != "cancelled")
        .order_by(Fulfilment.id)
    ):
        first_live.setdefault(order_id, location)
    timezone = (await auth.get_tenant(uow)).timezone
    tenant_id = uow.require_tenant()
    rows = []
    for o in orders:
        at = completed[o.public_id]
        fulfilled_from = first_live.get(o.id)
        rows.append(
            {
                "tenant_id": tenant_id,
                "kind": "sale",
                "ref": o.public_id,
                "order_id": o.public_id,
                "day": local_day(at, timezone),
                "at": at,
                "channel": o.channel,
                "online": o.placed_at_location is None,
                "location": o.placed_at_location or fulfilled_from,
                "fulfilled_from": fulfilled_from,
                "attributed_location": o.attributed_location,
                "attributed_staff": o.attributed_staff,
                "customer_id": o.customer_id,
                "amount": o.total - o.delivery_fee,
                "units": int(units.get(o.id, 0)),
            }
        )
    if roll_up:
        await _insert_facts(uow, rows)
    else:
        await uow.session.execute(
            dialect_insert(uow, SalesFact.__table__).on_conflict_do_nothing(
                index_elements=["tenant_id", "kind", "ref"]
            ),
            rows,
        )


# A rebuild's completed orders, on PostgreSQL: the facts joined and inserted by the database
# in one statement per batch (the ids, times and local days passed as arrays), the same
# values as the rows built above, without a round trip of every order through Python.
_SALES_FROM_ORDERS = sa.text(
    """
    INSERT INTO sales_facts (tenant_id, kind, ref, order_id, day, at, channel, online,
        location, fulfilled_from, attributed_location, attributed_staff, customer_id,
        amount, units)
    SELECT o.tenant_id, 'sale', o.public_id, o.public_id, e.day, e.at, o.channel,
        o.placed_at_location IS NULL, COALESCE(o.placed_at_location, f.location_code),
        f.location_code, o.attributed_location, o.attributed_staff, o.customer_id,
        o.total - o.delivery_fee, COALESCE(l.qty, 0)
    FROM unnest(CAST(:ids AS text[]), CAST(:ats AS timestamptz[]), CAST(:days AS date[]))
        AS e(public_id, at, day)
    JOIN orders o ON o.public_id = e.public_id AND o.tenant_id = :tenant_id
    LEFT JOIN LATERAL (
        SELECT sum(qty) AS qty FROM order_lines WHERE order_lines.order_id = o.id
    ) AS l ON true
    LEFT JOIN LATERAL (
        SELECT location_code FROM fulfilments
        WHERE fulfilments.order_id = o.id AND fulfilments.status <> 'cancelled'
        ORDER BY fulfilments.id LIMIT 1
    ) AS f ON true
    ON CONFLICT (tenant_id, kind, ref) DO NOTHING
    """
)
# Live delivery: the same insert, giving back what the rollups add up (the facts that are new).
_SALES_FROM_ORDERS_RETURNING = sa.text(
    f"{_SALES_FROM_ORDERS.text} RETURNING {', '.join((*_ROLLED, *_DIMENSION_COLUMNS))}"
)


async def _insert_sales_set_based(
    uow: UnitOfWork, completed: dict[str, dt.datetime], *, returning: bool = False
) -> list[dict[str, Any]]:
    """The completed orders' sales facts in one statement (orders not held here, and facts
    there already, are left out); with ``returning``, the new facts' rolled-up columns."""
    timezone = (await auth.get_tenant(uow)).timezone
    result = await uow.session.execute(
        _SALES_FROM_ORDERS_RETURNING if returning else _SALES_FROM_ORDERS,
        {
            "tenant_id": uow.require_tenant(),
            "ids": list(completed),
            "ats": list(completed.values()),
            "days": [local_day(at, timezone) for at in completed.values()],
        },
    )
    return [dict(row._mapping) for row in result] if returning else []


async def project_group(uow: UnitOfWork, events: list[Event]) -> None:
    """A dispatcher group's events (of :data:`PROJECTED`) at once, in their order: what
    :data:`HANDLERS` do one by one, its completed orders in a few multi-row statements."""
    await project_events(uow, events)


async def project_events(uow: UnitOfWork, events: list[Event], *, roll_up: bool = True) -> None:
    """Events in their order, consecutive completed orders taken together; the fulfilment
    events together too, before the rest (the sales facts and the fulfilment facts read
    nothing of each other's)."""
    fulfilments = [e for e in events if e.type.startswith("fulfillment.")]
    for start in range(0, len(fulfilments), 5000):
        await project_fulfilments(uow, fulfilments[start : start + 5000])
    run: list[Event] = []
    for event in events:
        if event.type.startswith("fulfillment."):
            continue
        if event.type == "order.completed":
            run.append(event)
            if len(run) < 5000:
                continue
        if run:
            await project_completed_orders(uow, run, roll_up=roll_up)
            run = []
        if event.type != "order.completed":
            await HANDLERS[event.type](uow, event)
    if run:
        await project_completed_orders(uow, run, roll_up=roll_up)


async def rebuild_rollups(uow: UnitOfWork) -> None:
    """The rollups recomputed from the facts in a few set-based statements (what the
    projection adds up fact by fact, :func:`omniretail.analytics.domain.rollup_keys`): the
    daily rows from the facts, the monthly ones from the daily rows."""
    await uow.session.execute(sa.delete(SalesRollup))
    f = SalesFact
    table = cast(sa.Table, SalesRollup.__table__)
    target = ["tenant_id", "grain", "dim", "scope", "day", "key", "kind"]
    target += ["amount", "facts", "units"]
    measures = (sa.func.sum(f.amount), sa.func.count(), sa.func.sum(f.units))
    selects = []
    day, grain = f.day, text_literal(DAILY)
    for dim in SALES_DIMS:
        value = sa.func.coalesce(getattr(f, dim), text_literal(""))
        head = (f.tenant_id, grain, text_literal(dim))
        selects.append(
            sa.select(*head, text_literal(ALL_STORES), day, value, f.kind, *measures).group_by(
                f.tenant_id, day, value, f.kind
            )
        )
        selects.append(
            sa.select(*head, f.location, day, value, f.kind, *measures)
            .where(f.location.is_not(None))
            .group_by(f.tenant_id, f.location, day, value, f.kind)
        )
    for dim, column, online in (
        ("in_store", f.location, False),
        ("fulfilled_online", f.fulfilled_from, True),
        ("attributed_online", f.attributed_location, True),
    ):
        everywhere = (f.tenant_id, grain, text_literal(dim), text_literal(ALL_STORES))
        selects.append(
            sa.select(*everywhere, day, column, f.kind, *measures)
            .where(f.online.is_(online), column.is_not(None), column != "")
            .group_by(f.tenant_id, day, column, f.kind)
        )
    tenant_id = uow.require_tenant()
    mine = f.tenant_id == tenant_id  # said outright: an INSERT ... SELECT
    for select in selects:
        await uow.session.execute(sa.insert(table).from_select(target, select.where(mine)))
    r = SalesRollup
    month = period_start(uow, MONTHLY, r.day)
    monthly = (
        sa.select(r.tenant_id, text_literal(MONTHLY), r.dim, r.scope, month, r.key, r.kind)
        .add_columns(sa.func.sum(r.amount), sa.func.sum(r.facts), sa.func.sum(r.units))
        .where(r.tenant_id == tenant_id, r.grain == DAILY)
        .group_by(r.tenant_id, r.dim, r.scope, month, r.key, r.kind)
    )
    await uow.session.execute(sa.insert(table).from_select(target, monthly))
    await rebuild_customer_rollups(uow)


async def do_rebuild(uow: UnitOfWork, *, batch: int = 5000) -> int:
    """Drop the tenant's facts and replay every kept event that feeds them, in order, a
    batch at a time. Returns how many events were replayed."""
    await roomy_sorts(uow)
    await uow.session.execute(sa.delete(SalesFact))
    await uow.session.execute(sa.delete(SalesRollup))
    await uow.session.execute(sa.delete(CustomerGroupRollup))
    await uow.session.execute(sa.delete(FulfilmentFact))
    await uow.session.execute(sa.delete(FulfilmentRollup))
    count = 0
    async for events in kept_events(uow, PROJECTED, batch=batch):
        await project_events(uow, events, roll_up=False)
        count += len(events)
    await rebuild_rollups(uow)
    await rebuild_fulfilment_rollups(uow)
    return count
