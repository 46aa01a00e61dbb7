from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, model_validator

from omniretail.pricing.domain import DiscountKind, Stacking
from omniretail.schemas import Code, Input, Instant, Output

Codes = Annotated[list[Code], Field(min_length=1, max_length=500)]
Category = Annotated[str, Field(min_length=1, max_length=200)]
Tiers = Annotated[list[Annotated[str, Field(max_length=32)]], Field(min_length=1, max_length=20)]

FEN = "integer minor units (fen)"
ONLY = "only these {what}; null = all"
KIND = (
    "percent (`value` % of the line, 1-100), amount (`value` fen off each unit), "
    "fixed_price (each unit costs `value` fen) or buy_x_get_y (for every buy + get units, "
    "the get cheapest are free)"
)
VALUE = "percent: a whole percentage; amount and fixed_price: fen; unused by buy_x_get_y"
STACKING = (
    "exclusive (the best single one wins) or stackable (applied one after another, by priority)"
)
PRIORITY = "stackable promotions apply in this order, lower number first"
REQUIRES_COUPON = "applies only with one of its coupons"
STARTS = "from this time (inclusive)"
ENDS = "until this time (exclusive)"
ACTIVE = "a deactivated promotion no longer applies"
PROMOTION_TITLE = "the name shoppers see on the receipt"
PROMOTION = "the promotion's code"
MAX_REDEMPTIONS = "uses in all"
PER_CUSTOMER = "uses per customer; null = no limit"


class ScopeIn(Input):
    channels: Codes | None = Field(None, description=ONLY.format(what="channels' codes"))
    locations: Codes | None = Field(None, description=ONLY.format(what="locations' codes"))
    skus: Codes | None = Field(None, description=ONLY.format(what="SKUs"))
    categories: Annotated[list[Category], Field(min_length=1, max_length=100)] | None = Field(
        None, description=ONLY.format(what="categories (and those below them, e.g. Women)")
    )
    tiers: Tiers | None = Field(None, description=ONLY.format(what="loyalty tiers' codes"))


class DiscountIn(Input):
    kind: DiscountKind = Field(description=KIND)
    value: Annotated[int, Field(ge=0, le=10**12)] = Field(0, description=VALUE)
    buy: Annotated[int, Field(ge=1, le=100)] | None = Field(
        None, description="buy_x_get_y: units to buy"
    )
    get: Annotated[int, Field(ge=1, le=100)] | None = Field(
        None, description="buy_x_get_y: units then free"
    )

    @model_validator(mode="after")
    def _shape(self) -> DiscountIn:
        if self.kind is DiscountKind.PERCENT and not 1 <= self.value <= 100:
            raise ValueError("a percent discount's value is a whole percentage, 1 to 100")
        if self.kind in (DiscountKind.AMOUNT,) and self.value < 1:
            raise ValueError("an amount discount takes at least 1 fen off")
        if self.kind is DiscountKind.BUY_X_GET_Y and (self.buy is None or self.get is None):
            raise ValueError("buy_x_get_y needs buy and get")
        return self


class PromotionIn(Input):
    code: Code = Field(description="the promotion's code, unique in the tenant")
    title: Annotated[str, Field(min_length=1, max_length=200)] = Field(description=PROMOTION_TITLE)
    scope: ScopeIn = Field(ScopeIn(), description="where it applies; empty = everywhere")
    discount: DiscountIn = Field(description="what it takes off")
    starts_at: Instant = Field(description=STARTS)
    ends_at: Instant = Field(description=ENDS)
    stacking: Stacking = Field(Stacking.STACKABLE, description=STACKING)
    priority: Annotated[int, Field(ge=0, le=10_000)] = Field(100, description=PRIORITY)
    requires_coupon: bool = Field(False, description=REQUIRES_COUPON)

    @model_validator(mode="after")
    def _window(self) -> PromotionIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class PromotionPatch(Input):
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description=PROMOTION_TITLE
    )
    starts_at: Instant | None = Field(None, description=STARTS)
    ends_at: Instant | None = Field(None, description=ENDS)
    priority: Annotated[int, Field(ge=0, le=10_000)] | None = Field(None, description=PRIORITY)
    active: bool | None = Field(None, description=ACTIVE)

    @model_validator(mode="after")
    def _not_empty(self) -> PromotionPatch:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self


class ScopeOut(Output):
    channels: list[str] | None = Field(None, description=ONLY.format(what="channels' codes"))
    locations: list[str] | None = Field(None, description=ONLY.format(what="locations' codes"))
    skus: list[str] | None = Field(None, description=ONLY.format(what="SKUs"))
    categories: list[str] | None = Field(None, description=ONLY.format(what="categories"))
    tiers: list[str] | None = Field(None, description=ONLY.format(what="loyalty tiers' codes"))


class DiscountOut(Output):
    kind: DiscountKind = Field(description=KIND)
    value: int = Field(description=VALUE)
    buy: int | None = Field(None, description="buy_x_get_y: units to buy")
    get: int | None = Field(None, description="buy_x_get_y: units then free")


