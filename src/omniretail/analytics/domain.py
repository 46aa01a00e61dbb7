"""Pure rules of the data hub: local days, periods, and the customer groups by channels used."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass

MAX_PERIOD_DAYS = 3 * 366


def local_day(at: dt.datetime, timezone: str) -> dt.date:
    """The tenant's calendar day of an instant (a Shanghai sale at 01:00 is that day's)."""
    return at.astimezone(zoneinfo.ZoneInfo(timezone)).date()


def previous_period(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The period of the same length just before [start, end] (both inclusive)."""
    length = (end - start).days + 1
    return start - dt.timedelta(days=length), start - dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class CustomerTotals:
    customer_id: str
    channels: int  # distinct channels bought on in the period
    orders: int
    gross: int
    net: int


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


def group_by_channels_used(customers: list[CustomerTotals]) -> list[ChannelGroup]:
    """Customers grouped by how many channels they bought on: 1, 2, 3 or more."""
    buckets: dict[str, list[CustomerTotals]] = defaultdict(list)
    for c in customers:
        if c.orders:
            buckets[str(c.channels) if c.channels < 3 else "3+"].append(c)
    return [
        ChannelGroup(
            channels=key,
            customers=len(group),
            orders=sum(c.orders for c in group),
            repeat_customers=sum(1 for c in group if c.orders >= 2),
            gross=sum(c.gross for c in group),
            net=sum(c.net for c in group),
        )
        for key, group in sorted(buckets.items())
    ]
