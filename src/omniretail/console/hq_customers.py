"""HQ customers (360): the list searched by name, id or any identity, and one customer whole:
identities, the merges that made them, orders on every channel, points and the points ledger.
Read only, with the ``read`` permission as ``GET /v1/customers/{id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from omniretail.console.context import ConsoleDep
from omniretail.customers import search as customer_search
from omniretail.customers import service as customers
from omniretail.errors import DomainError
from omniretail.loyalty import service as loyalty
from omniretail.orders import queries
from omniretail.schemas import Code

router = APIRouter(prefix="/console/customers", include_in_schema=False)

PAGE = 50
ORDERS = 20
MAX_ID = 2**63 - 1


@router.get("")
async def customer_list(
    ctx: ConsoleDep,
    q: Annotated[str, Query(max_length=64)] = "",
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    try:
        ctx.require_hq()
        async with ctx.uow() as uow:
            rows = await customer_search.list_customers(
                uow, limit=PAGE, after=before, q=q.strip() or None
            )
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render(
        "customers.html",
        q=q,
        people=[c for _, c in rows[:PAGE]],
        next_before=rows[PAGE - 1][0] if len(rows) > PAGE else None,
    )


@router.get("/{customer_id}")
async def customer_page(
    customer_id: Code,
    ctx: ConsoleDep,
    points_before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    try:
        ctx.require_hq()
        async with ctx.uow() as uow:
            person = await customers.get_customer(uow, customer_id)
            merges = await customers.list_merges(uow, person.id)
            points = await loyalty.points_summary(uow, customer_id=person.id)
            entries = await loyalty.list_entries(
                uow, customer_id=person.id, limit=PAGE, after=points_before
            )
            orders = await queries.list_orders(uow, limit=ORDERS, customer_id=person.id)
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render(
        "customer.html",
        person=person,
        merges=merges,
        points=points,
        entries=entries[:PAGE],
        next_points_before=entries[PAGE - 1].id if len(entries) > PAGE else None,
        orders=[o for _, o in orders[:ORDERS]],
    )
