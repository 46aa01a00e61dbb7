"""Who may see and act on an order: scope follows the order (its channel, its stores), never a
field the client sends.

A channel key sees only the orders of the channels it may see (its own; for the retailer's own
touchpoints, all of them: see ``channels.service.visible_channels``), and everything hanging off
them (returns, cases): anything else is "not found", as another tenant's would be. A store key
may read the tenant's orders (a returns desk serves online orders too) but acts on an order
only when every part of it is its own: each fulfilment at its location, or, with none yet,
placed there.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from omniretail.errors import Forbidden, NotFound


@dataclass(frozen=True, slots=True)
class Caller:
    """Who places or acts on an order: for audit and for what a scoped key may do."""

    actor: str
    location: str | None = None  # a store key's own location
    channel: str | None = None  # a channel key's own channel
    channels: frozenset[str] | None = None  # the channels whose orders it sees; None: all


def check_order_visible(
    *, order_id: str, order_channel: str, channels: Collection[str] | None
) -> None:
    """A channel key cannot tell an order it may not see from a missing one."""
    if channels is not None and order_channel not in channels:
        raise NotFound("order", order_id)


def check_may_act_on_order(
    *,
    order_id: str,
    order_channel: str,
    placed_at: str | None,
    fulfilling: Iterable[str],
    caller: Caller,
) -> None:
    check_order_visible(order_id=order_id, order_channel=order_channel, channels=caller.channels)
    if caller.location is None:
        return
    locations: set[str | None] = set(fulfilling) or {placed_at}
    if locations != {caller.location}:
        raise Forbidden(f"this key acts for location {caller.location!r} only")


def check_location(location: str, *, caller_location: str | None) -> None:
    """A store key acts at its own location only."""
    if caller_location is not None and caller_location != location:
        raise Forbidden(f"this key acts for location {caller_location!r} only")
