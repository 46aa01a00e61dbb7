from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, model_validator

from omniretail.network.domain import LocationType
from omniretail.schemas import Code, Input, Name, Output

Lat = Annotated[float, Field(ge=-90, le=90, description="latitude, degrees (WGS 84)")]
Lng = Annotated[float, Field(ge=-180, le=180, description="longitude, degrees (WGS 84)")]
Radius = Annotated[float, Field(gt=0, le=100, description="local delivery reaches this far, in km")]
Interval = Annotated[str, Field(max_length=11)]
Hours = dict[Annotated[str, Field(max_length=3)], Annotated[list[Interval], Field(max_length=6)]]

SHIP = "ships online orders from its stock"
PICKUP = "hands over pickup orders"
LOCAL_DELIVERY = "delivers locally within its delivery radius"
SELLS_ONLINE = "its stock counts for online orders"
CODE = "the location's code, unique in the tenant (e.g. ST-001)"
NAME = "the name people see"
TYPE = "store, warehouse, dark_store, pickup_point or experience_store"
ADDRESS = "postal address, free text"
CAPABILITIES = "what it does for orders"
CAPACITY = "most orders routed to it per local day; null = no limit"
HOURS = "weekday (mon..sun) to intervals HH:MM-HH:MM, local time; null = always open"
ACTIVE = "an inactive location is not used for new orders"


class CapabilitiesIn(Input):
    ship: bool = Field(False, description=SHIP)
    pickup: bool = Field(False, description=PICKUP)
    local_delivery: bool = Field(False, description=LOCAL_DELIVERY)
    sells_online: bool = Field(False, description=SELLS_ONLINE)


class LocationIn(Input):
    code: Code = Field(description=CODE)
    name: Name = Field(description=NAME)
    type: LocationType = Field(description=TYPE)
    lat: Lat
    lng: Lng
    address: Annotated[str, Field(max_length=500)] | None = Field(None, description=ADDRESS)
    capabilities: CapabilitiesIn = Field(CapabilitiesIn(), description=CAPABILITIES)
    delivery_radius_km: Radius | None = Field(
        None, description="local delivery reaches this far, in km"
    )
    daily_capacity: Annotated[int, Field(ge=0, le=1_000_000)] | None = Field(
        None, description=CAPACITY
    )
    opening_hours: Hours | None = Field(None, description=HOURS)
    active: bool = Field(True, description=ACTIVE)


class LocationPatch(Input):
    """Every field optional; ``null`` clears the nullable ones."""

    name: Name | None = Field(None, description=NAME)
    lat: Lat | None = Field(None, description="latitude, degrees (WGS 84)")
    lng: Lng | None = Field(None, description="longitude, degrees (WGS 84)")
    address: Annotated[str, Field(max_length=500)] | None = Field(None, description=ADDRESS)
    capabilities: CapabilitiesIn | None = Field(None, description=CAPABILITIES)
    delivery_radius_km: Radius | None = Field(
        None, description="local delivery reaches this far, in km"
    )
    daily_capacity: Annotated[int, Field(ge=0, le=1_000_000)] | None = Field(
        None, description=CAPACITY
    )
    opening_hours: Hours | None = Field(None, description=HOURS)
    active: bool | None = Field(None, description=ACTIVE)

    @model_validator(mode="after")
    def _not_empty(self) -> LocationPatch:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self


# What a store's own key may change on its location (HotWax: managers set their capacity).
STORE_EDITABLE = frozenset({"daily_capacity", "opening_hours"})


class Capabilities(Output):
    ship: bool = Field(description=SHIP)
    pickup: bool = Field(description=PICKUP)
    local_delivery: bool = Field(description=LOCAL_DELIVERY)
    sells_online: bool = Field(description=SELLS_ONLINE)


class LocationOut(Output):
    code: str = Field(description=CODE)
    name: str = Field(description=NAME)
    type: LocationType = Field(description=TYPE)
    lat: float = Field(description="latitude, degrees (WGS 84)")
    lng: float = Field(description="longitude, degrees (WGS 84)")
    address: str | None = Field(description=ADDRESS)
    capabilities: Capabilities = Field(description=CAPABILITIES)
    delivery_radius_km: float | None = Field(description="local delivery reaches this far, in km")
    daily_capacity: int | None = Field(description=CAPACITY)
    opening_hours: dict[str, Any] | None = Field(description=HOURS)
    active: bool = Field(description=ACTIVE)
    created_at: dt.datetime = Field(description="when it was created (UTC)")
    updated_at: dt.datetime = Field(description="when it last changed (UTC)")


class Capability(StrEnum):
    SHIP = "ship"
    PICKUP = "pickup"
    LOCAL_DELIVERY = "local_delivery"
    SELLS_ONLINE = "sells_online"


class NearbyOut(Output):
    code: str = Field(description=CODE)
    name: str = Field(description=NAME)
    type: LocationType = Field(description=TYPE)
    lat: float = Field(description="latitude, degrees (WGS 84)")
    lng: float = Field(description="longitude, degrees (WGS 84)")
    distance_km: float = Field(description="distance from the point asked, km")
