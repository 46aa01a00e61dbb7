from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from omniretail.auth.domain import Permission
from omniretail.channels import service
from omniretail.channels.schemas import ChannelIn, ChannelOut
from omniretail.schemas import Code, Page
from omniretail.web import CtxDep, PageDep, page

router = APIRouter(prefix="/v1/channels", tags=["channels"])


@router.post("", status_code=201, response_model=ChannelOut)
async def create_channel(body: ChannelIn, ctx: CtxDep) -> JSONResponse:
    ctx.require(Permission.CHANNELS_WRITE)
    async with ctx.uow() as uow:
        return await ctx.create(
            uow,
            lambda: service.do_create_channel(uow, code=body.code, kind=body.kind, name=body.name),
        )


@router.get("", response_model=Page[ChannelOut])
async def list_channels(ctx: CtxDep, paging: PageDep) -> dict[str, Any]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        items = await service.list_channels(uow, limit=paging.limit, after=paging.after)
    return page(list(items), limit=paging.limit, last_key=lambda c: c.code)


@router.get("/{code}", response_model=ChannelOut)
async def get_channel(code: Code, ctx: CtxDep) -> ChannelOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return await service.get_channel(uow, code)
