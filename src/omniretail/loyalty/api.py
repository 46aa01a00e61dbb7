"""Points, benefits, rules and paid membership over HTTP."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from omniretail.auth.domain import Permission
from omniretail.customers import service as customers
from omniretail.customers.schemas import CustomerId
from omniretail.db import utcnow
from omniretail.errors import ValidationFailed
from omniretail.loyalty import programme, service
from omniretail.loyalty.schemas import (
    AdjustmentIn,
    BenefitsOut,
    EntryOut,
    MembershipIn,
    MembershipOut,
    PlanIn,
    PlanOut,
    PointsOut,
    PostingOut,
    RedemptionIn,
    RulesIn,
    RulesOut,
)
from omniretail.schemas import Page
from omniretail.web import Ctx, CtxDep, IdPageDep, page

router = APIRouter(prefix="/v1", tags=["loyalty"])


def posting_key(ctx: Ctx) -> str:
    """The ledger's idempotency key: the request's Idempotency-Key, else a fresh one."""
    return f"http:{ctx.idempotency_key}" if ctx.idempotency_key else f"uuid:{uuid.uuid4().hex}"


@router.get("/customers/{customer_id}/points", response_model=PointsOut)
async def get_points(customer_id: CustomerId, ctx: CtxDep) -> PointsOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return await service.points_summary(uow, customer_id=customer_id)


@router.get("/customers/{customer_id}/points/ledger", response_model=Page[EntryOut])
async def get_ledger(customer_id: CustomerId, ctx: CtxDep, paging: IdPageDep) -> dict[str, Any]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        items = await service.list_entries(
            uow, customer_id=customer_id, limit=paging.limit, after=paging.after
        )
    return page(list(items), limit=paging.limit, last_key=lambda e: e.id)


@router.post(
    "/customers/{customer_id}/points/adjustments", status_code=201, response_model=PostingOut
)
async def adjust_points(customer_id: CustomerId, body: AdjustmentIn, ctx: CtxDep) -> JSONResponse:
    """A manual correction, admin only (a negative one may not overdraw: 409)."""
    ctx.require(Permission.LOYALTY_ADMIN)
    async with ctx.uow() as uow:

        async def make() -> PostingOut:
            posting = await service.do_adjust_points(
                uow,
                customer_id=customer_id,
                points=body.points,
                reason=body.reason,
                idempotency_key=posting_key(ctx),
                actor=ctx.actor,
            )
            summary = await service.points_summary(uow, customer_id=customer_id)
            return service.posting_out(summary.customer_id, posting, summary.money_value)

        return await ctx.create(uow, make)


@router.post(
    "/customers/{customer_id}/points/redemptions", status_code=201, response_model=PostingOut
)
async def redeem_points(customer_id: CustomerId, body: RedemptionIn, ctx: CtxDep) -> JSONResponse:
    """Spend points; beyond the balance is a 409 ``insufficient_points`` and changes nothing."""
    ctx.require(Permission.LOYALTY_WRITE)
    async with ctx.uow() as uow:

        async def make() -> PostingOut:
            done = await service.do_redeem_points(
                uow,
                customer_id=customer_id,
                points=body.points,
                reason=body.reason,
                order_ref=body.order_id,
                idempotency_key=posting_key(ctx),
                channel=ctx.principal.channel_code,
                actor=ctx.actor,
            )
            return PostingOut(
                customer_id=done.customer_id,
                entry_id=done.entry_id,
                kind="redeem",
                points=-done.points,
                balance=done.balance,
                money_value=done.money_value,
                replayed=done.replayed,
            )

        return await ctx.create(uow, make)


@router.get("/customers/{customer_id}/benefits", response_model=BenefitsOut)
async def get_benefits(
    customer_id: CustomerId, ctx: CtxDep, at: dt.datetime | None = None
) -> BenefitsOut:
    ctx.require(Permission.READ)
    if at is not None and at.tzinfo is None:
        raise ValidationFailed("time without zone", [{"field": "at", "message": "use UTC"}])
    if at is not None and not 2000 <= at.year <= 2200:
        # Tiers look back a year from ``at``: keep it where calendars and data exist.
        raise ValidationFailed(
            "time out of range", [{"field": "at", "message": "a year from 2000 to 2200"}]
        )
    async with ctx.uow() as uow:
        when = at or utcnow()
        ref = await customers.customer_ref(uow, customer_id)
        b = await service.benefits_for(uow, customer_id=customer_id, at=when)
    return BenefitsOut(
        customer_id=ref.public_id,
        tier=b.tier,
        points_multiplier_pct=b.points_multiplier_pct,
        free_delivery=b.free_delivery,
        free_pickup=b.free_pickup,
        priority_pickup=b.priority_pickup,
        membership=b.membership,
        membership_ends_at=b.membership_ends_at,
    )


@router.get("/loyalty/rules", response_model=RulesOut)
async def get_rules(ctx: CtxDep) -> RulesOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return programme.rules_out(await programme.get_rules(uow))


@router.put("/loyalty/rules", response_model=RulesOut)
async def set_rules(body: RulesIn, ctx: CtxDep) -> RulesOut:
    ctx.require(Permission.LOYALTY_ADMIN)
    async with ctx.uow() as uow:
        return await programme.do_set_rules(uow, rules=body, actor=ctx.actor)


@router.post("/membership-plans", status_code=201, response_model=PlanOut)
async def create_plan(body: PlanIn, ctx: CtxDep) -> JSONResponse:
    ctx.require(Permission.LOYALTY_ADMIN)
    async with ctx.uow() as uow:
        return await ctx.create(uow, lambda: programme.do_create_plan(uow, data=body))


@router.get("/membership-plans", response_model=list[PlanOut])
async def list_plans(ctx: CtxDep) -> list[PlanOut]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return await programme.list_plans(uow)


@router.post("/customers/{customer_id}/memberships", status_code=201, response_model=MembershipOut)
async def start_membership(
    customer_id: CustomerId, body: MembershipIn, ctx: CtxDep
) -> JSONResponse:
    """Start or renew a paid membership (a renewal starts when the current term ends)."""
    ctx.require(Permission.LOYALTY_WRITE)
    async with ctx.uow() as uow:
        return await ctx.create(
            uow,
            lambda: programme.do_start_membership(
                uow,
                customer_id=customer_id,
                plan=body.plan,
                starts_at=body.starts_at,
                payment_ref=body.payment_ref,
            ),
        )


@router.get("/customers/{customer_id}/memberships", response_model=list[MembershipOut])
async def list_memberships(customer_id: CustomerId, ctx: CtxDep) -> list[MembershipOut]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return await programme.list_memberships(uow, customer_id)
