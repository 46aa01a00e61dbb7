"""Reports over ``sales_facts``: a handful of grouped queries each, whatever the history.

Every report takes a period of local days (both ends included) and, for a store key, the
store whose figures it may see (``location``): facts credited elsewhere are left out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from omniretail.analytics.customer_rollups import group_totals
from omniretail.analytics.domain import (
    ALL_STORES,
    DAILY,
    MAX_PERIOD_DAYS,
    MILESTONES,
    MONTHLY,
    ChannelGroup,
    period_cover,
    period_parts,
    previous_period,
    stock_ratios,
)
from omniretail.analytics.fulfilment_rollups import MEASURES as FULFILMENT_MEASURES
from omniretail.analytics.models import (
    CustomerGroupRollup,
    CustomerSpanRollup,
    FulfilmentRollup,
    FulfilmentSplitSpan,
    SalesFact,
    SalesRollup,
    StockRollup,
)
from omniretail.analytics.schemas import (
    AttributionReport,
    AttributionRow,
    ChannelGroupOut,
    CustomersReport,
    FulfilmentBy,
    FulfilmentReport,
    FulfilmentRow,
    InventoryBy,
    InventoryReport,
    InventoryRow,
    PointsReport,
    SalesBy,
    SalesReport,
    SalesRow,
)
from omniretail.db import UnitOfWork
from omniretail.loyalty import service as loyalty

_SALE = SalesFact.kind == "sale"
_REFUND = SalesFact.kind == "refund"


def _sum(condition: Any, value: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, value), else_=0)), 0)


# Each sales grouping read from the daily rollups: the dimension, and the column grouped by.
_R = SalesRollup
_RSALE, _RREFUND = _R.kind == "sale", _R.kind == "refund"
_ROLLED_MEASURES = (
    _sum(_RSALE, _R.amount).label("gross"),
    (-_sum(_RREFUND, _R.amount)).label("refunds"),
    _sum(_RSALE, _R.facts).label("orders"),
    _sum(_RSALE, _R.units).label("units_sold"),
    (-_sum(_RREFUND, _R.units)).label("units_returned"),
)
_KEYS = {
    SalesBy.CHANNEL: ("channel", _R.key),
    SalesBy.LOCATION: ("location", _R.key),
    SalesBy.DAY: ("channel", _R.day),
    SalesBy.ATTRIBUTED_LOCATION: ("attributed_location", _R.key),
    SalesBy.ATTRIBUTED_STAFF: ("attributed_staff", _R.key),
}


def _rolled_within(start: dt.date, end: dt.date, *, daily: bool = False) -> Any:
    """Rollup rows covering the period: whole months from the monthly rows, the loose days
    around them from the daily ones (all daily when the rows are wanted per day)."""
    if daily:
        return sa.and_(_R.grain == DAILY, _R.day >= start, _R.day <= end)
    months, loose = period_parts(start, end)
    parts = [sa.and_(_R.grain == DAILY, _R.day >= a, _R.day <= b) for a, b in loose]
    if months is not None:
        parts.append(sa.and_(_R.grain == MONTHLY, _R.day >= months[0], _R.day <= months[1]))
    return sa.or_(*parts)


def _within(start: dt.date, end: dt.date, location: str | None) -> list[Any]:
    where = [SalesFact.day >= start, SalesFact.day <= end]
    if location is not None:
        where.append(SalesFact.location == location)
    return where


def _row(key: Any, gross: int, refunds: int, orders: int, sold: int, returned: int) -> SalesRow:
    return SalesRow(
        key=None if key is None else str(key),
        gross=int(gross),
        refunds=int(refunds),
        net=int(gross) - int(refunds),
        orders=int(orders),
        units_sold=int(sold),
        units_returned=int(returned),
        average_order_value=round(int(gross) / int(orders)) if orders else 0,
    )


async def _rows(
    uow: UnitOfWork, by: SalesBy, start: dt.date, end: dt.date, location: str | None
) -> list[SalesRow]:
    dim, key = _KEYS[by]
    result = await uow.session.execute(
        sa.select(key, *_ROLLED_MEASURES)
        .where(
            _R.dim == dim,
            _R.scope == (location or ALL_STORES),
            _rolled_within(start, end, daily=by is SalesBy.DAY),
        )
        .group_by(key)
        .order_by(key)
    )
    # '' in the rollups is "none": an order credited to no store or guide.
    return [_row(k if k != "" else None, *measures) for k, *measures in result]


def _total(rows: list[SalesRow]) -> SalesRow:
    return _row(
        None,
        sum(r.gross for r in rows),
        sum(r.refunds for r in rows),
        sum(r.orders for r in rows),
        sum(r.units_sold for r in rows),
        sum(r.units_returned for r in rows),
    )


async def sales_report(
    uow: UnitOfWork,
    *,
    start: dt.date,
    end: dt.date,
    by: SalesBy,
    compare: bool = False,
    location: str | None = None,
) -> SalesReport:
    """Gross and net sales, orders, units and average order value by channel, store, day,
    credited store or credited staff; with ``compare``, the period just before as well."""
    rows = await _rows(uow, by, start, end, location)
    report = SalesReport(start=start, end=end, by=by, rows=rows, total=_total(rows))
    if compare:
        before = await _rows(uow, by, *previous_period(start, end), location)
        earlier = {r.key: r for r in before}
        for row in rows:
            match = earlier.get(row.key)
            row.previous_gross = match.gross if match else 0
            row.previous_net = match.net if match else 0
        report.previous_total = _total(before)
    return report


async def attribution_report(
    uow: UnitOfWork, *, start: dt.date, end: dt.date, location: str | None = None
) -> AttributionReport:
    """What each store sells at its counter, and the online sales it fulfilled or was
    credited with (an experience store or a guide)."""
    groups = ("in_store", "fulfilled_online", "attributed_online")
    figures: dict[str, dict[str, int]] = {}
    for name in groups:
        where = [_R.dim == name, _R.scope == ALL_STORES, _rolled_within(start, end)]
        if location is not None:
            where.append(_R.key == location)
        result = await uow.session.execute(
            sa.select(_R.key, *_ROLLED_MEASURES[:2]).where(*where).group_by(_R.key)
        )
        for store, gross, refunds in result:
            row = figures.setdefault(str(store), {})
            row[f"{name}_gross"] = int(gross)
            row[f"{name}_net"] = int(gross) - int(refunds)
    measures = [f"{g}_{m}" for g in groups for m in ("gross", "net")]
    return AttributionReport(
        start=start,
        end=end,
        rows=[
            AttributionRow(location=store, **{m: figures[store].get(m, 0) for m in measures})
            for store in sorted(figures)
        ],
    )


async def customers_report(
    uow: UnitOfWork, *, start: dt.date, end: dt.date, location: str | None = None
) -> CustomersReport:
    """Customers grouped by the number of channels they bought on, with repurchase rate,
    average order value and net sales per customer: the omnichannel premium, measured.

    A whole month or calendar year is read from its three group rows; any other period is
    the sum of the customers' spans inside it (``domain.customer_spans``): its whole months
    read per month, its loose days per day, whatever the number of customers. A store's
    other periods are grouped per customer from its own facts."""
    pieces = period_cover(start, end)
    grain, first, last = pieces[0]
    if len(pieces) == 1 and grain != DAILY and first == last:
        groups = await _kept_groups(uow, location or ALL_STORES, grain, first)
    elif location is None and (end - start).days < MAX_PERIOD_DAYS:
        groups = await _spanned_groups(uow, start, end, ALL_STORES)
    else:  # a store's own facts (a small share), or longer than spans are kept
        groups = await _merged_groups(uow, start, end, location)
    return CustomersReport(
        start=start,
        end=end,
        groups=[
            ChannelGroupOut(
                channels=g.channels,
                customers=g.customers,
                orders=g.orders,
                repurchase_rate=round(g.repurchase_rate, 4),
                average_order_value=g.average_order_value,
                lifetime_value=g.lifetime_value,
            )
            for g in groups
        ],
    )


async def _kept_groups(uow: UnitOfWork, scope: str, grain: str, day: dt.date) -> list[ChannelGroup]:
    g = CustomerGroupRollup
    result = await uow.session.execute(
        sa.select(g.channel_group, g.customers, g.orders, g.repeat_customers, g.gross, g.net)
        .where(g.scope == scope, g.grain == grain, g.day == day, g.customers > 0)
        .order_by(g.channel_group)
    )
    return [ChannelGroup(str(key), *(int(v) for v in measures)) for key, *measures in result]


async def _spanned_groups(
    uow: UnitOfWork, start: dt.date, end: dt.date, scope: str
) -> list[ChannelGroup]:
    """The spans from a first to a last day inside the period, summed per group: spans
    whose ends fall in its loose days are read per day, those in its whole months per
    month (at most a few thousand rows, whatever the number of customers)."""
    s = CustomerSpanRollup
    result = await uow.session.execute(
        sa.select(s.channel_group, *(sa.func.sum(getattr(s, m)) for m in _GROUP_MEASURES))
        .where(s.scope == scope, _spans_within(s, start, end))
        .group_by(s.channel_group)
        .order_by(s.channel_group)
    )
    groups = [ChannelGroup(str(key), *(int(v) for v in measures)) for key, *measures in result]
    return [group for group in groups if group.customers]


def _spans_within(table: Any, start: dt.date, end: dt.date) -> Any:
    """A span table's rows from a first to a last day inside [start, end]: each end read
    per month within the period's whole months, per day within its loose days."""
    months, loose = period_parts(start, end)
    ends: list[tuple[str, list[tuple[dt.date, dt.date]]]] = [(DAILY, loose)] if loose else []
    if months is not None:
        ends.append((MONTHLY, [months]))  # the first days of the first and last whole month

    # One flat OR of plain ranges (no OR nested in an AND), each term an index range.
    terms = [
        sa.and_(
            table.first_grain == first_grain,
            table.first >= a,
            table.first <= b,
            table.last_grain == last_grain,
            table.last >= c,
            table.last <= d,
        )
        for first_grain, firsts in ends
        for a, b in firsts
        for last_grain, lasts in ends
        for c, d in lasts
        if a <= d  # a span never ends before it begins
    ]
    return sa.or_(*terms)


