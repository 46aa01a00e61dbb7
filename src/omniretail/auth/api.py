from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from omniretail.auth import service
from omniretail.auth.domain import Permission
from omniretail.auth.schemas import (
    KeyIn,
    KeyOut,
    MeOut,
    SettingChangeOut,
    SettingsOut,
    SettingsPatch,
    SignupIn,
    SignupOut,
)
from omniretail.lean_route import LeanRoute
from omniretail.schemas import Page
from omniretail.web import CtxDep, PageDep, ServerIdPath, keyed_page

router = APIRouter(prefix="/v1", tags=["auth"], route_class=LeanRoute)


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


@router.post("/signup", status_code=201, response_model=SignupOut, tags=["onboarding"])
async def sign_up(body: SignupIn, ctx: CtxDep) -> JSONResponse:
    """A SaaS operator's key (role `operator`, made with `omni key create --role operator`)
    signs a merchant up: the tenant and its first admin key, shown only in this reply. The
    slug, currency, time zone and locale are checked (422 naming the field); a slug already
    taken is 409, so repeating a signup never makes a second tenant."""
    ctx.require(Permission.TENANTS_CREATE)
    async with ctx.db.uow(unscoped=True) as uow:
        created = await service.do_create_tenant(
            uow,
            slug=body.slug,
            name=body.name,
            currency=body.currency,
            timezone=body.timezone,
            locale=body.locale,
        )
    out = SignupOut.model_validate(created)
    return JSONResponse(
        out.model_dump(mode="json"), status_code=201, headers={"Cache-Control": "no-store"}
    )


@router.get("/settings", response_model=SettingsOut, tags=["settings"])
async def get_settings(ctx: CtxDep) -> SettingsOut:
    """Every tenant setting with the value in force (the default where none was set)."""
    ctx.require(Permission.TENANT_SETTINGS)
    async with ctx.uow() as uow:
        return await service.get_settings(uow)


@router.patch("/settings", response_model=SettingsOut, tags=["settings"])
async def change_settings(body: SettingsPatch, ctx: CtxDep) -> SettingsOut:
    """A JSON Merge Patch: give only what changes; ``null`` puts a setting back to its default.
    A bad value is a 422 naming the field, and nothing changes. Changes are audited."""
    ctx.require(Permission.TENANT_SETTINGS)
    async with ctx.uow() as uow:
        return await service.do_change_settings(uow, patch=body, actor=ctx.actor)


@router.get("/settings/history", response_model=Page[SettingChangeOut], tags=["settings"])
async def settings_history(ctx: CtxDep, paging: PageDep) -> dict[str, Any]:
    """Who changed which settings, when, from what to what; newest first."""
    ctx.require(Permission.TENANT_SETTINGS)
    async with ctx.uow() as uow:
        rows = await service.setting_changes(uow, limit=paging.limit, after=paging.after)
    return keyed_page(list(rows), limit=paging.limit)
