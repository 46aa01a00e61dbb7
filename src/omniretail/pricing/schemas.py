from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, model_validator

from omniretail.pricing.domain import DiscountKind, Stacking
from omniretail.schemas import Code, Input, Instant, Output

Codes = Annotated[list[Code], Field(min_length=1, max_length=500)]
Category = Annotated[str, Field(min_length=1, max_length=200)]


class ScopeIn(Input):
    channels: Codes | None = None
    locations: Codes | None = None
    skus: Codes | None = None
    categories: Annotated[list[Category], Field(min_length=1, max_length=100)] | None = None
    tiers: (
        Annotated[list[Annotated[str, Field(max_length=32)]], Field(min_length=1, max_length=20)]
        | None
    ) = None


class DiscountIn(Input):
    kind: DiscountKind
    value: Annotated[int, Field(ge=0, le=10**12)] = 0
    buy: Annotated[int, Field(ge=1, le=100)] | None = None
    get: Annotated[int, Field(ge=1, le=100)] | None = None

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
    code: Code
    title: Annotated[str, Field(min_length=1, max_length=200)]
    scope: ScopeIn = ScopeIn()
    discount: DiscountIn
    starts_at: Instant
    ends_at: Instant
    stacking: Stacking = Stacking.STACKABLE
    priority: Annotated[int, Field(ge=0, le=10_000)] = 100
    requires_coupon: bool = False

    @model_validator(mode="after")
    def _window(self) -> PromotionIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class PromotionPatch(Input):
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    priority: Annotated[int, Field(ge=0, le=10_000)] | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> PromotionPatch:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self


class ScopeOut(Output):
    channels: list[str] | None = None
    locations: list[str] | None = None
    skus: list[str] | None = None
    categories: list[str] | None = None
    tiers: list[str] | None = None


class DiscountOut(Output):
    kind: DiscountKind
    value: int
    buy: int | None = None
    get: int | None = None


class PromotionOut(Output):
    code: str
    title: str
    scope: ScopeOut
    discount: DiscountOut
    starts_at: dt.datetime
    ends_at: dt.datetime
    stacking: Stacking
    priority: int
    requires_coupon: bool
    active: bool


class CouponIn(Input):
    code: Code
    promotion: Code
    max_redemptions: Annotated[int, Field(ge=1, le=100_000_000)] = 1
    per_customer_limit: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    channels: Codes | None = None
    locations: Codes | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None


class CouponOut(Output):
    code: str
    promotion: str
    max_redemptions: int
    per_customer_limit: int | None
    redeemed_count: int
    channels: list[str] | None
    locations: list[str] | None
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None


class RedemptionIn(Input):
    order_ref: Annotated[str, Field(min_length=1, max_length=64)]
    customer_id: Annotated[str, Field(max_length=40)] | None = None
    channel: Code
    location: Code | None = None


class QuoteLineIn(Input):
    sku: Code
    qty: Annotated[int, Field(ge=1, le=10_000)]


class QuoteIn(Input):
    channel: Code
    customer_id: Annotated[str, Field(max_length=40)] | None = None
    customer_tier: Annotated[str, Field(max_length=32)] | None = None
    location: Code | None = None
    lines: Annotated[list[QuoteLineIn], Field(min_length=1, max_length=200)]
    coupon_codes: Annotated[list[Code], Field(max_length=10)] = []


class DiscountApplied(Output):
    promotion: str
    title: str
    amount: int


class QuoteLineOut(Output):
    sku: str
    title: str
    qty: int
    unit_price: int
    discounts: list[DiscountApplied]
    discount: int
    line_total: int


class Applied(Output):
    promotion: str
    title: str
    amount: int


class NotApplied(Output):
    promotion: str
    why: str


class QuoteOut(Output):
    currency: str
    channel: str
    location: str | None
    customer_tier: str | None
    lines: list[QuoteLineOut]
    subtotal: int
    discount_total: int
    total: int
    applied: list[Applied]
    not_applied: list[NotApplied]
    coupons: list[str]
