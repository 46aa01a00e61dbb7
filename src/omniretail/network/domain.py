"""Pure rules of the store network: location types, capabilities, opening hours, distance."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from enum import StrEnum


class LocationType(StrEnum):
    STORE = "store"
    WAREHOUSE = "warehouse"
    DARK_STORE = "dark_store"
    PICKUP_POINT = "pickup_point"
    EXPERIENCE_STORE = "experience_store"


DEFAULT_DELIVERY_RADIUS_KM = 3.0
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")

OpeningHours = dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class Capabilities:
    ship: bool = False
    pickup: bool = False
    local_delivery: bool = False
    sells_online: bool = False


def capability_errors(location_type: LocationType, caps: Capabilities) -> list[str]:
    """An experience store holds samples only, so it can fulfil nothing itself."""
    errors: list[str] = []
    if location_type is LocationType.EXPERIENCE_STORE and (
        caps.ship or caps.pickup or caps.local_delivery
    ):
        errors.append(
            "an experience store holds no stock: ship, pickup and local_delivery must be false"
        )
    if location_type is LocationType.PICKUP_POINT and (caps.ship or caps.local_delivery):
        errors.append(
            "a pickup point hands over parcels only: ship and local_delivery must be false"
        )
    return errors


def opening_hours_errors(hours: OpeningHours) -> list[str]:
    errors: list[str] = []
    for day, intervals in hours.items():
        if day not in WEEKDAYS:
            errors.append(f"{day!r} is not one of {', '.join(WEEKDAYS)}")
            continue
        for interval in intervals:
            match = _INTERVAL_RE.match(interval)
            if match is None:
                errors.append(f"{day}: {interval!r} is not HH:MM-HH:MM")
                continue
            start = int(match.group(1)) * 60 + int(match.group(2))
            end = int(match.group(3)) * 60 + int(match.group(4))
            if end <= start or end > 24 * 60:
                errors.append(f"{day}: {interval!r} must end after it starts, by 24:00")
    return errors


def is_open(hours: OpeningHours | None, local_time: dt.datetime) -> bool:
    """No opening hours set means always open (warehouses, dark stores)."""
    if not hours:
        return True
    day = WEEKDAYS[local_time.weekday()]
    minute = local_time.hour * 60 + local_time.minute
    for interval in hours.get(day, []):
        start_s, end_s = interval.split("-")
        start = int(start_s[:2]) * 60 + int(start_s[3:])
        end = int(end_s[:2]) * 60 + int(end_s[3:])
        if start <= minute < end:
            return True
    return False


_EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle (haversine) distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
