from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, model_validator

from omniretail.network.domain import LocationType
from omniretail.schemas import Code, Input, Name, Output

Lat = Annotated[float, Field(ge=-90, le=90)]
Lng = Annotated[float, Field(ge=-180, le=180)]
Radius = Annotated[float, Field(gt=0, le=100)]
Interval = Annotated[str, Field(max_length=11)]
Hours = dict[Annotated[str, Field(max_length=3)], Annotated[list[Interval], Field(max_length=6)]]


class CapabilitiesIn(Input):
    ship: bool = False
    pickup: bool = False
    local_delivery: bool = False
    sells_online: bool = False


class LocationIn(Input):
    code: Code
    name: Name
    type: LocationType
    lat: Lat
    lng: Lng
    address: Annotated[str, Field(max_length=500)] | None = None
    capabilities: CapabilitiesIn = CapabilitiesIn()
    delivery_radius_km: Radius | None = None
    daily_capacity: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    opening_hours: Hours | None = None
    active: bool = True


class LocationPatch(Input):
    """Every field optional; ``null`` clears the nullable ones."""

    name: Name | None = None
    lat: Lat | None = None
    lng: Lng | None = None
    address: Annotated[str, Field(max_length=500)] | None = None
    capabilities: CapabilitiesIn | None = None
    delivery_radius_km: Radius | None = None
    daily_capacity: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    opening_hours: Hours | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> LocationPatch:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self


# What a store's own key may change on its location (HotWax: managers set their capacity).
STORE_EDITABLE = frozenset({"daily_capacity", "opening_hours"})


class Capabilities(Output):
    ship: bool
    pickup: bool
    local_delivery: bool
    sells_online: bool


class LocationOut(Output):
    code: str
    name: str
    type: LocationType
    lat: float
    lng: float
    address: str | None
    capabilities: Capabilities
    delivery_radius_km: float | None
    daily_capacity: int | None
    opening_hours: dict[str, Any] | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class Capability(StrEnum):
    SHIP = "ship"
    PICKUP = "pickup"
    LOCAL_DELIVERY = "local_delivery"
    SELLS_ONLINE = "sells_online"


class NearbyOut(Output):
    code: str
    name: str
    type: LocationType
    lat: float
    lng: float
    distance_km: float
