"""HQ's analytics page: the data hub's reports as charts, for a period of local days."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from omniretail.analytics import service
from omniretail.analytics.domain import MAX_PERIOD_DAYS
from omniretail.analytics.schemas import FulfilmentBy, InventoryBy, SalesBy
from omniretail.auth.domain import Permission
from omniretail.console.context import ConsoleDep
from omniretail.errors import DomainError, Forbidden, ValidationFailed

router = APIRouter(prefix="/console", include_in_schema=False)


def _period(ctx: ConsoleDep, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    """The last 30 local days unless chosen; at most the reports' longest period."""
    today = dt.datetime.now(zoneinfo.ZoneInfo(ctx.staff.timezone)).date()
    end = end or today
    start = start or end - dt.timedelta(days=29)
    if end < start or (end - start).days >= MAX_PERIOD_DAYS:
        raise ValidationFailed(
            "invalid period",
            [{"field": "to", "message": f"on or after 'from', at most {MAX_PERIOD_DAYS} days"}],
        )
    return start, end


@router.get("/analytics")
async def analytics(
    ctx: ConsoleDep,
    start: Annotated[dt.date | None, Query(alias="from")] = None,
    end: Annotated[dt.date | None, Query(alias="to")] = None,
) -> HTMLResponse:
    """Sales by day and channel, the omnichannel premium, ship-from-store against warehouse
    and the stock health of the network: the same service functions as /v1/analytics."""
    try:
        ctx.require(Permission.ANALYTICS_READ)
        if ctx.staff.store_bound:
            raise Forbidden("the analytics page is for HQ and analysts")
        start, end = _period(ctx, start, end)
        async with ctx.uow() as uow:
            by_day = await service.sales_report(
                uow, start=start, end=end, by=SalesBy.DAY, compare=True
            )
            by_channel = await service.sales_report(uow, start=start, end=end, by=SalesBy.CHANNEL)
            customers = await service.customers_report(uow, start=start, end=end)
            fulfilment = await service.fulfilment_report(
                uow, start=start, end=end, by=FulfilmentBy.LOCATION_TYPE
            )
            stock = await service.inventory_report(
                uow, start=start, end=end, by=InventoryBy.LOCATION
            )
    except DomainError as exc:
        return ctx.error(exc)
    charts: dict[str, Any] = {
        "days": [r.key for r in by_day.rows],
        "gross": [r.gross / 100 for r in by_day.rows],
        "net": [r.net / 100 for r in by_day.rows],
        "channel": [{"name": r.key, "value": r.gross / 100} for r in by_channel.rows],
        "groups": [g.channels for g in customers.groups],
        "ltv": [g.lifetime_value / 100 for g in customers.groups],
        "repurchase": [round(g.repurchase_rate * 100, 1) for g in customers.groups],
        "fulfilment": [
            {"name": f"{r.mode} · {r.key}", "value": r.fulfilments} for r in fulfilment.rows
        ],
        "stores": [r.key for r in stock.rows],
        "stockouts": [r.stockouts for r in stock.rows],
    }
    return ctx.render(
        "analytics.html",
        start=start,
        end=end,
        sales=by_day,
        customers=customers,
        fulfilment=fulfilment,
        stock=stock,
        charts=json.dumps(charts),
    )