_GROUP_MEASURES = ("customers", "orders", "repeat_customers", "gross", "net")


async def _merged_groups(
    uow: UnitOfWork, start: dt.date, end: dt.date, location: str | None
) -> list[ChannelGroup]:
    """Per customer over the period's facts (how many channels they bought on, their
    sums), then per group, all in one grouped query: three rows come back."""
    totals = group_totals(uow, where=_within(start, end, location), by=[])
    result = await uow.session.execute(totals.order_by(sa.literal_column("channel_group")))
    return [ChannelGroup(str(key), *(int(v) for v in measures)) for key, *measures in result]


async def points_report(uow: UnitOfWork) -> PointsReport:
    points, value = await loyalty.points_liability(uow)
    return PointsReport(points_outstanding=points, liability=value)


async def fulfilment_report(
    uow: UnitOfWork,
    *,
    start: dt.date,
    end: dt.date,
    by: FulfilmentBy,
    location: str | None = None,
) -> FulfilmentReport:
    """Ship-from-store against warehouse (by location type) or store by store: share,
    distance, promise kept, and how often orders were split, per mode. Read from the
    rollups; orders split over several fulfilments of a mode are counted from their facts."""
    r = FulfilmentRollup
    key = r.location_type if by is FulfilmentBy.LOCATION_TYPE else r.location
    where = [_rolled(r, start, end)]
    if location is not None:
        where.append(r.location == location)
    result = await uow.session.execute(
        sa.select(r.mode, key, *(sa.func.sum(getattr(r, m)) for m in FULFILMENT_MEASURES))
        .where(*where)
        .group_by(r.mode, key)
        .order_by(r.mode, key)
    )
    raw = [(mode, str(k), *(int(v) for v in values)) for mode, k, *values in result]
    # Orders split over several fulfilments of a mode: the sum of their items in the period.
    sp = FulfilmentSplitSpan
    dim = "location_type" if by is FulfilmentBy.LOCATION_TYPE else "location"
    inside = _spans_within(sp, start, end)
    if location is not None:  # one location: its own items, under its type or its code
        where_split = [sp.dim == "location", sp.key == location, inside]
    else:
        where_split = [sp.dim == dim, inside]
    split_orders = {
        (mode, str(k)): int(n)
        for mode, k, n in await uow.session.execute(
            sa.select(sp.mode, sp.key, sa.func.sum(sp.orders))
            .where(*where_split)
            .group_by(sp.mode, sp.key)
        )
    }
    if location is not None:
        split_per_mode = {mode: n for (mode, _), n in split_orders.items()}
        split_orders = {(mode, k): split_per_mode.get(mode, 0) for mode, k, *_ in raw}
    else:
        split_per_mode = {
            mode: int(n)
            for mode, n in await uow.session.execute(
                sa.select(sp.mode, sa.func.sum(sp.orders))
                .where(sp.dim == "mode", inside)
                .group_by(sp.mode)
            )
        }
    mode_total: dict[str, int] = {}
    mode_orders: dict[str, int] = dict(split_per_mode)
    for mode, _, n, single, *_ in raw:
        mode_total[mode] = mode_total.get(mode, 0) + n
        mode_orders[mode] = mode_orders.get(mode, 0) + single
    rows = [
        FulfilmentRow(
            mode=mode,
            key=k,
            fulfilments=n,
            orders=single + split_orders.get((mode, k), 0),
            share=round(n / mode_total[mode], 4),
            average_distance_m=round(dist / measured) if measured else None,
            promised=promised,
            promise_kept=kept,
            promise_kept_rate=round(kept / promised, 4) if promised else None,
            done=done,
            cancelled=cancelled,
        )
        for mode, k, n, single, dist, measured, promised, kept, done, cancelled in raw
        if n
    ]
    return FulfilmentReport(
        start=start,
        end=end,
        by=by,
        milestones=MILESTONES,
        rows=rows,
        shipments_per_order={
            mode: round(n / mode_orders[mode], 4)
            for mode, n in mode_total.items()
            if n and mode_orders.get(mode)
        },
    )


