"""Pure rules of the data hub: local days, periods, and the customer groups by channels used."""

from __future__ import annotations

import datetime as dt
import itertools
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
DAILY, MONTHLY, YEARLY = "d", "m", "y"
RollupKey = tuple[str, str, str, dt.date, str, str]  # grain, dim, scope, day, key, kind


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def year_of(day: dt.date) -> dt.date:
    return day.replace(month=1, day=1)


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


def period_cover(start: dt.date, end: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    """A period as rollup pieces ``(grain, first, last)``: the whole calendar years inside it
    (yearly rows), the other whole months (monthly rows) and the loose days (daily rows). A
    period that is exactly one day, month or year is one piece with ``first == last``."""
    months, loose = period_parts(start, end)
    pieces = [(DAILY, a, b) for a, b in loose]
    if months is None:
        return pieces
    first, last = months  # the first days of the first and the last whole month
    first_year = first if first.month == 1 else dt.date(first.year + 1, 1, 1)
    last_year = year_of(last) if last.month == 12 else dt.date(last.year - 1, 1, 1)
    if first_year > last_year:
        return [*pieces, (MONTHLY, first, last)]
    pieces.append((YEARLY, first_year, last_year))
    if first < first_year:
        pieces.append((MONTHLY, first, dt.date(first_year.year - 1, 12, 1)))
    if last.year > last_year.year:
        pieces.append((MONTHLY, dt.date(last_year.year + 1, 1, 1), last))
    return pieces


# Customers by channels used: each customer's figures per month and year (for the whole
# tenant and for the store a fact is credited to), and per such period the totals of each
# group, kept as customers move between groups. Loose days are read from the facts.
CustomerKey = tuple[str, str, dt.date, str]  # grain, scope, day, customer
GroupKey = tuple[str, str, dt.date, str]  # grain, scope, day, group ("1", "2", "3+")
GroupTotals = tuple[int, int, int, int, int]  # customers, orders, repeat customers, gross, net


def channel_group(channels: int) -> str:
    return "3+" if channels >= 3 else str(channels)


def customer_keys(fact: dict[str, Any]) -> list[CustomerKey]:
    """The per-customer rollup rows one sales fact counts in (none without a customer)."""
    customer = fact["customer_id"]
    if not customer:
        return []
    scopes = [ALL_STORES, fact["location"]] if fact["location"] else [ALL_STORES]
    day = fact["day"]
    return [
        (grain, scope, period, customer)
        for grain, period in ((MONTHLY, month_of(day)), (YEARLY, year_of(day)))
        for scope in scopes
    ]


@dataclass(frozen=True, slots=True)
class CustomerPeriod:
    """One customer over one period: the channels bought on, orders, gross and net (net
    includes the refunds of returns completed in the period)."""

    channels: frozenset[str] = frozenset()
    orders: int = 0
    gross: int = 0
    net: int = 0

    def plus(self, other: CustomerPeriod) -> CustomerPeriod:
        return CustomerPeriod(
            self.channels | other.channels,
            self.orders + other.orders,
            self.gross + other.gross,
            self.net + other.net,
        )

    @classmethod
    def of_fact(cls, fact: dict[str, Any]) -> CustomerPeriod:
        amount = int(fact["amount"])
        if fact["kind"] == "sale":
            return cls(frozenset({fact["channel"]}), 1, amount, amount)
        return cls(net=amount)

    def counted(self) -> tuple[str, GroupTotals] | None:
        """The group the customer counts in and what they add to it; a customer with no
        order in the period (only a refund) is in no group."""
        if self.orders <= 0:
            return None
        repeat = 1 if self.orders >= 2 else 0
        return channel_group(len(self.channels)), (1, self.orders, repeat, self.gross, self.net)


def group_changes(
    before: dict[CustomerKey, CustomerPeriod], after: dict[CustomerKey, CustomerPeriod]
) -> dict[GroupKey, list[int]]:
    """What moving customers from ``before`` to ``after`` does to the group totals (a key
    missing on one side counts as nothing there)."""
    changes: dict[GroupKey, list[int]] = {}
    for sign, states in ((-1, before), (1, after)):
        for (grain, scope, day, _), state in states.items():
            counted = state.counted()
            if counted is None:
                continue
            group, totals = counted
            change = changes.setdefault((grain, scope, day, group), [0] * 5)
            for i, value in enumerate(totals):
                change[i] += sign * value
    return {k: v for k, v in changes.items() if any(v)}


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


# Customers by channels over any period, kept per pair of days. A customer's figures for a
# period [s, e] depend only on their facts inside it, a run of their days i..j. Writing f(i, j)
# for what that run adds to the groups (customers, orders, repeat customers, gross, net in
# its group), the "span" of days (a, b) holds
#     f(a..b) - f(a+1..b) - f(a..b-1) + f(a+1..b-1)        (an empty run adds nothing)
# so that what a period reports is the plain sum of the spans inside it: the sum over
# s <= a <= b <= e telescopes to f(s..e) for every customer. Most spans are zero: once the
# days strictly inside a span hold two orders and every channel the customer ever used (or
# three channels: "3+"), adding the ends moves no group, so the span and every longer one
# from the same first day add nothing. A span longer than a report may be is never read.
SpanKey = tuple[dt.date, dt.date, str]  # first day, last day, group


def customer_spans(facts: list[dict[str, Any]]) -> dict[SpanKey, list[int]]:
    """One customer's non-zero spans, from their facts (``day``, ``kind``, ``channel``,
    ``amount``). Written for speed (a rebuild runs it for every customer): a state is a plain
    tuple (channels, orders, gross, net)."""
    per_day: dict[dt.date, tuple[frozenset[str], int, int, int]] = {}
    for fact in facts:
        amount = int(fact["amount"])
        sale = fact["kind"] == "sale"
        channels = frozenset((fact["channel"],)) if sale else frozenset()
        day = fact["day"]
        held = per_day.get(day)
        if held is None:
            per_day[day] = (channels, int(sale), amount if sale else 0, amount)
        else:
            per_day[day] = (
                held[0] | channels,
                held[1] + int(sale),
                held[2] + (amount if sale else 0),
                held[3] + amount,
            )
    out: dict[SpanKey, list[int]] = {}

    def add(first: dt.date, last: dt.date, run: Any, sign: int) -> None:
        if run is None or run[1] <= 0:
            return  # no order in the run: in no group
        channels, orders, gross, net = run
        key = (first, last, channel_group(len(channels)))
        change = out.get(key)
        if change is None:
            change = out[key] = [0, 0, 0, 0, 0]
        change[0] += sign
        change[1] += sign * orders
        change[2] += sign * (orders >= 2)
        change[3] += sign * gross
        change[4] += sign * net

    days = sorted(per_day)
    states = [per_day[day] for day in days]
    if len(days) == 1:
        add(days[0], days[0], states[0], 1)
        return out
    every = frozenset().union(*(state[0] for state in states))

    def plus(a: Any, b: Any) -> Any:
        return (a[0] | b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])

    for i, first in enumerate(days):
        whole: Any = None  # days i..j
        inner: Any = None  # days i+1..j
        for j in range(i, len(days)):
            last = days[j]
            if (last - first).days >= MAX_PERIOD_DAYS:
                break
            shorter, inside = whole, inner  # i..j-1 and i+1..j-1
            whole = states[j] if whole is None else plus(whole, states[j])
            if j > i:
                inner = states[j] if inner is None else plus(inner, states[j])
            if inside is not None and inside[1] > 0:
                # All four runs hold orders: when they fall in one group with the same
                # repeat flag, their sums cancel (the usual case, skipped for speed).
                mark = (len(inside[0]) if len(inside[0]) < 3 else 3, inside[1] >= 2)
                if all(
                    (len(r[0]) if len(r[0]) < 3 else 3, r[1] >= 2) == mark
                    for r in (whole, inner, shorter)
                ):
                    if inside[1] >= 2 and (inside[0] == every or len(inside[0]) >= 3):
                        break
                    continue
            add(first, last, whole, 1)
            add(first, last, inner, -1)
            add(first, last, shorter, -1)
            add(first, last, inside, 1)
            if inner is not None and inner[1] >= 2 and (inner[0] == every or len(inner[0]) >= 3):
                break  # every longer span from this day adds nothing
    return {key: change for key, change in out.items() if any(change)}


