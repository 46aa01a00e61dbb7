"""What checkout needs of pricing: a priced cart, and coupon redemption that is part of the
order's transaction. The one place orders talk to the pricing context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from omniretail.auth import service as auth
from omniretail.catalog import service as catalog
from omniretail.db import UnitOfWork, utcnow
from omniretail.loyalty import service as loyalty
from omniretail.pricing import service as pricing


@dataclass(frozen=True, slots=True)
class PricedLine:
    sku: str
    title: str
    qty: int
    unit_price: int
    discount: int
    line_total: int
    discounts: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PricedCart:
    lines: list[PricedLine]
    subtotal: int
    discount_total: int
    total: int


# PostgreSQL: the tenant's terms with the cart's variants and the active promotions, in ONE
# statement (what a checkout reads first, in three round trips otherwise).
_TERMS_AND_CART = auth.terms_statement(catalog.VARIANTS_OF_SKUS, pricing.PROMOTIONS_ACTIVE_AT)


async def terms_and_cart_inputs(
    uow: UnitOfWork, *, skus: Sequence[str]
) -> tuple[auth.TenantTerms, pricing.CartInputs | None]:
    """The tenant's terms (``auth.tenant_terms``, held for the unit of work as it holds them)
    and, on PostgreSQL, what pricing the cart of ``skus`` reads (the variants and the
    promotions active now), read with them in one statement; on SQLite, the terms alone (a
    statement costs no round trip there) and None."""
    if uow.dialect != "postgresql":
        return await auth.tenant_terms(uow), None
    at = utcnow()
    terms, (variants, promotions) = await auth.tenant_terms_with(
        uow,
        _TERMS_AND_CART,
        **{catalog.VARIANT_SKUS: list(dict.fromkeys(skus)), pricing.PROMOTIONS_AT: at},
    )
    return terms, pricing.CartInputs(
        variants=catalog.variants_from(variants), promotions=promotions, at=at
    )


async def price_cart(
    uow: UnitOfWork,
    *,
    channel: str,
    customer_id: str | None,
    location: str | None,
    lines: Sequence[tuple[str, int]],
    coupon_codes: Sequence[str],
    inputs: pricing.CartInputs | None = None,
) -> PricedCart:
    """The same quote as ``POST /v1/price-quotes``, with the customer's tier. ``inputs``: what
    pricing reads, read already (:func:`terms_and_cart_inputs`)."""
    tier = await loyalty.customer_tier(uow, customer_id) if customer_id else None
    # The engine's result itself, not the quote's response model built and taken apart again.
    priced, _ = await pricing.price(
        uow,
        channel=channel,
        lines=lines,
        customer_tier=tier,
        location=location,
        coupon_codes=coupon_codes,
        inputs=inputs,
    )
    return PricedCart(
        lines=[
            PricedLine(
                sku=x.sku,
                title=x.title,
                qty=x.qty,
                unit_price=x.unit_price,
                discount=x.discount,
                line_total=x.line_total,
                discounts=[
                    {"promotion": d.promotion, "title": d.title, "amount": d.amount}
                    for d in x.discounts
                ],
            )
            for x in priced.lines
        ],
        subtotal=priced.subtotal,
        discount_total=priced.discount_total,
        total=priced.total,
    )


def with_fixed_prices(
    cart: PricedCart, fixed: Mapping[str, int], *, reason: str, title: str
) -> PricedCart:
    """The cart with the listed SKUs at a price fixed by the code path that owns it (a group
    buy's group price): the line keeps its list price and is discounted down to the fixed one,
    explained as one discount named ``reason``; no promotion stacks on it. A fixed price above
    the list price is charged as the unit price, with no discount."""
    lines = []
    for line in cart.lines:
        if line.sku not in fixed:
            lines.append(line)
            continue
        unit = max(line.unit_price, fixed[line.sku])
        discount = (unit - fixed[line.sku]) * line.qty
        lines.append(
            PricedLine(
                sku=line.sku,
                title=line.title,
                qty=line.qty,
                unit_price=unit,
                discount=discount,
                line_total=fixed[line.sku] * line.qty,
                discounts=[{"promotion": reason, "title": title, "amount": discount}]
                if discount
                else [],
            )
        )
    subtotal = sum(x.unit_price * x.qty for x in lines)
    total = sum(x.line_total for x in lines)
    return PricedCart(lines=lines, subtotal=subtotal, discount_total=subtotal - total, total=total)


async def redeem_coupons(
    uow: UnitOfWork,
    *,
    codes: Sequence[str],
    customer_id: str | None,
    order_ref: str,
    channel: str,
    location: str | None,
) -> None:
    await pricing.do_redeem_coupons(
        uow,
        codes=codes,
        customer_id=customer_id,
        order_ref=order_ref,
        channel=channel,
        location=location,
    )


async def release_coupons(uow: UnitOfWork, *, order_ref: str) -> None:
    await pricing.do_release_coupon_redemptions(uow, order_ref=order_ref)


# What a quote depends on besides the customer's tier, as columns of a statement the caller
# reads anyway (``orders.read_first``: with the tenant's terms): the SKUs' audited prices and
# products, the promotions. Equal versions mean an earlier quote of the same cart still stands
# (coupons are checked again when redeemed).
VERSION_COLUMNS = (*catalog.PRICES_VERSION, pricing.PROMOTIONS_VERSION)


def version_parameters(skus: Sequence[str]) -> dict[str, Any]:
    """The parameters of :data:`VERSION_COLUMNS` for a cart of ``skus``."""
    return catalog.prices_version_parameters(skus)


async def customer_tier(uow: UnitOfWork, customer_id: str | None) -> str | None:
    """The customer's tier (what a quote for them depends on besides the prices)."""
    return await loyalty.customer_tier(uow, customer_id) if customer_id else None
