"""Checkout in one transaction: price, redeem, source, hold, pay, create.

Everything happens inside the caller's unit of work, so a failure at any step (stock gone,
coupon used up, points short, payment declined) rolls back all of it: no order, no hold, no
redeemed coupon, no spent points. Nothing here calls out of the process: in-person tenders are
captured when recorded, online ones stay pending until the provider's signed callback.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from omniretail.auth import service as auth
from omniretail.channels import service as channels
from omniretail.customers import service as customers
from omniretail.db import UnitOfWork, utcnow
from omniretail.errors import Conflict, Forbidden, NotFound, ValidationFailed
from omniretail.events import record_event
from omniretail.inventory import positions, reservations, sales
from omniretail.inventory.service import InsufficientStock
from omniretail.loyalty import service as loyalty
from omniretail.network import service as network
from omniretail.orders import placing, pricing_port, routing
from omniretail.orders.access import Caller as Caller  # re-exported for callers
from omniretail.orders.domain import (
    FulfilmentStatus,
    Mode,
    OrderStatus,
    new_pickup_code,
)
from omniretail.orders.domain import pickup_code_digest as code_digest
from omniretail.orders.models import Fulfilment, Order
from omniretail.orders.numbers import new_order_number
from omniretail.orders.placing import (
    NewEvent,
    NewFulfilment,
    NewFulfilmentLine,
    NewLine,
    NewOrder,
    NewPayment,
)
from omniretail.orders.queries import named_attribution
from omniretail.orders.schemas import (
    FulfilmentLineOut,
    FulfilmentOut,
    OrderIn,
    OrderLineOut,
    OrderOut,
    PaymentIn,
    PaymentOut,
    TotalsOut,
)
from omniretail.orders.sourcing import Candidate, Plan, Policy, plan_pickup, source_order
from omniretail.payments.providers import PaymentProvider, PaymentStatus

HOLD_ATTEMPTS = 3


class PaymentDeclined(Conflict):
    code = "payment_declined"
    title = "Payment declined"


class PaymentMismatch(ValidationFailed):
    code = "payment_mismatch"
    title = "Payments do not add up to the total"


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


@dataclass(frozen=True, slots=True)
class Prepared:
    """The read-only work of a checkout done before its write transaction (see
    ``orders.read_first``): the quote and the plan, valid while ``version`` holds."""

    quote: pricing_port.PricedCart
    version: tuple[Any, ...]
    plan: list[tuple[str, float | None, list[tuple[str, int]]]] | None = None
    transfers: list[dict[str, Any]] = field(default_factory=list)
    sourcing: dict[str, Any] = field(default_factory=dict)
    location_ids: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FixedPrices:
    """Unit prices fixed by the code path that owns them (a group buy), and why."""

    prices: dict[str, int]
    reason: str
    title: str


def new_public_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


async def do_place_order(
    uow: UnitOfWork,
    *,
    data: OrderIn,
    caller: Caller,
    providers: dict[str, PaymentProvider],
    internal_payments: Sequence[PaymentIn] = (),
    now: dt.datetime | None = None,
    prepared: Prepared | None = None,
    sources: Sequence[str] | None = None,
    fixed_prices: FixedPrices | None = None,
    pickup_code_digest: str | None = None,
) -> OrderOut:
    """Place the order in the caller's unit of work. ``data.payments`` are the client's
    tenders and may never name an internal method (422 on the field, nothing changes);
    ``internal_payments`` are added by the code path that owns them (exchange credit,
    platform-collected money). ``prepared`` (the quote and plan worked out before the write
    lock, already confirmed still valid) is used instead of pricing and sourcing again; holds
    still re-check the stock and re-plan when it moved. ``sources``, when given, are the only
    locations the order may ship from or have its pickup lines sent from (a platform shop's
    own locations); ``prepared`` is then ignored. ``fixed_prices`` (a group buy's group
    price) replaces the engine's price of those SKUs and is all the customer pays (no delivery
    fee); ``pickup_code_digest`` is the digest of the code a pickup is handed over with, when
    the owning code path issued the code earlier (a group buy's member, at the same store): no
    new code is issued then."""
    now = now or utcnow()
    check_client_payments(data.payments, providers)
    for payment in internal_payments:
        if not getattr(providers.get(payment.method), "internal", False):
            raise ValueError(f"{payment.method!r} is not an internal tender")
    tenders = [*internal_payments, *data.payments]
    tenant = await auth.tenant_terms(uow)
    settings = tenant.settings
    mode = data.fulfillment.mode
    # A quote prepared before the write lock found the channel and the fulfilment's location
    # (pricing checks both), and nothing deletes either: they are not read again.
    await _check_references(uow, data, caller, checked=prepared is not None and sources is None)
    customer_id = await _customer(uow, data.customer_id)
    draft = Draft(
        public_id=new_public_id("ord"), sources=None if sources is None else frozenset(sources)
    )
    if sources is not None:
        prepared = None  # planned over every location: plan again within the sources

    quote = (
        prepared.quote
        if prepared
        else await pricing_port.price_cart(
            uow,
            channel=data.channel,
            customer_id=customer_id,
            location=data.fulfillment.location,
            lines=[(line.sku, line.qty) for line in data.lines],
            coupon_codes=data.coupon_codes,
        )
    )
    if fixed_prices is not None:
        quote = pricing_port.with_fixed_prices(
            quote, fixed_prices.prices, reason=fixed_prices.reason, title=fixed_prices.title
        )
    if prepared is not None:
        draft.location_ids = dict(prepared.location_ids)
        if prepared.plan is not None:
            draft.plan, draft.transfers = prepared.plan, prepared.transfers
            draft.sourcing = prepared.sourcing
    # A fixed price (a group buy's) is all the customer pays: no fee is added to it.
    delivery_fee = (
        0
        if fixed_prices is not None
        else await _delivery_fee(uow, mode, customer_id, settings, now)
    )
    total = quote.total + delivery_fee

    online = any(getattr(providers.get(p.method), "online", False) for p in tenders)
    # An unpaid online order's hold expires with its payment window, so abandoned checkouts
    # give their stock back; a paid order's hold never expires.
    hold_ttl = int(settings.get("payment_window_seconds", 900)) if online else None
    await _source_and_hold(
        uow,
        data,
        draft,
        now=now,
        timezone=tenant.timezone,
        settings=settings,
        actor=caller.actor,
        hold_ttl=hold_ttl,
    )
    if data.coupon_codes:
        await pricing_port.redeem_coupons(
            uow,
            codes=data.coupon_codes,
            customer_id=customer_id,
            order_ref=draft.public_id,
            channel=data.channel,
            location=data.fulfillment.location,
        )
    points_value = 0
    if data.points_to_redeem:
        points_value = await _redeem_points(uow, data, customer_id, draft.public_id, total)
    payments = _authorise(
        data, tenders, providers, total - points_value, tenant.currency, draft.public_id
    )
    if points_value:
        payments.insert(
            0,
            NewPayment(
                method="points",
                amount=points_value,
                status=PaymentStatus.CAPTURED.value,
                provider_ref=f"points:{draft.public_id}",
            ),
        )
    paid = all(p.status == PaymentStatus.CAPTURED.value for p in payments)
    location_ids = {
        code: draft.location_ids.get(code) or (await network.location_ref(uow, code))[0]
        for code, _, _ in draft.plan
    }
    status = (
        OrderStatus.COMPLETED
        if mode is Mode.IN_STORE and paid
        else OrderStatus.CONFIRMED
        if paid
        else OrderStatus.PENDING_PAYMENT
    )
    order = NewOrder(
        public_id=draft.public_id,
        number=new_order_number(now, tenant.timezone),
        channel=data.channel,
        customer_id=customer_id,
        status=status.value,
        mode=mode.value,
        placed_at_location=caller.location,
        attributed_location=data.attributed_location,
        attributed_staff=data.attributed_staff,
        currency=tenant.currency,
        subtotal=quote.subtotal,
        discount_total=quote.discount_total,
        delivery_fee=delivery_fee,
        total=total,
        points_redeemed=data.points_to_redeem,
        paid_amount=sum(p.amount for p in payments if p.status == PaymentStatus.CAPTURED.value),
        coupon_codes=list(data.coupon_codes),
        address=data.fulfillment.address.model_dump() if data.fulfillment.address else None,
        sourcing=draft.sourcing,
        created_at=now,
        lines=[
            NewLine(
                sku=p.sku,
                title=p.title,
                qty=p.qty,
                unit_price=p.unit_price,
                discount=p.discount,
                line_total=p.line_total,
                discounts=p.discounts,
            )
            for p in quote.lines
        ],
        payments=payments,
    )
    codes = _fulfilments(
        order, draft, mode, settings, now, location_ids, issue_codes=pickup_code_digest is None
    )
    for fulfilment, code in codes:
        if code is not None:
            fulfilment.pickup_code_digest = code_digest(
                uow.require_tenant(), fulfilment.location_id, code
            )
        elif mode is Mode.PICKUP:
            fulfilment.pickup_code_digest = pickup_code_digest
    _announce(order, now)
    # The response is built before anything is written: nothing is read back, and for an
    # in-store sale nothing but the commit follows the statement that locks the stock.
    out = placed_out(order, {f.public_id: code for f, code in codes if code is not None})
    if status is OrderStatus.COMPLETED and customer_id is not None:
        await _earn(uow, order, now)
    if mode is Mode.IN_STORE and sales.can_carry(uow, settings):
        # One statement writes the order and takes its stock, the rows locked last.
        carried = placing.carried_by_sale(order)
        await _sell_in_store(
            uow, data, draft, actor=caller.actor, now=now, settings=settings, carrying=carried
        )
        return out
    await placing.write_order(uow, order)
    if mode is Mode.IN_STORE:
        await _sell_in_store(uow, data, draft, actor=caller.actor, now=now, settings=settings)
    return out


async def _check_references(
    uow: UnitOfWork, data: OrderIn, caller: Caller, *, checked: bool = False
) -> None:
    """The caller may order for this channel and location, and the references exist
    (``checked``: the channel and the fulfilment's location were found already)."""
    if caller.channel is not None and caller.channel != data.channel:
        raise Forbidden(f"this key places orders for channel {caller.channel!r} only")
    mode = data.fulfillment.mode
    if (
        caller.location is not None
        and mode is Mode.IN_STORE
        and (data.fulfillment.location != caller.location)
    ):
        raise Forbidden(f"this key sells at location {caller.location!r} only")
    errors = []
    try:
        if not checked:
            await channels.channel_ref(uow, data.channel)
    except NotFound:
        errors.append({"field": "channel", "message": f"no channel {data.channel!r}"})
    for field_name, code in (
        ("fulfillment.location", None if checked else data.fulfillment.location),
        ("attributed_location", data.attributed_location),
    ):
        if code is None:
            continue
        try:
            await network.location_ref(uow, code)
        except NotFound:
            errors.append({"field": field_name, "message": f"no location {code!r}"})
    if errors:
        raise ValidationFailed("the order names what does not exist", errors)


async def _customer(uow: UnitOfWork, public_id: str | None) -> str | None:
    if public_id is None:
        return None
    try:
        return (await customers.customer_ref(uow, public_id)).public_id
    except NotFound as exc:
        raise ValidationFailed(
            "unknown customer", [{"field": "customer_id", "message": "no such customer"}]
        ) from exc


async def _delivery_fee(
    uow: UnitOfWork,
    mode: Mode,
    customer_id: str | None,
    settings: dict[str, Any],
    now: dt.datetime,
) -> int:
    fee = int((settings.get("delivery_fees") or {}).get(mode.value, 0))
    if fee and customer_id is not None:
        benefits = await loyalty.benefits_for(uow, customer_id=customer_id, at=now)
        if benefits.free_delivery:
            return 0
    return fee


async def _source_and_hold(
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
            await _plan(uow, data, draft, now=now, timezone=timezone, settings=settings)
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


async def _sell_in_store(
    uow: UnitOfWork,
    data: OrderIn,
    draft: Draft,
    *,
    actor: str,
    now: dt.datetime,
    settings: dict[str, Any],
    carrying: sales.CarriedSale | None = None,
) -> None:
    """The till's stock leaves at once, after everything else of the order is written (or
    with it, ``carrying`` the order's rows): the conditional UPDATEs lock the store's stock
    rows, and every other checkout at the store waits on them until this transaction commits,
    so nothing that needs no lock runs while they are held. Short stock still refuses the
    whole order (the unit of work rolls back)."""
    location = data.fulfillment.location
    assert location is not None
    await sales.do_sell_in_store(
        uow,
        location=location,
        lines=[(line.sku, line.qty) for line in data.lines],
        actor=actor,
        reference=draft.public_id,
        now=now,
        settings=settings,
        carrying=carrying,
    )


async def _plan(
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
    found = await routing.candidates_for(
        uow,
        mode=Mode.SHIP,
        lat=store.lat,
        lng=store.lng,
        skus=[s for s, _ in lines],
        now=now,
        timezone=timezone,
    )
    here = await routing.candidates_for(
        uow,
        mode=Mode.PICKUP,
        lat=store.lat,
        lng=store.lng,
        skus=[s for s, _ in lines],
        now=now,
        timezone=timezone,
        only=[store.id],
    )
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


async def _redeem_points(
    uow: UnitOfWork, data: OrderIn, customer_id: str | None, order_ref: str, total: int
) -> int:
    if customer_id is None:
        raise ValidationFailed(
            "points need a customer", [{"field": "points_to_redeem", "message": "give customer_id"}]
        )
    redemption = await loyalty.do_redeem_points(
        uow,
        customer_id=customer_id,
        points=data.points_to_redeem,
        reason="checkout tender",
        order_ref=order_ref,
        idempotency_key=f"order:{order_ref}",
        channel=data.channel,
    )
    if redemption.money_value > total:
        raise ValidationFailed(
            "the points are worth more than the order",
            [{"field": "points_to_redeem", "message": f"at most worth {total}"}],
        )
    return int(redemption.money_value)


def check_client_payments(
    payments: Sequence[PaymentIn],
    providers: dict[str, PaymentProvider],
    *,
    field_prefix: str = "payments",
) -> None:
    """A client names only public tenders: an unknown or internal method is a 422 on its
    field, before anything is read or written."""
    public = sorted(code for code, p in providers.items() if not getattr(p, "internal", False))
    errors = [
        {"field": f"{field_prefix}.{i}.method", "message": f"one of {', '.join(public)}"}
        for i, payment in enumerate(payments)
        if payment.method not in public
    ]
    if errors:
        raise ValidationFailed("unknown or unusable payment method", errors)


def _authorise(
    data: OrderIn,
    tenders: Sequence[PaymentIn],
    providers: dict[str, PaymentProvider],
    due: int,
    currency: str,
    reference: str,
) -> list[NewPayment]:
    """Authorise the owning code path's internal tenders, then the client's (already checked
    to be public ones by :func:`check_client_payments`)."""
    errors = []
    for i, payment in enumerate(data.payments):
        provider = providers[payment.method]
        if provider.in_person and data.fulfillment.mode is not Mode.IN_STORE:
            errors.append(
                {
                    "field": f"payments.{i}.method",
                    "message": f"{payment.method} is taken in store only",
                }
            )
    if errors:
        raise ValidationFailed("unknown or unusable payment method", errors)
    given = sum(p.amount for p in tenders)
    if given != due:
        raise PaymentMismatch(
            f"payments add up to {given}, the amount due is {due}",
            [{"field": "payments", "message": f"must add up to {due}"}],
            amount_due=due,
        )
    out = []
    for i, payment in enumerate(tenders):
        result = providers[payment.method].authorise(
            amount=payment.amount,
            currency=currency,
            reference=f"{reference}-{i}",
            token=payment.token,
        )
        if result.status is PaymentStatus.DECLINED:
            raise PaymentDeclined(
                result.message or "the payment was declined", method=payment.method
            )
        out.append(
            NewPayment(
                method=payment.method,
                amount=payment.amount,
                status=result.status.value,
                provider_ref=result.provider_ref,
            )
        )
    return out


def _fulfilments(
    order: NewOrder,
    draft: Draft,
    mode: Mode,
    settings: dict[str, Any],
    now: dt.datetime,
    location_ids: dict[str, int],
    *,
    issue_codes: bool = True,
) -> list[tuple[NewFulfilment, str | None]]:
    promise = {
        Mode.SHIP: dt.timedelta(hours=int(settings.get("ship_promise_hours", 48))),
        Mode.LOCAL_DELIVERY: dt.timedelta(minutes=int(settings.get("local_promise_minutes", 30))),
        Mode.PICKUP: dt.timedelta(hours=int(settings.get("pickup_promise_hours", 2))),
        Mode.IN_STORE: dt.timedelta(0),
    }[mode]
    if draft.transfers:
        promise += dt.timedelta(hours=int(settings.get("transfer_promise_hours", 24)))
    status = FulfilmentStatus.HANDED_OVER if mode is Mode.IN_STORE else FulfilmentStatus.PENDING
    transferred = [
        NewFulfilmentLine(sku=sku, qty=qty) for t in draft.transfers for sku, qty in t["lines"]
    ]
    out: list[tuple[NewFulfilment, str | None]] = []
    for location, distance, lines in draft.plan:
        code = new_pickup_code() if mode is Mode.PICKUP and issue_codes else None
        fulfilment = NewFulfilment(
            public_id=new_public_id("ful"),
            location_id=location_ids[location],
            location_code=location,
            mode=mode.value,
            status=status.value,
            distance_km=distance,
            promised_at=now + promise,
            reservation_id=str(draft.reservation_id) if draft.reservation_id else None,
            transfer_from=draft.transfers if mode is Mode.PICKUP else [],
            lines=[NewFulfilmentLine(sku=sku, qty=qty) for sku, qty in lines] + transferred,
        )
        order.fulfilments.append(fulfilment)
        out.append((fulfilment, code))
    return out


def placed_out(order: NewOrder, pickup_codes: dict[str, str]) -> OrderOut:
    """The response of a checkout, from what it writes (nothing is read back); pickup codes
    by fulfilment id, shown this once."""
    return OrderOut(
        id=order.public_id,
        number=order.number,
        status=OrderStatus(order.status),
        channel=order.channel,
        customer_id=order.customer_id,
        mode=Mode(order.mode),
        placed_at_location=order.placed_at_location,
        attributed_location=order.attributed_location,
        attributed_staff=order.attributed_staff,
        attribution=named_attribution(order.attributed_location, order.attributed_staff),
        lines=[
            OrderLineOut(
                sku=x.sku,
                title=x.title,
                qty=x.qty,
                unit_price=x.unit_price,
                discounts=x.discounts,
                discount=x.discount,
                line_total=x.line_total,
                returned_qty=x.returned_qty,
            )
            for x in order.lines
        ],
        totals=TotalsOut(
            currency=order.currency,
            subtotal=order.subtotal,
            discount_total=order.discount_total,
            delivery_fee=order.delivery_fee,
            points_redeemed=order.points_redeemed,
            total=order.total,
            paid=order.paid_amount,
        ),
        payments=[
            PaymentOut(
                method=p.method,
                amount=p.amount,
                status=p.status,
                provider_ref=p.provider_ref,
                refunded_amount=p.refunded_amount,
            )
            for p in order.payments
        ],
        fulfillments=[
            FulfilmentOut(
                id=f.public_id,
                order_id=order.public_id,
                location=f.location_code,
                mode=Mode(f.mode),
                status=FulfilmentStatus(f.status),
                lines=[FulfilmentLineOut(sku=x.sku, qty=x.qty) for x in f.lines],
                distance_km=f.distance_km,
                promised_at=f.promised_at,
                transfer_from=f.transfer_from,
                reason=None,
                pickup_code=pickup_codes.get(f.public_id),
            )
            for f in order.fulfilments
        ],
        coupon_codes=order.coupon_codes,
        sourcing=order.sourcing,
        created_at=order.created_at,
    )


def _announce(order: NewOrder, now: dt.datetime) -> None:
    """The new order's events, in the order they are written: ``order.placed``, each
    ``fulfillment.created``, and ``order.completed`` when it is (a paid till sale)."""
    order.events.append(
        NewEvent(
            "order.placed",
            {
                "order_id": order.public_id,
                "channel": order.channel,
                "customer_id": order.customer_id,
                "mode": order.mode,
                "total": order.total,
                "status": order.status,
                "attributed_location": order.attributed_location,
            },
        )
    )
    for f in order.fulfilments:
        order.events.append(
            NewEvent(
                "fulfillment.created",
                fulfilment_created(
                    order.public_id,
                    public_id=f.public_id,
                    location=f.location_code,
                    mode=f.mode,
                    status=f.status,
                    lines=[(x.sku, x.qty) for x in f.lines],
                ),
            )
        )
    if order.status == OrderStatus.COMPLETED.value:
        points = sum(p.amount for p in order.payments if p.method == "points")
        location = order.placed_at_location or next(
            (f.location_code for f in order.fulfilments), None
        )
        order.events.append(
            NewEvent(
                "order.completed",
                order_completed(
                    order.public_id,
                    customer_id=order.customer_id,
                    channel=order.channel,
                    location=location,
                    paid=order.paid_amount - points,
                    points_redeemed=order.points_redeemed,
                    now=now,
                ),
            )
        )


async def _earn(uow: UnitOfWork, order: NewOrder, now: dt.datetime) -> None:
    """Points for a paid till sale, in the placing transaction (as ``complete_order``)."""
    assert order.customer_id is not None
    await loyalty.do_earn_for_order(
        uow,
        customer_id=order.customer_id,
        order_ref=order.public_id,
        channel=order.channel,
        paid_amount=order.paid_amount
        - sum(p.amount for p in order.payments if p.method == "points"),
        at=now,
    )


def fulfilment_created(
    order_id: str,
    *,
    public_id: str,
    location: str,
    mode: str,
    status: str,
    lines: Sequence[tuple[str, int]],
    rerouted_from: str | None = None,
) -> dict[str, Any]:
    """The payload of ``fulfillment.created``: the store is told it has work."""
    payload: dict[str, Any] = {
        "fulfillment_id": public_id,
        "order_id": order_id,
        "location": location,
        "mode": mode,
        "status": status,
        "lines": [{"sku": sku, "qty": qty} for sku, qty in lines],
    }
    if rerouted_from is not None:
        payload["rerouted_from"] = rerouted_from
    return payload


def announce_fulfilment(
    uow: UnitOfWork, order_id: str, f: Fulfilment, *, rerouted_from: str | None = None
) -> None:
    """``fulfillment.created`` for a fulfilment made after checkout (a re-routing)."""
    record_event(
        uow,
        "fulfillment.created",
        aggregate_type="order",
        aggregate_id=order_id,
        payload=fulfilment_created(
            order_id,
            public_id=f.public_id,
            location=f.location_code,
            mode=f.mode,
            status=f.status,
            lines=[(line.sku, line.qty) for line in f.lines],
            rerouted_from=rerouted_from,
        ),
    )


def order_completed(
    order_id: str,
    *,
    customer_id: str | None,
    channel: str,
    location: str | None,
    paid: int,
    points_redeemed: int,
    now: dt.datetime,
) -> dict[str, Any]:
    """The payload of ``order.completed``."""
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "channel": channel,
        "location": location,
        "paid_amount": paid,
        "points_redeemed": points_redeemed,
        "completed_at": now.isoformat(),
    }


async def complete_order(uow: UnitOfWork, order: Order, now: dt.datetime) -> None:
    """Points are earned in the completing transaction itself (idempotent per order), so a
    return can never overtake them; ``order.completed`` then tells the profile and others."""
    if order.customer_id is not None:
        await loyalty.do_earn_for_order(
            uow,
            customer_id=order.customer_id,
            order_ref=order.public_id,
            channel=order.channel,
            paid_amount=order.paid_amount - _points_paid(order),
            at=now,
        )
    location = order.placed_at_location or next((f.location_code for f in order.fulfilments), None)
    record_event(
        uow,
        "order.completed",
        aggregate_type="order",
        aggregate_id=order.public_id,
        payload=order_completed(
            order.public_id,
            customer_id=order.customer_id,
            channel=order.channel,
            location=location,
            paid=order.paid_amount - _points_paid(order),
            points_redeemed=order.points_redeemed,
            now=now,
        ),
    )


def _points_paid(order: Order) -> int:
    return sum(p.amount for p in order.payments if p.method == "points")
