"""HQ lists: orders (with their sourcing explanation) and the network on a plot. Read only;
paginated by keyset like the API's lists."""

from __future__ import annotations

import json

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from omniretail.console.context import ConsoleDep
from omniretail.errors import DomainError
from omniretail.network import service as network
from omniretail.orders import queries
from omniretail.schemas import Code

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE = 50
MAX_ID = 2**63 - 1


@router.get("/orders")
async def orders(
    ctx: ConsoleDep, before: int | None = Query(default=None, ge=1, le=MAX_ID)
) -> HTMLResponse:
    try:
        ctx.require_hq()
        async with ctx.uow() as uow:
            rows = await queries.list_orders(uow, limit=PAGE, after=before)
    except DomainError as exc:
        return ctx.error(exc)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return ctx.render(
        "orders.html",
        orders=[order for _, order in rows],
        next_before=rows[-1][0] if more and rows else None,
    )


@router.get("/orders/{order_id}")
async def order(order_id: Code, ctx: ConsoleDep) -> HTMLResponse:
    try:
        ctx.require_hq()
        async with ctx.uow() as uow:
            found = await queries.get_order(uow, order_id)
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render("order.html", order=found)


@router.get("/network")
async def locations(ctx: ConsoleDep) -> HTMLResponse:
    try:
        ctx.require_hq()
        async with ctx.uow() as uow:
            found = await network.list_locations(uow, limit=2000)
    except DomainError as exc:
        return ctx.error(exc)
    points = [
        {"name": loc.code, "value": [loc.lng, loc.lat], "type": loc.type.value} for loc in found
    ]
    return ctx.render("network.html", locations=found, points=json.dumps(points))
