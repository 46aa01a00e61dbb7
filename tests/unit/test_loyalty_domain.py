"""Earning, conversion, tiers, return shares and FIFO lots: exact integer rules."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from omniretail.loyalty.domain import (
    DEFAULT_TIERS,
    LoyaltyRules,
    PlanBenefits,
    PointsPromotion,
    combine_benefits,
    consume_fifo,
    money_for_points,
    points_for_money,
    points_for_purchase,
    promotion_multiplier_pct,
    return_share,
    tier_for_spend,
)

RULES = LoyaltyRules()
NOW = dt.datetime(2026, 11, 11, 12, tzinfo=dt.UTC)


def test_one_point_per_yuan_paid_rounded_down() -> None:
    assert points_for_purchase(RULES, paid_amount=12_399) == 123
    assert points_for_purchase(RULES, paid_amount=99) == 0
    assert points_for_purchase(RULES, paid_amount=0) == 0
    assert points_for_purchase(RULES, paid_amount=10_000, multiplier_pct=150, promo_pct=200) == 300


def test_currencies_without_minor_units_earn_per_whole_unit() -> None:
    yen = LoyaltyRules(minor_digits=0, points_per_unit=1)
    assert points_for_purchase(yen, paid_amount=1234) == 1234


def test_one_hundred_points_pay_one_yuan_and_conversion_never_over_credits() -> None:
    assert money_for_points(RULES, 100) == 100  # 100 fen
    assert money_for_points(LoyaltyRules(redeem_points_per_unit=300), 100) == 33
    assert points_for_money(LoyaltyRules(redeem_points_per_unit=300), 33) == 99
    assert points_for_money(LoyaltyRules(redeem_points_per_unit=300), 34) == 102


def test_tiers_come_from_spend_and_benefits_take_the_best_of_tier_and_plan() -> None:
    assert tier_for_spend(DEFAULT_TIERS, 0) == DEFAULT_TIERS[0]
    assert tier_for_spend(DEFAULT_TIERS, 1_000_000) == DEFAULT_TIERS[2]
    assert tier_for_spend((), 5) is None
    silver = DEFAULT_TIERS[1]
    plus = PlanBenefits("plus", points_multiplier_pct=110, free_pickup=True)
    benefits = combine_benefits(silver, plus, NOW)
    assert (benefits.tier, benefits.membership) == ("silver", "plus")
    assert benefits.points_multiplier_pct == 125
    assert benefits.free_delivery
    assert benefits.free_pickup
    assert not combine_benefits(None, None).free_delivery


def test_a_points_promotion_applies_inside_its_window_and_channels_only() -> None:
    promo = PointsPromotion(
        "11.11", 300, NOW - dt.timedelta(hours=1), NOW + dt.timedelta(hours=1), ("app",)
    )
    assert promotion_multiplier_pct([promo], "app", NOW) == 300
    assert promotion_multiplier_pct([promo], "pos", NOW) == 100
    assert promotion_multiplier_pct([promo], "app", NOW + dt.timedelta(hours=1)) == 100


@given(
    order_value=st.integers(1, 10**7),
    earned=st.integers(0, 10**6),
    redeemed=st.integers(0, 10**6),
    returns=st.lists(st.integers(0, 10**7), max_size=6),
)
def test_partial_returns_never_reverse_more_than_the_order_moved(
    order_value: int, earned: int, redeemed: int, returns: list[int]
) -> None:
    returned = reversed_earned = given_back = 0
    for value in returns:
        share = return_share(
            order_value=order_value,
            returned_before=returned,
            returned_now=value,
            earned=earned,
            earned_reversed=reversed_earned,
            redeemed=redeemed,
            redeemed_given_back=given_back,
        )
        returned = share.returned_value
        reversed_earned += share.earned_to_reverse
        given_back += share.redeemed_to_give_back
        assert returned <= order_value
        assert reversed_earned <= earned
        assert given_back <= redeemed
    if returned == order_value:
        assert (reversed_earned, given_back) == (earned, redeemed)


def test_redemptions_take_from_the_oldest_lots_first() -> None:
    assert consume_fifo([(1, 100), (2, 200), (3, 50)], 150) == ([(1, 100), (2, 50)], 0)
    assert consume_fifo([(1, 10)], 15) == ([(1, 10)], 5)
