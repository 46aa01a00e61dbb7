"""Outbound messages over HTTP. Messaging customers, and reading what was sent to them, is head
office's work (``engagement:write``: admin and ops keys); store and channel keys reach customers
through campaigns, never by naming a message's recipient themselves."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from omniretail.auth.domain import Permission
from omniretail.customers.schemas import CustomerId
from omniretail.db import UnitOfWork
from omniretail.engagement import campaigns, messages, presence, suggestions
from omniretail.engagement.domain import MessageStatus
from omniretail.engagement.schemas import (
    CampaignIn,
    CampaignOut,
    CampaignResults,
    OutboundMessageIn,
    OutboundMessageOut,
    PresenceIn,
    PresenceOut,
    SkuPairingsOut,
    SuggestionsOut,
)
from omniretail.errors import ValidationFailed
from omniretail.network import service as network
from omniretail.schemas import Code, Page
from omniretail.web import Ctx, CtxDep, IdPageDep, keyed_page

router = APIRouter(prefix="/v1", tags=["engagement"])


@router.post("/messages", status_code=201, response_model=OutboundMessageOut)
async def queue_outbound_message(body: OutboundMessageIn, ctx: CtxDep) -> JSONResponse:
    """Queue a templated message to a customer; the worker sends it. A marketing template
    needs the customer's opt-in for the medium (409 ``no_consent`` otherwise)."""
    ctx.require(Permission.ENGAGEMENT_WRITE)
    async with ctx.uow() as uow:
        return await ctx.create(
            uow,
            lambda: messages.do_queue_message(
                uow,
                customer_id=body.customer_id,
                medium=body.medium,
                template_code=body.template,
                params=body.params,
                locale=body.locale,
            ),
        )


@router.get("/messages", response_model=Page[OutboundMessageOut])
async def list_outbound_messages(
    ctx: CtxDep,
    paging: IdPageDep,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    status: MessageStatus | None = None,
) -> dict[str, Any]:
    ctx.require(Permission.ENGAGEMENT_WRITE)
    async with ctx.uow() as uow:
        rows = await messages.list_messages(
            uow, limit=paging.limit, after=paging.after, customer_id=customer_id, status=status
        )
    return keyed_page(list(rows), limit=paging.limit)


@router.get("/messages/{message_id}", response_model=OutboundMessageOut)
async def get_outbound_message(
    message_id: Annotated[str, Path(min_length=1, max_length=32)], ctx: CtxDep
) -> OutboundMessageOut:
    ctx.require(Permission.ENGAGEMENT_WRITE)
    async with ctx.uow() as uow:
        return await messages.get_message(uow, message_id)


@router.post("/campaigns", status_code=201, response_model=CampaignOut)
async def create_campaign(body: CampaignIn, ctx: CtxDep) -> JSONResponse:
    """A campaign reacting to events; ``tryon_no_purchase``: a try-on with no order of that
    SKU within ``delay_minutes`` earns a single-use coupon of ``promotion``."""
    ctx.require(Permission.ENGAGEMENT_WRITE)
    async with ctx.uow() as uow:
        return await ctx.create(uow, lambda: campaigns.do_create_campaign(uow, data=body))


@router.get("/campaigns", response_model=list[CampaignOut])
async def list_campaigns(ctx: CtxDep) -> list[CampaignOut]:
    ctx.require(Permission.ENGAGEMENT_WRITE)
    async with ctx.uow() as uow:
        return await campaigns.list_campaigns(uow)


@router.get("/campaigns/{code}", response_model=CampaignOut)
async def get_campaign(code: Code, ctx: CtxDep) -> CampaignOut:
    ctx.require(Permission.ENGAGEMENT_WRITE)
    async with ctx.uow() as uow:
        return await campaigns.get_campaign(uow, code)


@router.post("/campaigns/{code}/stop", response_model=CampaignOut)
async def stop_campaign(code: Code, ctx: CtxDep) -> CampaignOut:
    """No new targets; those still waiting end without an offer."""
    ctx.require(Permission.ENGAGEMENT_WRITE)
    async with ctx.uow() as uow:
        return await campaigns.do_stop_campaign(uow, code=code)


@router.get("/campaigns/{code}/results", response_model=CampaignResults)
async def campaign_results(code: Code, ctx: CtxDep) -> CampaignResults:
    """Sent, redeemed, revenue attributed, against the control group when one is set."""
    ctx.require(Permission.ENGAGEMENT_WRITE)
    async with ctx.uow() as uow:
        return await campaigns.campaign_results(uow, code=code)


@router.post("/presence", response_model=PresenceOut)
async def report_presence(body: PresenceIn, ctx: CtxDep) -> PresenceOut:
    """A customer's app says where they are: the nearest store within ``radius_km`` and its
    store-only offer, messaged on a consented medium once a day per store. One report a minute
    per customer (429 otherwise)."""
    ctx.require(Permission.EVENTS_WRITE)
    async with ctx.uow() as uow:
        return await presence.do_report_presence(
            uow, customer_id=body.customer_id, lat=body.lat, lng=body.lng, radius_km=body.radius_km
        )


async def _check_store(ctx: Ctx, uow: UnitOfWork, location: str) -> None:
    """A store key reads its own store's stock only."""
    location_id, _ = await network.location_ref(uow, location)
    ctx.require_location(location_id)


@router.get("/customers/{customer_id}/suggestions", response_model=SuggestionsOut)
async def customer_suggestions(
    customer_id: CustomerId,
    ctx: CtxDep,
    location: Annotated[
        Code | None, Query(description="the store whose stock to suggest from (a store key's own)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> SuggestionsOut:
    """The guide screen's suggestions: what goes with what the customer bought or looked at
    lately, available at the store now, best first. Any key that may read the customer may
    ask (customers belong to the tenant, not to a channel); a store key for its own store."""
    ctx.require(Permission.READ)
    where = location or ctx.principal.location_code
    if where is None:
        raise ValidationFailed(
            "a store is needed", [{"field": "location", "message": "name the store"}]
        )
    async with ctx.uow() as uow:
        await _check_store(ctx, uow, where)
        return await suggestions.customer_suggestions(
            uow, customer_id=customer_id, location=where, limit=limit
        )


@router.get("/skus/{sku}/pairings", response_model=SkuPairingsOut)
async def sku_pairings(
    sku: Code,
    ctx: CtxDep,
    location: Annotated[
        Code | None, Query(description="only what is available at this location")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SkuPairingsOut:
    """What customers bought (co_purchase) or looked at (co_view) together with this SKU,
    best first; with ``location``, only what is available there (a store key: its own)."""
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        if location is not None:
            await _check_store(ctx, uow, location)
        return await suggestions.sku_pairings(uow, sku=sku, location=location, limit=limit)
