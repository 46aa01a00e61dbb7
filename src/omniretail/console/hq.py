"""HQ screens: the dashboard (sales from the analytics facts) and CSV imports with a dry-run
preview."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, UploadFile
from fastapi.responses import HTMLResponse

from omniretail.analytics import service as analytics
from omniretail.analytics.domain import local_day
from omniretail.analytics.schemas import SalesBy, SalesRow
from omniretail.auth.domain import Permission
from omniretail.console.context import ConsoleDep
from omniretail.db import UnitOfWork, utcnow
from omniretail.errors import DomainError, Forbidden, ValidationFailed
from omniretail.imports import service as imports
from omniretail.imports.service import ImportRejected, Kind
from omniretail.orders.queue import Operations, operations_today

router = APIRouter(prefix="/console", include_in_schema=False)

_WRITE = {Kind.LOCATIONS: Permission.LOCATIONS_WRITE, Kind.PRODUCTS: Permission.CATALOG_WRITE}
MAX_UPLOAD = 8 * 1024 * 1024
STORES_SHOWN = 15


def _hq_only(ctx: ConsoleDep) -> None:
    if ctx.staff.store_bound:
        raise Forbidden("HQ screens are for HQ roles")


@dataclass(frozen=True, slots=True)
class Figures:
    currency: str
    sales_today: SalesRow
    sales_last_7_days: SalesRow
    gmv_by_channel: dict[str, int]
    gmv_by_store: dict[str, int]
    operations: Operations


async def dashboard_figures(
    uow: UnitOfWork, *, currency: str, timezone: str, now: dt.datetime | None = None
) -> Figures:
    """Sales from the analytics facts (completed orders less returns, on the tenant's local
    day): today against the 7 days before it, by channel and by credited store; and the live
    operations from the order core."""
    today = local_day(now or utcnow(), timezone)
    week = (today - dt.timedelta(days=7), today - dt.timedelta(days=1))
    by_channel = await analytics.sales_report(uow, start=today, end=today, by=SalesBy.CHANNEL)
    by_store = await analytics.sales_report(uow, start=today, end=today, by=SalesBy.LOCATION)
    before = await analytics.sales_report(uow, start=week[0], end=week[1], by=SalesBy.CHANNEL)
    stores = sorted((r for r in by_store.rows if r.key), key=lambda r: -r.gross)[:STORES_SHOWN]
    return Figures(
        currency=currency,
        sales_today=by_channel.total,
        sales_last_7_days=before.total,
        gmv_by_channel={str(r.key): r.gross for r in by_channel.rows},
        gmv_by_store={str(r.key): r.gross for r in stores},
        operations=await operations_today(uow, timezone=timezone, now=now),
    )


@router.get("/dashboard")
async def dashboard(ctx: ConsoleDep) -> HTMLResponse:
    try:
        ctx.require(Permission.READ)
        _hq_only(ctx)
        async with ctx.uow() as uow:
            figures = await dashboard_figures(
                uow, currency=ctx.staff.currency, timezone=ctx.staff.timezone
            )
    except DomainError as exc:
        return ctx.error(exc)
    charts = {
        "channel": [{"name": k, "value": v / 100} for k, v in figures.gmv_by_channel.items()],
        "store": {
            "names": list(figures.gmv_by_store),
            "values": [v / 100 for v in figures.gmv_by_store.values()],
        },
        "mode": [{"name": k, "value": v} for k, v in figures.operations.orders_by_mode.items()],
    }
    return ctx.render("dashboard.html", figures=figures, charts=json.dumps(charts))


@router.get("/imports")
async def import_form(ctx: ConsoleDep) -> HTMLResponse:
    try:
        _hq_only(ctx)
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render("imports.html", kinds=list(Kind), report=None, kind=Kind.PRODUCTS)


@router.post("/imports")
async def import_file(
    ctx: ConsoleDep,
    file: UploadFile,
    kind: Annotated[Kind, Form()] = Kind.PRODUCTS,
    apply: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Check the file (always), and apply it only when asked and every row is good: the same
    service and rules as ``POST /v1/imports/{kind}``."""
    dry_run = not apply
    try:
        _hq_only(ctx)
        ctx.require(_WRITE[kind])
        raw = await file.read(MAX_UPLOAD + 1)
        if len(raw) > MAX_UPLOAD:
            raise ValidationFailed("the file is too large", [{"field": "file", "message": "8 MB"}])
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationFailed(
                "the file is not UTF-8 text", [{"field": "file", "message": "save as UTF-8"}]
            ) from exc
        parsed = await imports.parse_file(kind, text, currency=ctx.staff.currency)
        async with ctx.uow() as uow:
            report = await imports.do_import(
                uow, kind=kind, parsed=parsed, dry_run=dry_run, actor=ctx.staff.actor
            )
        return ctx.render("imports.html", kinds=list(Kind), kind=kind, report=report, rejected=None)
    except ImportRejected as exc:
        return ctx.render(
            "imports.html", 422, kinds=list(Kind), kind=kind, report=None, rejected=exc
        )
    except DomainError as exc:
        return ctx.error(exc)
