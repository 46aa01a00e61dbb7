"""GET /v1/analytics/...: the data hub's reports, as JSON or CSV (``format=csv``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from omniretail.analytics import service
from omniretail.analytics.domain import MAX_PERIOD_DAYS
from omniretail.analytics.schemas import (
    AttributionReport,
    CustomersReport,
    FulfilmentBy,
    FulfilmentReport,
    InventoryBy,
    InventoryReport,
    PointsReport,
    SalesBy,
    SalesReport,
)
from omniretail.auth.domain import Permission
from omniretail.errors import ValidationFailed
from omniretail.web import Ctx, CtxDep

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])

Day = Annotated[dt.date, Query(description="a local day, YYYY-MM-DD")]
Format = Annotated[str, Query(pattern="^(json|csv)$")]


def _period(start: dt.date, end: dt.date) -> None:
    if end < start or (end - start).days >= MAX_PERIOD_DAYS:
        raise ValidationFailed(
            "invalid period",
            [{"field": "to", "message": f"on or after 'from', at most {MAX_PERIOD_DAYS} days"}],
        )


def _scope(ctx: Ctx) -> str | None:
    """HQ and analysts see the whole tenant; a store key its own store's figures."""
    ctx.require(Permission.ANALYTICS_READ)
    return ctx.principal.location_code


def _csv(rows: list[BaseModel], name: str) -> Response:
    out = io.StringIO()
    dumped = [r.model_dump(mode="json") for r in rows]
    fields = list(type(rows[0]).model_fields) if rows else ["empty"]
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows(dumped)
    return Response(
        "\ufeff" + out.getvalue(),  # a BOM, so spreadsheet programs read UTF-8 as such
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get("/sales", response_model=SalesReport, responses={200: {"content": {"text/csv": {}}}})
async def sales(
    ctx: CtxDep,
    start: Annotated[dt.date, Query(alias="from")],
    end: Annotated[dt.date, Query(alias="to")],
    by: SalesBy = SalesBy.CHANNEL,
    compare: bool = False,
    format: Format = "json",
) -> Any:
    """Gross sales (completed orders' goods value), refunds (returns completed in the period,
    on the day they came back), net sales, orders, units and average order value."""
    location = _scope(ctx)
    _period(start, end)
    async with ctx.uow() as uow:
        report = await service.sales_report(
            uow, start=start, end=end, by=by, compare=compare, location=location
        )
    return _csv(list(report.rows), f"sales-by-{by.value}") if format == "csv" else report


@router.get(
    "/attribution", response_model=AttributionReport, responses={200: {"content": {"text/csv": {}}}}
)
async def attribution(
    ctx: CtxDep,
    start: Annotated[dt.date, Query(alias="from")],
    end: Annotated[dt.date, Query(alias="to")],
    format: Format = "json",
) -> Any:
    """Per store: counter sales, online orders it fulfilled, online orders credited to it."""
    location = _scope(ctx)
    _period(start, end)
    async with ctx.uow() as uow:
        report = await service.attribution_report(uow, start=start, end=end, location=location)
    return _csv(list(report.rows), "attribution") if format == "csv" else report


@router.get(
    "/customers", response_model=CustomersReport, responses={200: {"content": {"text/csv": {}}}}
)
async def customers(
    ctx: CtxDep,
    start: Annotated[dt.date, Query(alias="from")],
    end: Annotated[dt.date, Query(alias="to")],
    format: Format = "json",
) -> Any:
    """Customers by the number of channels they bought on: repurchase rate, average order
    value and net sales per customer for each group."""
    location = _scope(ctx)
    _period(start, end)
    async with ctx.uow() as uow:
        report = await service.customers_report(uow, start=start, end=end, location=location)
    return _csv(list(report.groups), "customers") if format == "csv" else report


@router.get(
    "/fulfilment", response_model=FulfilmentReport, responses={200: {"content": {"text/csv": {}}}}
)
async def fulfilment(
    ctx: CtxDep,
    start: Annotated[dt.date, Query(alias="from")],
    end: Annotated[dt.date, Query(alias="to")],
    by: FulfilmentBy = FulfilmentBy.LOCATION_TYPE,
    format: Format = "json",
) -> Any:
    """Ship-from-store against warehouse: per mode and location type (or location), the share
    of fulfilments, mean distance, promise kept, and fulfilments per order. A fulfilment is
    dated by its milestone: ready for a pickup, shipped for a parcel, delivered for a local
    delivery."""
    location = _scope(ctx)
    _period(start, end)
    async with ctx.uow() as uow:
        report = await service.fulfilment_report(
            uow, start=start, end=end, by=by, location=location
        )
    return _csv(list(report.rows), f"fulfilment-by-{by.value}") if format == "csv" else report


@router.get(
    "/inventory", response_model=InventoryReport, responses={200: {"content": {"text/csv": {}}}}
)
async def inventory(
    ctx: CtxDep,
    start: Annotated[dt.date, Query(alias="from")],
    end: Annotated[dt.date, Query(alias="to")],
    by: InventoryBy = InventoryBy.LOCATION,
    format: Format = "json",
) -> Any:
    """Per location or SKU: opening and closing stock, units received and sold, turnover,
    days of cover, stock-outs, positions out of stock at the end, and oversells (0, always).
    Stock facts trail the ledger by a few seconds (the projection job runs every 5 s)."""
    location = _scope(ctx)
    _period(start, end)
    async with ctx.uow() as uow:
        report = await service.inventory_report(uow, start=start, end=end, by=by, location=location)
    return _csv(list(report.rows), f"inventory-by-{by.value}") if format == "csv" else report


@router.get("/points", response_model=PointsReport)
async def points(ctx: CtxDep) -> PointsReport:
    """The loyalty programme's liability: outstanding points and what they would pay now."""
    if _scope(ctx) is not None:
        ctx.require(Permission.LOYALTY_ADMIN)  # a tenant-wide figure: not a store's
    async with ctx.uow() as uow:
        return await service.points_report(uow)
