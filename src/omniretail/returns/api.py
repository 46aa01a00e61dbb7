from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from omniretail.auth.domain import Permission
from omniretail.orders.api import caller, providers
from omniretail.orders.numbers import with_fresh_number
from omniretail.returns import cases, exchanges, service
from omniretail.returns.schemas import (
    CaseIn,
    CaseNoteIn,
    CaseOut,
    CaseStatus,
    ExchangeIn,
    ExchangeOut,
    ReceiveIn,
    ReturnIn,
    ReturnOut,
)
from omniretail.schemas import Code, Page
from omniretail.web import CtxDep, IdPageDep, keyed_page

router = APIRouter(prefix="/v1", tags=["returns"])


@router.post("/returns", status_code=201, response_model=ReturnOut)
async def create_return(body: ReturnIn, ctx: CtxDep) -> JSONResponse:
    ctx.require(Permission.RETURNS_WRITE)
    ctx.require_channel(body.channel)
    async with ctx.uow() as uow:
        who = await caller(ctx, uow)
        return await ctx.create(
            uow,
            lambda: service.do_create_return(
                uow,
                data=body,
                actor=ctx.actor,
                caller_location=ctx.principal.location_code,
                caller_channels=who.channels,
                providers=providers(ctx.request),
            ),
        )


@router.get("/returns/{return_id}", response_model=ReturnOut)
async def get_return(return_id: Code, ctx: CtxDep) -> ReturnOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        who = await caller(ctx, uow)
        return await service.get_return(uow, return_id, channels=who.channels)


@router.post("/returns/{return_id}/receive", response_model=ReturnOut)
async def receive_return(return_id: Code, body: ReceiveIn, ctx: CtxDep) -> ReturnOut:
    ctx.require(Permission.RETURNS_WRITE)
    async with ctx.uow() as uow:
        return await service.do_receive_return(
            uow,
            return_id=return_id,
            location=body.location,
            actor=ctx.actor,
            caller_location=ctx.principal.location_code,
            caller_channels=(await caller(ctx, uow)).channels,
            providers=providers(ctx.request),
        )


@router.get("/orders/{order_id}/returns", response_model=list[ReturnOut])
async def order_returns(order_id: Code, ctx: CtxDep) -> list[ReturnOut]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        who = await caller(ctx, uow)
        return await service.returns_of_order(uow, order_id, channels=who.channels)


@router.post("/cases", status_code=201, response_model=CaseOut)
async def open_case(body: CaseIn, ctx: CtxDep) -> JSONResponse:
    ctx.require(Permission.RETURNS_WRITE)
    ctx.require_channel(body.channel)
    async with ctx.uow() as uow:
        who = await caller(ctx, uow)
        return await ctx.create(uow, lambda: cases.do_open_case(uow, data=body, caller=who))


@router.get("/cases", response_model=Page[CaseOut])
async def list_cases(
    ctx: CtxDep,
    paging: IdPageDep,
    order_id: Code | None = None,
    owner_location: Code | None = None,
    status: CaseStatus | None = None,
) -> dict[str, Any]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        rows = await cases.list_cases(
            uow,
            channels=(await caller(ctx, uow)).channels,
            order_id=order_id,
            owner_location=owner_location,
            status=status,
            limit=paging.limit,
            after=paging.after,
        )
    return keyed_page(list(rows), limit=paging.limit)


@router.get("/cases/{case_id}", response_model=CaseOut)
async def get_case(case_id: Code, ctx: CtxDep) -> CaseOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        who = await caller(ctx, uow)
        return await cases.get_case(uow, case_id, channels=who.channels)


@router.post("/cases/{case_id}/notes", response_model=CaseOut)
async def add_case_note(case_id: Code, body: CaseNoteIn, ctx: CtxDep) -> CaseOut:
    ctx.require(Permission.RETURNS_WRITE)
    async with ctx.uow() as uow:
        who = await caller(ctx, uow)
        return await cases.do_add_case_note(uow, case_id=case_id, data=body, caller=who)


@router.post("/exchanges", status_code=201, response_model=ExchangeOut)
async def exchange(body: ExchangeIn, ctx: CtxDep) -> JSONResponse:
    """Return goods and take others in one step, paying only the difference."""
    ctx.require(Permission.RETURNS_WRITE)
    ctx.require(Permission.ORDERS_WRITE)
    ctx.require_channel(body.channel)

    async def exchanged() -> JSONResponse:
        async with ctx.uow() as uow:
            who = await caller(ctx, uow)
            return await ctx.create(
                uow,
                lambda: exchanges.do_exchange(
                    uow, data=body, caller=who, providers=providers(ctx.request)
                ),
            )

    # The new order's number taken: the whole exchange again, under another number.
    return await with_fresh_number(exchanged)
