from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from omniretail.auth import service
from omniretail.auth.domain import Permission
from omniretail.auth.schemas import KeyIn, KeyOut, MeOut
from omniretail.web import CtxDep, ServerIdPath

router = APIRouter(prefix="/v1", tags=["auth"])


@router.get("/me", response_model=MeOut)
async def who_am_i(ctx: CtxDep) -> MeOut:
    p = ctx.principal
    return MeOut(
        tenant=p.tenant_slug,
        currency=p.currency,
        timezone=p.timezone,
        role=p.role,
        location=p.location_code,
        channel=p.channel_code,
    )


@router.post("/keys", status_code=201, response_model=KeyOut)
async def create_key(body: KeyIn, ctx: CtxDep) -> JSONResponse:
    ctx.require(Permission.MANAGE_KEYS)

    async def make() -> KeyOut:
        created = await service.do_create_key(
            uow, role=body.role, location=body.location, channel=body.channel, label=body.label
        )
        return KeyOut.model_validate(created)

    async with ctx.uow() as uow:
        return await ctx.create(uow, make)


@router.delete("/keys/{key_id}", status_code=204)
async def revoke_key(key_id: ServerIdPath, ctx: CtxDep) -> Response:
    ctx.require(Permission.MANAGE_KEYS)
    async with ctx.uow() as uow:
        await service.do_revoke_key(uow, key_id=key_id)
    return Response(status_code=204)
