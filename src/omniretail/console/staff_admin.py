"""Staff users, for admins: the list, and a new person with their role and stores. The same
permission as managing API keys (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from omniretail.auth.domain import Permission
from omniretail.auth.staff import do_create_staff, list_staff
from omniretail.auth.staff_domain import StaffRole
from omniretail.console.context import ConsoleDep
from omniretail.errors import DomainError, ValidationFailed
from omniretail.problems import status_for

router = APIRouter(prefix="/console/staff", include_in_schema=False)


async def _page(ctx: ConsoleDep, status: int = 200, **extra: object) -> HTMLResponse:
    async with ctx.uow() as uow:
        people = await list_staff(uow)
    return ctx.render("staff.html", status, people=people, roles=list(StaffRole), **extra)


@router.get("")
async def staff_list(ctx: ConsoleDep) -> HTMLResponse:
    try:
        ctx.require(Permission.MANAGE_KEYS)
        return await _page(ctx)
    except DomainError as exc:
        return ctx.error(exc)


@router.post("")
async def staff_create(
    ctx: ConsoleDep,
    name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=255)] = "",
    role: Annotated[str, Form(max_length=24)] = "",
    locations: Annotated[str, Form(max_length=500)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    language: Annotated[str, Form(max_length=8)] = "zh-CN",
) -> Response:
    try:
        ctx.require(Permission.MANAGE_KEYS)
    except DomainError as exc:
        return ctx.error(exc)
    try:
        try:
            staff_role = StaffRole(role)
        except ValueError as exc:
            raise ValidationFailed("unknown role", [{"field": "role", "message": role}]) from exc
        async with ctx.uow() as uow:
            created = await do_create_staff(
                uow,
                role=staff_role,
                password=password,
                name=name,
                email=email or None,
                locations=[c.strip() for c in locations.split(",") if c.strip()],
                language=language,
            )
    except DomainError as exc:
        return await _page(ctx, status_for(exc), problem=exc)
    return await _page(ctx, 201, created=created)
