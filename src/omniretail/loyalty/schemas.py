from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, model_validator

from omniretail.loyalty.domain import DEFAULT_TIERS
from omniretail.schemas import Code, Input, Instant, Money, Name, Output

Points = Annotated[int, Field(ge=1, le=10**12)]
Pct = Annotated[int, Field(ge=0, le=10_000, description="percent: 150 = 1.5x")]
Reason = Annotated[str, Field(min_length=1, max_length=500)]


MULTIPLIER = "points earned, in percent of the base rate: 150 = 1.5x"
FREE_DELIVERY = "no delivery fee on its orders"
FREE_PICKUP = "no fee for pickup orders"
PRIORITY_PICKUP = "its pickup orders are prepared first"
CUSTOMER_ID = "the customer's id"
KIND = "earn, redeem, adjust, reverse (a return takes earned points back) or expire"


class TierIn(Input):
    code: Code = Field(description="the tier's code (e.g. gold)")
    min_spend: Money = Field(
        description="rolling 12-month spend that reaches the tier, integer minor units (fen)"
    )
    points_multiplier_pct: Pct = Field(100, description=MULTIPLIER)
    free_delivery: bool = Field(False, description=FREE_DELIVERY)
    free_pickup: bool = Field(True, description=FREE_PICKUP)
    priority_pickup: bool = Field(False, description=PRIORITY_PICKUP)


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
    code: Code = Field(description="the points promotion's code")
    multiplier_pct: Pct = Field(description="points earned while it runs, in percent: 200 = 2x")
    starts_at: Instant = Field(description="from this time (inclusive)")
    ends_at: Instant = Field(description="until this time (exclusive)")
    channels: Annotated[list[Code], Field(max_length=50)] = Field(
        [], description="only orders from these channels' codes; empty = all"
    )

    @model_validator(mode="after")
    def _window(self) -> PromotionIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


EARN_RATE = "points earned per currency unit paid (1 CNY), before multipliers"
REDEEM_RATE = "points that pay one currency unit at checkout"
EXPIRY = "earned points expire after this many days; null = never"
PENDING = "after-sales window before earned points can be spent; 0 = at once"


class RulesIn(Input):
    points_per_unit: Annotated[int, Field(ge=0, le=10_000)] = Field(1, description=EARN_RATE)
    redeem_points_per_unit: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        100, description=REDEEM_RATE
    )
    expiry_days: Annotated[int, Field(ge=1, le=36_500)] | None = Field(365, description=EXPIRY)
    pending_days: Annotated[int, Field(ge=0, le=90)] = Field(0, description=PENDING)
    tiers: Annotated[list[TierIn], Field(max_length=20)] = Field(
        default_factory=default_tiers, description="tiers by spend; the highest reached applies"
    )
    promotions: Annotated[list[PromotionIn], Field(max_length=100)] = Field(
        [], description="time-boxed points multipliers"
    )

    @model_validator(mode="after")
    def _unique_tiers(self) -> RulesIn:
        codes = [t.code for t in self.tiers]
        if len(set(codes)) != len(codes):
            raise ValueError("each tier needs its own code")
        return self


class RulesOut(Output):
    points_per_unit: int = Field(description=EARN_RATE)
    redeem_points_per_unit: int = Field(description=REDEEM_RATE)
    expiry_days: int | None = Field(description=EXPIRY)
    pending_days: int = Field(description=PENDING)
    tiers: list[TierIn] = Field(description="tiers by spend")
    promotions: list[PromotionIn] = Field(description="time-boxed points multipliers")


class PointsOut(Output):
    customer_id: str = Field(description=CUSTOMER_ID)
    balance: int = Field(description="points that can be spent now")
    pending: int = Field(description="earned, waiting out the after-sales window")
    money_value: int = Field(description="what the balance pays at checkout, minor units")
    tier: str | None = Field(description="the tier's code reached; null below the first")
    rolling_spend: int = Field(
        description="spend over the last 12 months, integer minor units (fen)"
    )


