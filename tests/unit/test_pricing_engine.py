"""The pricing engine: one list price, visible promotions, exact rounding."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from omniretail.pricing.domain import (
    CartLine,
    Context,
    DiscountKind,
    Rule,
    Scope,
    Stacking,
    price_cart,
)

NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
WINDOW = {"starts_at": NOW - dt.timedelta(days=1), "ends_at": NOW + dt.timedelta(days=1)}
TEE = CartLine("TEE", 3, 3333, "men/tees", "Tee")
DRESS = CartLine("DRESS", 1, 39900, "women/dresses", "Dress")


def rule(code: str, kind: DiscountKind, value: int, **kw: object) -> Rule:
    return Rule(
        code=code,
        title=code,
        scope=kw.pop("scope", Scope()),  # type: ignore[arg-type]
        kind=kind,
        value=value,
        **WINDOW,
        **kw,
    )  # type: ignore[arg-type]


def test_percent_discounts_round_half_up_per_line() -> None:
    priced = price_cart([TEE], [rule("P15", DiscountKind.PERCENT, 15)], Context("app", NOW))
    assert priced.lines[0].discount == 1500  # 15% of 99.99 = 14.9985 -> 15.00
    assert priced.total == 9999 - 1500


def test_a_promotion_scoped_to_a_channel_is_the_only_difference_and_is_named() -> None:
    live = rule("LIVE", DiscountKind.AMOUNT, 1000, scope=Scope(channels=frozenset({"douyin"})))
    app = price_cart([DRESS], [live], Context("app", NOW))
    pos = price_cart([DRESS], [live], Context("pos", NOW))
    douyin = price_cart([DRESS], [live], Context("douyin", NOW))
    assert app.total == pos.total == 39900
    assert douyin.total == 38900
    assert [d.promotion for d in douyin.lines[0].discounts] == ["LIVE"]
    assert ("LIVE", "not on channel app") in app.not_applied


def test_the_best_exclusive_beats_a_weaker_stack_and_stacks_apply_in_order() -> None:
    rules = [
        rule("TEN", DiscountKind.PERCENT, 10, priority=1),
        rule("FIVE-OFF", DiscountKind.AMOUNT, 500, priority=2),
        rule("HALF", DiscountKind.PERCENT, 50, stacking=Stacking.EXCLUSIVE),
    ]
    priced = price_cart([DRESS], rules, Context("app", NOW))
    assert [d.promotion for d in priced.lines[0].discounts] == ["HALF"]
    rules[2] = rule("SMALL", DiscountKind.PERCENT, 5, stacking=Stacking.EXCLUSIVE)
    stacked = price_cart([DRESS], rules, Context("app", NOW)).lines[0]
    assert [(d.promotion, d.amount) for d in stacked.discounts] == [
        ("TEN", 3990),
        ("FIVE-OFF", 500),
    ]


def test_buy_two_get_one_frees_the_cheapest_and_fixed_prices_never_raise() -> None:
    b2g1 = rule("B2G1", DiscountKind.BUY_X_GET_Y, 0, buy=2, get=1)
    priced = price_cart([DRESS, TEE], [b2g1], Context("app", NOW))
    assert priced.discount_total == 3333  # one of four units free: the cheapest tee
    fixed = rule("FIX", DiscountKind.FIXED_PRICE, 50000)
    assert price_cart([DRESS], [fixed], Context("app", NOW)).discount_total == 0


def test_windows_tiers_coupons_and_stores_gate_promotions() -> None:
    gold = rule("GOLD", DiscountKind.PERCENT, 10, scope=Scope(tiers=frozenset({"gold"})))
    store = rule("ST1", DiscountKind.PERCENT, 10, scope=Scope(locations=frozenset({"ST-1"})))
    coupon = rule("VIP", DiscountKind.AMOUNT, 100, requires_coupon=True)
    late = Rule(
        "OLD",
        "old",
        Scope(),
        DiscountKind.PERCENT,
        10,
        NOW - dt.timedelta(days=9),
        NOW - dt.timedelta(days=1),
    )
    rules = [gold, store, coupon, late]
    plain = price_cart([DRESS], rules, Context("app", NOW))
    assert plain.discount_total == 0
    assert dict(plain.not_applied) == {
        "GOLD": "for other member tiers",
        "ST1": "in-store only",
        "VIP": "needs a coupon",
        "OLD": "outside its window",
    }
    everything = price_cart(
        [DRESS],
        rules,
        Context("pos", NOW, location="ST-1", tier="gold", unlocked=frozenset({"VIP"})),
    )
    assert {d.promotion for d in everything.lines[0].discounts} == {"GOLD", "ST1", "VIP"}


lines = st.lists(
    st.builds(
        CartLine,
        st.sampled_from(["A", "B", "C", "D"]),
        st.integers(1, 5),
        st.integers(0, 100_000),
        st.sampled_from(["x", "x/y", "z"]),
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda line: line.sku,
)
rules_strategy = st.lists(
    st.builds(
        lambda i, kind, value, stacking, buy: Rule(
            f"R{i}",
            "r",
            Scope(),
            kind,
            value if kind is not DiscountKind.PERCENT else value % 100 + 1,
            **WINDOW,
            stacking=stacking,
            priority=i,
            buy=buy,
            get=1,
        ),  # type: ignore[arg-type]
        st.integers(0, 50),
        st.sampled_from(list(DiscountKind)),
        st.integers(0, 200_000),
        st.sampled_from(list(Stacking)),
        st.integers(1, 3),
    ),
    max_size=6,
    unique_by=lambda r: r.code,
)


@settings(max_examples=300, deadline=None)
@given(cart=lines, rules=rules_strategy)
def test_totals_are_never_negative_and_add_up(cart: list[CartLine], rules: list[Rule]) -> None:
    priced = price_cart(cart, rules, Context("app", NOW))
    for line in priced.lines:
        assert 0 <= line.discount <= line.gross
        assert all(d.amount > 0 for d in line.discounts)
    assert priced.total == sum(line.line_total for line in priced.lines) >= 0
    assert priced.subtotal == sum(c.unit_price * c.qty for c in cart)
