"""Pure loyalty rules: earning, tiers, promotions, conversion, return shares, FIFO lots.

Multipliers are integer percentages (150 = 1.5x) and points are integers, so every figure is
exact and every rounding is a floor that is written down here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

ROLLING_SPEND_WINDOW = dt.timedelta(days=365)


@dataclass(frozen=True, slots=True)
class Tier:
    code: str
    min_spend: int  # rolling 12-month spend in minor units that reaches this tier
    points_multiplier_pct: int = 100
    free_delivery: bool = False
    free_pickup: bool = True
    priority_pickup: bool = False


@dataclass(frozen=True, slots=True)
class PointsPromotion:
    code: str
    multiplier_pct: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    channels: tuple[str, ...] = ()  # empty: every channel

    def applies(self, channel: str, at: dt.datetime) -> bool:
        in_window = self.starts_at <= at < self.ends_at
        return in_window and (not self.channels or channel in self.channels)


DEFAULT_TIERS = (
    Tier("member", 0),
    Tier("silver", 200_000, points_multiplier_pct=125, free_delivery=True),
    Tier("gold", 1_000_000, points_multiplier_pct=150, free_delivery=True, priority_pickup=True),
)


@dataclass(frozen=True, slots=True)
class LoyaltyRules:
    """One tenant's programme. Defaults: 1 point per yuan paid, 100 points pay 1 yuan, points
    expire 365 days after they are earned."""

    points_per_unit: int = 1  # points earned per currency unit paid (1 CNY)
    redeem_points_per_unit: int = 100  # points that pay one currency unit
    expiry_days: int | None = 365
    pending_days: int = 0  # after-sales window before earned points can be spent (0: at once)
    minor_digits: int = 2  # from the tenant's currency (fen: 2)
    tiers: tuple[Tier, ...] = DEFAULT_TIERS
    promotions: tuple[PointsPromotion, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class PlanBenefits:
    code: str
    points_multiplier_pct: int = 100
    free_delivery: bool = False
    free_pickup: bool = False
    priority_pickup: bool = False


@dataclass(frozen=True, slots=True)
class Benefits:
    """What checkout applies on every channel: the best of tier and paid membership."""

    tier: str | None
    points_multiplier_pct: int
    free_delivery: bool
    free_pickup: bool
    priority_pickup: bool
    membership: str | None = None
    membership_ends_at: dt.datetime | None = None

    @property
    def points_multiplier(self) -> Decimal:
        return Decimal(self.points_multiplier_pct) / 100


def tier_for_spend(tiers: Iterable[Tier], spend: int) -> Tier | None:
    """The highest tier whose threshold the spend reaches (None when none does)."""
    reached = [t for t in tiers if spend >= t.min_spend]
    return max(reached, key=lambda t: t.min_spend, default=None)


def combine_benefits(
    tier: Tier | None,
    plan: PlanBenefits | None,
    plan_ends_at: dt.datetime | None = None,
) -> Benefits:
    """Flags are OR-ed; the multiplier is the larger one (they do not compound)."""
    pcts = [100] + [x.points_multiplier_pct for x in (tier, plan) if x is not None]
    return Benefits(
        tier=tier.code if tier else None,
        points_multiplier_pct=max(pcts),
        free_delivery=any(x.free_delivery for x in (tier, plan) if x is not None),
        free_pickup=any(x.free_pickup for x in (tier, plan) if x is not None),
        priority_pickup=any(x.priority_pickup for x in (tier, plan) if x is not None),
        membership=plan.code if plan else None,
        membership_ends_at=plan_ends_at if plan else None,
    )


def promotion_multiplier_pct(
    promotions: Iterable[PointsPromotion], channel: str, at: dt.datetime
) -> int:
    """The best running points promotion for this channel and moment (100 when none)."""
    return max((p.multiplier_pct for p in promotions if p.applies(channel, at)), default=100)


def _unit(rules: LoyaltyRules) -> int:
    """Minor units in one currency unit (100 fen in a yuan)."""
    return int(10**rules.minor_digits)


def points_for_purchase(
    rules: LoyaltyRules, *, paid_amount: int, multiplier_pct: int = 100, promo_pct: int = 100
) -> int:
    """Points earned on ``paid_amount`` minor units; rounded down to a whole point."""
    if paid_amount <= 0:
        return 0
    numerator = paid_amount * rules.points_per_unit * multiplier_pct * promo_pct
    return numerator // (_unit(rules) * 100 * 100)


def money_for_points(rules: LoyaltyRules, points: int) -> int:
    """What ``points`` pay at checkout, in minor units, rounded down (never over-credits)."""
    return points * _unit(rules) // rules.redeem_points_per_unit


def points_for_money(rules: LoyaltyRules, amount: int) -> int:
    """Points needed to pay ``amount`` minor units, rounded up."""
    return -(-amount * rules.redeem_points_per_unit // _unit(rules))


def expiry_for(rules: LoyaltyRules, earned_at: dt.datetime) -> dt.datetime | None:
    return earned_at + dt.timedelta(days=rules.expiry_days) if rules.expiry_days else None


@dataclass(frozen=True, slots=True)
class ReturnShare:
    returned_value: int  # cumulative, capped at the order's value
    earned_to_reverse: int
    redeemed_to_give_back: int


def return_share(
    *,
    order_value: int,
    returned_before: int,
    returned_now: int,
    earned: int,
    earned_reversed: int,
    redeemed: int,
    redeemed_given_back: int,
) -> ReturnShare:
    """The points a (partial) return takes back and gives back.

    Computed on the cumulative returned value, so several partial returns add up exactly to the
    whole: never more than was earned or redeemed for the order, and a full return reverses all
    of it. Each target is rounded down.
    """
    if order_value <= 0:
        return ReturnShare(returned_before, 0, 0)
    cumulative = min(order_value, returned_before + max(0, returned_now))
    earned_target = earned * cumulative // order_value
    redeemed_target = redeemed * cumulative // order_value
    return ReturnShare(
        returned_value=cumulative,
        earned_to_reverse=max(0, earned_target - earned_reversed),
        redeemed_to_give_back=max(0, redeemed_target - redeemed_given_back),
    )


def consume_fifo(lots: Sequence[tuple[int, int]], points: int) -> tuple[list[tuple[int, int]], int]:
    """Take ``points`` from lots (id, remaining) in the order given (oldest expiry first).

    Returns the (lot id, taken) pairs and what could not be covered.
    """
    taken: list[tuple[int, int]] = []
    left = points
    for lot_id, remaining in lots:
        if left <= 0:
            break
        take = min(remaining, left)
        if take > 0:
            taken.append((lot_id, take))
            left -= take
    return taken, left