class EntryOut(Output):
    id: int = Field(description="the ledger entry's id (read-only)")
    kind: str = Field(description=KIND)
    points: int = Field(description="points added (positive) or taken (negative)")
    order_ref: str | None = Field(description="the order it is for, if any")
    reason: str = Field(description="why, as a person reads it")
    channel: str | None = Field(description="the channel's code of the order")
    actor: str = Field(description="the key, staff member or system job that posted it")
    remaining: int = Field(description="earned points of this entry not yet spent or expired")
    expires_at: dt.datetime | None = Field(description="when the remaining points expire (UTC)")
    created_at: dt.datetime = Field(description="when it was posted (UTC)")


class AdjustmentIn(Input):
    points: Annotated[int, Field(ge=-(10**12), le=10**12)] = Field(
        description="points to add (positive) or take (negative), never 0"
    )
    reason: Reason = Field(description="why, kept in the ledger")

    @model_validator(mode="after")
    def _not_zero(self) -> AdjustmentIn:
        if self.points == 0:
            raise ValueError("points must not be 0")
        return self


class RedemptionIn(Input):
    points: Points = Field(description="points to spend, at most the balance")
    reason: Reason = Field(description="why, kept in the ledger")
    order_id: Code | None = Field(None, description="the order they pay towards, if any")


class PostingOut(Output):
    """The outcome of one ledger posting; ``replayed`` when its key had been used before."""

    customer_id: str = Field(description=CUSTOMER_ID)
    entry_id: int = Field(description="the ledger entry posted")
    kind: str = Field(description=KIND)
    points: int = Field(description="points added (positive) or taken (negative)")
    balance: int = Field(description="the balance after the posting")
    money_value: int = Field(description="what the balance pays at checkout, minor units")
    replayed: bool = Field(description="true when the Idempotency-Key had been used: no new entry")


FEE = "the plan's price for one term, integer minor units (fen)"


class PlanIn(Input):
    code: Code = Field(description="the paid membership plan's code")
    name: Name = Field(description="the name customers see")
    fee: Money = Field(description=FEE)
    term_days: Annotated[int, Field(ge=1, le=3660)] = Field(description="days one term lasts")
    points_multiplier_pct: Pct = Field(100, description=MULTIPLIER)
    free_delivery: bool = Field(False, description=FREE_DELIVERY)
    free_pickup: bool = Field(False, description=FREE_PICKUP)
    priority_pickup: bool = Field(False, description=PRIORITY_PICKUP)


class PlanOut(Output):
    code: str = Field(description="the plan's code")
    name: str = Field(description="the name customers see")
    fee: int = Field(description=FEE)
    term_days: int = Field(description="days one term lasts")
    points_multiplier_pct: int = Field(description=MULTIPLIER)
    free_delivery: bool = Field(description=FREE_DELIVERY)
    free_pickup: bool = Field(description=FREE_PICKUP)
    priority_pickup: bool = Field(description=PRIORITY_PICKUP)
    active: bool = Field(description="an inactive plan is not sold any more")


class MembershipIn(Input):
    plan: Code = Field(description="the plan's code")
    starts_at: Instant | None = Field(None, description="start of the term; null = now")
    payment_ref: Annotated[str, Field(max_length=100)] | None = Field(
        None, description="the payment for the fee (the caller's or provider's reference)"
    )


class MembershipOut(Output):
    customer_id: str = Field(description=CUSTOMER_ID)
    plan: str = Field(description="the plan's code")
    starts_at: dt.datetime = Field(description="start of the term (UTC)")
    ends_at: dt.datetime = Field(description="end of the term (UTC)")
    fee_paid: int = Field(description="fee paid, integer minor units (fen)")
    payment_ref: str | None = Field(description="the payment's reference")


class BenefitsOut(Output):
    customer_id: str = Field(description=CUSTOMER_ID)
    tier: str | None = Field(description="the tier's code reached")
    points_multiplier_pct: int = Field(description="the best of the tier's and the plan's")
    free_delivery: bool = Field(description="from the tier or the plan")
    free_pickup: bool = Field(description="from the tier or the plan")
    priority_pickup: bool = Field(description="from the tier or the plan")
    membership: str | None = Field(description="the paid plan's code, while a term runs")
    membership_ends_at: dt.datetime | None = Field(description="when the current term ends (UTC)")
