"""Pure rules of the data hub: local days, periods, and the customer groups by channels used."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

MAX_PERIOD_DAYS = 3 * 366

# The moment a fulfilment's promise is about, per mode: a pickup is promised ready by a time,
# a parcel shipped by a time, a local delivery at the door by a time. In-store sales have none.
MILESTONES = {"pickup": "ready", "ship": "shipped", "local_delivery": "delivered"}
# How a fulfilment ends, by the status event that ends it.
OUTCOMES = {
    "handed_over": "done",
    "delivered": "done",
    "cancelled": "cancelled",
    "rejected": "rejected",
}


def promise_kept(promised_at: dt.datetime | None, at: dt.datetime) -> bool | None:
    """On time when the milestone came no later than promised; unknown with no promise."""
    return None if promised_at is None else at <= promised_at


def local_day(at: dt.datetime, timezone: str) -> dt.date:
    """The tenant's calendar day of an instant (a Shanghai sale at 01:00 is that day's)."""
    return at.astimezone(zoneinfo.ZoneInfo(timezone)).date()


def previous_period(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The period of the same length just before [start, end] (both inclusive)."""
    length = (end - start).days + 1
    return start - dt.timedelta(days=length), start - dt.timedelta(days=1)


# Sales report dimensions rolled up per day (a fact's own column), and the attribution
# report's three: counter sales by store, online sales by fulfilling and by credited store.
SALES_DIMS = ("channel", "location", "attributed_location", "attributed_staff")
ALL_STORES = "*"
DAILY, MONTHLY = "d", "m"
RollupKey = tuple[str, str, str, dt.date, str, str]  # grain, dim, scope, day, key, kind


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def rollup_keys(fact: dict[str, Any]) -> list[RollupKey]:
    """Where one sales fact counts in the rollups, on its day and on its month: each sales
    dimension for the whole tenant and for the store it is credited to, and its attribution
    groups."""
    kind, location = fact["kind"], fact["location"]
    keys: list[RollupKey] = []
    for grain, day in ((DAILY, fact["day"]), (MONTHLY, month_of(fact["day"]))):
        for dim in SALES_DIMS:
            value = fact[dim] or ""
            keys.append((grain, dim, ALL_STORES, day, value, kind))
            if location:
                keys.append((grain, dim, location, day, value, kind))
        online = fact["online"]
        for dim, value, counts in (
            ("in_store", location, not online),
            ("fulfilled_online", fact["fulfilled_from"], online),
            ("attributed_online", fact["attributed_location"], online),
        ):
            if counts and value:
                keys.append((grain, dim, ALL_STORES, day, value, kind))
    return keys


def period_parts(
    start: dt.date, end: dt.date
) -> tuple[tuple[dt.date, dt.date] | None, list[tuple[dt.date, dt.date]]]:
    """A period as the whole months inside it (first and last month, by their first days)
    and the loose days around them, so a year is read as 12 monthly rows, not 365 daily."""
    first = start if start.day == 1 else month_of(start + dt.timedelta(days=32 - start.day))
    after_end = end + dt.timedelta(days=1)
    last_end = end if after_end.day == 1 else month_of(end) - dt.timedelta(days=1)
    if first > last_end:
        return None, [(start, end)]
    loose = [(start, first - dt.timedelta(days=1))] if start < first else []
    if last_end < end:
        loose.append((last_end + dt.timedelta(days=1), end))
    return (first, month_of(last_end)), loose


def stock_ratios(
    *, opening: int, closing: int, sold: int, days: int
) -> tuple[float | None, float | None]:
    """Turnover (units sold over the mean of opening and closing stock) and days of cover
    (closing stock over the mean units sold a day); None where the divisor is 0."""
    average = (opening + closing) / 2
    turnover = round(sold / average, 4) if average > 0 else None
    cover = round(closing * days / sold, 1) if sold > 0 else None
    return turnover, cover


@dataclass(frozen=True, slots=True)
class ChannelGroup:
    channels: str  # "1", "2", "3+"
    customers: int
    orders: int
    repeat_customers: int
    gross: int
    net: int

    @property
    def repurchase_rate(self) -> float:
        return self.repeat_customers / self.customers if self.customers else 0.0

    @property
    def average_order_value(self) -> int:
        return round(self.gross / self.orders) if self.orders else 0

    @property
    def lifetime_value(self) -> int:
        """Net sales per customer over the period."""
        return round(self.net / self.customers) if self.customers else 0
