"""Pure refund arithmetic, exact to the fen over any number of partial returns.

A line's paid amount (after its discounts and coupons) is split over its units once and for all
(largest remainder), and a return refunds the next units not yet refunded: returning every unit,
in any number of steps, refunds exactly what was paid for the line.

A refund is then split over the order's tenders in proportion to what each can still give back
(points back to the ledger, money to the original methods). Each tender's refundable amount is
its share of what the items cost (the delivery fee is not refunded), so a full return empties
every tender exactly and no tender ever gives back more than it took.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from omniretail.money import allocate


def unit_amounts(line_total: int, qty: int) -> list[int]:
    return allocate(line_total, [1] * qty)


def refund_for_units(line_total: int, qty: int, already_returned: int, returning: int) -> int:
    if returning <= 0 or already_returned < 0 or already_returned + returning > qty:
        raise ValueError("returning more units than are left on the line")
    return sum(unit_amounts(line_total, qty)[already_returned : already_returned + returning])


@dataclass(frozen=True, slots=True)
class Tender:
    method: str
    amount: int  # what it paid
    refunded: int  # what it has given back so far


def tender_refundables(tenders: Sequence[Tender], items_total: int) -> list[int]:
    """What each tender may give back in all: its share of the items (not the delivery fee)."""
    paid = sum(t.amount for t in tenders)
    if items_total > paid:
        raise ValueError("the items cost more than was paid")
    return allocate(items_total, [t.amount for t in tenders])


def split_refund(amount: int, tenders: Sequence[Tender], items_total: int) -> list[int]:
    """Split ``amount`` over the tenders in proportion to what each can still give back."""
    left = [
        max(0, cap - t.refunded)
        for cap, t in zip(tender_refundables(tenders, items_total), tenders, strict=True)
    ]
    if amount > sum(left):
        raise ValueError("refunding more than is left to refund")
    return allocate(amount, left) if amount else [0] * len(tenders)


def within_window(ordered_at: dt.datetime, now: dt.datetime, window_days: int) -> bool:
    return now <= ordered_at + dt.timedelta(days=window_days)
