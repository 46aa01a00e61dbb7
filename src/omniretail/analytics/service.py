"""Reports over ``sales_facts``: a handful of grouped queries each, whatever the history.

Every report takes a period of local days (both ends included) and, for a store key, the
store whose figures it may see (``location``): facts credited elsewhere are left out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from omniretail.analytics.domain import (
    CustomerTotals,
    group_by_channels_used,
    previous_period,
)
from omniretail.analytics.models import SalesFact
from omniretail.analytics.schemas import (
    AttributionReport,
    AttributionRow,
    ChannelGroupOut,
    CustomersReport,
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


_MEASURES = (
    _sum(_SALE, SalesFact.amount).label("gross"),
    (-_sum(_REFUND, SalesFact.amount)).label("refunds"),
    _sum(_SALE, 1).label("orders"),
    _sum(_SALE, SalesFact.units).label("units_sold"),
    (-_sum(_REFUND, SalesFact.units)).label("units_returned"),
)

_KEYS = {
    SalesBy.CHANNEL: SalesFact.channel,
    SalesBy.LOCATION: SalesFact.location,
    SalesBy.DAY: SalesFact.day,
    SalesBy.ATTRIBUTED_LOCATION: SalesFact.attributed_location,
    SalesBy.ATTRIBUTED_STAFF: SalesFact.attributed_staff,
}


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
    key = _KEYS[by]
    result = await uow.session.execute(
        sa.select(key, *_MEASURES).where(*_within(start, end, location)).group_by(key).order_by(key)
    )
    return [_row(*row) for row in result]


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
    groups = {
        "in_store": (SalesFact.location, SalesFact.online.is_(False)),
        "fulfilled_online": (SalesFact.fulfilled_from, SalesFact.online.is_(True)),
        "attributed_online": (SalesFact.attributed_location, SalesFact.online.is_(True)),
    }
    figures: dict[str, dict[str, int]] = {}
    for name, (column, condition) in groups.items():
        where = [SalesFact.day >= start, SalesFact.day <= end, condition, column.is_not(None)]
        if location is not None:
            where.append(column == location)
        result = await uow.session.execute(
            sa.select(column, _MEASURES[0], _MEASURES[1]).where(*where).group_by(column)
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
    average order value and net sales per customer: the omnichannel premium, measured."""
    channels = sa.func.count(sa.distinct(sa.case((_SALE, SalesFact.channel), else_=None)))
    result = await uow.session.execute(
        sa.select(
            SalesFact.customer_id,
            channels,
            _sum(_SALE, 1),
            _sum(_SALE, SalesFact.amount),
            sa.func.sum(SalesFact.amount),
        )
        .where(*_within(start, end, location), SalesFact.customer_id.is_not(None))
        .group_by(SalesFact.customer_id)
    )
    totals = [
        CustomerTotals(str(c), int(n), int(orders), int(gross), int(net))
        for c, n, orders, gross, net in result
    ]
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
            for g in group_by_channels_used(totals)
        ],
    )


async def points_report(uow: UnitOfWork) -> PointsReport:
    points, value = await loyalty.points_liability(uow)
    return PointsReport(points_outstanding=points, liability=value)
