"""HQ promotions and coupons: the promotions by code, paged; one promotion with its audit
history (who changed what, before and after) and its coupons, paged. Read only, with the
``read`` permission as ``GET /v1/promotions``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from omniretail.console.context import ConsoleDep
from omniretail.errors import DomainError
from omniretail.pricing import coupons
from omniretail.pricing import service as pricing
from omniretail.schemas import Code

router = APIRouter(prefix="/console/promotions", include_in_schema=False)

PAGE = 50


@router.get("")
async def promotion_list(
    ctx: ConsoleDep, after: Annotated[str, Query(max_length=64)] = ""
) -> HTMLResponse:
    try:
        ctx.require_hq()
        async with ctx.uow() as uow:
            rows = await pricing.list_promotions(uow, limit=PAGE, after=after or None)
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render(
        "promotions.html",
        promotions=rows[:PAGE],
        next_after=rows[PAGE - 1].code if len(rows) > PAGE else None,
    )


@router.get("/{code}")
async def promotion_page(
    code: Code, ctx: ConsoleDep, coupons_after: Annotated[str, Query(max_length=64)] = ""
) -> HTMLResponse:
    try:
        ctx.require_hq()
        async with ctx.uow() as uow:
            promotion = pricing.promotion_out(await pricing.access_promotion(uow, code))
            history = await pricing.promotion_history(uow, code)
            found = await coupons.list_coupons(
                uow, promotion=code, limit=PAGE, after=coupons_after or None
            )
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render(
        "promotion.html",
        promotion=promotion,
        history=history,
        coupons=found[:PAGE],
        next_coupons_after=found[PAGE - 1].code if len(found) > PAGE else None,
    )