def span_ends(first: dt.date, last: dt.date) -> list[tuple[str, dt.date, str, dt.date]]:
    """Where a span from ``first`` to ``last`` is kept: each end per day and per month (its
    first day), so a period reads its whole months per month and its loose days per day."""
    return [
        (first_grain, a, last_grain, b)
        for first_grain, a in ((DAILY, first), (MONTHLY, month_of(first)))
        for last_grain, b in ((DAILY, last), (MONTHLY, month_of(last)))
    ]


# Orders split over several fulfilments of a mode, counted once in any period: an order
# reaching its milestones on the distinct days d1 < ... < dk (within one grouping) is +1 on
# each day and -1 on each pair of consecutive days (d_i, d_i+1); the items inside a period
# sum to 1 when it holds any of those days (the days inside are consecutive), else 0.
SPLIT_DIMS = ("location", "location_type", "mode")
SplitSpanKey = tuple[str, str, str, dt.date, dt.date]  # dim, mode, key, first day, last day


def split_spans(facts: list[dict[str, Any]]) -> dict[SplitSpanKey, int]:
    """One order's split items from its fulfilment facts (``mode``, ``day``, ``location``,
    ``location_type``), per location, per location type and per mode (key ``''``)."""
    per_mode: dict[str, int] = {}
    for fact in facts:
        per_mode[fact["mode"]] = per_mode.get(fact["mode"], 0) + 1
    days: dict[tuple[str, str, str], set[dt.date]] = {}
    for fact in facts:
        mode = fact["mode"]
        if per_mode[mode] < 2:
            continue
        for dim in SPLIT_DIMS:
            key = "" if dim == "mode" else str(fact[dim])
            days.setdefault((dim, mode, key), set()).add(fact["day"])
    out: dict[SplitSpanKey, int] = {}
    for (dim, mode, key), seen in days.items():
        ordered = sorted(seen)
        for day in ordered:
            out[(dim, mode, key, day, day)] = 1
        for a, b in itertools.pairwise(ordered):
            out[(dim, mode, key, a, b)] = -1
    return out
