"""A period read as whole months plus loose days covers each of its days exactly once."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from omniretail.analytics.domain import month_of, period_parts, stock_ratios


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


def test_stock_ratios_say_none_where_they_cannot_divide() -> None:
    assert stock_ratios(opening=10, closing=30, sold=40, days=20) == (2.0, 15.0)
    assert stock_ratios(opening=0, closing=0, sold=0, days=5) == (None, None)
