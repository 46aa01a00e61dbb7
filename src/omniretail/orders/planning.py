"""Where a checkout's lines come from, and holding them there: the plan (sourcing over the
candidate locations, or the customer's pickup store with transfers) and its reservation,
retried with fresh stock when a concurrent checkout took a unit first. An in-store sale is
planned at its till and holds nothing (its stock leaves with the order, ``orders.checkout``).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from omniretail.db import UnitOfWork
from omniretail.errors import Conflict, ValidationFailed
from omniretail.inventory import positions, reservations
from omniretail.inventory.service import InsufficientStock
from omniretail.network import service as network
from omniretail.orders import routing
from omniretail.orders.domain import Mode
from omniretail.orders.schemas import OrderIn
from omniretail.orders.sourcing import Candidate, Plan, Policy, plan_pickup, source_order

HOLD_ATTEMPTS = 3


class OutOfDeliveryArea(ValidationFailed):
    code = "out_of_delivery_area"
    title = "No location delivers to this address"


class PickupUnavailable(Conflict):
    code = "pickup_unavailable"
    title = "This store cannot serve the order"


@dataclass(slots=True)
class Draft:
    """What the steps of a checkout work out before the order is written."""

    public_id: str
    plan: list[tuple[str, float | None, list[tuple[str, int]]]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    sourcing: dict[str, Any] = field(default_factory=dict)
    reservation_id: int | None = None
    # The ids of the plan's locations as the plan's own query read them (no second look-up).
    location_ids: dict[str, int] = field(default_factory=dict)
    sources: frozenset[str] | None = None  # the only locations it may be sourced from


async def source_and_hold(
    uow: UnitOfWork,
    data: OrderIn,
    draft: Draft,
    *,
    now: dt.datetime,
    timezone: str,
    settings: dict[str, Any],
    actor: str,
    hold_ttl: int | None,
) -> None:
    """Plan where each line comes from and hold it there; retried with fresh stock when a
    concurrent checkout took a unit between reading and holding."""
    mode = data.fulfillment.mode
    lines = [(line.sku, line.qty) for line in data.lines]
    if mode is Mode.IN_STORE:
        # The stock itself leaves last (``_sell_in_store``): its rows are the ones every till
        # of the store contends for, so they are locked for the commit only.
        location = data.fulfillment.location
        assert location is not None
        draft.plan = [(location, None, lines)]
        draft.sourcing = {"mode": mode.value, "chosen": [location], "reason": "sold in store"}
        return
    for attempt in range(HOLD_ATTEMPTS):
        if attempt or not draft.plan:  # a plan made before the write lock is tried first
            await plan_lines(uow, data, draft, now=now, timezone=timezone, settings=settings)
        hold = [
            positions.StockLine(sku=sku, location=location, qty=qty)
            for location, _, plan_lines in draft.plan
            for sku, qty in plan_lines
        ] + [
            positions.StockLine(sku=sku, location=t["location"], qty=qty)
            for t in draft.transfers
            for sku, qty in t["lines"]
        ]
        try:
            async with uow.session.begin_nested():
                held = await reservations.do_reserve(
                    uow,
                    lines=hold,
                    ttl_seconds=hold_ttl,
                    actor=actor,
                    reference=draft.public_id,
                    channel=data.channel,
                    now=now,
                )
        except InsufficientStock:
            if attempt == HOLD_ATTEMPTS - 1:
                raise
            continue
        draft.reservation_id = held.id
        return


async def plan_lines(
    uow: UnitOfWork,
    data: OrderIn,
    draft: Draft,
    *,
    now: dt.datetime,
    timezone: str,
    settings: dict[str, Any],
) -> None:
    mode = data.fulfillment.mode
    lines = [(line.sku, line.qty) for line in data.lines]
    if mode is Mode.PICKUP:
        await _plan_pickup(uow, data, draft, lines, now=now, timezone=timezone)
        return
    address = data.fulfillment.address
    assert address is not None
    found = await routing.candidates_for(
        uow,
        mode=mode,
        lat=address.lat,
        lng=address.lng,
        skus=[s for s, _ in lines],
        now=now,
        timezone=timezone,
    )
    if (
        mode is Mode.LOCAL_DELIVERY
        and not any(
            c.excluded is None or "closed" in c.excluded or "capacity" in c.excluded
            for c in found.candidates
        )
        # No holder reaches the address: is it outside every radius, or only out of stock?
        and not await network.delivers_to(uow, lat=address.lat, lng=address.lng)
    ):
        raise OutOfDeliveryArea(
            "no store or dark store delivers to this address",
            [{"field": "fulfillment.address", "message": "outside every delivery radius"}],
        )
    max_shipments = 1 if mode is Mode.LOCAL_DELIVERY else int(settings.get("max_shipments", 3))
    candidates = _within_sources(found.candidates, draft.sources)
    plan = source_order(lines, candidates, Policy(max_shipments=max_shipments))
    if not plan.complete:
        raise _short(plan)
    draft.plan = [(s.location, s.distance_km, list(s.lines)) for s in plan.shipments]
    draft.transfers = []
    draft.sourcing = _explain(mode, plan) | {"considered": len(candidates)}
    draft.location_ids = {code: loc.id for code, loc in found.locations.items()}


async def _plan_pickup(
    uow: UnitOfWork,
    data: OrderIn,
    draft: Draft,
    lines: list[tuple[str, int]],
    *,
    now: dt.datetime,
    timezone: str,
) -> None:
    code = data.fulfillment.location
    assert code is not None
    store = await network.access_location(uow, code)
    if not store.can_pickup or not store.active:
        raise ValidationFailed(
            f"location {code!r} does not offer pickup",
            [{"field": "fulfillment.location", "message": "not a pickup location"}],
        )
    # Where the lines could come from (shipped to the store), and the store itself.
    candidates = functools.partial(
        routing.candidates_for,
        uow,
        lat=store.lat,
        lng=store.lng,
        skus=[s for s, _ in lines],
        now=now,
        timezone=timezone,
    )
    found = await candidates(mode=Mode.SHIP)
    here = await candidates(mode=Mode.PICKUP, only=[store.id])
    at_store = next(
        (c for c in here.candidates if c.code == code),
        Candidate(code, 0.0, {}, "not a pickup location"),
    )
    local, transfer, whole = plan_pickup(
        lines, at_store, _within_sources(found.candidates, draft.sources)
    )
    alternatives = [{"location": c.code, "distance_km": c.distance_km} for c in whole]
    if at_store.excluded is not None:
        raise PickupUnavailable(
            f"{code} cannot take pickups now: {at_store.excluded}", alternatives=alternatives
        )
    if transfer is not None and not transfer.complete:
        raise PickupUnavailable(
            f"{code} lacks {', '.join(s for s, _ in local.unserved)} and no location can send it",
            alternatives=alternatives,
            short=[{"sku": s, "qty": q} for s, q in transfer.unserved],
        )
    draft.plan = [(code, 0.0, list(local.shipments[0].lines))] if local.shipments else []
    if not draft.plan:
        draft.plan = [(code, 0.0, [])]
    draft.transfers = [
        {"location": s.location, "lines": [list(line) for line in s.lines]}
        for s in (transfer.shipments if transfer else ())
    ]
    draft.location_ids = {code: store.id}
    draft.sourcing = {
        "mode": "pickup",
        "chosen": [code],
        "reason": "the customer's chosen store"
        + ("" if not draft.transfers else "; missing lines are sent to it from other locations"),
        "transfers": draft.transfers,
        "alternatives": alternatives,
    }


def _within_sources(
    candidates: Sequence[Candidate], sources: frozenset[str] | None
) -> list[Candidate]:
    return [c for c in candidates if sources is None or c.code in sources]


def _short(plan: Plan) -> InsufficientStock:
    return InsufficientStock(
        "not enough stock to serve every line",
        lines=[{"sku": sku, "qty": qty} for sku, qty in plan.unserved],
    )


def _explain(mode: Mode, plan: Plan) -> dict[str, Any]:
    return {
        "mode": mode.value,
        "method": plan.method,
        "chosen": [s.location for s in plan.shipments],
        "decisions": [
            {
                "location": v.location,
                "distance_km": round(v.distance_km, 3),
                "chosen": v.chosen,
                "reason": v.reason,
            }
            for v in plan.explanation
        ],
    }
