"""Channels and API keys, for admins (the ``keys:manage`` permission, as ``POST /v1/keys``):
the tenant's channels, its keys without their secrets, a new key whose secret is shown once,
and revoking a key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import HTMLResponse, Response

from omniretail.auth import service as auth
from omniretail.auth.domain import Permission, Role
from omniretail.channels import service as channels
from omniretail.console.context import ConsoleDep
from omniretail.errors import DomainError, ValidationFailed
from omniretail.problems import status_for

router = APIRouter(prefix="/console/keys", include_in_schema=False)

PAGE = 50
MAX_ID = 2**63 - 1


async def _page(
    ctx: ConsoleDep, after: int | None = None, status: int = 200, **extra: object
) -> HTMLResponse:
    async with ctx.uow() as uow:
        keys = await auth.list_keys(uow, limit=PAGE, after=after)
        found = await channels.list_channels(uow, limit=PAGE)
    response = ctx.render(
        "keys.html",
        status,
        keys=keys[:PAGE],
        next_after=keys[PAGE - 1]["id"] if len(keys) > PAGE else None,
        channels=found[:PAGE],
        roles=[r for r in Role if r is not Role.OPERATOR],
        **extra,
    )
    response.headers["Cache-Control"] = "no-store"  # a new key's secret is on this page once
    return response


@router.get("")
async def keys(
    ctx: ConsoleDep, after: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> HTMLResponse:
    try:
        ctx.require(Permission.MANAGE_KEYS)
        return await _page(ctx, after)
    except DomainError as exc:
        return ctx.error(exc)


def _optional(value: str) -> str | None:
    return value.strip() or None


@router.post("")
async def create_key(
    ctx: ConsoleDep,
    role: Annotated[str, Form(max_length=24)] = "",
    location: Annotated[str, Form(max_length=64)] = "",
    channel: Annotated[str, Form(max_length=64)] = "",
    label: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        ctx.require(Permission.MANAGE_KEYS)
    except DomainError as exc:
        return ctx.error(exc)
    try:
        try:
            key_role = Role(role)
        except ValueError as exc:
            raise ValidationFailed("unknown role", [{"field": "role", "message": role}]) from exc
        async with ctx.uow() as uow:
            created = await auth.do_create_key(
                uow,
                role=key_role,
                location=_optional(location) if key_role is Role.STORE else None,
                channel=_optional(channel) if key_role is Role.CHANNEL else None,
                label=_optional(label),
            )
    except DomainError as exc:
        return await _page(ctx, None, status_for(exc), problem=exc)
    return await _page(ctx, None, 201, created=created)


@router.post("/{key_id}/revoke")
async def revoke_key(key_id: Annotated[int, Path(ge=1, le=MAX_ID)], ctx: ConsoleDep) -> Response:
    try:
        ctx.require(Permission.MANAGE_KEYS)
        async with ctx.uow() as uow:
            await auth.do_revoke_key(uow, key_id=key_id)
    except DomainError as exc:
        return ctx.error(exc)
    return await _page(ctx, None, 200, revoked=key_id)
