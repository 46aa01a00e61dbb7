"""What one order's fulfilment facts add to the fulfilment rollups."""

from __future__ import annotations

import datetime as dt
from typing import Any

from omniretail.analytics.domain import DAILY, MONTHLY, YEARLY, split_spans
from omniretail.analytics.fulfilment_rollups import MEASURES, contribution


def fact(day: int, location: str, **fields: Any) -> dict[str, Any]:
    return {
        "day": dt.date(2026, 11, day),
        "mode": "ship",
        "location": location,
        "location_type": "store",
        "distance_m": 1200,
        "promise_kept": True,
        "outcome": "open",
        **fields,
    }


def measures(values: list[int]) -> dict[str, int]:
    return dict(zip(MEASURES, values, strict=True))


def test_an_order_with_one_parcel_is_one_order_on_its_day_month_and_year() -> None:
    added = contribution([fact(3, "ST-A", outcome="done")])
    assert {k[0] for k in added} == {DAILY, MONTHLY, YEARLY}
    day = measures(added[(DAILY, dt.date(2026, 11, 3), "ship", "ST-A", "store")])
    assert day == {
        "fulfilments": 1,
        "single_orders": 1,
        "distance_m": 1200,
        "measured": 1,
        "promised": 1,
        "kept": 1,
        "done": 1,
        "cancelled": 0,
    }


def test_a_split_order_is_left_to_its_facts_for_the_distinct_count() -> None:
    added = contribution([fact(3, "ST-A"), fact(5, "WH", distance_m=None, promise_kept=None)])
    month = (MONTHLY, dt.date(2026, 11, 1), "ship")
    a = measures(added[(*month, "ST-A", "store")])
    wh = measures(added[(*month, "WH", "store")])
    assert (a["fulfilments"], a["single_orders"], wh["fulfilments"], wh["single_orders"]) == (
        1, 0, 1, 0,
    )  # fmt: skip
    assert (wh["measured"], wh["promised"], wh["distance_m"]) == (0, 0, 0)


def test_a_split_order_is_one_order_in_any_period_holding_one_of_its_days() -> None:
    facts = [
        fact(3, "ST-A"),
        fact(3, "ST-B"),
        fact(9, "ST-A"),
        fact(20, "WH", location_type="warehouse"),
        fact(4, "ST-A", mode="pickup"),  # the order's only pickup: not split
    ]
    items = split_spans(facts)
    assert {k[4] for k in items if k[1] == "pickup"} == set()
    for dim, key in (("mode", ""), ("location_type", "store"), ("location", "ST-A")):
        mine = {k: v for k, v in items.items() if k[:3] == (dim, "ship", key)}
        days = sorted({k[3] for k in mine})
        for first in range(1, 25):
            for last in range(first, 25):
                start, end = dt.date(2026, 11, first), dt.date(2026, 11, last)
                counted = sum(v for k, v in mine.items() if start <= k[3] and k[4] <= end)
                assert counted == int(any(start <= d <= end for d in days))
