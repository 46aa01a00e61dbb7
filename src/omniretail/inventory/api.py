"""Stock, movements, reservations, availability and channel buffers over HTTP."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse

from omniretail.auth.domain import Permission
from omniretail.db import UnitOfWork
from omniretail.errors import Forbidden, NotFound, ValidationFailed
from omniretail.group_commit import group_commit
from omniretail.inventory import availability as atp
from omniretail.inventory import listing, reservations, service
from omniretail.inventory.batch_holds import BatchOfHolds, HoldRequest
from omniretail.inventory.positions import StockLine
from omniretail.inventory.schemas import (
    AvailabilityOut,
    BuffersIn,
    BuffersOut,
    CountIn,
    MovementBatchIn,
    MovementBatchOut,
    PositionOut,
    ReservationIn,
    ReservationOut,
    StockOut,
)
from omniretail.lean_route import LeanRoute
from omniretail.network import service as network
from omniretail.schemas import Code, Page
from omniretail.web import Ctx, CtxDep, PageDep, ServerIdPath, keyed_page, model_response

router = APIRouter(prefix="/v1", tags=["inventory"], route_class=LeanRoute)


class Mode(StrEnum):
    SHIP = "ship"
    PICKUP = "pickup"
    LOCAL_DELIVERY = "local_delivery"


def require_own_locations(ctx: Ctx, codes: set[str]) -> None:
    """Store keys move stock at their own location only."""
    own = ctx.principal.location_code
    if own is not None and codes - {own}:
        raise Forbidden(f"this key acts for location {own!r} only")


@router.get("/inventory", response_model=Page[PositionOut])
async def list_positions(
    ctx: CtxDep, paging: PageDep, location: Annotated[Code | None, Query()] = None
) -> dict[str, Any]:
    """Stock positions of one location in SKU order, page by page (without ``location``:
    every position, by location then SKU). A store key sees its own location only."""
    ctx.require(Permission.READ)
    location = own_location(ctx, location)
    async with ctx.uow() as uow:
        rows = await listing.list_positions(
            uow, location=location, limit=paging.limit, after=paging.after
        )
    return keyed_page(list(rows), limit=paging.limit)


@router.get(
    "/inventory.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_positions(
    ctx: CtxDep,
    location: Annotated[Code | None, Query()] = None,
    bom: Annotated[
        bool, Query(description="start with a UTF-8 byte order mark, for Excel")
    ] = False,
) -> StreamingResponse:
    """Every stock position (or one location's) as CSV in UTF-8:
    ``location,sku,on_hand,reserved,safety_stock,available``. A store key gets its own
    location only."""
    ctx.require(Permission.READ)
    location = own_location(ctx, location)
    if location is not None:
        async with ctx.uow() as uow:
            await network.location_ref(uow, location)
    name = f"positions-{location}.csv" if location else "positions.csv"
    return StreamingResponse(
        listing.export_positions(ctx.db, ctx.principal.tenant_id, location=location, bom=bom),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def own_location(ctx: Ctx, location: str | None) -> str | None:
    """A store key reads its own location (the default) and no other."""
    own = ctx.principal.location_code
    if own is None:
        return location
    if location is not None and location != own:
        raise Forbidden(f"this key reads location {own!r} only")
    return own


@router.get("/inventory/{sku}", response_model=StockOut)
async def get_stock(sku: Code, ctx: CtxDep) -> StockOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return await service.stock_of_sku(uow, sku)


@router.put("/inventory/{location}/{sku}", response_model=PositionOut)
async def count_stock(location: Code, sku: Code, body: CountIn, ctx: CtxDep) -> PositionOut:
    """A counted quantity: sets on hand (the variance is a ``count`` movement), and
    optionally the safety stock."""
    ctx.require(Permission.STOCK_WRITE)
    require_own_locations(ctx, {location})
    async with ctx.uow() as uow:
        return await service.do_count(
            uow,
            location=location,
            sku=sku,
            on_hand=body.on_hand,
            safety_stock=body.safety_stock,
            reference=body.reference,
            actor=ctx.actor,
        )


@router.post("/inventory/movements", status_code=201, response_model=MovementBatchOut)
async def post_movements(body: MovementBatchIn, ctx: CtxDep) -> JSONResponse:
    """A batch of movements applied whole or not at all; idempotent per ``batch_id``."""
    ctx.require(Permission.STOCK_WRITE)
    require_own_locations(ctx, {line.location for line in body.lines})
    async with ctx.uow() as uow:
        result = await service.do_apply_movements(
            uow, lines=body.lines, actor=ctx.actor, batch_id=body.batch_id
        )
    return JSONResponse(result.model_dump(mode="json"), status_code=201)


@router.post("/reservations", status_code=201, response_model=ReservationOut)
async def create_reservation(body: ReservationIn, ctx: CtxDep) -> Response:
    ctx.require(Permission.RESERVE)
    require_own_locations(ctx, {line.location for line in body.lines})
    lines = [StockLine(ln.sku, ln.location, ln.qty) for ln in body.lines]

    async def reserve(uow: UnitOfWork) -> JSONResponse:
        return await ctx.create(
            uow,
            lambda: reservations.do_reserve(
                uow,
                lines=lines,
                ttl_seconds=body.ttl_seconds,
                reference=body.reference,
                channel=ctx.principal.channel_code,
                actor=ctx.actor,
            ),
        )

    if len({(line.location, line.sku) for line in lines}) == 1:
        # One position: a hot SKU's holds share one transaction and one commit per batch.
        await ctx.request.body()  # read here, in the request's own task
        location, sku = lines[0].location, lines[0].sku
        # Without an Idempotency-Key record to keep, the hold is also given as data: the
        # batch writes such holds in one statement (``batch_holds``).
        outcome = await group_commit(ctx.db).run(
            (location, sku),
            tenant_id=ctx.principal.tenant_id,
            work=reserve,
            shared=BatchOfHolds(location, sku),
            amount=sum(line.qty for line in lines) if all(ln.qty >= 1 for ln in lines) else 0,
            together=None
            if ctx.idempotency_key is not None
            else HoldRequest(
                lines=lines,
                ttl_seconds=body.ttl_seconds,
                actor=ctx.actor,
                reference=body.reference,
                channel=ctx.principal.channel_code,
            ),
        )
        if isinstance(outcome, ReservationOut):  # held together with the batch's others
            return model_response(outcome, status=201)
        response: Response = outcome
        return response
    async with ctx.uow() as uow:
        return await reserve(uow)


async def _access_reservation(ctx: Ctx, uow: UnitOfWork, reservation_id: int) -> ReservationOut:
    found = await reservations.get_reservation(uow, reservation_id)
    channel = ctx.principal.channel_code
    if channel is not None and found.channel != channel:
        raise NotFound("reservation", reservation_id)
    require_own_locations(ctx, {line.location for line in found.lines})
    return found


@router.get("/reservations/{reservation_id}", response_model=ReservationOut)
async def get_reservation(reservation_id: ServerIdPath, ctx: CtxDep) -> ReservationOut:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        return await _access_reservation(ctx, uow, reservation_id)


@router.delete("/reservations/{reservation_id}", response_model=ReservationOut)
async def release_reservation(reservation_id: ServerIdPath, ctx: CtxDep) -> ReservationOut:
    ctx.require(Permission.RESERVE)
    async with ctx.uow() as uow:
        await _access_reservation(ctx, uow, reservation_id)
        return await reservations.do_release_reservation(
            uow, reservation_id=reservation_id, actor=ctx.actor
        )


@router.get("/availability", response_model=AvailabilityOut)
async def get_availability(
    ctx: CtxDep,
    sku: Annotated[Code, Query()],
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lng: Annotated[float | None, Query(ge=-180, le=180)] = None,
    radius_km: Annotated[float, Query(gt=0, le=100)] = 10.0,
    mode: Mode | None = None,
    channel: Annotated[Code | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    network: bool = False,
) -> AvailabilityOut:
    """With ``lat``/``lng``: locations that can serve ``mode`` with stock, nearest first.
    Without a point (or with ``network=true``): the network view for the channel, less its
    buffer. A channel key always gets its own channel's view."""
    ctx.require(Permission.READ)
    if (lat is None) != (lng is None):
        raise ValidationFailed(
            "give lat and lng together",
            [{"field": "lat" if lat is None else "lng", "message": "required with the other"}],
        )
    async with ctx.uow() as uow:
        return await atp.availability(
            uow,
            sku=sku,
            channel=ctx.principal.channel_code or channel,
            lat=lat,
            lng=lng,
            radius_km=radius_km,
            mode=mode.value if mode else None,
            limit=limit,
            include_network=network,
        )


@router.get("/channels/{code}/buffers", response_model=BuffersOut)
async def get_buffers(code: Code, ctx: CtxDep) -> BuffersOut:
    ctx.require(Permission.READ)
    ctx.require_channel(code)  # another channel's buffers are the retailer's own policy
    async with ctx.uow() as uow:
        return await atp.channel_buffers(uow, code)


@router.put("/channels/{code}/buffers", response_model=BuffersOut)
async def put_buffers(code: Code, body: BuffersIn, ctx: CtxDep) -> BuffersOut:
    """Units held back from the channel's network available-to-sell: ``default`` for every
    SKU, ``skus`` per-SKU overrides. Replaces what was set."""
    ctx.require(Permission.CHANNELS_WRITE)
    async with ctx.uow() as uow:
        return await atp.do_set_channel_buffers(
            uow, channel=code, default=body.default, skus=body.skus
        )