async def inventory_report(
    uow: UnitOfWork,
    *,
    start: dt.date,
    end: dt.date,
    by: InventoryBy,
    location: str | None = None,
) -> InventoryReport:
    """Turnover, days of cover, stock-outs and oversells per location or SKU, from the
    ledger's rollups: opening stock is everything before the first day, closing stock
    everything up to the last; positions and positions out at close are running sums too."""
    r = StockRollup
    where = [r.dim == by.value, r.scope == (location or ALL_STORES)]
    if location is not None and by is InventoryBy.LOCATION:
        where = [r.dim == "location", r.scope == ALL_STORES, r.key == location]
    running = (r.on_hand_delta, r.new_positions, r.out_delta)
    flows = (r.received, r.sold, r.stockouts, r.oversells)
    sums: dict[str, list[int]] = {}
    for offset, measures, first, last in (
        (0, running, _BEGINNING, start - dt.timedelta(days=1)),
        (3, (*running, *flows), start, end),
    ):
        if first > last:
            continue
        result = await uow.session.execute(
            sa.select(r.key, *(sa.func.sum(m) for m in measures))
            .where(*where, _rolled(r, first, last))
            .group_by(r.key)
        )
        for key, *values in result:
            row = sums.setdefault(str(key), [0] * 10)
            for i, value in enumerate(values):
                row[offset + i] += int(value)
    days = (end - start).days + 1
    rows = []
    for key in sorted(sums):
        on_hand, positions, out, moved, new, turned, received, sold, stockouts, oversells = sums[
            key
        ]
        rows.append(
            _inventory_row(
                key,
                positions + new,
                on_hand,
                on_hand + moved,
                received,
                sold,
                stockouts,
                oversells,
                out + turned,
                days=days,
            )
        )
    rows = [row for row in rows if row.positions]
    total = _inventory_row(
        "total", *(sum(getattr(r, m) for r in rows) for m in _INVENTORY_SUMS), days=days
    )
    return InventoryReport(start=start, end=end, by=by, rows=rows, total=total)


