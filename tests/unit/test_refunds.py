"""Refunds are exact to the fen over any sequence of partial returns."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omniretail.pricing.domain import CartLine, Context, DiscountKind, Rule, Scope, price_cart
from omniretail.returns.domain import (
    Tender,
    refund_for_units,
    split_refund,
    within_window,
)


def test_units_of_a_discounted_line_refund_to_the_fen() -> None:
    # 3 units for 100.00 after a coupon: 33.34 + 33.33 + 33.33.
    assert [refund_for_units(10_000, 3, n, 1) for n in range(3)] == [3334, 3333, 3333]
    with pytest.raises(ValueError, match="more units"):
        refund_for_units(10_000, 3, 2, 2)


def test_a_refund_goes_back_to_card_and_points_in_proportion() -> None:
    tenders = [Tender("points", 2_000, 0), Tender("sandbox", 8_000, 0)]
    assert split_refund(5_000, tenders, 10_000) == [1_000, 4_000]
    tenders = [Tender("points", 2_000, 1_000), Tender("sandbox", 8_000, 4_000)]
    assert split_refund(5_000, tenders, 10_000) == [1_000, 4_000]
    with pytest.raises(ValueError, match="more than is left"):
        split_refund(1, [Tender("points", 2_000, 2_000), Tender("sandbox", 8_000, 8_000)], 10_000)


def test_the_delivery_fee_is_not_refunded() -> None:
    tenders = [Tender("sandbox", 10_600, 0)]  # 100.00 of items + 6.00 delivery
    assert split_refund(10_000, tenders, 10_000) == [10_000]
    with pytest.raises(ValueError, match="more than is left"):
        split_refund(10_001, tenders, 10_000)


def test_the_return_window() -> None:
    ordered = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert within_window(ordered, ordered + dt.timedelta(days=30), 30)
    assert not within_window(ordered, ordered + dt.timedelta(days=30, seconds=1), 30)


cart = st.lists(st.tuples(st.integers(1, 50_000), st.integers(1, 4)), min_size=1, max_size=3)


@settings(max_examples=300, deadline=None)
@given(
    lines=cart, coupon_pct=st.integers(0, 90), points_share=st.integers(0, 100), order=st.randoms()
)
def test_returning_a_couponed_cart_unit_by_unit_refunds_exactly_what_was_paid(
    lines: list[tuple[int, int]], coupon_pct: int, points_share: int, order: object
) -> None:
    # A percentage coupon on the whole cart, priced by the real engine as checkout does.
    at = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    coupon = Rule(
        "COUPON",
        "coupon",
        Scope(),
        DiscountKind.PERCENT,
        max(coupon_pct, 1),
        at - dt.timedelta(days=1),
        at + dt.timedelta(days=1),
        requires_coupon=True,
    )
    cart = [CartLine(f"SKU{i}", qty, price, "c") for i, (price, qty) in enumerate(lines)]
    priced = price_cart(
        cart, [coupon] if coupon_pct else [], Context("app", at, unlocked=frozenset({"COUPON"}))
    )
    line_totals = [line.line_total for line in priced.lines]
    paid = sum(line_totals)
    points = paid * points_share // 100
    tenders = [Tender("points", points, 0), Tender("card", paid - points, 0)]
    tenders = [t for t in tenders if t.amount > 0] or [Tender("card", 0, 0)]

    units = [(i, n) for i, (_, qty) in enumerate(lines) for n in range(qty)]
    order.shuffle(units)  # type: ignore[attr-defined]
    returned = [0] * len(lines)
    refunded = [0] * len(tenders)
    for index, _ in units:
        amount = refund_for_units(line_totals[index], lines[index][1], returned[index], 1)
        returned[index] += 1
        state = [Tender(t.method, t.amount, r) for t, r in zip(tenders, refunded, strict=True)]
        parts = split_refund(amount, state, paid)
        assert sum(parts) == amount
        refunded = [r + p for r, p in zip(refunded, parts, strict=True)]
        assert all(r <= t.amount for r, t in zip(refunded, tenders, strict=True))
    assert sum(refunded) == paid
    assert refunded == [t.amount for t in tenders]
