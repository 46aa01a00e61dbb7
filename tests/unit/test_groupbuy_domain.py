"""Group buying's pure rules, and the fixed (group) price checkout applies to a priced cart."""

from __future__ import annotations

import datetime as dt

from omniretail.engagement.groupbuy_domain import (
    amount_text,
    campaign_errors,
    campaign_running,
    group_closes_at,
)
from omniretail.orders.pricing_port import PricedCart, PricedLine, with_fixed_prices

T0 = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)


def test_a_group_has_its_window_to_fill_but_never_past_the_campaign_end() -> None:
    end = T0 + dt.timedelta(hours=30)
    assert group_closes_at(T0, window_minutes=60, campaign_ends_at=end) == T0 + dt.timedelta(
        hours=1
    )
    assert group_closes_at(T0, window_minutes=48 * 60, campaign_ends_at=end) == end


def test_a_campaign_runs_from_its_start_until_just_before_its_end() -> None:
    end = T0 + dt.timedelta(days=1)
    assert campaign_running(T0, starts_at=T0, ends_at=end)
    assert not campaign_running(end, starts_at=T0, ends_at=end)
    assert not campaign_running(T0 - dt.timedelta(seconds=1), starts_at=T0, ends_at=end)


def test_a_campaign_must_sell_below_list_within_a_real_window_at_distinct_stores() -> None:
    fine = campaign_errors(
        starts_at=T0,
        ends_at=T0 + dt.timedelta(days=1),
        group_price=5900,
        list_price=9900,
        pickup_locations=["ST-A", "ST-B"],
    )
    assert fine == []
    bad = campaign_errors(
        starts_at=T0,
        ends_at=T0,
        group_price=9900,
        list_price=9900,
        pickup_locations=["ST-A", "ST-A"],
    )
    assert [e["field"] for e in bad] == ["ends_at", "group_price", "pickup_locations"]


def test_amounts_read_exactly_to_the_fen() -> None:
    assert amount_text(5900, "CNY") == "59.00 CNY"
    assert amount_text(5, "CNY") == "0.05 CNY"
    assert amount_text(123456789, "CNY") == "1234567.89 CNY"


def test_a_fixed_price_discounts_the_line_down_to_it_and_replaces_promotions() -> None:
    promoted = {"promotion": "P10", "title": "10% off", "amount": 1980}
    cart = PricedCart(
        lines=[
            PricedLine("TEE-S", "Tee", 2, 9900, 1980, 17820, [promoted]),
            PricedLine("JEANS", "Jeans", 1, 29900, 0, 29900),
        ],
        subtotal=49700,
        discount_total=1980,
        total=47720,
    )
    fixed = with_fixed_prices(cart, {"TEE-S": 5900}, reason="group-buy:TEE3", title="Group")
    tee, jeans = fixed.lines
    assert (tee.unit_price, tee.discount, tee.line_total) == (9900, 8000, 11800)
    assert tee.discounts == [{"promotion": "group-buy:TEE3", "title": "Group", "amount": 8000}]
    assert jeans == cart.lines[1]
    assert (fixed.subtotal, fixed.discount_total, fixed.total) == (49700, 8000, 41700)
    dearer = with_fixed_prices(cart, {"JEANS": 31000}, reason="r", title="t")
    assert (dearer.lines[1].unit_price, dearer.lines[1].discount, dearer.total) == (
        31000,
        0,
        17820 + 31000,
    )