_BEGINNING = dt.date(1970, 1, 1)


def _rolled(table: Any, start: dt.date, end: dt.date) -> Any:
    """A rollup's rows covering [start, end]: whole years yearly, other whole months
    monthly, loose days daily."""
    return sa.or_(
        *(
            sa.and_(table.grain == grain, table.day >= first, table.day <= last)
            for grain, first, last in period_cover(start, end)
        )
    )


_INVENTORY_SUMS = (
    "positions",
    "opening_on_hand",
    "closing_on_hand",
    "received",
    "sold",
    "stockouts",
    "oversells",
    "out_of_stock_at_close",
)


def _inventory_row(
    key: str,
    positions: int,
    opening: int,
    closing: int,
    received: int,
    sold: int,
    stockouts: int,
    oversells: int,
    out_of_stock: int,
    *,
    days: int,
) -> InventoryRow:
    turnover, cover = stock_ratios(opening=opening, closing=closing, sold=sold, days=days)
    return InventoryRow(
        key=key,
        positions=positions,
        opening_on_hand=opening,
        closing_on_hand=closing,
        received=received,
        sold=sold,
        turnover=turnover,
        days_of_cover=cover,
        stockouts=stockouts,
        out_of_stock_at_close=out_of_stock,
        oversells=oversells,
    )
