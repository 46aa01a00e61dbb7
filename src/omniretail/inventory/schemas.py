from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, StringConstraints

from omniretail.schemas import Code, Input, Output

Qty = Annotated[int, Field(ge=-(10**9), le=10**9)]
Units = Annotated[int, Field(ge=0, le=10**9)]
Reference = Annotated[str, StringConstraints(max_length=200)]
BatchId = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$", max_length=100)
]


class PositionOut(Output):
    location: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int


class StockTotals(Output):
    on_hand: int
    reserved: int
    safety_stock: int
    available: int


class StockOut(Output):
    sku: str
    positions: list[PositionOut]
    totals: StockTotals


class CountIn(Input):
    on_hand: Units
    safety_stock: Units | None = None
    reference: Reference | None = None


class MovementLineIn(Input):
    sku: Code
    location: Code
    # Checked by the service (not an enum here) so a bad reason is named with its line index
    # together with every other bad line of the batch.
    reason: Annotated[str, StringConstraints(max_length=24)]
    qty: Qty
    reference: Reference | None = None


class MovementBatchIn(Input):
    batch_id: BatchId
    lines: Annotated[list[MovementLineIn], Field(min_length=1, max_length=20_000)]


class MovementBatchOut(Output):
    batch_id: str | None
    lines: int
    movements: int
    positions_changed: int


class ReserveLineIn(Input):
    sku: Code
    location: Code
    qty: Annotated[int, Field(ge=1, le=10**6)]


class ReservationIn(Input):
    lines: Annotated[list[ReserveLineIn], Field(min_length=1, max_length=500)]
    ttl_seconds: Annotated[int, Field(ge=1, le=7 * 24 * 3600)] = 900
    reference: Reference | None = None


class ReservationLineOut(Output):
    sku: str
    location: str
    qty: int
    state: str


class ReservationOut(Output):
    id: int
    status: str
    reference: str | None
    channel: str | None
    expires_at: dt.datetime | None
    created_at: dt.datetime
    lines: list[ReservationLineOut]


class NetworkAvailability(Output):
    available: int
    buffer: int
    available_to_sell: int


class LocationAvailability(Output):
    location: str
    name: str
    type: str
    distance_km: float
    available: int


class AvailabilityOut(Output):
    sku: str
    channel: str | None
    mode: str | None
    # Present without a point, or with ?network=true (nearby lookups skip the network sum).
    network: NetworkAvailability | None
    locations: list[LocationAvailability]


class BuffersIn(Input):
    default: Units = 0
    skus: Annotated[dict[Code, Units], Field(max_length=10_000)] = {}


class BuffersOut(Output):
    channel: str
    default: int
    skus: dict[str, int]
