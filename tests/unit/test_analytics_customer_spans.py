"""The customers' spans: summed over any period they give exactly the groups computed from
that period's facts directly (random histories, refunds and same-day orders included)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from omniretail.analytics.domain import (
    MAX_PERIOD_DAYS,
    CustomerPeriod,
    customer_spans,
)

DAY0 = dt.date(2026, 1, 1)


def history(rng: random.Random, customer: str, facts: int) -> list[dict[str, Any]]:
    channels = rng.sample(["app", "pos", "web", "douyin", "mini"], rng.randint(1, 5))
    out = []
    for _ in range(facts):
        day = DAY0 + dt.timedelta(days=rng.randrange(90))
        refund = rng.random() < 0.2
        amount = -rng.randint(1, 500) if refund else rng.randint(1, 9000)
        kind = "refund" if refund else "sale"
        channel = rng.choice(channels)
        out.append(dict(customer_id=customer, day=day, kind=kind, channel=channel, amount=amount))
    return out


def direct(facts: list[dict[str, Any]], start: dt.date, end: dt.date) -> dict[str, list[int]]:
    per_customer: dict[str, CustomerPeriod] = {}
    for fact in facts:
        if start <= fact["day"] <= end:
            state = CustomerPeriod.of_fact(fact)
            c = fact["customer_id"]
            per_customer[c] = per_customer[c].plus(state) if c in per_customer else state
    groups: dict[str, list[int]] = {}
    for state in per_customer.values():
        counted = state.counted()
        if counted:
            total = groups.setdefault(counted[0], [0] * 5)
            for i, value in enumerate(counted[1]):
                total[i] += value
    return groups


def test_spans_summed_over_any_period_equal_the_groups_of_its_facts() -> None:
    rng = random.Random(15)
    facts: list[dict[str, Any]] = []
    spans: dict[tuple[dt.date, dt.date, str], list[int]] = {}
    for n in range(60):
        mine = history(rng, f"c{n}", rng.randint(1, 12))
        facts += mine
        for key, change in customer_spans(mine).items():
            total = spans.setdefault(key, [0] * 5)
            for i, value in enumerate(change):
                total[i] += value
    for _ in range(300):
        start = DAY0 + dt.timedelta(days=rng.randrange(-5, 95))
        end = start + dt.timedelta(days=rng.randrange(0, 60))
        summed: dict[str, list[int]] = {}
        for (first, last, group), change in spans.items():
            if start <= first and last <= end:
                total = summed.setdefault(group, [0] * 5)
                for i, value in enumerate(change):
                    total[i] += value
        assert {g: v for g, v in summed.items() if any(v)} == direct(facts, start, end)


def test_a_span_longer_than_any_report_is_not_kept() -> None:
    far = DAY0 + dt.timedelta(days=MAX_PERIOD_DAYS)
    facts = [
        {"customer_id": "c", "day": DAY0, "kind": "sale", "channel": "app", "amount": 100},
        {"customer_id": "c", "day": far, "kind": "sale", "channel": "pos", "amount": 100},
    ]
    assert set(customer_spans(facts)) == {(DAY0, DAY0, "1"), (far, far, "1")}
