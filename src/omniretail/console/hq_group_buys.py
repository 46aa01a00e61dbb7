"""HQ group buying (拼团) in the console: the campaigns with their groups counted by status;
one campaign's groups, newest first, paged; one group's members (what each paid, their order
or refund). Campaigns and groups read with ``read`` as ``GET /v1/group-buys``; members with
``engagement:write`` as ``GET /v1/group-buys/groups/{id}/members``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from omniretail.auth.domain import Permission
from omniretail.console.context import ConsoleDep
from omniretail.engagement import groupbuy, groupbuy_campaigns
from omniretail.errors import DomainError
from omniretail.schemas import Code

router = APIRouter(prefix="/console/group-buys", include_in_schema=False)

PAGE = 50


@router.get("")
async def group_buy_list(ctx: ConsoleDep) -> HTMLResponse:
    try:
        ctx.require_hq()
        async with ctx.uow() as uow:
            campaigns = await groupbuy_campaigns.list_group_buys(uow)
            counts = await groupbuy.group_counts(uow)
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render("group_buys.html", campaigns=campaigns, counts=counts)


@router.get("/{code}")
async def group_buy_page(
    code: Code, ctx: ConsoleDep, after: Annotated[str, Query(max_length=64)] = ""
) -> HTMLResponse:
    try:
        ctx.require_hq()
        async with ctx.uow() as uow:
            campaign = await groupbuy_campaigns.get_group_buy(uow, code)
            groups = await groupbuy.list_groups(uow, code, limit=PAGE + 1, after=after or None)
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render(
        "group_buy.html",
        campaign=campaign,
        groups=groups[:PAGE],
        next_after=groups[PAGE - 1].id if len(groups) > PAGE else None,
        can_see_members=ctx.staff.can(Permission.ENGAGEMENT_WRITE),
    )


@router.get("/groups/{group_id}")
async def group_page(group_id: Code, ctx: ConsoleDep) -> HTMLResponse:
    try:
        ctx.require_hq(Permission.ENGAGEMENT_WRITE)
        async with ctx.uow() as uow:
            group = await groupbuy.get_group(uow, group_id)
            members = await groupbuy.list_members(uow, group_id)
    except DomainError as exc:
        return ctx.error(exc)
    return ctx.render("group_buy_group.html", group=group, members=members)
