"""Group buying (拼团) over HTTP. Head office (``engagement:write``) sets campaigns up and sees
who is in a group; any seller (``orders:write``: admin, ops, a store for pickups at itself, a
channel for its own channel) opens and joins groups for customers; the pickup store redeems the
codes (``pickup:verify``). Every key of the tenant may read a campaign and a group's seats."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from omniretail.auth.domain import Permission
from omniretail.db import utcnow
from omniretail.engagement import groupbuy, groupbuy_campaigns, groupbuy_close
from omniretail.engagement.groupbuy_schemas import (
    GroupBuyIn,
    GroupBuyOut,
    GroupOut,
    MemberOut,
    RedeemIn,
    SeatIn,
    SeatOut,
)
from omniretail.errors import Forbidden
from omniretail.network import service as network
from omniretail.orders import pickup
from omniretail.orders.numbers import with_fresh_number
from omniretail.orders.schemas import FulfilmentOut
from omniretail.payments.providers import PaymentProvider
from omniretail.schemas import Code
from omniretail.web import Ctx, CtxDep

router = APIRouter(prefix="/v1/group-buys", tags=["group buying"])


def _providers(request: Request) -> dict[str, PaymentProvider]:
    found: dict[str, PaymentProvider] = request.app.state.payment_providers
    return found


def _check_seat_scope(ctx: Ctx, seat: SeatIn) -> None:
    """A channel key seats customers through its own channel, a store key for pickups at its
    own store: scope follows what the seat is, never a field the key may choose freely."""
    ctx.require(Permission.ORDERS_WRITE)
    ctx.require_channel(seat.channel)
    own = ctx.principal.location_code
    if own is not None and seat.pickup_location != own:
        raise Forbidden(f"this key acts for location {own!r} only")


@router.post("", status_code=201, response_model=GroupBuyOut)
async def create_group_buy(body: GroupBuyIn, ctx: CtxDep) -> JSONResponse:
    """A campaign: ``sku`` at ``group_price`` (fen) for groups of ``group_size`` opened between
    ``starts_at`` and ``ends_at``, each with ``group_window_minutes`` to fill."""
    ctx.require(Permission.ENGAGEMENT_WRITE)
    async with ctx.uow() as uow:
        return await ctx.create(uow, lambda: groupbuy_campaigns.do_create_group_buy(uow, data=body))


@router.get("", response_model=list[GroupBuyOut])
async def list_group_buys(ctx: CtxDep) -> list[GroupBuyOut]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return await groupbuy_campaigns.list_group_buys(uow)


@router.get("/{code}", response_model=GroupBuyOut)
async def get_group_buy(code: Code, ctx: CtxDep) -> GroupBuyOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return await groupbuy_campaigns.get_group_buy(uow, code)


@router.post("/{code}/groups", status_code=201, response_model=SeatOut)
async def open_group(code: Code, body: SeatIn, ctx: CtxDep, request: Request) -> JSONResponse:
    """Open a group with the customer in its first seat, paid and held (see the join)."""
    _check_seat_scope(ctx, body)
    async with ctx.uow() as uow:
        return await ctx.create(
            uow,
            lambda: groupbuy.do_open_group(
                uow, code=code, seat=body, providers=_providers(request), actor=ctx.actor
            ),
        )


@router.get("/{code}/groups", response_model=list[GroupOut])
async def list_open_groups(code: Code, ctx: CtxDep) -> list[GroupOut]:
    """Groups of the campaign with seats left, closing soonest first (at most 50)."""
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return await groupbuy.list_open_groups(uow, code, now=utcnow())


@router.get("/groups/{group_id}", response_model=GroupOut)
async def get_group(group_id: Code, ctx: CtxDep) -> GroupOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return await groupbuy.get_group(uow, group_id)


@router.post("/groups/{group_id}/members", status_code=201, response_model=SeatOut)
async def join_group(group_id: Code, body: SeatIn, ctx: CtxDep, request: Request) -> JSONResponse:
    """Take a seat: 409 ``group_buy_full`` / ``group_buy_closed`` when none is left (of
    callers racing for the last one exactly one wins), ``group_buy_limit_reached``,
    ``insufficient_stock`` at the pickup store, ``payment_declined``. The last seat fills the
    group: every member's order is created for pickup at their store."""
    _check_seat_scope(ctx, body)

    async def joined() -> JSONResponse:
        async with ctx.uow() as uow:
            return await ctx.create(
                uow,
                lambda: groupbuy.do_join_group(
                    uow,
                    group_id=group_id,
                    seat=body,
                    providers=_providers(request),
                    actor=ctx.actor,
                ),
            )

    # The last seat places every member's order: one's number taken, the join runs again.
    return await with_fresh_number(joined)


@router.post("/groups/{group_id}/members/{member_id}/leave", response_model=MemberOut)
async def leave_group(group_id: Code, member_id: Code, ctx: CtxDep, request: Request) -> MemberOut:
    """The member leaves the group while it is open: refunded exactly what they paid, their
    unit released, their seat free for another customer. Leaving again answers the member as
    it is. 409 ``group_buy_already_filled`` once the group filled (cancel or return the order
    instead), ``group_buy_closed`` once it failed, ``group_buy_refund_refused`` when the
    provider refuses (nothing changes). Scope follows the member: a channel key for members who
    joined through its channel, a store key for members collecting at its store."""
    ctx.require(Permission.ORDERS_WRITE)
    async with ctx.uow() as uow:
        channel, location = await groupbuy_close.member_scope(
            uow, group_id=group_id, member_id=member_id
        )
        ctx.require_channel(channel)
        own = ctx.principal.location_code
        if own is not None and location != own:
            raise Forbidden(f"this key acts for location {own!r} only")
        return await groupbuy_close.do_leave_group(
            uow,
            group_id=group_id,
            member_id=member_id,
            providers=_providers(request),
            actor=ctx.actor,
        )


@router.get("/groups/{group_id}/members", response_model=list[MemberOut])
async def list_group_members(group_id: Code, ctx: CtxDep) -> list[MemberOut]:
    """Who is in the group, what they paid, their order or refund: head office's view."""
    ctx.require(Permission.ENGAGEMENT_WRITE)
    async with ctx.uow() as uow:
        return await groupbuy.list_members(uow, group_id)


@router.post("/redemptions", response_model=FulfilmentOut)
async def redeem_group_buy_code(body: RedeemIn, ctx: CtxDep) -> FulfilmentOut:
    """Hand over a group-buy pickup at its store with the member's code: 409
    ``group_buy_not_complete`` while the group has seats left; once it filled, the same checks
    as ``/v1/pickups/verify`` (ready, once, this store, wrong guesses throttled)."""
    ctx.require(Permission.PICKUP_VERIFY)
    async with ctx.uow() as uow:
        location_id = (await network.location_ref(uow, body.location))[0]
    ctx.require_location(location_id)
    try:
        async with ctx.uow() as uow:
            now = utcnow()
            await groupbuy.check_code_redeemable(
                uow, location=body.location, code=body.code, key_id=ctx.principal.key_id, now=now
            )
            return await pickup.do_verify_pickup(
                uow,
                code=body.code,
                location=body.location,
                actor=ctx.actor,
                key_id=ctx.principal.key_id,
                now=now,
            )
    except (pickup.PickupCodeInvalid, pickup.PickupCodeUsed):
        async with ctx.uow() as uow:
            await pickup.do_record_failed_attempt(
                uow, location=body.location, key_id=ctx.principal.key_id
            )
        raise
