"""Pure rules of orders and fulfilments: states, transitions, rejection effects, pickup codes."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum


class Mode(StrEnum):
    SHIP = "ship"
    PICKUP = "pickup"
    LOCAL_DELIVERY = "local_delivery"
    IN_STORE = "in_store"


# Which location capability each mode needs.
MODE_CAPABILITY = {
    Mode.SHIP: "ship",
    Mode.PICKUP: "pickup",
    Mode.LOCAL_DELIVERY: "local_delivery",
}


class FulfilmentStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    PICKING = "picking"
    READY = "ready"
    SHIPPED = "shipped"
    HANDED_OVER = "handed_over"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Action(StrEnum):
    ACCEPT = "accept"
    PICK = "pick"
    READY = "ready"
    SHIP = "ship"
    DELIVER = "deliver"
    HAND_OVER = "hand-over"
    REJECT = "reject"
    CANCEL = "cancel"


F = FulfilmentStatus
_OPEN = {F.PENDING, F.ACCEPTED, F.PICKING}

# (action) -> (allowed from, to, modes it applies to)
TRANSITIONS: dict[Action, tuple[frozenset[FulfilmentStatus], FulfilmentStatus, frozenset[Mode]]] = {
    Action.ACCEPT: (frozenset({F.PENDING}), F.ACCEPTED, frozenset(Mode)),
    Action.PICK: (frozenset({F.ACCEPTED}), F.PICKING, frozenset(Mode)),
    Action.READY: (frozenset({F.ACCEPTED, F.PICKING}), F.READY, frozenset({Mode.PICKUP})),
    Action.SHIP: (
        frozenset({F.ACCEPTED, F.PICKING}),
        F.SHIPPED,
        frozenset({Mode.SHIP, Mode.LOCAL_DELIVERY}),
    ),
    Action.DELIVER: (
        frozenset({F.SHIPPED}),
        F.DELIVERED,
        frozenset({Mode.SHIP, Mode.LOCAL_DELIVERY}),
    ),
    Action.HAND_OVER: (frozenset({F.READY}), F.HANDED_OVER, frozenset({Mode.PICKUP})),
    Action.REJECT: (frozenset(_OPEN), F.REJECTED, frozenset(Mode)),
    Action.CANCEL: (frozenset(_OPEN | {F.READY}), F.CANCELLED, frozenset(Mode)),
}

DONE = frozenset({F.HANDED_OVER, F.DELIVERED})
CLOSED = DONE | {F.REJECTED, F.CANCELLED}
# Stock leaves the location when these happen (the hold is consumed).
STOCK_LEAVES = frozenset({Action.SHIP, Action.HAND_OVER})


def next_status(status: FulfilmentStatus, action: Action, mode: Mode) -> FulfilmentStatus | None:
    """The status after ``action``, or None if the action is not allowed now."""
    allowed_from, to, modes = TRANSITIONS[action]
    if status not in allowed_from or mode not in modes:
        return None
    return to


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"
    PARTIALLY_FULFILLED = "partially_fulfilled"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NEEDS_ATTENTION = "needs_attention"  # lines no location can serve after a rejection


def order_status(
    paid: bool, fulfilments: list[FulfilmentStatus], unserved_lines: int
) -> OrderStatus:
    live = [s for s in fulfilments if s not in {F.REJECTED}]
    if live and all(s is F.CANCELLED for s in live) and unserved_lines == 0:
        return OrderStatus.CANCELLED
    if not paid:
        return OrderStatus.PENDING_PAYMENT
    if unserved_lines:
        return OrderStatus.NEEDS_ATTENTION
    active = [s for s in live if s is not F.CANCELLED]
    if active and all(s in DONE for s in active):
        return OrderStatus.COMPLETED
    if any(s in DONE for s in active):
        return OrderStatus.PARTIALLY_FULFILLED
    return OrderStatus.CONFIRMED


class RejectReason(StrEnum):
    """Why a store rejects lines, and what that does to its stock (after HotWax)."""

    NOT_IN_STOCK = "not_in_stock"  # the position is counted to zero
    DAMAGED = "damaged"  # the rejected units move out of sellable stock
    MISMATCH = "mismatch"  # on hand reduced by the rejected quantity
    NO_VARIANCE = "no_variance"  # no stock change (e.g. no staff to pick)


PICKUP_CODE_DIGITS = 8


def new_public_id(prefix: str) -> str:
    """An order's, fulfilment's or return's public id: its kind's prefix and 16 random hex."""
    return f"{prefix}_{secrets.token_hex(8)}"


def new_pickup_code() -> str:
    """Eight digits: short enough to read out at a counter; with attempts rate-limited per store,
    guessing one of the few codes ready at a store is hopeless."""
    return f"{secrets.randbelow(10**PICKUP_CODE_DIGITS):0{PICKUP_CODE_DIGITS}d}"


def pickup_code_digest(tenant_id: int, location_id: int, code: str) -> str:
    """Codes are stored as digests bound to their tenant and store, never in clear."""
    return hashlib.sha256(f"{tenant_id}:{location_id}:{code}".encode()).hexdigest()


def valid_pickup_code_shape(code: str) -> bool:
    return len(code) == PICKUP_CODE_DIGITS and code.isdigit()
