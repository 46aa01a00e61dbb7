"""Use cases of the store network."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from omniretail.db import UnitOfWork
from omniretail.errors import AlreadyExists, NotFound, ValidationFailed
from omniretail.events import record_event
from omniretail.network.domain import (
    DEFAULT_DELIVERY_RADIUS_KM,
    Capabilities,
    LocationType,
    capability_errors,
    distance_km,
    opening_hours_errors,
)
from omniretail.network.models import Location
from omniretail.network.schemas import Capabilities as CapabilitiesOut
from omniretail.network.schemas import LocationIn, LocationOut, LocationPatch
from omniretail.scoped import TenantRead, TenantStatement, read_in, read_ref, tenant_statement


def to_out(row: Location | sa.Row[Any]) -> LocationOut:
    return LocationOut(
        code=row.code,
        name=row.name,
        type=LocationType(row.type),
        lat=row.lat,
        lng=row.lng,
        address=row.address,
        capabilities=CapabilitiesOut(
            ship=row.can_ship,
            pickup=row.can_pickup,
            local_delivery=row.can_local_delivery,
            sells_online=row.sells_online,
        ),
        delivery_radius_km=row.delivery_radius_km,
        daily_capacity=row.daily_capacity,
        opening_hours=row.opening_hours,
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def location_errors(row: Location) -> list[dict[str, str]]:
    """Whole-record rules: the capabilities its type allows, well-formed opening hours."""
    caps = Capabilities(row.can_ship, row.can_pickup, row.can_local_delivery, row.sells_online)
    errors = [
        {"field": "capabilities", "message": m}
        for m in capability_errors(LocationType(row.type), caps)
    ]
    errors += [
        {"field": "opening_hours", "message": m}
        for m in opening_hours_errors(row.opening_hours or {})
    ]
    return errors


def check_location(row: Location) -> None:
    """Whole-record rules, checked after a create or a patch is applied."""
    errors = location_errors(row)
    if errors:
        raise ValidationFailed("invalid location", errors)


async def do_create_location(uow: UnitOfWork, *, data: LocationIn) -> LocationOut:
    exists = await uow.session.scalar(sa.select(Location.id).where(Location.code == data.code))
    if exists is not None:
        raise AlreadyExists(f"location {data.code!r} already exists", field="code")
    caps = data.capabilities
    radius = data.delivery_radius_km
    if radius is None and caps.local_delivery:
        radius = DEFAULT_DELIVERY_RADIUS_KM
    row = Location(
        code=data.code,
        name=data.name,
        type=data.type.value,
        lat=data.lat,
        lng=data.lng,
        address=data.address,
        can_ship=caps.ship,
        can_pickup=caps.pickup,
        can_local_delivery=caps.local_delivery,
        sells_online=caps.sells_online,
        delivery_radius_km=radius,
        daily_capacity=data.daily_capacity,
        opening_hours=data.opening_hours,
        active=data.active,
    )
    check_location(row)
    uow.session.add(row)
    await uow.flush()
    out = to_out(row)
    record_event(
        uow,
        "location.created",
        aggregate_type="location",
        aggregate_id=row.code,
        payload=out.model_dump(mode="json"),
    )
    return out


async def access_location(uow: UnitOfWork, code: str) -> Location:
    row = await uow.session.scalar(sa.select(Location).where(Location.code == code))
    if row is None:
        raise NotFound("location", code)
    return row


async def get_location(uow: UnitOfWork, code: str) -> LocationOut:
    return to_out(await access_location(uow, code))


# A location changes rarely and is read on every GET: this process serves it again for up to a
# second (its own writes are seen at once; see scoped.ReadCache and docs/architecture.md).
LOCATION_CACHE_SECONDS = 1.0

_LOCATION_BY_CODE = tenant_statement(
    sa.select(Location.__table__).where(
        Location.tenant_id == sa.bindparam("tenant_id"), Location.code == sa.bindparam("code")
    ),
    cache_seconds=LOCATION_CACHE_SECONDS,
)


async def read_location(read: TenantRead, code: str) -> LocationOut:
    """One location by code, outside any unit of work (the hot read of ``GET /locations``)."""
    row = await read.first(_LOCATION_BY_CODE, code=code)
    if row is None:
        raise NotFound("location", code)
    return to_out(row)


_LOCATION_ID = tenant_statement(
    sa.select(Location.id).where(
        Location.tenant_id == sa.bindparam("tenant_id"), Location.code == sa.bindparam("code")
    )
)


async def location_ref(uow: UnitOfWork, code: str) -> tuple[int, str]:
    """The internal id behind a location code, for other contexts to keep a reference. A code
    never changes its id and locations are never deleted (only deactivated), so it is read
    once per process (``scoped.read_ref``: kept once the reading unit of work committed)."""
    location_id = await read_ref(uow, _LOCATION_ID, code)
    if location_id is None:
        raise NotFound("location", code)
    return location_id, code


async def list_locations(
    uow: UnitOfWork, *, limit: int, after: Any = None, type_: LocationType | None = None
) -> list[LocationOut]:
    query = sa.select(Location).order_by(Location.code).limit(limit + 1)
    if after is not None:
        query = query.where(Location.code > str(after))
    if type_ is not None:
        query = query.where(Location.type == type_.value)
    return [to_out(row) for row in await uow.session.scalars(query)]


async def do_update_location(
    uow: UnitOfWork, *, row: Location, patch: LocationPatch
) -> LocationOut:
    changes = patch.model_dump(exclude_unset=True)
    caps = changes.pop("capabilities", None)
    if "name" in changes and changes["name"] is None:
        raise ValidationFailed("name cannot be cleared", [{"field": "name", "message": "required"}])
    for field in ("lat", "lng", "active"):
        if field in changes and changes[field] is None:
            raise ValidationFailed(
                f"{field} cannot be cleared", [{"field": field, "message": "required"}]
            )
    for field, value in changes.items():
        setattr(row, field, value)
    if caps is not None:
        # Only the flags given change; the others keep their values.
        for flag, value in caps.items():
            setattr(row, CAPABILITY_COLUMNS[flag].key, value)
        if row.can_local_delivery and row.delivery_radius_km is None:
            row.delivery_radius_km = DEFAULT_DELIVERY_RADIUS_KM
    check_location(row)
    await uow.flush()
    out = to_out(row)
    record_event(
        uow,
        "location.updated",
        aggregate_type="location",
        aggregate_id=row.code,
        payload={"code": row.code, "changed": sorted(patch.model_fields_set)},
    )
    return out


CAPABILITY_COLUMNS = {
    "ship": Location.can_ship,
    "pickup": Location.can_pickup,
    "local_delivery": Location.can_local_delivery,
    "sells_online": Location.sells_online,
}


@dataclass(frozen=True, slots=True)
class NearbyLocation:
    id: int
    code: str
    name: str
    type: str
    lat: float
    lng: float
    distance_km: float
    can_ship: bool
    can_pickup: bool
    can_local_delivery: bool
    sells_online: bool
    delivery_radius_km: float | None
    daily_capacity: int | None
    opening_hours: dict[str, Any] | None


# Beyond this radius a bounded nearest-N query ranks on coordinates before loading whole rows
# (bench_nearest); unbounded callers (a delivery-area check) skip that extra query.
WIDE_RADIUS_KM = 10.0
NEAREST_N_LIMIT = 500
_NEARBY_FIELDS = ("id", "code", "name", "type", "lat", "lng", "can_ship", "can_pickup",
                  "can_local_delivery", "sells_online", "delivery_radius_km", "daily_capacity",
                  "opening_hours")  # fmt: skip
_NEARBY_COLUMNS = [getattr(Location, name) for name in _NEARBY_FIELDS]


async def locations_near(
    uow: UnitOfWork,
    *,
    lat: float,
    lng: float,
    radius_km: float,
    capability: str | None = None,
    limit: int = 50,
) -> list[NearbyLocation]:
    """Active locations within ``radius_km`` of a point, nearest first.

    A bounding box narrows the rows in SQL (indexed on latitude); the exact great-circle distance
    is computed here, so the answer is the same on SQLite and PostgreSQL.
    """
    dlat = radius_km / 111.0
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    dlng = min(180.0, radius_km / (111.320 * cos_lat))
    box = [Location.active.is_(True), Location.lat.between(lat - dlat, lat + dlat)]
    if dlng < 180.0:
        box.append(Location.lng.between(lng - dlng, lng + dlng))
    if capability is not None:
        box.append(CAPABILITY_COLUMNS[capability].is_(True))
    if radius_km > WIDE_RADIUS_KM and limit <= NEAREST_N_LIMIT:
        # A wide circle holds many rows: rank them on coordinates alone and load full rows for
        # the nearest ``limit`` only; building thousands of full rows costs more than the query.
        light = sa.select(Location.id, Location.code, Location.lat, Location.lng).where(*box)
        within = sorted(
            (distance_km(lat, lng, row_lat, row_lng), code, location_id)
            for location_id, code, row_lat, row_lng in await uow.session.execute(light)
        )
        within = [w for w in within if w[0] <= radius_km]
        if not within:
            return []
        if len(within) > limit:
            box = [Location.id.in_([location_id for _, _, location_id in within[:limit]])]
    found: list[NearbyLocation] = []
    for row in await uow.session.execute(sa.select(*_NEARBY_COLUMNS).where(*box)):
        distance = distance_km(lat, lng, row.lat, row.lng)
        if distance <= radius_km:
            found.append(
                NearbyLocation(
                    distance_km=round(distance, 3),
                    **{name: getattr(row, name) for name in _NEARBY_FIELDS},
                )
            )
    found.sort(key=lambda loc: (loc.distance_km, loc.code))
    return found[:limit]


# Bound parameters per IN list: well under SQLite's and asyncpg's limits (32,766 / 32,767).
_IN_CHUNK = 10_000
MAX_DELIVERY_RADIUS_KM = 100.0  # the schema's bound on ``delivery_radius_km``


def _among(capability: str | None) -> TenantStatement:
    conditions = [Location.active.is_(True)]
    if capability is not None:
        conditions.append(CAPABILITY_COLUMNS[capability].is_(True))
    return tenant_statement(
        sa.select(*_NEARBY_COLUMNS).where(
            Location.tenant_id == sa.bindparam("tenant_id"),
            Location.id.in_(sa.bindparam("ids", expanding=True)),
            *conditions,
        )
    )


# One statement per capability (and none), built and checked once (the checkout's sourcing).
_AMONG = {capability: _among(capability) for capability in [None, *CAPABILITY_COLUMNS]}


async def locations_among(
    uow: UnitOfWork,
    ids: Collection[int],
    *,
    lat: float,
    lng: float,
    capability: str | None = None,
) -> list[NearbyLocation]:
    """The active locations among ``ids`` (with ``capability``), with their distance to the
    point, nearest first: primary-key lookups, so the cost follows ``ids``, not the network."""
    wanted = sorted(set(ids))
    statement = _AMONG[capability]
    found: list[NearbyLocation] = []
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        for row in await read_in(uow, statement, ids=chunk):
            found.append(
                NearbyLocation(
                    distance_km=round(distance_km(lat, lng, row.lat, row.lng), 3),
                    **{name: getattr(row, name) for name in _NEARBY_FIELDS},
                )
            )
    found.sort(key=lambda loc: (loc.distance_km, loc.code))
    return found


async def delivers_to(uow: UnitOfWork, *, lat: float, lng: float) -> bool:
    """Whether any active local-delivery location has the point within its delivery radius
    (stock aside); a bounded query around the point, whatever the size of the network."""
    nearby = await locations_near(
        uow, lat=lat, lng=lng, radius_km=MAX_DELIVERY_RADIUS_KM, capability="local_delivery",
        limit=1_000_000,
    )  # fmt: skip
    return any(loc.distance_km <= (loc.delivery_radius_km or 0.0) for loc in nearby)


@dataclass(frozen=True, slots=True)
class LocationBrief:
    id: int
    code: str
    type: str
    active: bool


async def locations_by_code(uow: UnitOfWork, codes: list[str]) -> dict[str, LocationBrief]:
    """One query for many codes; unknown codes are simply absent from the result."""
    wanted = list(dict.fromkeys(codes))
    if not wanted:
        return {}
    rows = await uow.session.execute(
        sa.select(Location.id, Location.code, Location.type, Location.active).where(
            Location.code.in_(wanted)
        )
    )
    return {r.code: LocationBrief(r.id, r.code, r.type, r.active) for r in rows}


async def location_ids_without(uow: UnitOfWork, capability: str) -> set[int]:
    """Ids of the locations that lack ``capability`` (e.g. ``sells_online``) or are inactive:
    usually the few to leave out of a network-wide sum."""
    column = CAPABILITY_COLUMNS[capability]
    rows = await uow.session.scalars(
        sa.select(Location.id).where(sa.or_(Location.active.is_(False), column.is_(False)))
    )
    return set(rows)


async def daily_capacities(uow: UnitOfWork, codes: Collection[str]) -> dict[int, int]:
    """{location id: daily capacity} for those of ``codes`` that have a capacity."""
    if not codes:
        return {}
    rows = await uow.session.execute(
        sa.select(Location.id, Location.daily_capacity).where(
            Location.code.in_(list(codes)), Location.daily_capacity.is_not(None)
        )
    )
    return {int(loc): int(cap) for loc, cap in rows if cap is not None}
