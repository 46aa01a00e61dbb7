from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from omniretail.auth.domain import Permission
from omniretail.db import utcnow
from omniretail.errors import NotFound, ValidationFailed
from omniretail.lean_route import LeanRoute
from omniretail.loyalty import service as loyalty
from omniretail.network import service as network
from omniretail.pricing import coupons, service
from omniretail.pricing.schemas import (
    CouponIn,
    CouponOut,
    PromotionIn,
    PromotionOut,
    PromotionPatch,
    QuoteIn,
    QuoteOut,
    RedemptionIn,
)
from omniretail.schemas import Code, Page
from omniretail.web import CtxDep, PageDep, page

router = APIRouter(prefix="/v1", tags=["pricing"], route_class=LeanRoute)


@router.post("/promotions", status_code=201, response_model=PromotionOut)
async def create_promotion(body: PromotionIn, ctx: CtxDep) -> JSONResponse:
    ctx.require(Permission.PRICING_WRITE)
    async with ctx.uow() as uow:
        return await ctx.create(
            uow, lambda: service.do_create_promotion(uow, data=body, actor=ctx.actor)
        )


@router.get("/promotions", response_model=Page[PromotionOut])
async def list_promotions(ctx: CtxDep, paging: PageDep, active_now: bool = False) -> dict[str, Any]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        items = await service.list_promotions(
            uow, limit=paging.limit, after=paging.after, active_at=utcnow() if active_now else None
        )
    return page(list(items), limit=paging.limit, last_key=lambda p: p.code)


@router.get("/promotions/{code}", response_model=PromotionOut)
async def get_promotion(code: Code, ctx: CtxDep) -> PromotionOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return service.promotion_out(await service.access_promotion(uow, code))


@router.get("/promotions/{code}/history")
async def promotion_history(code: Code, ctx: CtxDep) -> list[dict[str, Any]]:
    """The audit log: who created or changed the promotion, when, from what to what."""
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        await service.access_promotion(uow, code)
        return await service.promotion_history(uow, code)


@router.patch("/promotions/{code}", response_model=PromotionOut)
async def update_promotion(code: Code, body: PromotionPatch, ctx: CtxDep) -> PromotionOut:
    ctx.require(Permission.PRICING_WRITE)
    async with ctx.uow() as uow:
        return await service.do_update_promotion(uow, code=code, patch=body, actor=ctx.actor)


@router.post("/coupons", status_code=201, response_model=CouponOut)
async def create_coupon(body: CouponIn, ctx: CtxDep) -> JSONResponse:
    ctx.require(Permission.PRICING_WRITE)
    async with ctx.uow() as uow:
        return await ctx.create(uow, lambda: coupons.do_create_coupon(uow, data=body))


@router.get("/coupons/{code}", response_model=CouponOut)
async def get_coupon(code: Code, ctx: CtxDep) -> CouponOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return await coupons.get_coupon(uow, code)


@router.post("/coupons/{code}/redemptions", status_code=201, response_model=CouponOut)
async def redeem_coupon(code: Code, body: RedemptionIn, ctx: CtxDep) -> CouponOut:
    """Take one use directly (checkout does this itself inside the order's transaction)."""
    ctx.require(Permission.ORDERS_WRITE)
    ctx.require_channel(body.channel)
    async with ctx.uow() as uow:
        if body.location is not None and ctx.principal.location_id is not None:
            ctx.require_location((await network.location_ref(uow, body.location))[0])
        await coupons.do_redeem_coupons(
            uow,
            codes=[code],
            customer_id=body.customer_id,
            order_ref=body.order_ref,
            channel=body.channel,
            location=body.location,
        )
        return await coupons.get_coupon(uow, code)


@router.post("/price-quotes", response_model=QuoteOut)
async def price_quote(body: QuoteIn, ctx: CtxDep) -> QuoteOut:
    ctx.require(Permission.READ)
    ctx.require_channel(body.channel)
    # Read only: a quote writes nothing (coupons are checked, not taken), so on SQLite it reads
    # a snapshot instead of queueing for the one write lock.
    async with ctx.db.uow(ctx.principal.tenant_id, read_only=True) as uow:
        tier = body.customer_tier
        if body.customer_id is not None:
            try:
                tier = await loyalty.customer_tier(uow, body.customer_id)
            except NotFound as exc:
                raise ValidationFailed(
                    "unknown customer", [{"field": "customer_id", "message": "no such customer"}]
                ) from exc
        return await service.quote(
            uow,
            channel=body.channel,
            lines=[(x.sku, x.qty) for x in body.lines],
            customer_tier=tier,
            customer_id=body.customer_id,
            location=body.location,
            coupon_codes=body.coupon_codes,
            currency=ctx.principal.currency,
        )
