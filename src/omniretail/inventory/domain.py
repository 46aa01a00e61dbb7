"""Pure rules of stock: states, movement reasons and their direction, batch validation.

No I/O here. The services feed these functions the positions they locked or read and apply
what they return.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    RECEIPT = "receipt"
    SALE = "sale"
    RETURN = "return"
    ADJUSTMENT = "adjustment"
    COUNT = "count"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    DAMAGE = "damage"
    SHIPMENT = "shipment"
    PICKUP = "pickup"
    # Reservation movements: they change ``reserved`` only.
    RESERVE = "reserve"
    RELEASE = "release"
    EXPIRE = "expire"


# How a positive quantity of each ingested reason moves on hand. ADJUSTMENT is signed as given;
# COUNT sets on hand to the quantity (the variance is recorded).
INBOUND = frozenset({Reason.RECEIPT, Reason.RETURN, Reason.TRANSFER_IN})
OUTBOUND = frozenset({Reason.SALE, Reason.TRANSFER_OUT, Reason.DAMAGE, Reason.SHIPMENT})
INGESTED = INBOUND | OUTBOUND | {Reason.ADJUSTMENT, Reason.COUNT}
# How stock leaves when a reservation is consumed.
CONSUMING = frozenset({Reason.SHIPMENT, Reason.PICKUP, Reason.SALE})

MAX_TTL_SECONDS = 7 * 24 * 3600


class ReservationStatus(StrEnum):
    ACTIVE = "active"
    CONFIRMED = "confirmed"
    CONSUMED = "consumed"
    RELEASED = "released"
    EXPIRED = "expired"


HOLDING = (ReservationStatus.ACTIVE.value, ReservationStatus.CONFIRMED.value)


def available(on_hand: int, reserved: int, safety_stock: int) -> int:
    """What may still be promised: never below zero, whatever the counts say."""
    return max(0, on_hand - reserved - safety_stock)


def expiry(now: dt.datetime, ttl_seconds: int) -> dt.datetime:
    return now + dt.timedelta(seconds=ttl_seconds)


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a movement batch, after its SKU and location were resolved."""

    index: int
    sku: str
    location: str
    reason: Reason
    qty: int


@dataclass(slots=True)
class Position:
    on_hand: int
    reserved: int
    safety_stock: int


def line_shape_errors(reason: str, qty: int) -> list[str]:
    """What is wrong with a line on its own (no stock needed to tell)."""
    try:
        parsed = Reason(reason)
    except ValueError:
        return [f"reason must be one of {', '.join(sorted(r.value for r in INGESTED))}"]
    if parsed not in INGESTED:
        return [f"{reason!r} movements come from reservations, not from a batch"]
    if parsed is Reason.COUNT:
        return ["a counted quantity cannot be negative"] if qty < 0 else []
    if qty == 0:
        return ["quantity must not be zero"]
    if parsed is not Reason.ADJUSTMENT and qty < 0:
        return ["quantity must be positive: the reason gives the direction"]
    return []


def on_hand_delta(reason: Reason, qty: int, current_on_hand: int) -> int:
    if reason is Reason.COUNT:
        return qty - current_on_hand
    if reason in OUTBOUND:
        return -qty
    return qty


def walk_batch(
    lines: Sequence[Line],
    positions: Mapping[tuple[str, str], Position],
    *,
    allow_negative: bool,
) -> tuple[dict[int, int], list[dict[str, Any]]]:
    """Apply ``lines`` in order to copies of ``positions`` (keyed by (sku, location)).

    Returns each line's on-hand delta by index, and the errors of the lines that would take on
    hand below zero (unless the tenant allows negative stock). Counts set on hand absolutely.
    """
    running = {key: pos.on_hand for key, pos in positions.items()}
    deltas: dict[int, int] = {}
    errors: list[dict[str, Any]] = []
    for line in lines:
        key = (line.sku, line.location)
        current = running.get(key, 0)
        delta = on_hand_delta(line.reason, line.qty, current)
        after = current + delta
        if after < 0 and delta < 0 and not allow_negative:
            errors.append(
                {
                    "field": f"lines.{line.index}",
                    "index": line.index,
                    "message": f"{line.reason.value} of {line.qty} would leave on hand at {after}"
                    f" ({current} on hand at {line.location})",
                }
            )
        running[key] = after
        deltas[line.index] = delta
    return deltas, errors
