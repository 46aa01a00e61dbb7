from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from omniretail.auth.domain import Permission
from omniretail.errors import Forbidden
from omniretail.lean_route import LeanRoute
from omniretail.network import service
from omniretail.network.domain import LocationType
from omniretail.network.schemas import (
    STORE_EDITABLE,
    Capability,
    LocationIn,
    LocationOut,
    LocationPatch,
    NearbyOut,
)
from omniretail.schemas import Code, Page
from omniretail.scoped import TenantRead
from omniretail.web import CtxDep, PageDep, page

router = APIRouter(prefix="/v1/locations", tags=["locations"], route_class=LeanRoute)
# The hot reads, mounted ahead of every other router: FastAPI tries routes one by one, each try
# costing several microseconds, and the location GET used to come after sixteen of them.
# ``/nearest`` stays before ``/{code}``, which would take it for a code.
reads = APIRouter(prefix="/v1/locations", tags=["locations"], route_class=LeanRoute)


@router.post("", status_code=201, response_model=LocationOut)
async def create_location(body: LocationIn, ctx: CtxDep) -> JSONResponse:
    ctx.require(Permission.LOCATIONS_WRITE)
    async with ctx.uow() as uow:
        return await ctx.create(uow, lambda: service.do_create_location(uow, data=body))


@router.get("", response_model=Page[LocationOut])
async def list_locations(
    ctx: CtxDep, paging: PageDep, type: Annotated[LocationType | None, Query()] = None
) -> dict[str, Any]:
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        items = await service.list_locations(
            uow, limit=paging.limit, after=paging.after, type_=type
        )
    return page(list(items), limit=paging.limit, last_key=lambda loc: loc.code)


@reads.get("/nearest", response_model=list[NearbyOut])
async def nearest_locations(
    ctx: CtxDep,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lng: Annotated[float, Query(ge=-180, le=180)],
    radius_km: Annotated[float, Query(gt=0, le=500)] = 10.0,
    capability: Capability | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> list[NearbyOut]:
    """Active locations within ``radius_km`` of a point, nearest first (journey 5)."""
    ctx.require(Permission.READ)
    async with ctx.uow() as uow:
        found = await service.locations_near(
            uow,
            lat=lat,
            lng=lng,
            radius_km=radius_km,
            capability=capability.value if capability else None,
            limit=limit,
        )
    return [
        NearbyOut(
            code=f.code,
            name=f.name,
            type=LocationType(f.type),
            lat=f.lat,
            lng=f.lng,
            distance_km=f.distance_km,
        )
        for f in found
    ]


@reads.get("/{code}", response_model=LocationOut)
async def get_location(code: Code, ctx: CtxDep) -> LocationOut:
    ctx.require(Permission.READ)
    async with TenantRead(ctx.db, ctx.principal.tenant_id) as read:
        return await service.read_location(read, code)


@router.patch("/{code}", response_model=LocationOut)
async def update_location(code: Code, body: LocationPatch, ctx: CtxDep) -> LocationOut:
    async with ctx.uow() as uow:
        row = await service.access_location(uow, code)
        if not ctx.principal.can(Permission.LOCATIONS_WRITE):
            ctx.require(Permission.LOCATION_SETTINGS)
            ctx.require_location(row.id)
            extra = body.model_fields_set - STORE_EDITABLE
            if extra:
                raise Forbidden(f"a store key may change only {sorted(STORE_EDITABLE)}")
        return await service.do_update_location(uow, row=row, patch=body)
