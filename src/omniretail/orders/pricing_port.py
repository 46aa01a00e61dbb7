"""What checkout needs of pricing: a priced cart, and coupon redemption that is part of the
order's transaction. The one place orders talk to the pricing context."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from omniretail.catalog import service as catalog
from omniretail.db import UnitOfWork
from omniretail.errors import ValidationFailed


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


async def price_cart(
    uow: UnitOfWork,
    *,
    channel: str,
    customer_id: str | None,
    location: str | None,
    lines: Sequence[tuple[str, int]],
    coupon_codes: Sequence[str],
) -> PricedCart:
    variants = await catalog.variants_by_sku(uow, [sku for sku, _ in lines])
    errors = [
        {
            "field": f"lines.{i}.sku",
            "message": f"no sku {sku!r}" if sku not in variants else f"{sku!r} is archived",
        }
        for i, (sku, _) in enumerate(lines)
        if sku not in variants or not variants[sku].active
    ]
    if errors:
        raise ValidationFailed("the order names SKUs that cannot be sold", errors)
    priced = [
        PricedLine(
            sku=sku,
            title=variants[sku].title,
            qty=qty,
            unit_price=variants[sku].price,
            discount=0,
            line_total=variants[sku].price * qty,
        )
        for sku, qty in lines
    ]
    subtotal = sum(p.unit_price * p.qty for p in priced)
    return PricedCart(priced, subtotal, 0, subtotal)


async def redeem_coupons(
    uow: UnitOfWork,
    *,
    codes: Sequence[str],
    customer_id: str | None,
    order_ref: str,
    channel: str,
    location: str | None,
) -> None:
    raise ValidationFailed(
        "coupons are not available yet", [{"field": "coupon_codes", "message": "not supported"}]
    )


async def release_coupons(uow: UnitOfWork, *, order_ref: str) -> None:
    return None
