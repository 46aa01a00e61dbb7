"""Customers, identities, merges, consent and behaviour events over HTTP.

A merged customer id keeps working: every ``/v1/customers/{id}`` route acts on the survivor, and
``GET`` answers with the survivor's record and ``redirected_from`` naming the id asked for.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from omniretail.auth.domain import Permission
from omniretail.customers import behaviour, search, service
from omniretail.customers.domain import BehaviourType
from omniretail.customers.schemas import (
    BehaviourAccepted,
    BehaviourBatchIn,
    BehaviourLabel,
    BehaviourOut,
    ConsentIn,
    ConsentOut,
    CustomerId,
    CustomerIn,
    CustomerOut,
    IdentityIn,
    MergeIn,
    MergeOut,
    PointsSummary,
    ResolveIn,
)
from omniretail.errors import Forbidden
from omniretail.loyalty import service as loyalty
from omniretail.schemas import Code, Instant, Page
from omniretail.web import Ctx, CtxDep, IdPageDep, PageDep, keyed_page, page

router = APIRouter(prefix="/v1", tags=["customers"])


def channel_for(ctx: Ctx, given: str | None) -> str | None:
    """A channel key acts for its own channel: it is the default and the only one allowed."""
    if given is not None:
        ctx.require_channel(given)
        return given
    return ctx.principal.channel_code


@router.post("/customers", status_code=201, response_model=CustomerOut)
async def create_customer(body: CustomerIn, ctx: CtxDep) -> JSONResponse:
    ctx.require(Permission.CUSTOMERS_WRITE)
    channel = channel_for(ctx, body.channel)
    async with ctx.uow() as uow:
        return await ctx.create(
            uow,
            lambda: service.do_create_customer(
                uow, identities=body.identities, name=body.name, channel=channel
            ),
        )


@router.get("/customers", response_model=Page[CustomerOut])
async def list_customers(
    ctx: CtxDep,
    paging: IdPageDep,
    q: Annotated[
        str | None,
        Query(
            min_length=1, max_length=200, description="customer id, any identity, or a name part"
        ),
    ] = None,
) -> dict[str, Any]:
    """The tenant's customers, newest first; every key that may read a customer may list them
    (as ``GET /v1/customers/{id}``)."""
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        rows = await search.list_customers(uow, limit=paging.limit, after=paging.after, q=q)
    return keyed_page(list(rows), limit=paging.limit)


@router.post("/customers/resolve", response_model=CustomerOut)
async def resolve_customer(body: ResolveIn, ctx: CtxDep) -> JSONResponse:
    """The one customer behind these identities (several customers are merged into the
    oldest); ``create_if_missing`` creates it (201) when nobody has any of them."""
    ctx.require(Permission.CUSTOMERS_WRITE)
    channel = channel_for(ctx, body.channel)
    async with ctx.uow() as uow:
        out, created = await service.do_resolve_customer(
            uow,
            identities=body.identities,
            create_if_missing=body.create_if_missing,
            channel=channel,
            actor=ctx.actor,
        )
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/customers/{customer_id}", response_model=CustomerOut)
async def get_customer(customer_id: CustomerId, ctx: CtxDep) -> CustomerOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        out = await service.get_customer(uow, customer_id)
        points = await loyalty.points_summary(uow, customer_id=out.id)
    out.points = PointsSummary(balance=points.balance, tier=points.tier)
    return out


@router.post("/customers/{customer_id}/identities", response_model=CustomerOut)
async def link_identity(customer_id: CustomerId, body: IdentityIn, ctx: CtxDep) -> JSONResponse:
    """Link an identity. If another customer holds it, that customer is merged into this one."""
    ctx.require(Permission.CUSTOMERS_WRITE)
    channel = ctx.principal.channel_code
    async with ctx.uow() as uow:
        return await ctx.create(
            uow,
            lambda: service.do_link_identity(
                uow, customer_id=customer_id, identity=body, channel=channel, actor=ctx.actor
            ),
            status=200,
        )


@router.post("/customers/{customer_id}/merge", response_model=MergeOut)
async def merge_customer(customer_id: CustomerId, body: MergeIn, ctx: CtxDep) -> JSONResponse:
    """Merge ``body.customer_id`` into this customer (this one survives)."""
    ctx.require(Permission.CUSTOMERS_WRITE)
    async with ctx.uow() as uow:
        return await ctx.create(
            uow,
            lambda: service.do_merge_customers(
                uow,
                survivor_id=customer_id,
                absorbed_id=body.customer_id,
                actor=ctx.actor,
                reason=body.reason,
            ),
            status=200,
        )


@router.get("/customers/{customer_id}/merges", response_model=list[MergeOut])
async def list_merges(customer_id: CustomerId, ctx: CtxDep) -> list[MergeOut]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return await service.list_merges(uow, customer_id)


@router.put("/customers/{customer_id}/consents/{channel}", response_model=ConsentOut)
async def set_consent(
    customer_id: CustomerId, channel: Code, body: ConsentIn, ctx: CtxDep
) -> ConsentOut:
    """Marketing consent for one messaging channel (``sms``, ``email``, ``wechat``, ...)."""
    ctx.require(Permission.CUSTOMERS_WRITE)
    async with ctx.uow() as uow:
        return await service.do_set_consent(
            uow,
            customer_id=customer_id,
            channel=channel,
            granted=body.granted,
            source=body.source,
            at=body.at,
        )


@router.post("/events", status_code=202, response_model=BehaviourAccepted)
async def record_behaviour(body: BehaviourBatchIn, ctx: CtxDep) -> JSONResponse:
    """A batch of behaviour events; all lines are stored or none. A line naming an identity
    nobody has yet creates an anonymous customer with it."""
    ctx.require(Permission.EVENTS_WRITE)
    for line in body.events:
        ctx.require_channel(line.channel)
        loc = ctx.principal.location_code
        if loc is not None and line.location not in (None, loc):
            raise Forbidden(f"this key acts for location {loc!r} only")
    async with ctx.uow() as uow:
        return await ctx.create(
            uow,
            lambda: behaviour.do_record_behaviour(uow, lines=body.events, actor=ctx.actor),
            status=202,
        )


@router.get("/customers/{customer_id}/events", response_model=Page[BehaviourOut])
async def list_behaviour(
    customer_id: CustomerId,
    ctx: CtxDep,
    paging: PageDep,
    since: Instant | None = None,
    until: Instant | None = None,
    type: Annotated[BehaviourLabel | None, Query()] = None,
) -> dict[str, Any]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        items = await behaviour.list_behaviour(
            uow,
            customer_id=customer_id,
            since=since,
            until=until,
            type_=BehaviourType.from_label(type) if type else None,
            limit=paging.limit,
            after=paging.after,
        )
    return page(list(items), limit=paging.limit, last_key=lambda e: [e.at.isoformat(), e.id])
