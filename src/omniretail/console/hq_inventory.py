"""HQ inventory across the network: every position, the low ones and the at-risk ones, by
store or SKU, paged. Read only, with the ``read`` permission as ``GET /v1/inventory``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from omniretail.auth.domain import Permission
from omniretail.console.context import ConsoleDep
from omniretail.errors import DomainError, Forbidden
from omniretail.inventory.report import LOW_AT, Watch, network_positions

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE = 50
MAX_ID = 2**63 - 1


@router.get("/inventory")
async def inventory(
    ctx: ConsoleDep,
    watch: Watch = Watch.ALL,
    location: Annotated[str, Query(max_length=64)] = "",
    sku: Annotated[str, Query(max_length=64)] = "",
    low_at: Annotated[int, Query(ge=0, le=100_000)] = LOW_AT,
    after: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    per_page: Annotated[int, Query(ge=1, le=100)] = PAGE,
) -> HTMLResponse:
    try:
        ctx.require(Permission.READ)
        if ctx.staff.store_bound:
            raise Forbidden("HQ screens are for HQ roles")
        async with ctx.uow() as uow:
            rows = await network_positions(
                uow,
                limit=per_page,
                after=after,
                location=location.strip() or None,
                sku=sku.strip() or None,
                watch=watch,
                low_at=low_at,
            )
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render(
        "inventory.html",
        positions=[p for _, p in rows[:per_page]],
        next_after=rows[per_page - 1][0] if len(rows) > per_page else None,
        per_page=per_page,
        watch=watch,
        watches=list(Watch),
        location=location,
        sku=sku,
        low_at=low_at,
    )
