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


SKU = "the variant's SKU"
LOCATION = "the location's code"
ON_HAND = "units physically there"
RESERVED = "units held for orders and reservations, not yet gone"
SAFETY = "units kept back from sale (display, damage margin)"
AVAILABLE = "on_hand - reserved - safety_stock, never below 0: what can be sold"
REFERENCE = "free text for the audit trail (a delivery note, a count sheet, ...)"
REASONS = (
    "receipt, return, transfer_in (add qty); sale, transfer_out, damage, shipment (remove qty); "
    "adjustment (signed qty); count (on hand becomes qty)"
)


class PositionOut(Output):
    location: str = Field(description=LOCATION)
    sku: str = Field(description=SKU)
    on_hand: int = Field(description=ON_HAND)
    reserved: int = Field(description=RESERVED)
    safety_stock: int = Field(description=SAFETY)
    available: int = Field(description=AVAILABLE)


class StockTotals(Output):
    on_hand: int = Field(description="on hand at every location")
    reserved: int = Field(description="reserved at every location")
    safety_stock: int = Field(description="safety stock at every location")
    available: int = Field(description="available at every location")


class StockOut(Output):
    sku: str = Field(description=SKU)
    positions: list[PositionOut] = Field(description="one per location that has a position")
    totals: StockTotals = Field(description="the positions added up")


class CountIn(Input):
    on_hand: Units = Field(description="units counted; on hand becomes this (variance recorded)")
    safety_stock: Units | None = Field(None, description=SAFETY + "; null leaves it")
    reference: Reference | None = Field(None, description=REFERENCE)


class MovementLineIn(Input):
    sku: Code = Field(description=SKU)
    location: Code = Field(description=LOCATION)
    # Checked by the service (not an enum here) so a bad reason is named with its line index
    # together with every other bad line of the batch.
    reason: Annotated[str, StringConstraints(max_length=24)] = Field(description=REASONS)
    qty: Qty = Field(description="units; a positive number except for adjustment")
    reference: Reference | None = Field(None, description=REFERENCE)


class MovementBatchIn(Input):
    batch_id: BatchId = Field(
        description="the sender's id for the batch: a batch applies once, a resend is a no-op"
    )
    lines: Annotated[list[MovementLineIn], Field(min_length=1, max_length=20_000)] = Field(
        description="1 to 20,000 movements, applied together or not at all"
    )


class MovementBatchOut(Output):
    batch_id: str | None = Field(description="the batch's id")
    lines: int = Field(description="lines received")
    movements: int = Field(description="movements recorded (0 when the batch was already applied)")
    positions_changed: int = Field(description="stock positions that changed")


class ReserveLineIn(Input):
    sku: Code = Field(description=SKU)
    location: Code = Field(description="the code of the location to hold it at")
    qty: Annotated[int, Field(ge=1, le=10**6)] = Field(description="units to hold")


class ReservationIn(Input):
    lines: Annotated[list[ReserveLineIn], Field(min_length=1, max_length=500)] = Field(
        description="1 to 500 lines, all held or none (409 insufficient_stock)"
    )
    ttl_seconds: Annotated[int, Field(ge=1, le=7 * 24 * 3600)] = Field(
        900, description="seconds until the hold expires unless confirmed (at most 7 days)"
    )
    reference: Reference | None = Field(None, description="the caller's id (a cart, an order)")


class ReservationLineOut(Output):
    sku: str = Field(description=SKU)
    location: str = Field(description=LOCATION)
    qty: int = Field(description="units held")
    state: str = Field(description="held, consumed (the goods left), released or expired")


class ReservationOut(Output):
    id: int = Field(description="the reservation's id (read-only)")
    status: str = Field(description="active, confirmed (no expiry), consumed, released or expired")
    reference: str | None = Field(description="the caller's id")
    channel: str | None = Field(description="the channel's code that made it")
    expires_at: dt.datetime | None = Field(description="when an active hold lapses (UTC)")
    created_at: dt.datetime = Field(description="when it was made (UTC)")
    lines: list[ReservationLineOut] = Field(description="what is held where")


class NetworkAvailability(Output):
    available: int = Field(description="units available at every location that sells online")
    buffer: int = Field(description="units kept back from this channel (its buffers)")
    available_to_sell: int = Field(description="available - buffer, never below 0")


class LocationAvailability(Output):
    location: str = Field(description=LOCATION)
    name: str = Field(description="the location's name")
    type: str = Field(description="store, warehouse, dark_store, pickup_point or experience_store")
    distance_km: float = Field(description="from the given point, km")
    available: int = Field(description="units available there")


class AvailabilityOut(Output):
    sku: str = Field(description=SKU)
    channel: str | None = Field(description="the channel's code whose view this is")
    mode: str | None = Field(description="the fulfilment mode the locations can serve")
    # Present without a point, or with ?network=true (nearby lookups skip the network sum).
    network: NetworkAvailability | None = Field(
        description="the whole network's figure; null on a nearby lookup without network=true"
    )
    locations: list[LocationAvailability] = Field(
        description="locations with stock near the point, nearest first (empty without a point)"
    )


class BuffersIn(Input):
    default: Units = Field(0, description="units kept back from the channel for every SKU")
    skus: Annotated[dict[Code, Units], Field(max_length=10_000)] = Field(
        {}, description="per SKU, units kept back instead of the default"
    )


class BuffersOut(Output):
    channel: str = Field(description="the channel's code")
    default: int = Field(description="units kept back for every SKU")
    skus: dict[str, int] = Field(description="per SKU, units kept back instead of the default")
