"""Checkout in one transaction: price, redeem, source, hold, pay, create.

Everything happens inside the caller's unit of work, so a failure at any step (stock gone,
coupon used up, points short, payment declined) rolls back all of it: no order, no hold, no
redeemed coupon, no spent points. Nothing here calls out of the process: in-person tenders are
captured when recorded, online ones stay pending until the provider's signed callback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from omniretail.auth import service as auth
from omniretail.channels import service as channels
from omniretail.customers import service as customers
from omniretail.db import UnitOfWork, utcnow
from omniretail.errors import Conflict, Forbidden, NotFound, ValidationFailed
from omniretail.inventory import sales
from omniretail.loyalty import service as loyalty
from omniretail.network import service as network
from omniretail.orders import building, placing, planning, pricing_port
from omniretail.orders.access import Caller as Caller  # re-exported for callers
from omniretail.orders.domain import Mode, OrderStatus
from omniretail.orders.domain import new_public_id as new_public_id  # re-exported for callers
from omniretail.orders.domain import pickup_code_digest as code_digest
from omniretail.orders.numbers import new_order_number
from omniretail.orders.placing import NewLine, NewOrder, NewPayment
from omniretail.orders.planning import OutOfDeliveryArea as OutOfDeliveryArea  # re-exported
from omniretail.orders.planning import PickupUnavailable as PickupUnavailable  # re-exported
from omniretail.orders.schemas import OrderIn, OrderOut, PaymentIn
from omniretail.payments.providers import PaymentProvider, PaymentStatus


class PaymentDeclined(Conflict):
    code = "payment_declined"
    title = "Payment declined"


class PaymentMismatch(ValidationFailed):
    code = "payment_mismatch"
    title = "Payments do not add up to the total"


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
    # Without a prepared quote, what pricing reads comes with the tenant's terms (PostgreSQL).
    tenant, inputs = (
        (await auth.tenant_terms(uow), None)
        if prepared is not None and sources is None
        else await pricing_port.terms_and_cart_inputs(uow, skus=[x.sku for x in data.lines])
    )
    settings = tenant.settings
    mode = data.fulfillment.mode
    # A quote prepared before the write lock found the channel and the fulfilment's location
    # (pricing checks both), and nothing deletes either: they are not read again.
    await _check_references(uow, data, caller, checked=prepared is not None and sources is None)
    customer_id = await _customer(uow, data.customer_id)
    draft = planning.Draft(
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
            inputs=inputs,
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
    await planning.source_and_hold(
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
    codes = building.add_fulfilments(
        order, draft, mode, settings, now, location_ids, issue_codes=pickup_code_digest is None
    )
    for fulfilment, code in codes:
        if code is not None:
            fulfilment.pickup_code_digest = code_digest(
                uow.require_tenant(), fulfilment.location_id, code
            )
        elif mode is Mode.PICKUP:
            fulfilment.pickup_code_digest = pickup_code_digest
    building.announce_order(order, now)
    # The response is built before anything is written: nothing is read back, and for an
    # in-store sale nothing but the commit follows the statement that locks the stock.
    out = building.placed_out(order, {f.public_id: code for f, code in codes if code is not None})
    if status is OrderStatus.COMPLETED and customer_id is not None:
        await building.earn_for_till_sale(uow, order, now)
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


async def _sell_in_store(
    uow: UnitOfWork,
    data: OrderIn,
    draft: planning.Draft,
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
