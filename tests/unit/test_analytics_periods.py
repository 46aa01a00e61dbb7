"""A period read as whole months plus loose days covers each of its days exactly once."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from omniretail.analytics.domain import (
    DAILY,
    MONTHLY,
    YEARLY,
    CustomerPeriod,
    group_changes,
    month_of,
    period_cover,
    period_parts,
    stock_ratios,
)


def _days(a: dt.date, b: dt.date) -> list[dt.date]:
    return [a + dt.timedelta(days=i) for i in range((b - a).days + 1)]


@given(
    st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)),
    st.integers(min_value=0, max_value=800),
)
def test_months_and_loose_days_cover_the_period_once(start: dt.date, length: int) -> None:
    end = start + dt.timedelta(days=length)
    months, loose = period_parts(start, end)
    covered: list[dt.date] = []
    if months is not None:
        first, last = months
        assert first.day == last.day == 1
        month = first
        while month <= last:
            following = month_of(month + dt.timedelta(days=32))
            covered += _days(month, following - dt.timedelta(days=1))
            month = following
    for a, b in loose:
        covered += _days(a, b)
    assert sorted(covered) == _days(start, end)
    assert len(covered) == len(set(covered))


def test_a_year_is_twelve_months_and_no_loose_day() -> None:
    assert period_parts(dt.date(2026, 1, 1), dt.date(2026, 12, 31)) == (
        (dt.date(2026, 1, 1), dt.date(2026, 12, 1)),
        [],
    )


def _next(grain: str, day: dt.date) -> dt.date:
    if grain == DAILY:
        return day + dt.timedelta(days=1)
    if grain == MONTHLY:
        return month_of(day + dt.timedelta(days=32))
    return dt.date(day.year + 1, 1, 1)


@given(
    st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)),
    st.integers(min_value=0, max_value=1100),
)
def test_years_months_and_loose_days_cover_the_period_once(start: dt.date, length: int) -> None:
    end = start + dt.timedelta(days=length)
    covered: list[dt.date] = []
    for grain, first, last in period_cover(start, end):
        period = first
        while period <= last:
            following = _next(grain, period)
            covered += _days(period, following - dt.timedelta(days=1))
            period = following
    assert sorted(covered) == _days(start, end)
    assert len(covered) == len(set(covered))


def test_a_whole_day_month_or_year_is_one_row_to_read() -> None:
    day, may = dt.date(2026, 5, 7), dt.date(2026, 5, 1)
    assert period_cover(day, day) == [(DAILY, day, day)]
    assert period_cover(may, dt.date(2026, 5, 31)) == [(MONTHLY, may, may)]
    year = dt.date(2026, 1, 1)
    assert period_cover(year, dt.date(2026, 12, 31)) == [(YEARLY, year, year)]
    assert period_cover(dt.date(2025, 12, 31), dt.date(2027, 2, 1)) == [
        (DAILY, dt.date(2025, 12, 31), dt.date(2025, 12, 31)),
        (DAILY, dt.date(2027, 2, 1), dt.date(2027, 2, 1)),
        (YEARLY, year, year),
        (MONTHLY, dt.date(2027, 1, 1), dt.date(2027, 1, 1)),
    ]


def test_a_customer_buying_on_a_new_channel_moves_to_the_next_group() -> None:
    key = (MONTHLY, "*", dt.date(2026, 5, 1), "cus_1")
    app = CustomerPeriod(frozenset({"app"}), 2, 200, 150)
    both = app.plus(CustomerPeriod.of_fact({"kind": "sale", "channel": "pos", "amount": 50}))
    changes = group_changes({key: app}, {key: both})
    assert changes == {
        (MONTHLY, "*", dt.date(2026, 5, 1), "1"): [-1, -2, -1, -200, -150],
        (MONTHLY, "*", dt.date(2026, 5, 1), "2"): [1, 3, 1, 250, 200],
    }
    refund = CustomerPeriod.of_fact({"kind": "refund", "channel": "pos", "amount": -50})
    assert refund.counted() is None  # a refund alone is no customer of the period
    assert group_changes({key: both}, {key: both.plus(refund)}) == {
        (MONTHLY, "*", dt.date(2026, 5, 1), "2"): [0, 0, 0, 0, -50]
    }


def test_stock_ratios_say_none_where_they_cannot_divide() -> None:
    assert stock_ratios(opening=10, closing=30, sold=40, days=20) == (2.0, 15.0)
    assert stock_ratios(opening=0, closing=0, sold=0, days=5) == (None, None)
