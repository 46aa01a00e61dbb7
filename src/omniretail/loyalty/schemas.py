from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, model_validator

from omniretail.loyalty.domain import DEFAULT_TIERS
from omniretail.schemas import Code, Input, Instant, Money, Name, Output

Points = Annotated[int, Field(ge=1, le=10**12)]
Pct = Annotated[int, Field(ge=0, le=10_000, description="percent: 150 = 1.5x")]
Reason = Annotated[str, Field(min_length=1, max_length=500)]


class TierIn(Input):
    code: Code
    min_spend: Money
    points_multiplier_pct: Pct = 100
    free_delivery: bool = False
    free_pickup: bool = True
    priority_pickup: bool = False


def default_tiers() -> list[TierIn]:
    return [
        TierIn(
            code=t.code,
            min_spend=t.min_spend,
            points_multiplier_pct=t.points_multiplier_pct,
            free_delivery=t.free_delivery,
            free_pickup=t.free_pickup,
            priority_pickup=t.priority_pickup,
        )
        for t in DEFAULT_TIERS
    ]


class PromotionIn(Input):
    code: Code
    multiplier_pct: Pct
    starts_at: Instant
    ends_at: Instant
    channels: Annotated[list[Code], Field(max_length=50)] = []

    @model_validator(mode="after")
    def _window(self) -> PromotionIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class RulesIn(Input):
    points_per_unit: Annotated[int, Field(ge=0, le=10_000)] = 1
    redeem_points_per_unit: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    expiry_days: Annotated[int, Field(ge=1, le=36_500)] | None = 365
    pending_days: Annotated[int, Field(ge=0, le=90)] = 0
    tiers: Annotated[list[TierIn], Field(max_length=20)] = Field(default_factory=default_tiers)
    promotions: Annotated[list[PromotionIn], Field(max_length=100)] = []

    @model_validator(mode="after")
    def _unique_tiers(self) -> RulesIn:
        codes = [t.code for t in self.tiers]
        if len(set(codes)) != len(codes):
            raise ValueError("each tier needs its own code")
        return self


class RulesOut(Output):
    points_per_unit: int
    redeem_points_per_unit: int
    expiry_days: int | None
    pending_days: int
    tiers: list[TierIn]
    promotions: list[PromotionIn]


class PointsOut(Output):
    customer_id: str
    balance: int
    pending: int = Field(description="earned, waiting out the after-sales window")
    money_value: int = Field(description="what the balance pays at checkout, minor units")
    tier: str | None
    rolling_spend: int


class EntryOut(Output):
    id: int
    kind: str
    points: int
    order_ref: str | None
    reason: str
    channel: str | None
    actor: str
    remaining: int
    expires_at: dt.datetime | None
    created_at: dt.datetime


class AdjustmentIn(Input):
    points: Annotated[int, Field(ge=-(10**12), le=10**12)]
    reason: Reason

    @model_validator(mode="after")
    def _not_zero(self) -> AdjustmentIn:
        if self.points == 0:
            raise ValueError("points must not be 0")
        return self


class RedemptionIn(Input):
    points: Points
    reason: Reason
    order_id: Code | None = None


class PostingOut(Output):
    """The outcome of one ledger posting; ``replayed`` when its key had been used before."""

    customer_id: str
    entry_id: int
    kind: str
    points: int
    balance: int
    money_value: int
    replayed: bool


class PlanIn(Input):
    code: Code
    name: Name
    fee: Money
    term_days: Annotated[int, Field(ge=1, le=3660)]
    points_multiplier_pct: Pct = 100
    free_delivery: bool = False
    free_pickup: bool = False
    priority_pickup: bool = False


class PlanOut(Output):
    code: str
    name: str
    fee: int
    term_days: int
    points_multiplier_pct: int
    free_delivery: bool
    free_pickup: bool
    priority_pickup: bool
    active: bool


class MembershipIn(Input):
    plan: Code
    starts_at: Instant | None = None
    payment_ref: Annotated[str, Field(max_length=100)] | None = None


class MembershipOut(Output):
    customer_id: str
    plan: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    fee_paid: int
    payment_ref: str | None


class BenefitsOut(Output):
    customer_id: str
    tier: str | None
    points_multiplier_pct: int
    free_delivery: bool
    free_pickup: bool
    priority_pickup: bool
    membership: str | None
    membership_ends_at: dt.datetime | None
