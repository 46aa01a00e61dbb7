"""Locations in bulk (an import of a chain's thousands of stores): a handful of statements
whatever the count, the same rules as one location at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa

from omniretail.db import UnitOfWork, utcnow
from omniretail.events import OutboxEvent, record_event
from omniretail.network.domain import DEFAULT_DELIVERY_RADIUS_KM
from omniretail.network.models import Location
from omniretail.network.schemas import LocationIn
from omniretail.network.service import location_errors, to_out

_CHUNK = 900  # codes per IN list
_INSERT_CHUNK = 1_000
OUTBOX = cast(sa.Table, OutboxEvent.__table__)


@dataclass(frozen=True, slots=True)
class LocationsUpsert:
    created: int
    updated: int
    conflicts: list[tuple[str, str, str]]  # (code, field, message)


def _columns(data: LocationIn) -> dict[str, Any]:
    caps = data.capabilities
    radius = data.delivery_radius_km
    if radius is None and caps.local_delivery:
        radius = DEFAULT_DELIVERY_RADIUS_KM
    return {
        "name": data.name,
        "lat": data.lat,
        "lng": data.lng,
        "address": data.address,
        "can_ship": caps.ship,
        "can_pickup": caps.pickup,
        "can_local_delivery": caps.local_delivery,
        "sells_online": caps.sells_online,
        "delivery_radius_km": radius,
        "daily_capacity": data.daily_capacity,
        "opening_hours": data.opening_hours,
        "active": data.active,
    }


async def do_upsert_locations(
    uow: UnitOfWork, *, locations: list[LocationIn], dry_run: bool = False
) -> LocationsUpsert:
    """Create the new codes (one bulk INSERT per thousand, each raised as ``location.created``)
    and update the known ones (only the changed ones are written and raised as
    ``location.updated``). A known location keeps its type; its new values must suit that type.
    With any conflict, or ``dry_run``, nothing is written."""
    existing: dict[str, Location] = {}
    codes = [loc.code for loc in locations]
    for start in range(0, len(codes), _CHUNK):
        query = sa.select(Location).where(Location.code.in_(codes[start : start + _CHUNK]))
        existing.update({row.code: row for row in await uow.session.scalars(query)})
    new = [loc for loc in locations if loc.code not in existing]
    changes: dict[str, dict[str, Any]] = {}
    conflicts: list[tuple[str, str, str]] = []
    for data in locations:
        columns = _columns(data)
        row = existing.get(data.code)
        probe = Location(type=row.type if row else data.type.value, **columns)
        conflicts += [(data.code, e["field"], e["message"]) for e in location_errors(probe)]
        if row is not None:
            changed = {k: v for k, v in columns.items() if getattr(row, k) != v}
            if changed:
                changes[data.code] = changed
    outcome = LocationsUpsert(len(new), len(locations) - len(new), conflicts)
    if conflicts or dry_run:
        return outcome
    await _insert(uow, new)
    for code, changed in changes.items():
        row = existing[code]
        for column, value in changed.items():
            setattr(row, column, value)
        record_event(
            uow,
            "location.updated",
            aggregate_type="location",
            aggregate_id=code,
            payload={"code": code, "changed": sorted(changed)},
        )
    await uow.flush()
    return outcome


async def _insert(uow: UnitOfWork, new: list[LocationIn]) -> None:
    tenant_id = uow.require_tenant()
    now = utcnow()
    rows = [
        {"tenant_id": tenant_id, "code": d.code, "type": d.type.value, **_columns(d),
         "created_at": now, "updated_at": now}
        for d in new
    ]  # fmt: skip
    # ``location.created`` for each, written like ``record_event`` (same outbox, same
    # transaction) but as one executemany per thousand.
    events = [
        {
            "tenant_id": tenant_id,
            "type": "location.created",
            "aggregate_type": "location",
            "aggregate_id": row["code"],
            "payload": to_out(Location(**row)).model_dump(mode="json"),
            "occurred_at": now,
            "attempts": 0,
        }
        for row in rows
    ]
    for start in range(0, len(rows), _INSERT_CHUNK):
        await uow.session.execute(sa.insert(Location), rows[start : start + _INSERT_CHUNK])
        await uow.session.execute(sa.insert(OUTBOX), events[start : start + _INSERT_CHUNK])
    uow.wrote_events = uow.wrote_events or bool(events)