class PromotionOut(Output):
    code: str = Field(description="the promotion's code")
    title: str = Field(description=PROMOTION_TITLE)
    scope: ScopeOut = Field(description="where it applies")
    discount: DiscountOut = Field(description="what it takes off")
    starts_at: dt.datetime = Field(description=STARTS + ", UTC")
    ends_at: dt.datetime = Field(description=ENDS + ", UTC")
    stacking: Stacking = Field(description=STACKING)
    priority: int = Field(description=PRIORITY)
    requires_coupon: bool = Field(description=REQUIRES_COUPON)
    active: bool = Field(description=ACTIVE)


class CouponIn(Input):
    code: Code = Field(description="what the shopper types, unique in the tenant")
    promotion: Code = Field(description="the code of the promotion it unlocks")
    max_redemptions: Annotated[int, Field(ge=1, le=100_000_000)] = Field(
        1, description=MAX_REDEMPTIONS
    )
    per_customer_limit: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        None, description=PER_CUSTOMER
    )
    channels: Codes | None = Field(None, description=ONLY.format(what="channels' codes"))
    locations: Codes | None = Field(None, description=ONLY.format(what="locations' codes"))
    starts_at: Instant | None = Field(None, description="valid from; null = the promotion's start")
    ends_at: Instant | None = Field(None, description="valid until; null = the promotion's end")


class CouponOut(Output):
    code: str = Field(description="what the shopper types")
    promotion: str = Field(description=PROMOTION)
    max_redemptions: int = Field(description=MAX_REDEMPTIONS)
    per_customer_limit: int | None = Field(description=PER_CUSTOMER)
    redeemed_count: int = Field(description="uses so far (read-only)")
    channels: list[str] | None = Field(description=ONLY.format(what="channels' codes"))
    locations: list[str] | None = Field(description=ONLY.format(what="locations' codes"))
    starts_at: dt.datetime | None = Field(description="valid from (UTC)")
    ends_at: dt.datetime | None = Field(description="valid until (UTC)")


class RedemptionIn(Input):
    order_ref: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="the order that uses the coupon; a second use for the same order is a no-op"
    )
    customer_id: Annotated[str, Field(max_length=40)] | None = Field(
        None, description="the customer, for the per-customer limit"
    )
    channel: Code = Field(description="the channel's code the order comes from")
    location: Code | None = Field(None, description="the store's code, for a store sale")


class QuoteLineIn(Input):
    sku: Code = Field(description="the variant's SKU")
    qty: Annotated[int, Field(ge=1, le=10_000)] = Field(description="units")


class QuoteIn(Input):
    channel: Code = Field(description="the channel's code the quote is for")
    customer_id: Annotated[str, Field(max_length=40)] | None = Field(
        None, description="the customer; their loyalty tier's promotions apply"
    )
    customer_tier: Annotated[str, Field(max_length=32)] | None = Field(
        None, description="a loyalty tier's code, when there is no customer id"
    )
    location: Code | None = Field(None, description="the store's code, for a store's prices")
    lines: Annotated[list[QuoteLineIn], Field(min_length=1, max_length=200)] = Field(
        description="the cart: 1 to 200 lines"
    )
    coupon_codes: Annotated[list[Code], Field(max_length=10)] = Field(
        [], description="coupons to try, at most 10"
    )


class DiscountApplied(Output):
    promotion: str = Field(description=PROMOTION)
    title: str = Field(description=PROMOTION_TITLE)
    amount: int = Field(description=f"taken off the line, {FEN}")


class QuoteLineOut(Output):
    sku: str = Field(description="the variant's SKU")
    title: str = Field(description="the product's title")
    qty: int = Field(description="units")
    unit_price: int = Field(description=f"list price of one unit, {FEN}")
    discounts: list[DiscountApplied] = Field(description="each discount on the line")
    discount: int = Field(description=f"the line's discounts together, {FEN}")
    line_total: int = Field(description=f"qty x unit_price - discount, {FEN}")


class Applied(Output):
    promotion: str = Field(description=PROMOTION)
    title: str = Field(description=PROMOTION_TITLE)
    amount: int = Field(description=f"taken off across all lines, {FEN}")


class NotApplied(Output):
    promotion: str = Field(description=PROMOTION)
    why: str = Field(description="why it did not apply (out of scope, beaten by another, ...)")


class QuoteOut(Output):
    currency: str = Field(description="ISO 4217 code of every amount (e.g. CNY)")
    channel: str = Field(description="the channel's code")
    location: str | None = Field(description="the store's code, if one was given")
    customer_tier: str | None = Field(description="the loyalty tier priced for")
    lines: list[QuoteLineOut] = Field(description="the priced lines")
    subtotal: int = Field(description=f"the lines at list price, {FEN}")
    discount_total: int = Field(description=f"all discounts, {FEN}")
    total: int = Field(description=f"what the cart costs, {FEN}")
    applied: list[Applied] = Field(description="promotions that took something off")
    not_applied: list[NotApplied] = Field(description="promotions in play that did not, and why")
    coupons: list[str] = Field(description="the coupon codes presented (and found)")
